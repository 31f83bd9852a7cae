/**
 * Kernel changes applied without blocking the thread that forwards packets: an ordered
 * queue of operations run by asynchronous child processes, consecutive operations of one
 * tool merged into one run (`nft -f -`, `ip -batch -`), one run at a time, in the order
 * they were queued.
 *
 * Failures never stop the queue. A failed nft run changed nothing (nft applies a file as
 * one transaction), so its operations are split in halves and run again until the failing
 * ones are isolated; a failed `ip -batch` stops at the failing line, which it names
 * ("Command failed -:N"): the lines before it took effect, the rest run again. Each
 * failure is logged and kept with the sequence number of its operation, so a caller can
 * collect the failures of the operations it queued (settled()).
 */
import { execFile } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';

export type Tool = 'nft' | 'ip';

/** Runs tool with lines as its batch input; rejects with the tool's stderr on failure. */
export type BatchRunner = (tool: Tool, lines: string[]) => Promise<void>;

export interface BatchLogger {
  info?(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

type Op =
  | { seq: number; kind: 'tool'; tool: Tool; line: string; group?: string; item?: string }
  | { seq: number; kind: 'sysctl'; key: string; value: string }
  | { seq: number; kind: 'file'; path: string; data: string }
  | { seq: number; kind: 'call'; fn: () => void };

const RUN_TIMEOUT_MS = 120000;
/** Runs of at least this many operations are logged with their duration. */
const LOG_RUN_OPS = 1000;
/** Runs a failed batch may take to isolate its failing operations. */
const MAX_SPLIT_RUNS = 64;
/** Failures kept for settled() callers (the oldest are dropped first). */
const MAX_KEPT_ERRORS = 1000;

/** The default runner: `nft -f -` or `ip -batch -` with the lines on standard input. */
export const execRunner: BatchRunner = (tool, lines) => new Promise<void>((resolve, reject) => {
  const args = tool === 'nft' ? ['-f', '-'] : ['-batch', '-'];
  const child = execFile(tool, args, { encoding: 'utf8', timeout: RUN_TIMEOUT_MS, maxBuffer: 16 << 20 },
    (err, _stdout, stderr) => {
      if (err) reject(new Error((stderr || err.message).trim()));
      else resolve();
    });
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(lines.join('\n') + '\n');
});

function sysctlPath(key: string): string {
  return '/proc/sys/' + key.replace(/\./g, '/');
}

export class KernelQueue {
  private ops: Op[] = [];
  private nextSeq = 1;
  /** Every operation with seq below this is finished. */
  private doneBelow = 1;
  private running = false;
  /** Failures by the sequence numbers [seq, last] of the operations they cover. */
  private readonly errors: Array<{ seq: number; last: number; err: Error }> = [];
  private readonly waiters: Array<{ upTo: number; from: number; resolve(errs: Error[]): void }> = [];

  constructor(private readonly log: BatchLogger, private readonly runner: BatchRunner = execRunner) {}

  /** The sequence number the next operation will get: settled(mark()) covers what follows. */
  mark(): number {
    return this.nextSeq;
  }

  /**
   * Queues one line of nft or ip batch input. Consecutive nft lines with the same `group`
   * are merged into `group { item, item, … }` (e.g. group "add element ip t s", item the
   * element), so a hundred thousand set elements are one statement.
   */
  tool(tool: Tool, line: string, merge?: { group: string; item: string }): void {
    this.push({ seq: 0, kind: 'tool', tool, line, group: merge?.group, item: merge?.item });
  }

  /** Sets a sysctl (dotted name) when it exists and differs; a missing one is skipped. */
  sysctl(key: string, value: string): void {
    this.push({ seq: 0, kind: 'sysctl', key, value });
  }

  /** Writes path atomically (a temporary file renamed over it). */
  file(path: string, data: string): void {
    this.push({ seq: 0, kind: 'file', path, data });
  }

  /** Calls fn when every operation queued before it has finished. */
  call(fn: () => void): void {
    this.push({ seq: 0, kind: 'call', fn });
  }

  /** Resolves, once every operation queued so far has run, with the failures of those from `from` on. */
  settled(from = 1): Promise<Error[]> {
    const upTo = this.nextSeq;
    if (this.doneBelow >= upTo) return Promise.resolve(this.errorsFrom(from, upTo));
    return new Promise((resolve) => this.waiters.push({ upTo, from, resolve }));
  }

  get idle(): boolean {
    return !this.running && this.ops.length === 0;
  }

  private errorsFrom(from: number, upTo: number): Error[] {
    return this.errors.filter((e) => e.last >= from && e.seq < upTo).map((e) => e.err);
  }

  private push(op: Op): void {
    op.seq = this.nextSeq++;
    this.ops.push(op);
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.drain());
    }
  }

