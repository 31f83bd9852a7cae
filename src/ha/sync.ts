/**
 * Connection synchronisation (ip_vs_sync.c's role): the master director sends its connection
 * entries to the backup, which creates them without scheduling, so that after a takeover the
 * packets of established connections find their entry and go to the same real server.
 *
 * Master (SyncEngine.collect, every scanMs): an entry is sent
 *   - once it has left the handshake (TCP ESTABLISHED or later; UDP at once): the "few packets";
 *   - again whenever its state changed since it was last sent;
 *   - again every refreshMs while it lives (a backup that started late learns it too);
 * each time with the time it has left as its timeout (syncTimeoutSec), never more, so that
 * refreshes and alternating masters do not keep an idle entry alive on the backup;
 * all due entries of one scan travel in as few datagrams as fit (IPVS sync v1 layout).
 * Persistence templates and half-open entries are not sent.
 * Backup (SyncEngine.apply): the entry is created for the service and real server named by the
 * message (both must exist on the backup), or its state and timeout updated; real-server
 * connection counters follow as the datapath keeps them (ESTABLISHED counts as active).
 * The scan is control-plane work on a timer; the packet path is untouched.
 *
 * Nothing received is trusted (apply): the state must be one IPVS syncs for the protocol, the
 * timeout is clamped to the backup's own timeout table for that state (a forged 68-year
 * timeout becomes 15 minutes), client addresses must be unicast and routable (not 0/8,
 * 127/8, multicast, reserved or broadcast) with a non-zero port, and entries created by sync
 * are limited to maxSyncConns (default half of --max-conns), so that sync alone can never
 * fill the table the datapath schedules into. Each refusal has its named counter.
 *
 * Message layer (SyncDaemon): the backup socket is bound to the group address (or, for a
 * unicast peer, to the interface's address), joined on the configured interface only, and a
 * datagram is accepted only from the configured peer, or from the interface's own subnet
 * (multicast with TTL 1 does not leave the link); wrong syncid, version, length or MAC is
 * dropped and counted. Every message carries a sequence number: a backup that sees a gap
 * asks the master at once (NACK) and the master resends from the last SEQ_WINDOW messages;
 * an idle master sends an empty message every idleMs, so that a lost last message is
 * noticed within that time rather than at the next 30 s refresh. With a key, messages are
 * authenticated (HMAC-SHA256) and a replayed message is refused (sync-seq.ts).
 *
 * Scale-out (docs/SCALEOUT.md): every director may run master and backup together. A
 * director sends only entries its own datapath handles (learnt ones wait for a packet of
 * theirs here), stamps them with its address (origin) and refuses entries of its own origin.
 * A starting backup asks its peers for their whole table (bulk resync: request, paced dump)
 * and reports through resync() when that has finished, which gates the VIP announcements.
 */
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { F_INACTIVE, F_NOOUTPUT, F_SYNC, F_TEMPLATE } from '../ipvs/conn';
import type { Director } from '../ipvs/director';
import { createSynced, refreshSynced, SYNCED_OTHER_DEST, syncTimeoutSec } from '../ipvs/synced';
import {
  TCP_S_CLOSE, TCP_S_ESTABLISHED, TCP_S_LAST, TCP_S_LISTEN, TCP_S_NONE, TCP_S_SYNACK, TCP_S_SYN_RECV, TCP_S_SYN_SENT,
} from '../ipvs/proto/tcp';
import { UDP_S_NORMAL } from '../ipvs/proto/udp';
import { IPPROTO_TCP, IPPROTO_UDP, ipFromString } from '../ipvs/types';
import type { Log } from '../log';
import {
  CONN_F_FWD_MASK, CONN_F_INACTIVE, CONN_F_NOOUTPUT, CONN_F_TEMPLATE, SYNC_DUMP_MAX_CONNS, SYNC_ERR_NAMES, SYNC_GROUP,
  SYNC_NACK_MAX, SYNC_OK, SYNC_PORT, type SyncConn, type SyncDumpMeta, type SyncMeta, type SyncRequest, decodeSync,
  decodeSyncDump, decodeSyncNack, decodeSyncRequest, encodeSync, encodeSyncDump, encodeSyncHeartbeat, encodeSyncNack,
  encodeSyncRequest, isSyncRequest, newSyncMeta, sealSync,
} from '../wire/ipvs-sync';
import type { ConnInfo } from '../ipvs/command';
import { TCP_STATE_NAMES } from '../ipvs/proto/tcp';
import { SEQ_REPLAY, SEQ_WINDOW, SentRing, SeqWindow, unwrap16 } from './sync-seq';

/** TCP states not worth sending: the handshake has not completed (or nothing is left). */
const UNSYNCED_TCP = new Set([TCP_S_NONE, TCP_S_SYN_SENT, TCP_S_SYN_RECV, TCP_S_LISTEN, TCP_S_SYNACK, TCP_S_CLOSE]);

export const DEFAULT_SCAN_MS = 250;
export const DEFAULT_REFRESH_MS = 30_000;
/** Entries of the sync quota re-examined per entry received while the quota is full. */
const PRUNE_STEP = 256;

