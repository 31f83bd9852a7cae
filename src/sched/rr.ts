/**
 * rr: round-robin scheduling.
 *
 * Each new connection goes to the next usable server (weight > 0, not overloaded) after the
 * one chosen last, wrapping at the end of the list. Source: net/netfilter/ipvs/ip_vs_rr.c;
 * W. Zhang, S. Jin, Q. Wu, "Scaling Internet services by LinuxDirector" (2000), §4.
 *
 * Cursor contract, as the kernel keeps it: the cursor names the last chosen server (or the
 * list head before the first pick). Adding a server leaves it alone; removing the server it
 * names moves it to that server's predecessor, so the next pick is the removed one's successor
 * (ip_vs_rr_del_dest).
 */
import { Dest, destUsable, SchedPacket, SchedService, Scheduler } from '../ipvs/types';

/** Cursor value meaning "the list head": the next pick starts at the first server. */
const HEAD = -1;

export function createRr(): Scheduler {
  let cur = HEAD;
  let last: Dest | null = null;

  /** Re-finds the cursor after svc.dests changed under it. */
  function resync(dests: readonly Dest[]): void {
    if (last === null) { cur = HEAD; return; }
    const at = dests.indexOf(last);
    if (at >= 0) { cur = at; return; }
    // Gone: the cursor moves to its former predecessor (or the head).
    cur = Math.min(cur, dests.length) - 1;
    last = cur === HEAD ? null : dests[cur];
  }

  return {
    name: 'rr',
    schedule(svc: SchedService, _pkt: SchedPacket): Dest | null {
      const dests = svc.dests;
      const n = dests.length;
      if (cur !== HEAD && dests[cur] !== last) resync(dests);
      const start = cur + 1;
      for (let k = 0; k < n; k++) {
        const i = (start + k) % n;
        const d = dests[i];
        if (destUsable(d)) {
          cur = i;
          last = d;
          return d;
        }
      }
      return null;
    },
    update(svc: SchedService): void {
      resync(svc.dests);
    },
  };
}
