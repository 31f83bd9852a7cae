/**
 * The weighted least-connection pick shared by wlc, sed, lblc and lblcr (ip_vs_wlc.c,
 * ip_vs_sed.c, ip_vs_lblc.c __ip_vs_lblc_schedule): the first server with weight > 0 that
 * is not overloaded starts as the least loaded; a later server that is not overloaded
 * replaces it when overhead(least)·weight(d) > overhead(d)·weight(least). Comparing by
 * cross-multiplication avoids division; ties stay with the earlier server, and a weight-0
 * server never wins.
 */
import { type Dest, destUsable } from '../ipvs/types';

export function leastWeighted(dests: readonly Dest[], overhead: (d: Dest) => number): Dest | null {
  const n = dests.length;
  let i = 0;
  while (i < n && !destUsable(dests[i])) i++;
  if (i === n) return null;
  let least = dests[i];
  let loh = overhead(least);
  for (i++; i < n; i++) {
    const d = dests[i];
    if (d.overloaded) continue;
    const doh = overhead(d);
    if (loh * d.weight > doh * least.weight) {
      least = d;
      loh = doh;
    }
  }
  return least;
}
