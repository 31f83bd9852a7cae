/**
 * lc: least-connection scheduling.
 *
 * A new connection goes to the usable server (weight > 0, not overloaded) with the least
 * overhead, active·256 + inactive; among equals the one added first wins. Weights other than
 * zero play no part. Source: net/netfilter/ipvs/ip_vs_lc.c; W. Zhang, S. Jin, Q. Wu,
 * "Scaling Internet services by LinuxDirector" (2000), §4.
 */
import { Dest, destOverhead, destUsable, SchedPacket, SchedService, Scheduler } from '../ipvs/types';

export function createLc(): Scheduler {
  return {
    name: 'lc',
    schedule(svc: SchedService, _pkt: SchedPacket): Dest | null {
      let least: Dest | null = null;
      let loh = 0;
      for (const d of svc.dests) {
        if (!destUsable(d)) continue;
        const doh = destOverhead(d);
        if (least === null || doh < loh) {
          least = d;
          loh = doh;
        }
      }
      return least;
    },
  };
}
