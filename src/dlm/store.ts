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
 *  - A server that was never primary on this data dir (a standby started later without
 *    --standby-of) also starts a new epoch above the primary epoch it learnt, never epoch 1
 *    again; so does a former primary that has since followed a newer primary.
 * Together: tokens of one lock strictly increase across grants, restarts and takeovers.
 *
 * The file is trusted only when it is a regular file owned by the server's user (root for a
 * root server), with no group or other permission bits (0600), in a directory that neither
 * group nor others may write: otherwise another user could plant a lower epoch.
 */
import {
  closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync,
} from 'node:fs';
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
  /** Longest lease of the primary this server replicated from (absent in older files). */
  primaryMaxLeaseMs?: number;
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

  /**
   * Opens (creating when absent) the state in `dir`. Throws on a corrupt or untrusted state
   * file and on a directory others may write.
   */
  static open(dir: string, chunk = DEFAULT_CHUNK): TokenStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const uid = process.getuid?.() ?? 0;
    const ds = statSync(dir);
    if (!ds.isDirectory() || (ds.mode & 0o022) !== 0 || ds.uid !== uid) {
      throw new Error(`${dir}: not trusted (must be a directory owned by uid ${uid}, not writable by group or others)`);
    }
    let state: StateV1 = { version: 1, epoch: 0, ceiling: 0, primaryEpoch: 0, maxLeaseMs: 0, primaryMaxLeaseMs: 0 };
    let existed = false;
    let text: string | null = null;
    const file = join(dir, STATE_FILE);
    let fd = -1;
    try {
      fd = openSync(file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (fd >= 0) {
      try {
        const st = fstatSync(fd);
        if (!st.isFile() || st.uid !== uid || (st.mode & 0o077) !== 0) {
          throw new Error(`${file}: not trusted (must be a regular file owned by uid ${uid}, mode 0600)`);
        }
        text = readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    }
    if (text !== null) {
      const v = JSON.parse(text) as Partial<StateV1>;
      const ok = (n: unknown, max: number): n is number => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= max;
      if (v.version !== 1 || !ok(v.epoch, MAX_EPOCH) || !ok(v.ceiling, MAX_COUNTER + chunk) || !ok(v.primaryEpoch, MAX_EPOCH)) {
        throw new Error(`corrupt ${join(dir, STATE_FILE)}`);
      }
      const lease = v.maxLeaseMs ?? 0;
      const please = v.primaryMaxLeaseMs ?? 0;
      if (!ok(lease, 0xffffffff) || !ok(please, 0xffffffff)) throw new Error(`corrupt ${join(dir, STATE_FILE)}`);
      state = {
        version: 1, epoch: v.epoch, ceiling: v.ceiling, primaryEpoch: v.primaryEpoch, maxLeaseMs: lease,
        primaryMaxLeaseMs: please,
      };
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

  /** Longest lease of the primary this server followed, as last learnt (0 = none). */
  get primaryMaxLeaseMs(): number {
    return this.state.primaryMaxLeaseMs ?? 0;
  }

  /**
   * Start as primary. A fresh data dir: epoch 1. A server that was only a standby here, or
   * whose epoch is not above the primary epoch it learnt since: a new epoch above both
   * (startNewEpoch). Otherwise (its own restart) the stored epoch and counter are kept.
   */
  ensurePrimaryEpoch(): void {
    if (this.state.epoch === 0 && this.state.primaryEpoch === 0) this.write({ ...this.state, epoch: 1, ceiling: 0 }, 0);
    else if (this.state.epoch <= this.state.primaryEpoch) this.startNewEpoch();
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

  /** Records the epoch (and lease cap) of the primary this standby follows (durable before use). */
  notePrimaryEpoch(epoch: number, maxLeaseMs = 0): void {
    const lease = Math.max(this.primaryMaxLeaseMs, maxLeaseMs);
    if (epoch > this.state.primaryEpoch || lease !== this.primaryMaxLeaseMs) {
      this.write({ ...this.state, primaryEpoch: Math.max(epoch, this.state.primaryEpoch), primaryMaxLeaseMs: lease }, this.counter);
    }
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
