/**
 * wlc: weighted least-connection scheduling (the IPVS default).
 *
 * A new connection goes to the server with the least overhead/weight, overhead being
 * active·256 + inactive. As in net/netfilter/ipvs/ip_vs_wlc.c the ratios are compared without
 * division: candidate d replaces the current least L when oh(L)·w(d) > oh(d)·w(L), so among
 * equals the server added first wins. The first candidate must be usable (weight > 0, not
 * overloaded); later ones are only required not to be overloaded, since a weight of 0 can
 * never satisfy the strict inequality. Source: ip_vs_wlc.c; W. Zhang, S. Jin, Q. Wu,
 * "Scaling Internet services by LinuxDirector" (2000), §4.
 *
 * Exactness: products stay below 2^53 while overhead < 2^37 (weights are ≤ 65535), i.e. for
 * any realistic number of connections.
 */
import { Dest, destOverhead, SchedPacket, SchedService, Scheduler } from '../ipvs/types';
import { leastWeighted } from './least';

export function createWlc(): Scheduler {
  return {
    name: 'wlc',
    schedule(svc: SchedService, _pkt: SchedPacket): Dest | null {
      return leastWeighted(svc.dests, destOverhead);
    },
  };
}
