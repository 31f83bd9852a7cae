/**
 * Named read/write locks with FIFO granting, independent of sessions and sockets.
 *
 * Rules (each is a test in test/dlm/locktable.test.ts):
 *  - exclusive is compatible with nothing; shared is compatible with shared.
 *  - A request is granted at once only when the queue is empty and it is compatible with
 *    the holders; otherwise it queues. So a waiting writer blocks readers that come after
 *    it (no writer starvation), and nobody overtakes an earlier waiter (FIFO).
 *  - Granting walks the queue from the head while the head is compatible, so a run of
 *    shared waiters is granted together and stops at the first exclusive waiter.
 *  - A try-lock (wait = false) never queues: BUSY unless it would be granted now.
 *  - An owner that already holds the lock in the same mode gets its existing grant back
 *    (idempotent retry after a lost reply); in the other mode it gets ALREADY_HELD.
 *  - While `granting` is false (takeover grace) requests queue and nothing is granted.
 * Every grant takes a fresh token from `issue`, so tokens of one lock strictly increase.
 */
import { LockMode, StatusName } from './protocol';

export interface Holder {
  readonly owner: string;
  readonly mode: LockMode;
  readonly token: bigint;
}

export interface Waiter {
  readonly owner: string;
  readonly mode: LockMode;
  readonly name: string;
  /** Called once when granted. */
  granted(token: bigint): void;
  /** Called once when the grant failed (token issue failed). */
  failed(status: StatusName): void;
}

interface LockState {
  holders: Map<string, Holder>;
  queue: Waiter[];
}

export type AcquireResult =
  | { kind: 'granted'; token: bigint; again: boolean }
  | { kind: 'queued' }
  | { kind: 'error'; status: StatusName };

export interface LockTableLimits {
  /** Distinct names with a holder or a waiter. */
  maxLocks: number;
  /** Queued requests over all locks. */
  maxWaiters: number;
}

function compatible(holders: Map<string, Holder>, mode: LockMode): boolean {
  if (holders.size === 0) return true;
  if (mode === 'exclusive') return false;
  for (const h of holders.values()) if (h.mode === 'exclusive') return false;
  return true;
}

export class LockTable {
  private readonly locks = new Map<string, LockState>();
  private waiterCount = 0;
  private grantingEnabled = true;

  constructor(
    private readonly limits: LockTableLimits,
    private readonly issue: () => bigint,
  ) {}

  get lockCount(): number {
    return this.locks.size;
  }
  get waiters(): number {
    return this.waiterCount;
  }
  get granting(): boolean {
    return this.grantingEnabled;
  }

  /** Enables or disables granting; enabling grants every compatible queue head. */
  setGranting(on: boolean): void {
    this.grantingEnabled = on;
    if (on) for (const [name, st] of [...this.locks]) this.pump(name, st);
  }

  holders(name: string): Holder[] {
    return [...(this.locks.get(name)?.holders.values() ?? [])];
  }
  queued(name: string): Waiter[] {
    return [...(this.locks.get(name)?.queue ?? [])];
  }

  /** `w` supplies owner, mode, name and the callbacks used if it has to queue. */
  acquire(w: Waiter, wait: boolean): AcquireResult {
    let st = this.locks.get(w.name);
    const mine = st?.holders.get(w.owner);
    if (mine) {
      return mine.mode === w.mode
        ? { kind: 'granted', token: mine.token, again: true }
        : { kind: 'error', status: 'ALREADY_HELD' };
    }
    if (st && st.queue.some((q) => q.owner === w.owner)) return { kind: 'error', status: 'ALREADY_WAITING' };
    const free = this.grantingEnabled && (!st || (st.queue.length === 0 && compatible(st.holders, w.mode)));
    if (!free && !wait) return { kind: 'error', status: this.grantingEnabled ? 'BUSY' : 'GRACE' };
    if (!free && this.waiterCount >= this.limits.maxWaiters) return { kind: 'error', status: 'TOO_MANY_WAITERS' };
    if (!st) {
      if (this.locks.size >= this.limits.maxLocks) return { kind: 'error', status: 'TOO_MANY_LOCKS' };
      st = { holders: new Map(), queue: [] };
      this.locks.set(w.name, st);
    }
    if (free) {
      let token: bigint;
      try {
        token = this.issue();
      } catch {
        this.dropIfIdle(w.name, st);
        return { kind: 'error', status: 'STORAGE' };
      }
      st.holders.set(w.owner, { owner: w.owner, mode: w.mode, token });
      return { kind: 'granted', token, again: false };
    }
    st.queue.push(w);
    this.waiterCount++;
    return { kind: 'queued' };
  }

  /** Releases `owner`'s hold when `token` matches (any token when null). */
  release(name: string, owner: string, token: bigint | null): StatusName {
    const st = this.locks.get(name);
    const h = st?.holders.get(owner);
    if (!st || !h || (token !== null && h.token !== token)) return 'NOT_HELD';
    st.holders.delete(owner);
    this.pump(name, st);
    return 'OK';
  }

  /** Removes a queued waiter (timeout, session end); returns false if it was not queued. */
  cancel(w: Waiter): boolean {
    const st = this.locks.get(w.name);
    if (!st) return false;
    const i = st.queue.indexOf(w);
    if (i < 0) return false;
    st.queue.splice(i, 1);
    this.waiterCount--;
    // A removed head (e.g. a writer behind readers) may unblock the requests behind it.
    this.pump(w.name, st);
    return true;
  }

  private pump(name: string, st: LockState): void {
    while (this.grantingEnabled && st.queue.length > 0 && compatible(st.holders, st.queue[0].mode)) {
      const w = st.queue.shift()!;
      this.waiterCount--;
      let token: bigint;
      try {
        token = this.issue();
      } catch {
        w.failed('STORAGE');
        continue;
      }
      st.holders.set(w.owner, { owner: w.owner, mode: w.mode, token });
      w.granted(token);
    }
    this.dropIfIdle(name, st);
  }

  private dropIfIdle(name: string, st: LockState): void {
    if (st.holders.size === 0 && st.queue.length === 0) this.locks.delete(name);
  }
}
