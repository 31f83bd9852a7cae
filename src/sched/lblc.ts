/**
 * lblc: locality-based least-connection scheduling (cache clusters).
 *
 * A table remembers, per destination address, the server last chosen for it. A new
 * connection reuses that server while it is still in the service, has weight > 0 and is not
 * "overloaded" in lblc's sense: more active connections than its weight while some server of
 * the service has active·2 < weight. Otherwise a server is picked wlc-style (least
 * (active·256 + inactive)/weight, non-overloaded, weight > 0, earlier wins ties) and
 * remembered. Entries unused for `expireMs` (sysctl lblc_expiration, default 24 h) are
 * forgotten. Source: net/netfilter/ipvs/ip_vs_lblc.c.
 */
import { leastWeighted } from './least';
import { Dest, destOverhead, SchedPacket, SchedService, Scheduler } from '../ipvs/types';

/** Default lblc_expiration / lblcr_expiration: 24 hours. */
export const LBLC_EXPIRATION_MS = 24 * 60 * 60 * 1000;

export type Clock = () => number;
export const monotonicMs: Clock = () => performance.now();

/** lblc's is_overloaded: active > weight while another server is under half its weight. */
export function lblcOverloaded(d: Dest, svc: SchedService): boolean {
  if (d.activeConns <= d.weight) return false;
  for (const o of svc.dests) if (o.activeConns * 2 < o.weight) return true;
  return false;
}

/** __ip_vs_lblc_schedule: weighted least-connection over non-overloaded servers. */
export function lblcLeast(dests: readonly Dest[]): Dest | null {
  return leastWeighted(dests, destOverhead);
}

interface Entry {
  dest: Dest;
  lastUse: number;
}

export function createLblc(clock: Clock = monotonicMs, expireMs = LBLC_EXPIRATION_MS): Scheduler {
  const table = new Map<number, Entry>();
  return {
    name: 'lblc',
    schedule(svc: SchedService, pkt: SchedPacket): Dest | null {
      const now = clock();
      const en = table.get(pkt.daddr);
      if (en !== undefined && now - en.lastUse <= expireMs) {
        const d = en.dest;
        if (d.available && d.weight > 0 && !lblcOverloaded(d, svc)) {
          en.lastUse = now;
          return d;
        }
      }
      const d = lblcLeast(svc.dests);
      if (d === null) return null;
      if (en !== undefined) {
        en.dest = d;
        en.lastUse = now;
      } else {
        table.set(pkt.daddr, { dest: d, lastUse: now });
      }
      return d;
    },
    update(svc: SchedService): void {
      const now = clock();
      for (const [k, en] of table) {
        if (!svc.dests.includes(en.dest) || now - en.lastUse > expireMs) table.delete(k);
      }
    },
  };
}
