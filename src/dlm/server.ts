/**
 * The lvs-dlm lock server: sessions with leases, the lock table, fencing tokens, limits,
 * and primary/standby failover. docs/DLM.md states the protocol and the safety argument.
 *
 * Session life (the lease is the only thing that frees a crashed or cut-off holder):
 *  - SESSION_OPEN starts a session with lease L (clamped to [minLeaseMs, maxLeaseMs]);
 *    every request of the session renews it to now + L (monotonic clock).
 *  - A disconnect does NOT end the session: its holds survive until the lease runs out,
 *    so a client whose connection broke keeps mutual exclusion as long as its own lease
 *    clock says so, and may SESSION_RESUME on a new connection. Queued requests of a
 *    disconnected session are dropped (they hold nothing).
 *  - SESSION_CLOSE, or lease expiry, ends the session and releases everything it holds.
 *
 * Grace periods: a server that starts on an existing data dir (restart), or a standby that
 * takes over, grants nothing for (longest lease the previous primary could grant + margin),
 * so every lease handed out before is over before a conflicting grant is made.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, Server, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { clientMac, macEqual, newNonce, serverProof } from './auth';
import { WireConn } from './conn';
import { LockTable, Waiter } from './locktable';
import {
  DlmError,
  Frame,
  FrameDecoder,
  FrameError,
  LockMode,
  MAC_LEN,
  MODE_BY_CODE,
  NONCE_LEN,
  Op,
  PROTOCOL_VERSION,
  Reader,
  Role,
  SESSION_ID_LEN,
  STATUS,
  StatusName,
  WAIT_FOREVER,
  encodeFrame,
  encodeReply,
  u32,
  u64,
  u8,
} from './protocol';
import { TokenStore } from './store';

export interface DlmServerOptions {
  host: string;
  port: number;
  secret: Buffer;
  dataDir: string;
  /** Run as the standby of this primary. */
  standbyOf?: { host: string; port: number };
  maxConnections?: number;
  maxSessions?: number;
  maxLocks?: number;
  maxWaiters?: number;
  minLeaseMs?: number;
  maxLeaseMs?: number;
  /** An unauthenticated connection is closed after this long. */
  authTimeoutMs?: number;
  /** Connections from one source address that may wait unauthenticated at once. */
  maxUnauthPerSource?: number;
  /** Primary → standby heartbeat period. */
  heartbeatMs?: number;
  /** Standby: time without contact with the primary before taking over. */
  failoverMs?: number;
  /** Added to the grace period for clock-rate differences and in-flight replies. */
  graceMarginMs?: number;
  /** A connection whose unsent replies exceed this is dropped (a peer that does not read). */
  maxOutputBytes?: number;
  /** Structured log sink. */
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

export const SERVER_DEFAULTS = {
  maxConnections: 1024,
  maxSessions: 1000,
  maxLocks: 10000,
  maxWaiters: 10000,
  minLeaseMs: 100,
  maxLeaseMs: 15000,
  authTimeoutMs: 1000,
  maxUnauthPerSource: 16,
  heartbeatMs: 100,
  failoverMs: 1000,
  graceMarginMs: 250,
  maxOutputBytes: 256 * 1024,
} as const;

type Limits = { -readonly [K in keyof typeof SERVER_DEFAULTS]: number };

class Session {
  conn: Conn | null = null;
  expiresAt = 0;
  timer: NodeJS.Timeout | null = null;
  readonly held = new Set<string>();
  readonly waiting = new Map<string, ServerWaiter>();
  constructor(
    readonly id: string,
    readonly leaseMs: number,
  ) {}
}

class Conn {
  readonly decoder = new FrameDecoder();
  readonly nonce = newNonce();
  authed = false;
  replica = false;
  /** Set once a fatal status was sent: nothing more is read or answered. */
  dead = false;
  session: Session | null = null;
  authTimer: NodeJS.Timeout | null = null;
  source = '';
  constructor(readonly sock: Socket) {}
}