interface Sent { caddr: number; cport: number; state: number; at: number; seen: number }

/**
 * Walks a map's keys round-robin, PRUNE_STEP of them per step() across calls, deleting those
 * `gone` says are gone: bounded work per call, every key examined once per lap.
 */
class PruneCursor<K> {
  private at: Iterator<K> | undefined;

  step(m: Map<K, unknown>, gone: (k: K) => boolean): void {
    for (let n = 0; n < PRUNE_STEP; n++) {
      let r = this.at?.next();
      if (!r || r.done) {
        this.at = m.keys();
        r = this.at.next();
        if (r.done) return;
      }
      if (gone(r.value)) m.delete(r.value);
    }
  }
}

/** Counters of the sync daemon: entries and messages, and why any were refused. */
export interface SyncStats {
  sent: number;
  messagesSent: number;
  received: number;
  applied: number;
  noService: number;
  noDest: number;
  skipped: number;
  tableFull: number;
  /** Entries refused: a state the protocol does not sync, or not a state at all. */
  badState: number;
  /** Entries refused: client address or port not a unicast endpoint. */
  badAddress: number;
  /** Entries refused: maxSyncConns entries made by sync are live. */
  quotaFull: number;
  /** Entries whose timeout was above the timeout table's and was clamped. */
  timeoutClamped: number;
  /** Messages refused, any reason (the sum of the next ones). */
  badMessages: number;
  short: number;
  version: number;
  size: number;
  syncid: number;
  auth: number;
  /** A sequence number seen before, or a keyed message of a stale sender start. */
  replay: number;
  /** Not from the configured peer or the interface's subnet. */
  source: number;
  /** Sequence numbers found missing, NACKs sent, messages resent on a NACK, idle heartbeats. */
  lost: number;
  nacksSent: number;
  resent: number;
  heartbeats: number;
  /** Entries refused because their origin is this director (an echo of its own). */
  echo: number;
  /** Bulk resync, answering side: requests received, dumps started, requests refused
   * (rate limit, dumps already running, not synced yet), dump messages and entries sent. */
  resyncRequests: number;
  resyncDumps: number;
  resyncRefused: number;
  dumpMessages: number;
  dumpEntries: number;
  /** Bulk resync, requesting side: dump messages received, entries in them, messages lost. */
  resyncMessages: number;
  resyncEntries: number;
  resyncLost: number;
}

/** The counter of each message error code (SYNC_ERR_NAMES order). */
const MESSAGE_ERROR_COUNTER = [undefined, 'short', 'version', 'size', 'syncid', 'auth'] as const;

function unicastClient(a: number): boolean {
  const hi = a >>> 24;
  return hi !== 0 && hi !== 127 && hi < 224;
}

export class SyncEngine {
  private readonly sent = new Map<number, Sent>();
  private scan = 0;
  /** Entries this engine created, to hold them to maxSyncConns (pruned when full). */
  private readonly created = new Map<number, number>();
  readonly maxSyncConns: number;
  readonly stats: SyncStats = {
    sent: 0, messagesSent: 0, received: 0, applied: 0, noService: 0, noDest: 0, skipped: 0, tableFull: 0,
    badState: 0, badAddress: 0, quotaFull: 0, timeoutClamped: 0,
    badMessages: 0, short: 0, version: 0, size: 0, syncid: 0, auth: 0, replay: 0, source: 0,
    lost: 0, nacksSent: 0, resent: 0, heartbeats: 0, echo: 0,
    resyncRequests: 0, resyncDumps: 0, resyncRefused: 0, dumpMessages: 0, dumpEntries: 0,
    resyncMessages: 0, resyncEntries: 0, resyncLost: 0,
  };
  /** This director's sync address (host order): entries of this origin are echoes. 0 = unknown. */
  self = 0;
  /** Learnt entries: id → expiry set by sync, shared by the director's daemons (learntOf). */
  private readonly learnt: Map<number, number>;

  constructor(private readonly director: Director, private readonly refreshMs = DEFAULT_REFRESH_MS, maxSyncConns?: number) {
    this.maxSyncConns = maxSyncConns ?? Math.max(1, Math.floor(director.conns.maxConns / 2));
    this.learnt = learntOf(director);
  }

  /**
   * Whether live entry `id` is one this director only learnt: made or refreshed by sync and
   * not touched by a packet since (its expiry is still the one sync set). Such entries are
   * not sent: a director sends only what its own datapath handles, so nothing learnt is
   * echoed back, and a connection moved here (ECMP) is sent from its first packet on.
   */
  private learntOnly(id: number, flags: number): boolean {
    if ((flags & F_SYNC) === 0) return false;
    const at = this.learnt.get(id);
    if (at === undefined) return true;
    if (this.director.conns.expiresAt(id) === at) return true;
    this.learnt.delete(id);
    return false;
  }

  private readonly createdPrune = new PruneCursor<number>();

  /**
   * Entries created by this engine still live, after forgetting those that expired or were
   * replaced among the next PRUNE_STEP examined: bounded work per received entry, so that a
   * flood at the quota cannot turn every datagram into a walk over the whole table.
   */
  private syncLive(): number {
    const c = this.director.conns;
    this.createdPrune.step(this.created, (id) =>
      !c.has(id) || (c.flags(id) & F_SYNC) === 0 || ((c.caddr(id) ^ c.cport(id)) >>> 0) !== this.created.get(id));
    return this.created.size;
  }

