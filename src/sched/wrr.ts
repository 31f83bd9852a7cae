/**
 * wrr: interleaved weighted round-robin scheduling.
 *
 * The list is swept repeatedly with a current weight cw: each sweep picks, in list order,
 * every server with weight ≥ cw that is not overloaded; when a sweep wraps, cw steps down by
 * di, the gcd of the positive weights, and once it would drop to 0 or below it starts again at
 * mw. Weights 4:3:2 thus give A A B A B C A B C. As in net/netfilter/ipvs/ip_vs_wrr.c,
 * mw = max weight − (di − 1), so the last sweep of a cycle runs with cw = 1 and still reaches a
 * server whose weight fell below di between updates. An overloaded server is passed over for
 * the sweep it is in; its turns are not made up later. With every weight 0 (mw = 0) there is
 * no server; if every candidate is overloaded the scan stops after one full sweep at cw = 1.
 * Sources: ip_vs_wrr.c; W. Zhang, S. Jin, Q. Wu, "Scaling Internet services by
 * LinuxDirector" (2000), §4.
 *
 * update() is ip_vs_wrr_dest_changed: recompute di and mw, move the cursor to the list head,
 * and keep cw when it still fits (rounded onto the new di grid).
 */
import { Dest, SchedPacket, SchedService, Scheduler } from '../ipvs/types';

/** Cursor value meaning "the list head": the next sweep starts at the first server. */
const HEAD = -1;

/** Greatest common divisor of two non-negative integers (Euclid). */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

export function createWrr(): Scheduler {
  /** Last chosen index, or HEAD. */
  let cl = HEAD;
  /** Current required weight. */
  let cw = 0;
  /** Top of the cw range: max weight − (di − 1); 0 when no server has weight. */
  let mw = 0;
  /** Step of cw: gcd of the positive weights, 1 if there are none. */
  let di = 1;
  /** Whether mw/di have been computed from a service yet. */
  let synced = false;

  function changed(svc: SchedService): void {
    let g = 0;
    let max = 0;
    for (const d of svc.dests) {
      if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight;
      if (d.weight > max) max = d.weight;
    }
    cl = HEAD;
    di = g > 0 ? g : 1;
    mw = max - (di - 1);
    if (cw > mw || cw === 0) cw = mw;
    else if (di > 1) cw = Math.floor(cw / di) * di + 1;
    synced = true;
  }

  return {
    name: 'wrr',
    schedule(svc: SchedService, _pkt: SchedPacket): Dest | null {
      if (!synced) changed(svc);
      const dests = svc.dests;
      const n = dests.length;
      if (cl >= n) cl = HEAD;
      if (mw <= 0) return null;
      const last = cl;
      // Once set (≥ 0), the scan gives up on reaching this index: every server has then been
      // checked at cw = 1. Never equal to a scanned index while HEAD.
      let stop = HEAD;
      let lastPass = false;
      let restarted = false;
      let i = cl;
      for (;;) {
        for (i++; i < n; i++) {
          const d = dests[i];
          if (!d.overloaded && d.weight >= cw) {
            cl = i;
            return d;
          }
          if (i === stop) {
            cl = i;
            return null;
          }
        }
        i = HEAD;
        cw -= di;
        if (cw <= 0) {
          cw = mw;
          // A full sweep at cw = 1 already covered every server.
          if (lastPass || last === HEAD) {
            cl = HEAD;
            return null;
          }
          restarted = true;
        }
        lastPass = cw <= di;
        // The first cw = 1 sweep started after `last`; finish it up to `last` inclusive.
        if (lastPass && restarted && last !== HEAD) stop = last;
      }
    },
    update(svc: SchedService): void {
      changed(svc);
    },
  };
}