/** Largest delay setTimeout honours (a longer one fires at once, after a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

class ServerWaiter implements Waiter {
  timer: NodeJS.Timeout | null = null;
  /** Calls fn after ms (any u32 value), in steps setTimeout can represent. */
  arm(ms: number, fn: () => void): void {
    this.timer = ms > MAX_TIMER_MS
      ? setTimeout(() => this.arm(ms - MAX_TIMER_MS, fn), MAX_TIMER_MS)
      : setTimeout(fn, ms);
  }
  constructor(
    readonly owner: string,
    readonly mode: LockMode,
    readonly name: string,
    readonly reqId: number,
    readonly session: Session,
    readonly srv: DlmServer,
  ) {}
  granted(token: bigint): void {
    this.detach();
    this.session.held.add(this.name);
    this.srv.replyTo(this.session.conn, this.reqId, 'OK', u64(token));
  }
  failed(status: StatusName): void {
    this.detach();
    this.srv.replyTo(this.session.conn, this.reqId, status);
  }
  detach(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.session.waiting.delete(this.name);
  }
}

type Handler = (c: Conn, reqId: number, r: Reader) => void;

export class DlmServer extends EventEmitter {
  private readonly limits: Limits;
  private readonly store: TokenStore;
  private readonly table: LockTable;
  private readonly conns = new Set<Conn>();
  private readonly sessions = new Map<string, Session>();
  private readonly replicas = new Set<Conn>();
  /** Connections not authenticated yet, oldest first, and their count per source address. */
  private readonly unauthed = new Set<Conn>();
  private readonly unauthBySource = new Map<string, number>();
  private readonly handlers: ReadonlyMap<number, Handler>;
  private server: Server | null = null;
  private roleNow: 'primary' | 'standby';
  private graceTimer: NodeJS.Timeout | null = null;
  private hbTimer: NodeJS.Timeout | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private replConn: WireConn | null = null;
  private closing = false;
  /** Standby: synchronised with the primary in this process's lifetime. */
  private synced = false;
  private lastContact = 0;
  private primaryMaxLeaseMs = 0;
  private readonly log: (event: string, fields?: Record<string, unknown>) => void;
  /** Counters by reason, for tests and operators. */
  readonly counters = {
    badFrames: 0, authFailures: 0, refusedConnections: 0, expiredSessions: 0, grants: 0,
    /** Refused: the source already has maxUnauthPerSource connections waiting to authenticate. */
    refusedPerSource: 0,
    /** Closed to make room: the oldest unauthenticated connection when every slot was taken. */
    evictedUnauthenticated: 0,
    /** Closed: no AUTH within authTimeoutMs. */
    authTimeouts: 0,
  };

  constructor(private readonly opts: DlmServerOptions) {
    super();
    this.limits = { ...SERVER_DEFAULTS };
    for (const k of Object.keys(SERVER_DEFAULTS) as (keyof Limits)[]) {
      const v = opts[k];
      if (v !== undefined) this.limits[k] = v;
    }
    this.log = opts.log ?? (() => undefined);
    this.store = TokenStore.open(opts.dataDir);
    this.table = new LockTable(this.limits, () => {
      const t = this.store.next();
      this.counters.grants++;
      return t;
    });
    this.roleNow = opts.standbyOf ? 'standby' : 'primary';
    this.handlers = new Map<number, Handler>([
      [Op.SESSION_OPEN, (c, id, r) => this.onSessionOpen(c, id, r)],
      [Op.SESSION_RESUME, (c, id, r) => this.onSessionResume(c, id, r)],
      [Op.KEEPALIVE, (c, id, r) => this.withSession(c, id, r, () => this.replyTo(c, id, 'OK'))],
      [Op.LOCK, (c, id, r) => this.onLock(c, id, r)],
      [Op.UNLOCK, (c, id, r) => this.onUnlock(c, id, r)],
      [Op.SESSION_CLOSE, (c, id, r) => this.withSession(c, id, r, (s) => {
        this.endSession(s, 'SESSION_ENDED');
        this.replyTo(c, id, 'OK');
      })],
      [Op.REPL_SUBSCRIBE, (c, id, r) => this.onSubscribe(c, id, r)],
    ]);
  }

