/**
 * The sync sender's feed from one packet worker (IPVS connection synchronisation, as
 * ip_vs_sync.c sends from the packet path): entries created or changed in state are marked as
 * the pipeline touches them and leave in batches every FLUSH_MS; no scan of the table. A bounded
 * slice of the table is re-sent per flush, so every live entry is refreshed about every
 * REFRESH_MS (a backup that started late learns it too).
 *
 * Sent, as the scanning sender did: TCP entries past the handshake (ESTABLISHED or later), UDP
 * entries; never persistence templates or half-open entries. The timeout sent is the time the
 * entry has left (syncTimeoutSec), so that a refresh never extends the backup's copy.
 *
 * insertSynced is the backup side's insertion into this worker's shard, for an entry whose
 * client the steering hash gives to this worker.
 *
 * Nothing learnt is sent back (docs/SCALEOUT.md: every director runs master and backup): an
 * entry insertSynced made or refreshed is not marked, and it is left out of the refresh
 * slices while its expiry is still the one sync set. The first packet this worker forwards
 * for it re-arms the expiry, and from then on the entry is this director's to send (a
 * connection ECMP moved here).
 */
import { F_INACTIVE, F_NOOUTPUT, F_SYNC, F_TEMPLATE } from '../ipvs/conn';
import type { Director } from '../ipvs/director';
import { createSynced, refreshSynced, SYNCED_UPDATED, syncTimeoutSec } from '../ipvs/synced';
import {
  TCP_S_CLOSE, TCP_S_ESTABLISHED, TCP_S_LISTEN, TCP_S_NONE, TCP_S_SYNACK, TCP_S_SYN_RECV, TCP_S_SYN_SENT,
} from '../ipvs/proto/tcp';
import { UDP_S_NORMAL } from '../ipvs/proto/udp';
import { IPPROTO_TCP, IPPROTO_UDP } from '../ipvs/types';
import { CONN_F_FWD_MASK, CONN_F_INACTIVE, CONN_F_NOOUTPUT, type SyncConn } from '../wire/ipvs-sync';

const UNSYNCED_TCP = new Set([TCP_S_NONE, TCP_S_SYN_SENT, TCP_S_SYN_RECV, TCP_S_LISTEN, TCP_S_SYNACK, TCP_S_CLOSE]);
export const FLUSH_MS = 100;
export const REFRESH_MS = 30_000;

/** Set while insertSynced changes the table: its insertions and state changes are not marked. */
let applying = false;
/** Entries made or refreshed by sync in this thread: id → the expiry sync set. */
const learnt = new Map<number, number>();

/** Whether entry `id` was only learnt (sync made or refreshed it, no packet since). */
function learntOnly(director: Director, id: number, flags: number): boolean {
  if ((flags & F_SYNC) === 0) {
    learnt.delete(id);
    return false;
  }
  const at = learnt.get(id);
  if (at === undefined) return true;
  if (director.conns.expiresAt(id) === at) return true;
  learnt.delete(id);
  return false;
}

export class SyncFeed {
  private readonly dirty = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private cursor = 0;
  private on = false;

  private hooked = false;

  constructor(private readonly director: Director, private readonly send: (conns: SyncConn[]) => void) {}

  /** Marks entries as the pipeline creates them and moves them between states (from the first enable on). */
  private hook(): void {
    if (this.hooked) return;
    this.hooked = true;
    const c = this.director.conns;
    const insert = c.insert.bind(c);
    const setState = c.setState.bind(c);
    const dirty = this.dirty;
    c.insert = (...args: Parameters<typeof c.insert>): number => {
      const id = insert(...args);
      if (this.on && id >= 0 && !applying) dirty.add(id);
      return id;
    };
    c.setState = (id: number, s: number): void => {
      if (this.on && !applying && c.state(id) !== s) dirty.add(id);
      setState(id, s);
    };
  }

  enable(on: boolean): void {
    if (on === this.on) return;
    if (on) this.hook();
    this.on = on;
    this.dirty.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (on) {
      this.timer = setInterval(() => this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  /** The due entries of this period, handed to send() in one batch. */
  flush(): void {
    const c = this.director.conns;
    const slice = Math.ceil(c.capacity * FLUSH_MS / REFRESH_MS);
    const end = Math.min(c.capacity, this.cursor + slice);
    for (let id = this.cursor; id < end; id++) {
      if (c.has(id)) this.dirty.add(id);
      else learnt.delete(id);
    }
    this.cursor = end >= c.capacity ? 0 : end;
    if (this.dirty.size === 0) return;
    const out: SyncConn[] = [];
    for (const id of this.dirty) {
      if (!c.has(id)) continue;
      const m = this.entry(id);
      if (m) out.push(m);
    }
    this.dirty.clear();
    if (out.length > 0) this.send(out);
  }

  private entry(id: number): SyncConn | undefined {
    const c = this.director.conns;
    const flags = c.flags(id);
    if (flags & F_TEMPLATE) return undefined;
    if (learntOnly(this.director, id, flags)) return undefined;
    const proto = c.proto(id);
    const state = c.state(id);
    if (proto === IPPROTO_TCP && UNSYNCED_TCP.has(state)) return undefined;
    const p = this.director.pipeline;
    return {
      protocol: proto,
      flags: (c.fwd(id) & CONN_F_FWD_MASK) | (flags & F_INACTIVE ? CONN_F_INACTIVE : 0) | (flags & F_NOOUTPUT ? CONN_F_NOOUTPUT : 0),
      state, cport: c.cport(id), vport: c.vport(id), dport: c.dport(id), fwmark: 0,
      timeoutSec: syncTimeoutSec(c, id, proto === IPPROTO_TCP ? p.tcpTimeouts[state] : p.udpTimeouts[UDP_S_NORMAL],
        this.director.now()),
      caddr: c.caddr(id), vaddr: c.vaddr(id), daddr: c.daddr(id),
    };
  }
}

/**
 * Backup side: creates the entry described by m in this worker's shard, or updates its state
 * and timeout; the real server's counters follow (ESTABLISHED counts as active). False when
 * the service or real server is unknown here, the entry belongs to another server, or the
 * table is full.
 */
export function insertSynced(director: Director, m: SyncConn, now: number): boolean {
  const proto = m.protocol;
  if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return false;
  const services = director.services;
  const svc = services.lookup(proto, m.vaddr, m.vport);
  const dest = svc?.findDest(m.daddr, m.dport);
  if (!svc || !dest) return false;
  const c = director.conns;
  const active = proto === IPPROTO_TCP && m.state === TCP_S_ESTABLISHED;
  const state = proto === IPPROTO_TCP ? m.state : UDP_S_NORMAL;
  const timeout = Math.min(m.timeoutSec, 0x7fffffff);
  applying = true;
  try {
    const id = c.lookupIn(proto, m.caddr, m.cport, m.vaddr, m.vport);
    if (id >= 0) {
      if (refreshSynced(c, id, dest, active, state, timeout, now) !== SYNCED_UPDATED) return false;
      if (c.flags(id) & F_SYNC) learnt.set(id, c.expiresAt(id));
      return true;
    }
    const nid = createSynced(c, services, svc, dest, proto, m.caddr, m.cport, m.vaddr, m.vport, m.dport,
      active, state, timeout, now);
    if (nid < 0) return false;
    learnt.set(nid, c.expiresAt(nid));
    return true;
  } finally {
    applying = false;
  }
}
