/**
 * twos: weighted random two-choices scheduling.
 *
 * Two servers are drawn at random in proportion to their weights (non-overloaded, weight > 0);
 * the new connection goes to the one of lower overhead/weight (overhead = active·256 +
 * inactive), the first draw winning ties. As in net/netfilter/ipvs/ip_vs_twos.c each draw is a
 * uniform integer r in [0, W] (W = the sum of the weights, inclusive bound), and the server
 * drawn is the first whose running sum of weights reaches r; so the first server is drawn for
 * r ∈ [0, w1], one value more than its weight.
 */
import { Dest, destOverhead, SchedPacket, SchedService, Scheduler } from '../ipvs/types';

/** Uniform random integer in [0, n). */
export type RandomBelow = (n: number) => number;

const mathRandomBelow: RandomBelow = (n) => Math.floor(Math.random() * n);

export function createTwos(randomBelow: RandomBelow = mathRandomBelow): Scheduler {
  return {
    name: 'twos',
    schedule(svc: SchedService, _pkt: SchedPacket): Dest | null {
      let total = 0;
      for (const d of svc.dests) if (!d.overloaded && d.weight > 0) total += d.weight;
      if (total === 0) return null;
      let r1 = randomBelow(total + 1);
      let r2 = randomBelow(total + 1);
      let c1: Dest | null = null;
      let c2: Dest | null = null;
      for (const d of svc.dests) {
        if (d.overloaded || d.weight <= 0) continue;
        r1 -= d.weight;
        r2 -= d.weight;
        if (r1 <= 0 && c1 === null) c1 = d;
        if (r2 <= 0 && c2 === null) c2 = d;
        if (c1 !== null && c2 !== null) break;
      }
      if (c1 === null) return c2;
      if (c2 !== null && c2.weight * destOverhead(c1) > c1.weight * destOverhead(c2)) return c2;
      return c1;
    },
  };
}