  get role(): 'primary' | 'standby' {
    return this.roleNow;
  }
  get epoch(): number {
    return this.store.epoch;
  }
  /** False during a grace period (and on a standby). */
  get granting(): boolean {
    return this.roleNow === 'primary' && this.table.granting;
  }
  get sessionCount(): number {
    return this.sessions.size;
  }
  get connectionCount(): number {
    return this.conns.size;
  }
  get lockCount(): number {
    return this.table.lockCount;
  }
  /** Lock requests queued behind a holder. */
  get waiterCount(): number {
    return this.table.waiters;
  }

  /** Listens and starts serving (or replicating, as a standby). Resolves the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    if (this.roleNow === 'primary') this.becomePrimary(false);
    const srv = createServer({ noDelay: true }, (sock) => this.accept(sock));
    this.server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.opts.port, this.opts.host, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    srv.on('error', (e) => this.log('listen-error', { error: e.message }));
    this.hbTimer = setInterval(() => this.heartbeat(), this.limits.heartbeatMs);
    if (this.roleNow === 'standby') {
      this.lastContact = performance.now();
      this.watchTimer = setInterval(() => this.watchPrimary(), this.limits.heartbeatMs);
      void this.replicate();
    }
    const a = srv.address();
    const addr = typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: this.opts.host, port: this.opts.port };
    this.log('listening', { ...addr, role: this.roleNow, epoch: this.store.epoch });
    return addr;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const t of [this.graceTimer, this.hbTimer, this.watchTimer]) if (t) clearTimeout(t);
    this.replConn?.close();
    for (const s of [...this.sessions.values()]) if (s.timer) clearTimeout(s.timer);
    for (const c of this.conns) c.sock.destroy();
    const srv = this.server;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  // ---- connection handling ---------------------------------------------------------------

  private accept(sock: Socket): void {
    if (this.closing) {
      sock.destroy();
      return;
    }
    sock.on('error', () => undefined);
    const source = sock.remoteAddress ?? '';
    if ((this.unauthBySource.get(source) ?? 0) >= this.limits.maxUnauthPerSource) {
      this.counters.refusedPerSource++;
      this.refuse(sock);
      return;
    }
    if (this.conns.size >= this.limits.maxConnections) {
      // Slots held by peers that have not proven the secret are reclaimed before anyone is refused.
      const victim = this.unauthed.values().next().value as Conn | undefined;
      if (victim === undefined) {
        this.refuse(sock);
        return;
      }
      this.counters.evictedUnauthenticated++;
      this.leaveUnauth(victim);
      this.conns.delete(victim);
      victim.sock.destroy();
    }
    const c = new Conn(sock);
    c.source = source;
    this.conns.add(c);
    this.unauthed.add(c);
    this.unauthBySource.set(source, (this.unauthBySource.get(source) ?? 0) + 1);
    c.authTimer = setTimeout(() => {
      this.counters.authTimeouts++;
      sock.destroy();
    }, this.limits.authTimeoutMs);
    sock.write(encodeFrame(Op.HELLO, 0, u8(PROTOCOL_VERSION), u8(Role[this.roleNow]), c.nonce));
    sock.on('data', (chunk: Buffer) => this.onData(c, chunk));
    sock.on('close', () => this.onConnClose(c));
  }

  private refuse(sock: Socket): void {
    this.counters.refusedConnections++;
    sock.end(encodeReply(0, STATUS.TOO_MANY_CONNECTIONS.code));
    setTimeout(() => sock.destroy(), 1000).unref();
  }

  /** c authenticated or went away: it no longer counts against its source. */
  private leaveUnauth(c: Conn): void {
    if (!this.unauthed.delete(c)) return;
    const n = (this.unauthBySource.get(c.source) ?? 1) - 1;
    if (n > 0) this.unauthBySource.set(c.source, n);
    else this.unauthBySource.delete(c.source);
  }