  private readonly learntPrune = new PruneCursor<number>();

  /** Forgets up to PRUNE_STEP ledger entries whose connection is gone or no longer learnt. */
  private pruneLearnt(): void {
    const c = this.director.conns;
    this.learntPrune.step(this.learnt, (id) => !c.has(id) || (c.flags(id) & F_SYNC) === 0);
  }

  /** Entries due for sending at `now` (ms, the director's clock). */
  collect(now: number): SyncConn[] {
    const feed = this.director.syncFeed;
    if (feed !== null) {
      const fed = feed.take(now);
      this.stats.sent += fed.length;
      return fed;
    }
    const c = this.director.conns;
    const tcpT = this.director.pipeline.tcpTimeouts;
    const udpT = this.director.pipeline.udpTimeouts;
    const out: SyncConn[] = [];
    const scan = ++this.scan;
    c.forEach((id) => {
      const flags = c.flags(id);
      if (flags & F_TEMPLATE) return;
      if (this.learntOnly(id, flags)) return;
      const proto = c.proto(id);
      const state = c.state(id);
      if (proto === IPPROTO_TCP && UNSYNCED_TCP.has(state)) return;
      const caddr = c.caddr(id);
      const cport = c.cport(id);
      const rec = this.sent.get(id);
      if (rec && rec.caddr === caddr && rec.cport === cport) {
        rec.seen = scan;
        if (rec.state === state && now - rec.at < this.refreshMs) return;
        rec.state = state;
        rec.at = now;
      } else {
        this.sent.set(id, { caddr, cport, state, at: now, seen: scan });
      }
      out.push({
        protocol: proto,
        flags: (c.fwd(id) & CONN_F_FWD_MASK) | (flags & F_INACTIVE ? CONN_F_INACTIVE : 0) | (flags & F_NOOUTPUT ? CONN_F_NOOUTPUT : 0),
        state, cport, vport: c.vport(id), dport: c.dport(id), fwmark: 0,
        timeoutSec: syncTimeoutSec(c, id, proto === IPPROTO_TCP ? tcpT[state] : udpT[UDP_S_NORMAL], now),
        caddr, vaddr: c.vaddr(id), daddr: c.daddr(id),
      });
    });
    for (const [id, rec] of this.sent) if (rec.seen !== scan) this.sent.delete(id);
    this.pruneLearnt();
    this.stats.sent += out.length;
    return out;
  }

  /** Creates or refreshes the entry described by `m` (backup side). Returns whether it applied. */
  apply(m: SyncConn, now: number): boolean {
    this.stats.received++;
    const proto = m.protocol;
    if ((m.flags & CONN_F_TEMPLATE) || (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP)) {
      this.stats.skipped++;
      return false;
    }
    if (proto === IPPROTO_TCP ? m.state >= TCP_S_LAST || UNSYNCED_TCP.has(m.state) : m.state !== UDP_S_NORMAL) {
      this.stats.badState++;
      return false;
    }
    if (!unicastClient(m.caddr) || m.cport === 0 || m.vport === 0) {
      this.stats.badAddress++;
      return false;
    }
    if (this.self !== 0 && m.origin === this.self) {
      this.stats.echo++;
      return false;
    }
    const services = this.director.services;
    const svc = services.lookup(proto, m.vaddr, m.vport);
    if (!svc) {
      this.stats.noService++;
      return false;
    }
    const dest = svc.findDest(m.daddr, m.dport);
    if (!dest) {
      this.stats.noDest++;
      return false;
    }
    const active = proto === IPPROTO_TCP && m.state === TCP_S_ESTABLISHED;
    const state = proto === IPPROTO_TCP ? m.state : UDP_S_NORMAL;
    // ip_vs_proc_conn: timeout 0 means the table's; above the table's it is clamped (lvsd).
    const limit = proto === IPPROTO_TCP ? this.director.pipeline.tcpTimeouts[state] : this.director.pipeline.udpTimeouts[UDP_S_NORMAL];
    if (m.timeoutSec > limit) this.stats.timeoutClamped++;
    const timeout = m.timeoutSec === 0 || m.timeoutSec > limit ? limit : m.timeoutSec;
    if (this.director.syncFeed !== null) {
      // Packet workers: the entry goes to the worker that will see its packets, clamped as here.
      this.director.syncFeed.insert(timeout === m.timeoutSec ? m : { ...m, timeoutSec: timeout });
      this.stats.applied++;
      return true;
    }
    const c = this.director.conns;
    const id = c.lookupIn(proto, m.caddr, m.cport, m.vaddr, m.vport);
    if (id >= 0) {
      if (refreshSynced(c, id, dest, active, state, timeout, now) === SYNCED_OTHER_DEST) {
        this.stats.skipped++;
        return false;
      }
      if (c.flags(id) & F_SYNC) this.learnt.set(id, c.expiresAt(id));
    } else {
      if (this.created.size >= this.maxSyncConns && this.syncLive() >= this.maxSyncConns) {
        this.stats.quotaFull++;
        return false;
      }
      const nid = createSynced(c, services, svc, dest, proto, m.caddr, m.cport, m.vaddr, m.vport, m.dport,
        active, state, timeout, now);
      if (nid < 0) {
        this.stats.tableFull++;
        return false;
      }
      this.created.set(nid, (m.caddr ^ m.cport) >>> 0);
      this.learnt.set(nid, c.expiresAt(nid));
    }
    this.stats.applied++;
    return true;
  }
}

