/**
 * fo: weighted failover scheduling.
 *
 * Every new connection goes to the non-overloaded server of highest weight (weight > 0);
 * among equal weights the server added first wins. Source: net/netfilter/ipvs/ip_vs_fo.c.
 */
import { Dest, SchedPacket, SchedService, Scheduler } from '../ipvs/types';

export function createFo(): Scheduler {
  return {
    name: 'fo',
    schedule(svc: SchedService, _pkt: SchedPacket): Dest | null {
      let best: Dest | null = null;
      let hw = 0;
      for (const d of svc.dests) {
        if (!d.overloaded && d.weight > hw) {
          best = d;
          hw = d.weight;
        }
      }
      return best;
    },
  };
}
