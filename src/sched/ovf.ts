/**
 * ovf: weighted overflow scheduling.
 *
 * A new connection goes to the server of highest weight among those that are not
 * overloaded, have weight > 0 and no more active connections than their weight; among equal
 * weights the server added first wins. Once it holds `weight` active connections the next
 * server by weight takes the overflow. Source: net/netfilter/ipvs/ip_vs_ovf.c.
 */
import { Dest, SchedPacket, SchedService, Scheduler } from '../ipvs/types';

export function createOvf(): Scheduler {
  return {
    name: 'ovf',
    schedule(svc: SchedService, _pkt: SchedPacket): Dest | null {
      let best: Dest | null = null;
      for (const d of svc.dests) {
        const w = d.weight;
        if (d.overloaded || w === 0 || d.activeConns > w) continue;
        if (best === null || w > best.weight) best = d;
      }
      return best;
    },
  };
}
