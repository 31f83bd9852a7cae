/**
 * Durable fencing-token state of one server, in DATA_DIR/dlm-state.json.
 *
 * A token is a u64: (epoch << EPOCH_SHIFT) | counter.
 *  - The counter increases by one per grant. It is reserved in chunks: before handing out
 *    the first token of a chunk, the new ceiling is written atomically (temp file, fsync,
 *    rename, fsync of the directory). After a restart the counter resumes at the stored
 *    ceiling, so every token issued after a restart exceeds every token issued before.
 *  - The epoch changes only when a standby takes over: it becomes max(own epoch, the
 *    primary's epoch learnt while replicating) + 1, with the counter back at 0. Every token
 *    of the new epoch exceeds every token the old primary could ever issue, whatever
 *    counter value it reached.
 * Together: tokens of one lock strictly increase across grants, restarts and takeovers.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const EPOCH_SHIFT = 44n;
/** Largest counter value within an epoch (2^44 - 1, exact as a JS number). */
export const MAX_COUNTER = 2 ** 44 - 1;
/** Largest epoch that fits the 64-bit token. */
export const MAX_EPOCH = 2 ** 20 - 1;
/** Tokens reserved per durable write; a restart skips at most this many. */
export const DEFAULT_CHUNK = 4096;

export const STATE_FILE = 'dlm-state.json';

interface StateV1 {
  version: 1;
  /** Epoch this server issues tokens in; 0 = has never been primary. */
  epoch: number;
  /** Tokens of this epoch with counter < ceiling may have been issued. */
  ceiling: number;
  /** Highest epoch of a primary this server replicated from (0 = none). */
  primaryEpoch: number;
  /** Longest lease the last run as primary could grant (sets the restart grace period). */
  maxLeaseMs: number;
}

export function makeToken(epoch: number, counter: number): bigint {
  return (BigInt(epoch) << EPOCH_SHIFT) | BigInt(counter);
}

export function tokenEpoch(token: bigint): number {
  return Number(token >> EPOCH_SHIFT);
}

export class TokenStore {
  private state: StateV1;
  /** True when a state file was found (this is a restart). */
  existed = false;
  private counter: number;
  private readonly path: string;

  private constructor(private readonly dir: string, state: StateV1, private readonly chunk: number) {
    this.state = state;
    this.path = join(dir, STATE_FILE);
    this.counter = state.ceiling;
  }

  /** Opens (creating when absent) the state in `dir`. Throws on a corrupt state file. */
  static open(dir: string, chunk = DEFAULT_CHUNK): TokenStore {
    mkdirSync(dir, { recursive: true });
    let state: StateV1 = { version: 1, epoch: 0, ceiling: 0, primaryEpoch: 0, maxLeaseMs: 0 };
    let existed = false;
    let text: string | null = null;
    try {
      text = readFileSync(join(dir, STATE_FILE), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text !== null) {
      const v = JSON.parse(text) as Partial<StateV1>;
      const ok = (n: unknown, max: number): n is number => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= max;
      if (v.version !== 1 || !ok(v.epoch, MAX_EPOCH) || !ok(v.ceiling, MAX_COUNTER + chunk) || !ok(v.primaryEpoch, MAX_EPOCH)) {
        throw new Error(`corrupt ${join(dir, STATE_FILE)}`);
      }
      const lease = v.maxLeaseMs ?? 0;
      if (!ok(lease, 0xffffffff)) throw new Error(`corrupt ${join(dir, STATE_FILE)}`);
      state = { version: 1, epoch: v.epoch, ceiling: v.ceiling, primaryEpoch: v.primaryEpoch, maxLeaseMs: lease };
      existed = true;
    }
    const store = new TokenStore(dir, state, chunk);
    store.existed = existed;
    return store;
  }

  get epoch(): number {
    return this.state.epoch;
  }
  get primaryEpoch(): number {
    return this.state.primaryEpoch;
  }
  /** Counter value of the last token issued (or the ceiling resumed from). */
  get lastCounter(): number {
    return this.counter;
  }

  get maxLeaseMs(): number {
    return this.state.maxLeaseMs;
  }

  /** First start as primary: epoch 1. A restart keeps the stored epoch and counter. */
  ensurePrimaryEpoch(): void {
    if (this.state.epoch === 0) this.write({ ...this.state, epoch: 1, ceiling: 0 }, 0);
  }

  /** Records the lease cap of this run; returns the cap of the previous run (0 if none). */
  recordMaxLease(ms: number): number {
    const prev = this.state.maxLeaseMs;
    if (ms !== prev) this.write({ ...this.state, maxLeaseMs: ms }, this.counter);
    return prev;
  }

  /** Takeover: a new epoch above everything this server knows of; counter restarts. */
  startNewEpoch(): number {
    const epoch = Math.max(this.state.epoch, this.state.primaryEpoch) + 1;
    if (epoch > MAX_EPOCH) throw new Error('epoch space exhausted');
    this.write({ ...this.state, epoch, ceiling: 0 }, 0);
    return epoch;
  }

  /** Records the epoch of the primary this standby follows (durable before use). */
  notePrimaryEpoch(epoch: number): void {
    if (epoch > this.state.primaryEpoch) this.write({ ...this.state, primaryEpoch: epoch }, this.counter);
  }

  /** Next token; persists a new ceiling first when the reserved chunk is used up. Throws on I/O failure. */
  next(): bigint {
    if (this.state.epoch === 0) throw new Error('not a primary');
    const c = this.counter + 1;
    if (c > MAX_COUNTER) throw new Error('token counter exhausted in this epoch');
    if (c >= this.state.ceiling) this.write({ ...this.state, ceiling: Math.min(c + this.chunk, MAX_COUNTER + 1) }, this.counter);
    this.counter = c;
    return makeToken(this.state.epoch, c);
  }

  private write(next: StateV1, counter: number): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(next) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    const dfd = openSync(this.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    this.state = next;
    this.counter = counter;
  }
}