  private onData(c: Conn, chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = c.decoder.push(chunk);
    } catch {
      this.counters.badFrames++;
      this.fatal(c, 0, 'BAD_FRAME');
      return;
    }
    for (const f of frames) {
      if (c.dead || c.sock.destroyed) return;
      try {
        this.onFrame(c, f);
      } catch (e) {
        if (!(e instanceof FrameError)) this.log('handler-error', { error: (e as Error).message });
        this.counters.badFrames++;
        this.fatal(c, f.reqId, 'BAD_FRAME');
        return;
      }
    }
  }

  private onFrame(c: Conn, f: Frame): void {
    const r = new Reader(f.payload);
    if (!c.authed) {
      if (f.op !== Op.AUTH) {
        this.fatal(c, f.reqId, 'NOT_AUTHENTICATED');
        return;
      }
      const clientNonce = r.bytes(NONCE_LEN);
      const mac = r.bytes(MAC_LEN);
      r.end();
      if (!macEqual(clientMac(this.opts.secret, c.nonce, clientNonce), mac)) {
        this.counters.authFailures++;
        this.log('auth-failed', { peer: c.sock.remoteAddress });
        this.fatal(c, f.reqId, 'AUTH_FAILED');
        return;
      }
      c.authed = true;
      this.leaveUnauth(c);
      if (c.authTimer) clearTimeout(c.authTimer);
      this.replyTo(c, f.reqId, 'OK', serverProof(this.opts.secret, c.nonce, clientNonce));
      return;
    }
    const h = this.handlers.get(f.op);
    if (!h) {
      this.fatal(c, f.reqId, 'BAD_REQUEST');
      return;
    }
    if (c.session) this.renew(c.session);
    h(c, f.reqId, r);
  }

  private onConnClose(c: Conn): void {
    this.conns.delete(c);
    this.leaveUnauth(c);
    this.replicas.delete(c);
    if (c.authTimer) clearTimeout(c.authTimer);
    const s = c.session;
    if (s && s.conn === c) {
      s.conn = null;
      this.dropWaiters(s, null);
    }
  }

  /** Sends a status (with payload) to a connection that may be gone. */
  replyTo(c: Conn | null, reqId: number, status: StatusName, payload?: Buffer): void {
    if (!c || c.dead || c.sock.destroyed) return;
    c.sock.write(encodeReply(reqId, STATUS[status].code, payload));
    if (c.sock.writableLength > this.limits.maxOutputBytes) c.sock.destroy();
  }

  private fatal(c: Conn, reqId: number, status: StatusName): void {
    c.dead = true;
    if (c.session && c.session.conn === c) {
      c.session.conn = null;
      this.dropWaiters(c.session, null);
    }
    c.session = null;
    if (!c.sock.destroyed) c.sock.end(encodeReply(reqId, STATUS[status].code));
    // Stop reading from a peer we are done with; do not wait on it to read our last reply.
    c.sock.pause();
    setTimeout(() => c.sock.destroy(), 1000).unref();
  }

  // ---- sessions --------------------------------------------------------------------------

  private notPrimary(c: Conn, reqId: number): boolean {
    if (this.roleNow === 'primary') return false;
    this.replyTo(c, reqId, 'NOT_PRIMARY');
    return true;
  }

  private withSession(c: Conn, reqId: number, r: Reader, fn: (s: Session) => void): void {
    r.end();
    if (this.notPrimary(c, reqId)) return;
    if (!c.session) this.replyTo(c, reqId, 'NO_SESSION');
    else fn(c.session);
  }

  private onSessionOpen(c: Conn, reqId: number, r: Reader): void {
    const want = r.u32();
    r.end();
    if (this.notPrimary(c, reqId)) return;
    if (c.session) return this.replyTo(c, reqId, 'SESSION_EXISTS');
    if (this.sessions.size >= this.limits.maxSessions) return this.replyTo(c, reqId, 'TOO_MANY_SESSIONS');
    const lease = Math.min(Math.max(want, this.limits.minLeaseMs), this.limits.maxLeaseMs);
    const idBuf = randomBytes(SESSION_ID_LEN);
    const s = new Session(idBuf.toString('hex'), lease);
    this.sessions.set(s.id, s);
    this.bind(s, c);
    s.timer = setTimeout(() => this.onLeaseTimer(s), lease);
    this.renew(s);
    this.replyTo(c, reqId, 'OK', Buffer.concat([idBuf, u32(lease)]));
  }

  private onSessionResume(c: Conn, reqId: number, r: Reader): void {
    const id = r.bytes(SESSION_ID_LEN).toString('hex');
    r.end();
    if (this.notPrimary(c, reqId)) return;
    if (c.session) return this.replyTo(c, reqId, 'SESSION_EXISTS');
    const s = this.sessions.get(id);
    if (!s) return this.replyTo(c, reqId, 'SESSION_UNKNOWN');
    const old = s.conn;
    if (old) {
      // One connection per session: the new one wins, the old one's waiters are dropped.
      this.dropWaiters(s, 'SESSION_ENDED');
      old.session = null;
      old.sock.destroy();
    }
    this.bind(s, c);
    this.renew(s);
    this.replyTo(c, reqId, 'OK', u32(s.leaseMs));
  }

  private bind(s: Session, c: Conn): void {
    s.conn = c;
    c.session = s;
  }

  private renew(s: Session): void {
    s.expiresAt = performance.now() + s.leaseMs;
    s.timer?.refresh();
  }

  private onLeaseTimer(s: Session): void {
    if (!this.sessions.has(s.id)) return;
    const left = s.expiresAt - performance.now();
    if (left > 1) {
      s.timer = setTimeout(() => this.onLeaseTimer(s), left);
      return;
    }
    this.counters.expiredSessions++;
    this.log('lease-expired', { session: s.id, held: [...s.held] });
    this.endSession(s, 'SESSION_ENDED');
  }

  private endSession(s: Session, status: StatusName): void {
    if (!this.sessions.delete(s.id)) return;
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    // Drop waiters first, so releasing the holds cannot grant to this session.
    this.dropWaiters(s, status);
    for (const name of s.held) this.table.release(name, s.id, null);
    s.held.clear();
    if (s.conn) s.conn.session = null;
    s.conn = null;
  }

  private dropWaiters(s: Session, status: StatusName | null): void {
    for (const w of [...s.waiting.values()]) {
      w.detach();
      this.table.cancel(w);
      if (status) this.replyTo(s.conn, w.reqId, status);
    }
  }

  // ---- locks -----------------------------------------------------------------------------

  private onLock(c: Conn, reqId: number, r: Reader): void {
    const mode = MODE_BY_CODE.get(r.u8());
    const timeoutMs = r.u32();
    const name = r.name();
    r.end();
    if (this.notPrimary(c, reqId)) return;
    const s = c.session;
    if (!s) return this.replyTo(c, reqId, 'NO_SESSION');
    if (!mode) return this.replyTo(c, reqId, 'BAD_REQUEST');
    if (name === null) return this.replyTo(c, reqId, 'NAME_INVALID');
    const w = new ServerWaiter(s.id, mode, name, reqId, s, this);
    const res = this.table.acquire(w, timeoutMs !== 0);
    switch (res.kind) {
      case 'granted':
        s.held.add(name);
        this.replyTo(c, reqId, 'OK', u64(res.token));
        return;
      case 'error':
        this.replyTo(c, reqId, res.status);
        return;
      case 'queued':
        s.waiting.set(name, w);
        if (timeoutMs !== WAIT_FOREVER) {
          w.arm(timeoutMs, () => {
            w.detach();
            if (this.table.cancel(w)) this.replyTo(s.conn, reqId, 'TIMEOUT');
          });
        }
        return;
    }
  }

  private onUnlock(c: Conn, reqId: number, r: Reader): void {
    const token = r.u64();
    const name = r.name();
    r.end();
    if (this.notPrimary(c, reqId)) return;
    const s = c.session;
    if (!s) return this.replyTo(c, reqId, 'NO_SESSION');
    if (name === null) return this.replyTo(c, reqId, 'NAME_INVALID');
    const st = this.table.release(name, s.id, token);
    if (st === 'OK') s.held.delete(name);
    this.replyTo(c, reqId, st);
  }

  // ---- primary / standby -----------------------------------------------------------------

  /** Starts issuing tokens; after a restart or a takeover, only after a grace period. */
  private becomePrimary(takeover: boolean): void {
    let graceMs = 0;
    if (takeover) {
      const epoch = this.store.startNewEpoch();
      graceMs = this.primaryMaxLeaseMs + this.limits.graceMarginMs;
      this.log('takeover', { epoch, graceMs });
    } else {
      // A restart, or a former standby started as primary: leases of the previous run (its
      // own, or its primary's) may still be running.
      const restart = this.store.existed && (this.store.epoch > 0 || this.store.primaryEpoch > 0);
      this.store.ensurePrimaryEpoch();
      this.primaryMaxLeaseMs = Math.max(this.primaryMaxLeaseMs, this.store.primaryMaxLeaseMs);
      if (restart) {
        graceMs = Math.max(this.store.maxLeaseMs, this.limits.maxLeaseMs, this.primaryMaxLeaseMs) + this.limits.graceMarginMs;
      }
    }
    // Until the grace period is over, the recorded cap covers the leases of the previous run too.
    this.store.recordMaxLease(Math.max(this.store.maxLeaseMs, this.limits.maxLeaseMs, this.primaryMaxLeaseMs));
    this.roleNow = 'primary';
    if (graceMs > 0) {
      this.table.setGranting(false);
      this.graceTimer = setTimeout(() => {
        this.graceTimer = null;
        this.store.recordMaxLease(this.limits.maxLeaseMs);
        this.table.setGranting(true);
        this.log('granting', { epoch: this.store.epoch });
        this.emit('granting');
      }, graceMs);
    } else {
      this.emit('granting');
    }
  }

  private onSubscribe(c: Conn, reqId: number, r: Reader): void {
    r.end();
    if (this.notPrimary(c, reqId)) return;
    c.replica = true;
    this.replicas.add(c);
    this.log('standby-attached', { peer: c.sock.remoteAddress });
    this.replyTo(c, reqId, 'OK', Buffer.concat([u32(this.store.epoch), u32(this.limits.maxLeaseMs)]));
  }

  private heartbeat(): void {
    if (this.replicas.size === 0) return;
    const f = encodeFrame(Op.REPL_HEARTBEAT, 0, u32(this.store.epoch));
    for (const c of this.replicas) if (!c.sock.destroyed) c.sock.write(f);
  }

  /** Standby: keep a subscription to the primary open, reconnecting while it fails. */
  private async replicate(): Promise<void> {
    const p = this.opts.standbyOf!;
    while (!this.closing && this.roleNow === 'standby') {
      try {
        const wc = await WireConn.open(p.host, p.port, this.opts.secret, Math.max(200, this.limits.failoverMs / 2));
        this.replConn = wc;
        const rep = await wc.request(Op.REPL_SUBSCRIBE);
        if (rep.status !== STATUS.OK.code) throw new DlmError(rep.status);
        const rr = new Reader(rep.payload);
        const epoch = rr.u32();
        this.primaryMaxLeaseMs = Math.max(this.primaryMaxLeaseMs, rr.u32());
        this.store.notePrimaryEpoch(epoch, this.primaryMaxLeaseMs);
        if (!this.synced) this.log('standby-synced', { primaryEpoch: epoch, primaryMaxLeaseMs: this.primaryMaxLeaseMs });
        this.synced = true;
        this.lastContact = performance.now();
        wc.on('push', (f: Frame) => {
          if (f.op !== Op.REPL_HEARTBEAT || f.payload.length !== 4) return;
          this.store.notePrimaryEpoch(f.payload.readUInt32BE(0));
          this.lastContact = performance.now();
        });
        await new Promise<void>((resolve) => wc.once('close', resolve));
      } catch (e) {
        if (e instanceof DlmError && (e.code === 'AUTH_FAILED' || e.code === 'NOT_PRIMARY')) {
          this.log('standby-refused', { error: e.message });
        }
      }
      this.replConn = null;
      if (this.closing || this.roleNow !== 'standby') return;
      await new Promise((r) => setTimeout(r, Math.min(100, this.limits.heartbeatMs)));
    }
  }

  private watchPrimary(): void {
    if (this.roleNow !== 'standby' || this.closing) return;
    if (performance.now() - this.lastContact <= this.limits.failoverMs) return;
    if (!this.synced) {
      // Without a subscription in this lifetime we cannot know the primary's epoch.
      return;
    }
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = null;
    this.replConn?.close();
    this.becomePrimary(true);
    this.emit('takeover', this.store.epoch);
  }
}
