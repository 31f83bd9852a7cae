/**
 * DlmClient: the application side of lvs-dlm.
 *
 *   const c = new DlmClient({ servers: ['198.18.0.1:7400', '198.18.0.2:7400'], secret });
 *   c.on('lease-lost', (h) => stopUsing(h.name));
 *   await c.withLock('jobs', { mode: 'exclusive', timeoutMs: 2000 }, async (h) => {
 *     await resource.write(data, h.token);  // the resource rejects tokens older than the newest seen
 *   });
 *
 * Contracts:
 *  - One session per client, kept alive by KEEPALIVE every lease/3 when nothing else is sent.
 *  - The client trusts its lease until (send time of the newest request the server answered)
 *    + LEASE_TRUST × lease, on the monotonic clock. The server renews on receipt, later
 *    than the send, so the client always gives up first (for clocks whose rates differ by
 *    less than 1 - LEASE_TRUST).
 *  - When that moment passes, or a reconnect finds the session gone, every held handle is
 *    marked lost and 'lease-lost' (handle) is emitted once per handle. The application must
 *    stop using the resource; fencing tokens protect it from a holder that was paused.
 *  - A disconnect keeps the session: the client reconnects (rotating over `servers`) and
 *    resumes it. Requests waiting for a lock are re-sent after the reconnect, within their
 *    timeout. A server that says NOT_PRIMARY is skipped.
 *  - Tokens are bigint (u64 on the wire): (epoch << 44) | counter, see store.ts.
 * Events: 'lease-lost' (LockHandle), 'connected' (server), 'disconnected' (server), 'session' (id hex).
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { WireConn, Reply } from './conn';
import {
  DlmError,
  LockMode,
  MAX_NAME,
  ModeCode,
  Op,
  Reader,
  SESSION_ID_LEN,
  STATUS,
  WAIT_FOREVER,
  nameField,
  parseHostPort,
  u32,
  u64,
  u8,
} from './protocol';

/** Fraction of the granted lease the client relies on. */
export const LEASE_TRUST = 0.9;

export interface DlmClientOptions {
  /** "host:port" of each server, primary first. */
  servers: string[];
  secret: Buffer;
  /** Requested lease; the server clamps it. Default 5000. */
  leaseMs?: number;
  /** Per connection attempt. Default 1000. */
  connectTimeoutMs?: number;
  /** Pause between rounds over the server list. Default 100. */
  retryDelayMs?: number;
  /**
   * How long lock() keeps trying when no server can be reached (each attempt bounded by
   * connectTimeoutMs), whatever its own timeout: then it fails with NO_SERVER. Default 10000.
   */
  connectWaitMs?: number;
}

export interface LockOptions {
  mode?: LockMode;
  /** 0 = try once (BUSY if not free now); undefined = wait until granted. */
  timeoutMs?: number;
}

interface SessionState {
  id: Buffer;
  leaseMs: number;
  validUntil: number;
}

export type HandleState = 'held' | 'released' | 'lost';

export class LockHandle {
  private st: HandleState = 'held';
  /** @internal */
  constructor(
    readonly name: string,
    readonly mode: LockMode,
    readonly token: bigint,
    private readonly client: DlmClient,
    /** @internal */ readonly session: SessionState,
  ) {}

  get state(): HandleState {
    return this.st;
  }
  /** True while held and the client's lease clock still covers it. */
  get valid(): boolean {
    return this.st === 'held' && performance.now() < this.session.validUntil;
  }
  /** @internal */
  setState(s: HandleState): void {
    this.st = s;
  }
  unlock(): Promise<void> {
    return this.client.unlock(this);
  }
}

const RENEWING = new Set<number>([
  STATUS.OK.code,
  STATUS.TIMEOUT.code,
  STATUS.BUSY.code,
  STATUS.NOT_HELD.code,
  STATUS.NAME_INVALID.code,
  STATUS.TOO_MANY_LOCKS.code,
  STATUS.TOO_MANY_WAITERS.code,
  STATUS.ALREADY_WAITING.code,
  STATUS.ALREADY_HELD.code,
  STATUS.GRACE.code,
  STATUS.STORAGE.code,
]);

