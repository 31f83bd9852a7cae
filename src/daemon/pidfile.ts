/**
 * --pid-file PATH: the daemon's pid, one decimal line, written once start-up has finished
 * (a unit's PIDFile= and scripts read it only then), atomically: into PATH.tmp.PID, then
 * rename(2) over PATH, so a reader sees the old file or the whole new one. Removed on exit
 * if it still names this process.
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

export class PidFile {
  private written = false;

  constructor(readonly path: string, readonly pid = process.pid) {}

  /** Writes the file; throws with the system error (the caller reports it). */
  write(): void {
    const tmp = `${this.path}.tmp.${this.pid}`;
    try {
      writeFileSync(tmp, `${this.pid}\n`, { mode: 0o644 });
      renameSync(tmp, this.path);
    } catch (err) {
      try {
        unlinkSync(tmp);
      } catch {
        /* not created */
      }
      throw err;
    }
    this.written = true;
  }

  /** Removes the file when it is this process's own; never throws. */
  remove(): void {
    if (!this.written) return;
    this.written = false;
    try {
      if (readFileSync(this.path, 'utf8').trim() === String(this.pid)) unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}
