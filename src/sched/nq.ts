/**
 * nq: never-queue scheduling.
 *
 * The first usable server (weight > 0, not overloaded) with no active connection takes the
 * new connection at once, whatever its weight; when every usable server is busy the choice
 * is sed's: least (active + 1) / weight by cross-multiplication, the earlier server winning
 * ties. Source: net/netfilter/ipvs/ip_vs_nq.c.
 */
import { Dest, destUsable, SchedPacket, SchedService, Scheduler } from '../ipvs/types';
import { sedOverhead } from './sed';

export function createNq(): Scheduler {
  return {
    name: 'nq',
    schedule(svc: SchedService, _pkt: SchedPacket): Dest | null {
      let least: Dest | null = null;
      let loh = 0;
      for (const d of svc.dests) {
        if (!destUsable(d)) continue;
        if (d.activeConns === 0) return d;
        const doh = sedOverhead(d);
        if (least === null || loh * d.weight > doh * least.weight) {
          least = d;
          loh = doh;
        }
      }
      return least;
    },
  };
}
