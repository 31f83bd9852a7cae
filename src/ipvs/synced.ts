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

/** What refreshSynced found: the entry updated, or held by another real server (left alone). */
export const SYNCED_UPDATED = 0;
export const SYNCED_OTHER_DEST = 1;

/**
 * Updates live entry `id` from a sync message: state, timeout, and the active/inactive
 * counters of `dest` when the entry crosses between them.
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