/** Statuses after which the request is retried on another connection. */
const RETRY_ELSEWHERE = new Set<number>([STATUS.NOT_PRIMARY.code, STATUS.NO_SESSION.code, STATUS.SESSION_ENDED.code]);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

export class DlmClient extends EventEmitter {
  private readonly servers: { host: string; port: number; label: string }[];
  private readonly leaseMs: number;
  private readonly connectTimeoutMs: number;
  private readonly retryDelayMs: number;
  private readonly connectWaitMs: number;
  private conn: WireConn | null = null;
  private connServer = '';
  private session: SessionState | null = null;
  private round: Promise<boolean> | null = null;
  private next = 0;
  private lastError: DlmError | null = null;
  private closed = false;
  private readonly handles = new Map<string, LockHandle>();
  private readonly tick: NodeJS.Timeout;
  private lastSent = 0;
  private keepaliveSince = 0;

  constructor(private readonly opts: DlmClientOptions) {
    super();
    if (opts.servers.length === 0) throw new Error('DlmClient: no servers');
    this.servers = opts.servers.map((s) => ({ ...parseHostPort(s), label: s }));
    this.leaseMs = opts.leaseMs ?? 5000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 1000;
    this.retryDelayMs = opts.retryDelayMs ?? 100;
    this.connectWaitMs = opts.connectWaitMs ?? 10_000;
    this.tick = setInterval(() => this.onTick(), Math.max(10, Math.floor(this.leaseMs / 10)));
    this.tick.unref();
  }

  /** Session id (hex) or null. */
  get sessionId(): string | null {
    return this.session ? this.session.id.toString('hex') : null;
  }
  /** Server of the current connection ("host:port") or ''. */
  get server(): string {
    return this.conn && !this.conn.isClosed ? this.connServer : '';
  }

  /** Connects and opens a session; rejects NO_SERVER / AUTH_FAILED after `timeoutMs`. */
  async connect(timeoutMs = 5000): Promise<void> {
    await this.ensureSession(performance.now() + timeoutMs);
  }

  async lock(name: string, opts: LockOptions = {}): Promise<LockHandle> {
    const mode = opts.mode ?? 'exclusive';
    if (!(mode in ModeCode)) throw new DlmError(STATUS.BAD_REQUEST.code, `mode ${String(mode)}`);
    const nb = Buffer.byteLength(name, 'utf8');
    if (nb === 0 || nb > MAX_NAME) throw new DlmError(STATUS.NAME_INVALID.code);
    if (this.handles.has(name)) throw new DlmError(STATUS.ALREADY_HELD.code, 'held by this client');
    const t0 = performance.now();
    const tryOnly = opts.timeoutMs === 0;
    const deadline = opts.timeoutMs === undefined ? Infinity : t0 + opts.timeoutMs;
    for (;;) {
      await this.ensureSession(Math.min(tryOnly ? t0 + this.connectTimeoutMs : deadline, performance.now() + this.connectWaitMs));
      const sess = this.session!;
      let wire = WAIT_FOREVER;
      if (tryOnly) wire = 0;
      else if (deadline !== Infinity) {
        const left = Math.ceil(deadline - performance.now());
        if (left <= 0) throw new DlmError(STATUS.TIMEOUT.code);
        wire = Math.min(left, WAIT_FOREVER - 1);
      }
      let rep: Reply;
      try {
        rep = await this.call(Op.LOCK, u8(ModeCode[mode]), u32(wire), nameField(name));
      } catch (e) {
        if (e instanceof DlmError && e.code === 'DISCONNECTED') continue;
        throw e;
      }
      if (rep.status === STATUS.OK.code) {
        const token = new Reader(rep.payload).u64();
        if (this.session !== sess) continue; // granted to a session that is gone
        const h = new LockHandle(name, mode, token, this, sess);
        this.handles.set(name, h);
        return h;
      }
      if (RETRY_ELSEWHERE.has(rep.status)) {
        this.dropConn();
        continue;
      }
      throw new DlmError(rep.status, name);
    }
  }

