/**
 * sed: shortest expected delay scheduling.
 *
 * A new connection goes to the server with the least (active + 1) / weight, the expected
 * delay of a request queued behind the active ones (inactive connections play no part).
 * Compared by cross-multiplication: d replaces the current least L when
 * (a(L)+1)·w(d) > (a(d)+1)·w(L), so among equals the server added first wins. The first
 * candidate must be usable (weight > 0, not overloaded); later ones only not overloaded, as
 * a weight of 0 cannot satisfy the strict inequality. Source: net/netfilter/ipvs/ip_vs_sed.c.
 */
import { Dest, SchedPacket, SchedService, Scheduler } from '../ipvs/types';
import { leastWeighted } from './least';

/** ip_vs_sed_dest_overhead: active connections plus the one being scheduled. */
export function sedOverhead(d: Dest): number {
  return d.activeConns + 1;
}

export function createSed(): Scheduler {
  return {
    name: 'sed',
    schedule(svc: SchedService, _pkt: SchedPacket): Dest | null {
      return leastWeighted(svc.dests, sedOverhead);
    },
  };
}
