/**
 * lblcr: locality-based least-connection with replication.
 *
 * Per destination address a set of servers. A new connection goes to the least loaded
 * member of the set (overhead/weight, non-overloaded, weight > 0); if there is none, or it
 * is overloaded in lblc's sense (more active connections than its weight while some server
 * is under half its weight), a server is picked wlc-style from the whole service and added
 * to the set. When the set has more than one member and was last changed more than
 * `expireMs` ago, its most loaded member is dropped first. Source:
 * net/netfilter/ipvs/ip_vs_lblcr.c (ip_vs_dest_set_min/_max, ip_vs_lblcr_schedule).
 */
import { Dest, destOverhead, SchedPacket, SchedService, Scheduler } from '../ipvs/types';
import { Clock, LBLC_EXPIRATION_MS, lblcLeast, lblcOverloaded, monotonicMs } from './lblc';

/** ip_vs_dest_set_min. */
function setMin(set: readonly Dest[]): Dest | null {
  return lblcLeast(set);
}

/** ip_vs_dest_set_max: most overhead/weight among weighted members. */
function setMax(set: readonly Dest[]): Dest | null {
  let most: Dest | null = null;
  let moh = 0;
  for (const d of set) {
    if (d.weight <= 0) continue;
    const doh = destOverhead(d);
    if (most === null || (moh * d.weight < doh * most.weight)) {
      most = d;
      moh = doh;
    }
  }
  return most;
}

interface Entry {
  set: Dest[];
  lastMod: number;
  lastUse: number;
}

export function createLblcr(clock: Clock = monotonicMs, expireMs = LBLC_EXPIRATION_MS): Scheduler {
  const table = new Map<number, Entry>();
  return {
    name: 'lblcr',
    schedule(svc: SchedService, pkt: SchedPacket): Dest | null {
      const now = clock();
      let en = table.get(pkt.daddr);
      if (en !== undefined && now - en.lastUse > expireMs) {
        table.delete(pkt.daddr);
        en = undefined;
      }
      if (en !== undefined) {
        en.lastUse = now;
        const min = setMin(en.set);
        if (en.set.length > 1 && now - en.lastMod > expireMs) {
          const m = setMax(en.set);
          if (m !== null) {
            en.set.splice(en.set.indexOf(m), 1);
            en.lastMod = now;
          }
        }
        if (min !== null && !lblcOverloaded(min, svc)) return min;
        const d = lblcLeast(svc.dests);
        if (d === null) return null;
        if (!en.set.includes(d)) {
          en.set.push(d);
          en.lastMod = now;
        }
        return d;
      }
      const d = lblcLeast(svc.dests);
      if (d === null) return null;
      table.set(pkt.daddr, { set: [d], lastMod: now, lastUse: now });
      return d;
    },
    update(svc: SchedService): void {
      for (const [k, en] of table) {
        en.set = en.set.filter((d) => svc.dests.includes(d));
        if (en.set.length === 0) table.delete(k);
      }
    },
  };
}