  tryLock(name: string, mode: LockMode = 'exclusive'): Promise<LockHandle> {
    return this.lock(name, { mode, timeoutMs: 0 });
  }

  /** Runs `fn` while holding `name`; always unlocks afterwards. */
  async withLock<T>(name: string, opts: LockOptions, fn: (h: LockHandle) => Promise<T> | T): Promise<T> {
    const h = await this.lock(name, opts);
    try {
      return await fn(h);
    } finally {
      await h.unlock();
    }
  }

  /**
   * Releases a handle; a handle whose session is gone is simply forgotten. While the
   * session's connection is up the release is pipelined: the promise resolves once the
   * request is queued on the connection, and the server handles it before anything this
   * client sends afterwards (one ordered stream), so a following lock() costs one round
   * trip, not two. If that connection fails first, the release is retried in the
   * background on the session's next connection (or the lease frees the lock).
   */
  async unlock(h: LockHandle): Promise<void> {
    if (h.state !== 'held') return;
    h.setState('released');
    if (this.handles.get(h.name) === h) this.handles.delete(h.name);
    const c = this.conn;
    if (!this.closed && this.session === h.session && c && !c.isClosed) {
      this.call(Op.UNLOCK, u64(h.token), nameField(h.name)).then(
        (rep) => {
          if (RETRY_ELSEWHERE.has(rep.status)) {
            this.dropConn();
            void this.release(h);
          }
        },
        (e: unknown) => {
          if (e instanceof DlmError && e.code === 'DISCONNECTED') void this.release(h);
        },
      );
      return;
    }
    await this.release(h);
  }

  /** Sends UNLOCK for h until a server of its session answered or the session is gone. */
  private async release(h: LockHandle): Promise<void> {
    while (!this.closed && this.session === h.session) {
      try {
        await this.ensureSession(h.session.validUntil);
        if (this.session !== h.session) return;
        const rep = await this.call(Op.UNLOCK, u64(h.token), nameField(h.name));
        if (RETRY_ELSEWHERE.has(rep.status)) {
          this.dropConn();
          continue;
        }
        return; // OK, or NOT_HELD: either way it is not held any more
      } catch (e) {
        if (e instanceof DlmError && e.code === 'DISCONNECTED') continue;
        return; // no server within the lease: the lease frees it
      }
    }
  }

  /** Ends the session (releasing every lock on the server) and the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.tick);
    for (const h of this.handles.values()) h.setState('released');
    this.handles.clear();
    const c = this.conn;
    if (c && !c.isClosed && this.session) {
      await Promise.race([c.request(Op.SESSION_CLOSE).catch(() => undefined), sleep(1000)]);
    }
    this.session = null;
    c?.close();
    this.conn = null;
  }

  // ---- internals -------------------------------------------------------------------------

  private async call(op: number, ...parts: Buffer[]): Promise<Reply> {
    const c = this.conn;
    const sess = this.session;
    if (!c || c.isClosed || !sess) throw new DlmError(STATUS.DISCONNECTED.code);
    const sent = performance.now();
    this.lastSent = sent;
    const rep = await c.request(op, ...parts);
    if (sess === this.session && RENEWING.has(rep.status)) this.trust(sess, sent);
    return rep;
  }

  private trust(sess: SessionState, sentAt: number): void {
    const until = sentAt + sess.leaseMs * LEASE_TRUST;
    if (until > sess.validUntil) sess.validUntil = until;
  }

  private dropConn(): void {
    this.conn?.close();
    this.conn = null;
  }

  private async ensureSession(deadline: number): Promise<void> {
    let backoff = this.retryDelayMs;
    for (;;) {
      if (this.closed) throw new DlmError(STATUS.DISCONNECTED.code, 'client closed');
      if (this.conn && !this.conn.isClosed && this.session) return;
      if (!this.round) this.round = this.connectRound().finally(() => (this.round = null));
      const ok = await this.round;
      if (ok) continue;
      const err = this.lastError ?? new DlmError(STATUS.NO_SERVER.code);
      if (err.code === 'AUTH_FAILED' || performance.now() + backoff >= deadline) throw err;
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 1000);
    }
  }

  /** One pass over the server list, starting after the last server used. */
  private async connectRound(): Promise<boolean> {
    let authFailures = 0;
    let last: DlmError | null = null;
    for (let i = 0; i < this.servers.length && !this.closed; i++) {
      const s = this.servers[(this.next + i) % this.servers.length];
      let wc: WireConn | null = null;
      try {
        wc = await WireConn.open(s.host, s.port, this.opts.secret, this.connectTimeoutMs);
        await this.attach(wc);
        this.next = (this.next + i) % this.servers.length;
        this.conn = wc;
        this.connServer = s.label;
        this.lastError = null;
        const mine = wc;
        wc.on('close', () => this.onConnClose(mine, s.label));
        this.emit('connected', s.label);
        return true;
      } catch (e) {
        wc?.close();
        last = e instanceof DlmError ? e : new DlmError(STATUS.NO_SERVER.code, (e as Error).message);
        if (last.code === 'AUTH_FAILED') authFailures++;
      }
    }
    this.next = (this.next + 1) % this.servers.length;
    this.lastError = authFailures === this.servers.length ? new DlmError(STATUS.AUTH_FAILED.code) : last;
    return false;
  }

