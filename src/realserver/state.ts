/**
 * What lvs-realserver changed, kept in a file while it runs so that a start after a crash
 * (SIGKILL, power loss of the process) can put it back: VIPs it added to the loopback, sysctls
 * with their previous values, whether it brought tunl0 up. The TUN device and the eBPF
 * programs need no record: the kernel removes them with the process's file descriptors.
 *
 * The file is rewritten (atomically, by rename) before each change is made, and removed after
 * a clean exit has undone everything.
 */
import { mkdirSync, readFileSync, readlinkSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface RealServerChanges {
  /** The process that made the changes. */
  pid: number;
  /** VIPs added to lo, in order. */
  vips: string[];
  /** [sysctl, value before the change], in order. */
  sysctls: Array<[string, string]>;
  tunl0Up: boolean;
}

/** How recover() undoes each kind of change (the host functions, or test doubles). */
export interface Undoer {
  delVip(vip: string): void;
  writeSysctl(key: string, value: string): void;
  tunl0Down(): void;
}

/** The default state file: one per network namespace (ip netns exec shares /run). */
export function defaultStateFile(): string {
  let ns = 'default';
  try {
    ns = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1] ?? ns;
  } catch {
    /* no /proc: one file for the host */
  }
  return join('/run/lvs-realserver', `netns-${ns}.json`);
}

/** Whether pid is a running lvs-realserver (proc(5) cmdline). */
function liveRealServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('lvs-realserver');
  } catch {
    return false;
  }
}

export class ChangeFile {
  private readonly changes: RealServerChanges = { pid: process.pid, vips: [], sysctls: [], tunl0Up: false };

  constructor(readonly file: string) {}

  /**
   * Undoes what a previous instance recorded in file and did not undo (newest change first);
   * removes the file. Returns the changes found, or undefined when there was no file. Each
   * step is attempted even when an earlier one fails (an interface may be gone). Throws, and
   * changes nothing, when the recording process is still alive (isAlive: a live
   * lvs-realserver with that pid).
   */
  static recover(file: string, u: Undoer, isAlive: (pid: number) => boolean = liveRealServer): RealServerChanges | undefined {
    let c: RealServerChanges;
    try {
      c = JSON.parse(readFileSync(file, 'utf8')) as RealServerChanges;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      unlinkSync(file); // unreadable: nothing to act on
      return undefined;
    }
    if (Number.isInteger(c.pid) && c.pid !== process.pid && isAlive(c.pid)) {
      throw new Error(`lvs-realserver pid ${c.pid} is running with these changes`);
    }
    const attempt = (f: () => void): void => {
      try {
        f();
      } catch {
        /* keep undoing the rest */
      }
    };
    if (c.tunl0Up) attempt(() => u.tunl0Down());
    for (const [k, v] of [...(c.sysctls ?? [])].reverse()) attempt(() => u.writeSysctl(k, v));
    for (const v of [...(c.vips ?? [])].reverse()) attempt(() => u.delVip(v));
    unlinkSync(file);
    return c;
  }

  addVip(vip: string): void {
    this.changes.vips.push(vip);
    this.save();
  }

  setSysctl(key: string, old: string): void {
    this.changes.sysctls.push([key, old]);
    this.save();
  }

  tunl0Up(): void {
    this.changes.tunl0Up = true;
    this.save();
  }

  /** Forgets the file after a clean undo. */
  remove(): void {
    try {
      unlinkSync(this.file);
    } catch {
      /* never written */
    }
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.changes));
    renameSync(tmp, this.file);
  }
}
