/**
 * Entries a backup learns from connection sync (ip_vs_sync.c ip_vs_proc_conn): the one place
 * that creates or refreshes them and keeps the real server's counters with them, for the
 * single-threaded director (src/ha/sync.ts) and for a packet worker's shard
 * (src/datapath/sync-feed.ts) alike.
 *
 * The entry is made without scheduling, for the service and real server the message names;
 * ESTABLISHED counts as active, every other state as inactive, as the datapath counts them.
 * Persistence templates are not synced, so nothing here touches one.
 */
import { type ConnTable, F_INACTIVE, F_NOOUTPUT, F_SYNC } from './conn';
import type { Service, ServiceTable } from './service';
import { type Dest, FWD_MASQ } from './types';

/**
 * The timeout a sync message carries for live entry `id` whose state's full timeout is
 * `fullSec`: the whole seconds it has left at `now` (rounded up, at least 1, at most fullSec).
 * IPVS sends the full timeout, which is the time left there because the kernel only sends an
 * entry as a packet passes it. A sender that also re-sends idle entries (the periodic refresh)
 * must send what is left: with the full timeout, each refresh would extend the backup's copy,
 * and with masters alternating more often than the timeout, an idle entry would never expire
 * on either director.
 */
export function syncTimeoutSec(conns: ConnTable, id: number, fullSec: number, now: number): number {
  const left = Math.ceil((conns.expiresAt(id) - now) / 1000);
  return Math.max(1, Math.min(fullSec, left));
}

/** What refreshSynced found: the entry updated, or held by another real server (left alone). */
export const SYNCED_UPDATED = 0;
export const SYNCED_OTHER_DEST = 1;

/**
 * Updates live entry `id` from a sync message: state, timeout, and the active/inactive
 * counters of `dest` when the entry crosses between them. The sequence numbers this director
 * tracked for the RST window (src/ipvs/proto/tcp.ts) are forgotten: the connection's traffic
 * goes through the master now, so what this director saw of it while it was master itself is
 * stale, and, since segments outside the window do not move it, would stay so after the next
 * takeover, dropping the connection's genuine RSTs as tcp-rst-window. Forgotten, the entry
 * learns them again from its first segments, as an entry created by sync does.
 */
export function refreshSynced(conns: ConnTable, id: number, dest: Dest, active: boolean, state: number,
  timeoutSec: number, now: number): number {
  if (conns.destId(id) !== dest.id) return SYNCED_OTHER_DEST;
  const flags = conns.flags(id);
  const wasActive = (flags & F_INACTIVE) === 0;
  if (wasActive !== active) {
    conns.setFlags(id, active ? flags & ~F_INACTIVE : flags | F_INACTIVE);
    if (active) {
      dest.activeConns++;
      dest.inactiveConns--;
    } else {
      dest.activeConns--;
      dest.inactiveConns++;
    }
  }
  conns.setState(id, state);
  conns.touch(id, timeoutSec, now);
  conns.forgetSeq(id);
  return SYNCED_UPDATED;
}

/**
 * Creates the entry of a sync message (caddr:cport → vaddr:vport of `svc`, on `dest`) and
 * binds it to the real server (held, counted). Returns its id, or -1 when the table is full.
 */
export function createSynced(
  conns: ConnTable, services: ServiceTable, svc: Service, dest: Dest,
  proto: number, caddr: number, cport: number, vaddr: number, vport: number, dport: number,
  active: boolean, state: number, timeoutSec: number, now: number,
): number {
  const flags = F_SYNC | (active ? 0 : F_INACTIVE) | (dest.fwd === FWD_MASQ ? 0 : F_NOOUTPUT);
  const id = conns.insert(proto, caddr, cport, vaddr, vport, dest.addr, dport, dest.fwd, flags,
    dest.id, svc.id, state, timeoutSec, now);
  if (id < 0) return -1;
  services.holdDest(dest.id);
  if (active) dest.activeConns++;
  else dest.inactiveConns++;
  return id;
}