  /** Resumes the session on `wc`, or opens a new one; throws to try the next server. */
  private async attach(wc: WireConn): Promise<void> {
    const sess = this.session;
    if (sess && performance.now() < sess.validUntil) {
      const sent = performance.now();
      const rep = await wc.request(Op.SESSION_RESUME, sess.id);
      if (rep.status === STATUS.OK.code && this.session === sess) {
        this.trust(sess, sent);
        return;
      }
      if (rep.status === STATUS.NOT_PRIMARY.code) throw new DlmError(rep.status);
      if (this.session === sess) this.loseSession(`resume refused: ${new DlmError(rep.status).code}`);
    } else if (sess) {
      this.loseSession('lease expired while disconnected');
    }
    const sent = performance.now();
    const rep = await wc.request(Op.SESSION_OPEN, u32(this.leaseMs));
    if (rep.status !== STATUS.OK.code) throw new DlmError(rep.status);
    const r = new Reader(rep.payload);
    const id = Buffer.from(r.bytes(SESSION_ID_LEN));
    const leaseMs = r.u32();
    this.session = { id, leaseMs, validUntil: sent + leaseMs * LEASE_TRUST };
    this.emit('session', id.toString('hex'));
  }

  private onConnClose(wc: WireConn, label: string): void {
    if (this.conn !== wc) return;
    this.conn = null;
    this.emit('disconnected', label);
    const sess = this.session;
    if (sess && !this.closed && this.handles.size > 0) {
      // Reconnect in the background to keep the held locks' session alive.
      this.ensureSession(sess.validUntil).catch(() => undefined);
    }
  }

  private loseSession(reason: string): void {
    const lost = [...this.handles.values()];
    this.handles.clear();
    this.session = null;
    for (const h of lost) {
      h.setState('lost');
      this.emit('lease-lost', h, reason);
    }
  }

  private onTick(): void {
    const sess = this.session;
    if (!sess || this.closed) return;
    const now = performance.now();
    if (now >= sess.validUntil) {
      this.loseSession('lease expired');
      // The server may still count the old session on this connection: start afresh.
      this.dropConn();
      return;
    }
    const c = this.conn;
    if (!c || c.isClosed) return;
    if (this.keepaliveSince > 0) {
      if (now - this.keepaliveSince > sess.leaseMs / 2) this.dropConn(); // server unresponsive
      return;
    }
    if (now - this.lastSent >= sess.leaseMs / 3) {
      this.keepaliveSince = now;
      this.call(Op.KEEPALIVE)
        .catch(() => undefined)
        .finally(() => (this.keepaliveSince = 0));
    }
  }
}