const learntTables = new WeakMap<Director, Map<number, number>>();

/** The learnt-entry ledger of a director, shared by its master and backup daemons. */
function learntOf(d: Director): Map<number, number> {
  let m = learntTables.get(d);
  if (!m) {
    m = new Map();
    learntTables.set(d, m);
  }
  return m;
}

const TCP_STATE_BY_NAME = new Map(TCP_STATE_NAMES.map((n, i) => [n, i]));

/**
 * A listing row (lvsadm -L -c, from the packet workers) as a dump entry, or undefined for
 * what is not synced (templates, half-open TCP, other protocols).
 */
export function rowToSync(r: ConnInfo, ip: (s: string) => number): SyncConn | undefined {
  const proto = r.proto === 'tcp' ? IPPROTO_TCP : r.proto === 'udp' ? IPPROTO_UDP : -1;
  if (proto < 0) return undefined;
  let state: number;
  if (proto === IPPROTO_TCP) {
    const s = TCP_STATE_BY_NAME.get(r.state);
    if (s === undefined || UNSYNCED_TCP.has(s)) return undefined;
    state = s;
  } else {
    if (r.state !== 'UDP') return undefined;
    state = UDP_S_NORMAL;
  }
  return {
    protocol: proto, flags: 0, state, cport: r.cport, vport: r.vport, dport: r.dport, fwmark: 0,
    timeoutSec: Math.max(1, r.expires), caddr: ip(r.caddr), vaddr: ip(r.vaddr), daddr: ip(r.daddr),
  };
}