  private fail(seq: number, err: Error, what: object, last = seq): void {
    this.log.warn({ ...what, err: err.message.split('\n').slice(0, 3).join(' | ') }, 'kernel plumbing change failed');
    this.errors.push({ seq, last, err });
    if (this.errors.length > MAX_KEPT_ERRORS) this.errors.shift();
  }

  private async drain(): Promise<void> {
    while (this.ops.length > 0) {
      const first = this.ops[0];
      let n = 1;
      if (first.kind === 'tool') {
        while (n < this.ops.length) {
          const o = this.ops[n];
          if (o.kind !== 'tool' || o.tool !== first.tool) break;
          n++;
        }
      }
      const batch = this.ops.splice(0, n);
      try {
        if (first.kind === 'tool') await this.runTools(batch as Array<Extract<Op, { kind: 'tool' }>>, { runs: MAX_SPLIT_RUNS });
        else await this.runOne(first);
      } catch (err) {
        this.fail(first.seq, err as Error, {});
      }
      this.doneBelow = batch[batch.length - 1].seq + 1;
      this.wake();
    }
    this.running = false;
    this.wake();
  }

  private wake(): void {
    for (let i = 0; i < this.waiters.length;) {
      const w = this.waiters[i];
      if (this.doneBelow >= w.upTo) {
        this.waiters.splice(i, 1);
        w.resolve(this.errorsFrom(w.from, w.upTo));
      } else i++;
    }
  }

  private async runOne(op: Op): Promise<void> {
    if (op.kind === 'sysctl') {
      const p = sysctlPath(op.key);
      let old: string;
      try {
        old = (await readFile(p, 'utf8')).trim();
      } catch {
        return; // no such sysctl (module not loaded, device gone)
      }
      if (old === op.value) return;
      try {
        await writeFile(p, op.value);
      } catch (err) {
        this.fail(op.seq, err as Error, { sysctl: op.key, value: op.value });
      }
    } else if (op.kind === 'file') {
      const tmp = op.path + '.tmp';
      try {
        await writeFile(tmp, op.data, { mode: 0o600 });
        await rename(tmp, op.path);
      } catch (err) {
        this.fail(op.seq, err as Error, { file: op.path });
      }
    } else if (op.kind === 'call') {
      op.fn();
    }
  }

  /** Lines of a batch, with consecutive mergeable nft lines merged. */
  private static render(ops: Array<Extract<Op, { kind: 'tool' }>>): string[] {
    const lines: string[] = [];
    let group: string | undefined;
    let items: string[] = [];
    const close = (): void => {
      if (group !== undefined) lines.push(`${group} { ${items.join(', ')} }`);
      group = undefined;
      items = [];
    };
    for (const o of ops) {
      if (o.tool === 'nft' && o.group !== undefined && o.item !== undefined) {
        if (o.group !== group) close();
        group = o.group;
        items.push(o.item);
      } else {
        close();
        lines.push(o.line);
      }
    }
    close();
    return lines;
  }

  /**
   * Runs ops; on failure isolates the failing ones, within `budget.runs` further runs: past
   * that (a table that is gone fails every element) the rest fail together, once.
   */
  private async runTools(ops: Array<Extract<Op, { kind: 'tool' }>>, budget: { runs: number }): Promise<void> {
    const tool = ops[0].tool;
    try {
      const t0 = performance.now();
      await this.runner(tool, KernelQueue.render(ops));
      if (ops.length >= LOG_RUN_OPS) {
        this.log.info?.({ tool, ops: ops.length, ms: Math.round(performance.now() - t0) }, 'kernel plumbing batch applied');
      }
      return;
    } catch (err) {
      if (ops.length === 1) {
        this.fail(ops[0].seq, err as Error, { [tool]: ops[0].line });
        return;
      }
      if (tool === 'ip') {
        // ip -batch stops at the failing line and names it: lines before it were applied.
        const m = /Command failed -:(\d+)/.exec((err as Error).message);
        const at = m ? Number(m[1]) - 1 : -1;
        if (at >= 0 && at < ops.length) {
          this.fail(ops[at].seq, err as Error, { ip: ops[at].line });
          if (at + 1 < ops.length && budget.runs-- > 0) await this.runTools(ops.slice(at + 1), budget);
          else if (at + 1 < ops.length) this.fail(ops[at + 1].seq, err as Error, { ip: ops[at + 1].line, lines: ops.length - at - 1 }, ops[ops.length - 1].seq);
          return;
        }
        this.fail(ops[0].seq, err as Error, { ip: ops[0].line, lines: ops.length }, ops[ops.length - 1].seq);
        return;
      }
      // nft: nothing was applied; isolate the failing operations.
      if (budget.runs < 2) {
        this.fail(ops[0].seq, err as Error, { nft: ops[0].line, lines: ops.length }, ops[ops.length - 1].seq);
        return;
      }
      budget.runs -= 2;
      const half = ops.length >> 1;
      await this.runTools(ops.slice(0, half), budget);
      await this.runTools(ops.slice(half), budget);
    }
  }
}