/** The director's own table as dump chunks, a bounded slice per step (single-threaded director). */
export async function* directorDump(director: Director): AsyncIterable<SyncConn[]> {
  const c = director.conns;
  const tcpT = director.pipeline.tcpTimeouts;
  const udpT = director.pipeline.udpTimeouts;
  for (let from = 0; from < c.capacity; from += DUMP_SLICE) {
    const out: SyncConn[] = [];
    const end = Math.min(c.capacity, from + DUMP_SLICE);
    const now = director.now();
    for (let id = from; id < end; id++) {
      if (!c.has(id)) continue;
      const flags = c.flags(id);
      const proto = c.proto(id);
      const state = c.state(id);
      if ((flags & F_TEMPLATE) || (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP)) continue;
      if (proto === IPPROTO_TCP && UNSYNCED_TCP.has(state)) continue;
      const left = Math.ceil((c.expiresAt(id) - now) / 1000);
      out.push({
        protocol: proto, flags: c.fwd(id) & CONN_F_FWD_MASK, state, cport: c.cport(id), vport: c.vport(id),
        dport: c.dport(id), fwmark: 0,
        timeoutSec: Math.max(1, Math.min(left, proto === IPPROTO_TCP ? tcpT[state] : udpT[UDP_S_NORMAL])),
        caddr: c.caddr(id), vaddr: c.vaddr(id), daddr: c.daddr(id),
      });
    }
    yield out;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Listing rows (the packet workers' tables) as dump chunks. */
export async function* rowsDump(rows: AsyncIterable<ConnInfo[]>): AsyncIterable<SyncConn[]> {
  for await (const chunk of rows) {
    const out: SyncConn[] = [];
    for (const r of chunk) {
      const m = rowToSync(r, ipFromString);
      if (m) out.push(m);
    }
    yield out;
  }
}

/** Table slots examined per step of directorDump. */
const DUMP_SLICE = 4096;

export type SyncRole = 'master' | 'backup';

/** An idle master sends an empty message this often (its sequence number shows a lost last one). */
export const DEFAULT_IDLE_MS = 1000;
/** A keyed message from a new sender start must be this fresh (Unix clocks of the directors). */
export const SYNC_MAX_SKEW_SEC = 60;
/** Most messages a master resends per second on NACKs. */
const RESEND_PER_SEC = 256;

/** How long a bulk resync waits for a peer's answer (and, once answered, for the next dump message). */
export const DEFAULT_RESYNC_TIMEOUT_MS = 3000;
/** The request is sent again this often while no peer answered. */
const RESYNC_RETRY_MS = 1000;
/** Entries per second a dump sends at most (the answering director's pace). */
export const DEFAULT_DUMP_RATE = 20_000;
/** Dumps one director sends at a time, and how often one requester may ask. */
const DUMPS_MAX = 2;
const RESYNC_PER_SOURCE_MS = 5000;
/** Dump pacing period. */
const DUMP_TICK_MS = 50;

export interface ResyncResult {
  reason: 'complete' | 'no peer answered' | 'dump stalled' | 'stopped';
  entries: number;
  /** The answering director, when one answered. */
  from?: string;
  /** Dump messages found missing (the periodic refresh brings those entries later). */
  lost?: number;
}

function deferred<T>(): { promise: Promise<T>; resolve(v: T): void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

export interface SyncDaemonOptions {
  /** Interface whose IPv4 address sends and joins the group (ipvsadm --mcast-interface). */
  iface: string;
  /** 0..255; 0 on a backup accepts every syncid. */
  syncid: number;
  group?: string;
  port?: number;
  ttl?: number;
  /** Unicast peer instead of the multicast group: the only source a backup accepts. */
  peer?: string;
  /** Shared key: messages carry and require an HMAC (lvsd extension). */
  key?: Buffer;
  scanMs?: number;
  refreshMs?: number;
  idleMs?: number;
  /** Bulk resync: wait for an answer this long (DEFAULT_RESYNC_TIMEOUT_MS). */
  resyncTimeoutMs?: number;
  /** Entries per second of a dump this director sends (DEFAULT_DUMP_RATE). */
  dumpRate?: number;
  /** Entries sync may create (default half of --max-conns). */
  maxSyncConns?: number;
  clock?: () => number;
  /** Unix time in seconds (replay check of keyed messages). */
  wallClock?: () => number;
}

interface Subnet { net: number; mask: number }

function ip4(a: string): number {
  const p = a.split('.').map(Number);
  return p.length === 4 && p.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)
    ? ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0 : -1;
}

/** The sockets and timers around a SyncEngine; roles may be switched at run time (VRRP). */
export class SyncDaemon {
  readonly engine: SyncEngine;
  private readonly roles = new Set<SyncRole>();
  private tx: dgram.Socket | undefined;
  private rx: dgram.Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly local: string;
  private readonly subnets: Subnet[];
  private readonly clock: () => number;
  private readonly wallClock: () => number;
  /** Master: this start's random id, next sequence number, what was sent, resend budget. */
  readonly boot = randomBytes(4).readUInt32BE(0);
  private seq = 1;
  private readonly ring = new SentRing();
  private lastSentAt = -Infinity;
  private resendWindowAt = 0;
  private resendBudget = RESEND_PER_SEC;
  /** Backup: per sender address, its sequence window. */
  private readonly windows = new Map<string, SeqWindow>();
  private readonly meta: SyncMeta = newSyncMeta();
  private readonly missing: number[] = [];
  /** Datagrams received from other directors (accepted or not). */
  messagesReceived = 0;
  /** Bulk resync of this start (requesting side). */
  private readonly resyncDone = deferred<ResyncResult>();
  private resyncFinished = false;
  private resyncSock: dgram.Socket | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private resyncRetry: NodeJS.Timeout | undefined;
  private resyncNonce = 0;
  private resyncFrom: string | undefined;
  private resyncNext = 0;
  private resyncEntries = 0;
  private resyncLost = 0;
  /** Dumps being sent (answering side), by requester address, and when each source last asked. */
  private readonly dumping = new Map<string, { stop: boolean }>();
  private readonly askedAt = new Map<string, number>();
  private dumpSource: () => AsyncIterable<SyncConn[]>;
  private readonly request: SyncRequest = { nonce: 0, time: 0 };
  private readonly dumpMeta: SyncDumpMeta = { nonce: 0, index: 0, last: false };

  constructor(director: Director, private readonly log: Log, readonly opts: SyncDaemonOptions) {
    this.engine = new SyncEngine(director, opts.refreshMs, opts.maxSyncConns);
    this.clock = opts.clock ?? (() => Math.floor(performance.now()));
    this.wallClock = opts.wallClock ?? (() => Math.floor(Date.now() / 1000));
    const addrs = (networkInterfaces()[opts.iface] ?? []).filter((x) => x.family === 'IPv4');
    if (addrs.length === 0) throw new Error(`sync daemon: interface ${opts.iface} has no IPv4 address`);
    if (opts.peer !== undefined && ip4(opts.peer) < 0) throw new Error(`sync daemon: bad peer address '${opts.peer}'`);
    this.local = addrs[0].address;
    this.engine.self = ip4(this.local);
    this.dumpSource = () => directorDump(director);
    this.subnets = addrs.map((a) => {
      const mask = ip4(a.netmask) >>> 0;
      return { net: (ip4(a.address) & mask) >>> 0, mask };
    });
  }

  get activeRoles(): SyncRole[] {
    return [...this.roles];
  }

  private readonly roleFns: Array<(role: SyncRole) => void> = [];

  /** fn runs after each role starts (and at once for those running). */
  onRole(fn: (role: SyncRole) => void): void {
    this.roleFns.push(fn);
    for (const r of this.roles) fn(r);
  }

  async start(role: SyncRole): Promise<void> {
    if (this.roles.has(role)) return;
    this.roles.add(role);
    if (role === 'master') await this.startMaster();
    else await this.startBackup();
    this.log.info({ role, iface: this.opts.iface, syncid: this.opts.syncid, auth: this.opts.key !== undefined }, 'sync daemon started');
    for (const fn of this.roleFns) fn(role);
  }

  /**
   * The bulk resync of this start (backup role): resolves once it has finished, with why:
   * 'complete' (a peer's dump arrived to its last message), 'no peer answered' (none within
   * the resync timeout: the first director up), or 'dump stalled' (a dump stopped for that
   * long). Runs once per daemon, when the backup role first starts.
   */
  resync(): Promise<ResyncResult> {
    return this.resyncDone.promise;
  }

  stop(role: SyncRole): void {
    if (!this.roles.delete(role)) return;
    if (role === 'master') {
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      this.tx?.close();
      this.tx = undefined;
    } else {
      this.rx?.close();
      this.rx = undefined;
      this.windows.clear();
      for (const d of this.dumping.values()) d.stop = true;
      this.dumping.clear();
      this.finishResync('stopped');
    }
    this.log.info({ role }, 'sync daemon stopped');
  }

  close(): void {
    this.stop('master');
    this.stop('backup');
  }

  /**
   * A sending socket bound to an ephemeral port of the interface's address, multicast on that
   * interface with the configured TTL (no loopback) unless a unicast peer is configured.
   */
  private async sendSocket(reuseAddr: boolean, what: string): Promise<dgram.Socket> {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, this.local, () => {
        s.removeListener('error', reject);
        resolve();
      });
    });
    s.on('error', (err) => this.log.warn({ err: err.message }, `${what} error`));
    if (!this.opts.peer) {
      s.setMulticastInterface(this.local);
      s.setMulticastTTL(this.opts.ttl ?? 1);
      s.setMulticastLoopback(false);
    }
    return s;
  }

  private async startMaster(): Promise<void> {
    const s = await this.sendSocket(true, 'sync send');
    s.on('message', (msg, rinfo) => this.onNack(msg, rinfo.address));
    this.tx = s;
    this.timer = setInterval(() => this.flush(), this.opts.scanMs ?? 250);
    this.timer.unref();
  }

  private get dst(): string {
    return this.opts.peer ?? this.opts.group ?? SYNC_GROUP;
  }

  /** Stamps, remembers for resending, and sends one message. */
  private sendMessage(m: Buffer): void {
    const s = this.tx;
    if (!s) return;
    const seq = this.seq;
    this.seq = this.seq >= 0xffffffff ? 1 : this.seq + 1;
    const b = sealSync(m, { seq, boot: this.boot, time: this.wallClock() }, this.opts.key);
    this.ring.put(seq, b);
    this.engine.stats.messagesSent++;
    this.lastSentAt = this.clock();
    s.send(b, this.opts.port ?? SYNC_PORT, this.dst);
  }

  /**
   * One master scan: due entries out in batched datagrams, or an empty one when nothing was
   * sent for idleMs. The connections come from SyncEngine.collect; `conns` lets another
   * collector (packet workers reporting new and changed entries) hand them over instead.
   */
  flush(conns: readonly SyncConn[] = this.engine.collect(this.clock())): void {
    if (!this.tx) return;
    for (const m of encodeSync(this.opts.syncid, conns, undefined, this.engine.self)) this.sendMessage(m);
    if (conns.length === 0 && this.clock() - this.lastSentAt >= (this.opts.idleMs ?? DEFAULT_IDLE_MS)) {
      this.engine.stats.heartbeats++;
      this.sendMessage(encodeSyncHeartbeat(this.opts.syncid));
    }
  }

  /** Master: a backup asks for messages again; resent (same bytes) while still kept. */
  private onNack(msg: Buffer, from: string): void {
    if (!this.acceptedSource(from)) return;
    const now = this.clock();
    if (now - this.resendWindowAt >= 1000) {
      this.resendWindowAt = now;
      this.resendBudget = RESEND_PER_SEC;
    }
    const s = this.tx;
    // A keyless backup knows only the low 16 bits of our numbers, and not our boot.
    const keyed = this.opts.key !== undefined;
    decodeSyncNack(msg, this.opts.syncid, keyed ? this.boot : 0, this.opts.key, (seq) => {
      const b = this.ring.get(seq, keyed ? 0xffffffff : 0xffff);
      if (!b || !s || this.resendBudget <= 0) return;
      this.resendBudget--;
      this.engine.stats.resent++;
      s.send(b, this.opts.port ?? SYNC_PORT, this.dst);
    });
  }

  /** The configured peer, else an address of the interface's subnets other than ours. */
  private acceptedSource(a: string): boolean {
    if (a === this.local) return false;
    if (this.opts.peer !== undefined) return a === this.opts.peer;
    const n = ip4(a);
    return n >= 0 && this.subnets.some((sn) => ((n & sn.mask) >>> 0) === sn.net);
  }

  private async startBackup(): Promise<void> {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    // Bound to the group (or our unicast address): datagrams to other addresses never arrive.
    const bindAddr = this.opts.peer ? this.local : this.opts.group ?? SYNC_GROUP;
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(this.opts.port ?? SYNC_PORT, bindAddr, () => {
        s.removeListener('error', reject);
        resolve();
      });
    });
    if (!this.opts.peer) s.addMembership(this.opts.group ?? SYNC_GROUP, this.local);
    s.on('error', (err) => this.log.warn({ err: err.message }, 'sync receive error'));
    s.on('message', (msg, rinfo) => {
      if (rinfo.address === this.local || !this.roles.has('backup')) return;
      this.messagesReceived++;
      if (isSyncRequest(msg)) this.onResyncRequest(msg, rinfo.address, rinfo.port);
      else this.receive(msg, rinfo.address, rinfo.port);
    });
    this.rx = s;
    await this.startResync();
  }

  /** Where dumps come from (the packet workers' listing in worker mode). */
  setDumpSource(fn: () => AsyncIterable<SyncConn[]>): void {
    this.dumpSource = fn;
  }

  private countBad(rc: number): void {
    const st = this.engine.stats;
    st.badMessages++;
    const name = MESSAGE_ERROR_COUNTER[rc];
    if (name) st[name]++;
  }

  // --- bulk resync, requesting side ---------------------------------------------------------

  /** Opens the socket the dumps come back to and asks the peers (once per daemon). */
  private async startResync(): Promise<void> {
    if (this.resyncFinished || this.resyncSock) return;
    const s = await this.sendSocket(false, 'resync socket');
    s.on('message', (msg, rinfo) => this.onDump(msg, rinfo.address));
    this.resyncSock = s;
    this.resyncNonce = randomBytes(4).readUInt32BE(0) || 1;
    const send = (): void => {
      const req = encodeSyncRequest(this.opts.syncid, this.resyncNonce, this.wallClock(), this.opts.key);
      // Port 0 (tests): the peers listen where our own backup socket does.
      s.send(req, this.opts.port || this.rx?.address().port || SYNC_PORT, this.dst);
    };
    send();
    this.resyncRetry = setInterval(() => {
      if (this.resyncFrom === undefined) send();
    }, RESYNC_RETRY_MS);
    this.resyncRetry.unref();
    this.armResyncTimer('no peer answered');
    this.log.info({ nonce: this.resyncNonce }, 'bulk resync requested');
  }

  private armResyncTimer(reason: ResyncResult['reason']): void {
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => this.finishResync(reason), this.opts.resyncTimeoutMs ?? DEFAULT_RESYNC_TIMEOUT_MS);
    this.resyncTimer.unref();
  }

  private finishResync(reason: ResyncResult['reason']): void {
    if (this.resyncFinished) return;
    this.resyncFinished = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    if (this.resyncRetry) clearInterval(this.resyncRetry);
    this.resyncSock?.close();
    this.resyncSock = undefined;
    const r: ResyncResult = { reason, entries: this.resyncEntries, lost: this.resyncLost };
    if (this.resyncFrom !== undefined) r.from = this.resyncFrom;
    const level = reason === 'complete' ? 'info' : 'warn';
    this.log[level]({ ...r }, 'bulk resync finished');
    this.resyncDone.resolve(r);
  }

  /** One dump message: from the first director that answered this request, in order. */
  private onDump(msg: Buffer, from: string): void {
    const st = this.engine.stats;
    if (!this.acceptedSource(from)) {
      st.badMessages++;
      st.source++;
      return;
    }
    const now = this.clock();
    const meta = this.dumpMeta;
    let applied = 0;
    const rc = decodeSyncDump(msg, this.opts.syncid, this.opts.key, meta, (c) => {
      applied++;
      this.engine.apply(c, now);
    }, (m) => m.nonce === this.resyncNonce && (this.resyncFrom === undefined || this.resyncFrom === from));
    if (rc !== SYNC_OK) {
      this.countBad(rc);
      return;
    }
    if (meta.nonce !== this.resyncNonce) {
      st.badMessages++;
      st.replay++;
      return;
    }
    if (this.resyncFrom !== undefined && this.resyncFrom !== from) return; // a second answerer: redundant
    if (this.resyncFrom === undefined) {
      this.resyncFrom = from;
      this.log.info({ from }, 'bulk resync: dump arriving');
    }
    st.resyncMessages++;
    st.resyncEntries += applied;
    this.resyncEntries += applied;
    if (meta.index > this.resyncNext) {
      this.resyncLost += meta.index - this.resyncNext;
      st.resyncLost += meta.index - this.resyncNext;
    }
    if (meta.index >= this.resyncNext) this.resyncNext = meta.index + 1;
    if (meta.last) this.finishResync('complete');
    else this.armResyncTimer('dump stalled');
  }

  // --- bulk resync, answering side ----------------------------------------------------------

  /**
   * A peer asks for the whole table. Answered only by a director that has finished its own
   * resync (a restarting one has little to give), at most DUMPS_MAX dumps at a time and once
   * per RESYNC_PER_SOURCE_MS per requester; the dump is paced at dumpRate entries a second.
   */
  private onResyncRequest(msg: Buffer, from: string, port: number): void {
    const st = this.engine.stats;
    if (!this.acceptedSource(from)) {
      st.badMessages++;
      st.source++;
      return;
    }
    const rc = decodeSyncRequest(msg, this.opts.syncid, this.opts.key, this.request);
    if (rc !== SYNC_OK) {
      this.countBad(rc);
      return;
    }
    if (this.opts.key && Math.abs(this.wallClock() - this.request.time) > SYNC_MAX_SKEW_SEC) {
      st.badMessages++;
      st.replay++;
      return;
    }
    st.resyncRequests++;
    const now = this.clock();
    const key = `${from}:${port}`;
    const last = this.askedAt.get(from);
    if (!this.resyncFinished || this.dumping.has(key) || this.dumping.size >= DUMPS_MAX
      || (last !== undefined && now - last < RESYNC_PER_SOURCE_MS)) {
      st.resyncRefused++;
      return;
    }
    if (this.askedAt.size >= 256) this.askedAt.clear();
    this.askedAt.set(from, now);
    st.resyncDumps++;
    const job = { stop: false };
    this.dumping.set(key, job);
    const nonce = this.request.nonce;
    this.log.info({ to: from, port }, 'bulk resync: sending the table');
    this.sendDump(job, nonce, from, port).catch((err: Error) => {
      this.log.warn({ err: err.message, to: from }, 'bulk resync dump failed');
    }).finally(() => {
      if (this.dumping.get(key) === job) this.dumping.delete(key);
    });
  }

  private async sendDump(job: { stop: boolean }, nonce: number, to: string, port: number): Promise<void> {
    const st = this.engine.stats;
    const perTick = Math.max(1, Math.floor((this.opts.dumpRate ?? DEFAULT_DUMP_RATE) * DUMP_TICK_MS / 1000));
    let index = 0;
    let budget = perTick;
    let pending: SyncConn[] = [];
    const send = (batch: SyncConn[], last: boolean): void => {
      const s = this.rx;
      if (!s) {
        job.stop = true;
        return;
      }
      const [m] = batch.length > 0 ? encodeSync(this.opts.syncid, batch, 1 << 16) : [encodeSyncHeartbeat(this.opts.syncid)];
      s.send(encodeSyncDump(this.opts.syncid, nonce, index++, last, m, this.opts.key), port, to);
      st.dumpMessages++;
      st.dumpEntries += batch.length;
    };
    const tick = (): Promise<void> => new Promise((resolve) => {
      const t = setTimeout(resolve, DUMP_TICK_MS);
      t.unref();
    });
    for await (const chunk of this.dumpSource()) {
      if (job.stop) return;
      pending = pending.concat(chunk);
      while (pending.length > SYNC_DUMP_MAX_CONNS) {
        if (budget < SYNC_DUMP_MAX_CONNS) {
          await tick();
          if (job.stop) return;
          budget = perTick;
        }
        send(pending.slice(0, SYNC_DUMP_MAX_CONNS), false);
        pending = pending.slice(SYNC_DUMP_MAX_CONNS);
        budget -= SYNC_DUMP_MAX_CONNS;
      }
    }
    if (job.stop) return;
    send(pending, true);
  }

  /** Backup: one datagram from `from`:`port` (public for tests). */
  receive(msg: Buffer, from: string, port: number): void {
    const st = this.engine.stats;
    if (!this.acceptedSource(from)) {
      st.badMessages++;
      st.source++;
      return;
    }
    const now = this.clock();
    const m = this.meta;
    // Entries are applied only after the sequence check; decode first without delivering.
    const rc = decodeSync(msg, this.opts.syncid, this.opts.key, () => undefined, m);
    if (rc !== SYNC_OK) {
      st.badMessages++;
      const name = MESSAGE_ERROR_COUNTER[rc];
      if (name) st[name]++;
      this.log.debug({ from, error: SYNC_ERR_NAMES[rc] }, 'sync message dropped');
      return;
    }
    let w = this.windows.get(from);
    if (!w) {
      if (this.windows.size >= 256) this.windows.clear();
      w = new SeqWindow();
      this.windows.set(from, w);
    }
    let seq = -1;
    if (m.keyed) {
      if (w.top < 0 || w.boot !== m.boot) {
        // A new sender start: only a fresh message may open it (an old one is a replay).
        if (Math.abs(this.wallClock() - m.time) > SYNC_MAX_SKEW_SEC) {
          st.badMessages++;
          st.replay++;
          return;
        }
        w.reset(m.boot);
      }
      seq = m.seq;
    } else if (m.seq16 !== 0) {
      seq = unwrap16(m.seq16, w.top);
    }
    if (seq >= 0) {
      this.missing.length = 0;
      if (w.accept(seq, this.missing, SEQ_WINDOW - 1) === SEQ_REPLAY) {
        st.badMessages++;
        st.replay++;
        return;
      }
      if (this.missing.length > 0) this.nack(w, from, port);
    }
    decodeSync(msg, this.opts.syncid, undefined, (c) => this.engine.apply(c, now));
  }

  private nack(w: SeqWindow, to: string, port: number): void {
    const st = this.engine.stats;
    st.lost += this.missing.length;
    const s = this.rx;
    if (!s) return;
    const seqs = this.missing;
    for (let i = 0; i < seqs.length; i += SYNC_NACK_MAX) {
      st.nacksSent++;
      s.send(encodeSyncNack(this.opts.syncid, w.boot, seqs.slice(i, i + SYNC_NACK_MAX), this.opts.key), port, to);
    }
  }
}
