/**
 * Tracking of a VRRP instance as keepalived does it (keepalived/vrrp/vrrp_track.c,
 * vrrp_scheduler.c vrrp_script_child_thread(), trackers/track_file.c; keepalived.conf(5)):
 * tracked scripts, interfaces and files either move the effective priority or, unweighted,
 * put the instance in FAULT. Pure functions and a small counter, driven by src/ha/vrrp-node.ts.
 *
 * Script results (rise/fall): a counter `result` in [0, rise+fall-1]; the script is up when
 * result >= rise.
 *   start                  result = rise-1 (one success is enough), status 'init';
 *                          with init_fail result = 0, status 'fail'
 *   success, result < rise-1      result + 1
 *   success, otherwise            up (if it was not), result = rise+fall-1
 *   failure, result > rise        result - 1
 *   failure, otherwise            down (if it was up, or still 'init'), result = 0
 * So an up script goes down after `fall` failures in a row, a down one up after `rise` successes.
 *
 * Contributions to the priority, weight w, m = -1 with `reverse`, else 1:
 *   script     w > 0: +w·m while up;   w < 0: w·m while down;   'init': nothing
 *   interface  w > 0: +w·m while up;   w < 0: w·m while down
 *   file       the file's integer v: v·w·m, clamped to [-254, 253]; -254 is FAULT
 * Unweighted (w = 0): FAULT while the script is down (up with reverse), the interface down (up
 * with reverse), the file's value non-zero (zero with reverse). A weight-0 script that has not
 * reported yet holds the instance in FAULT ("init") without notifying.
 * Effective priority = base + sum, clamped to 1..254; an address owner (255) never changes.
 */

export type ScriptStatus = 'init' | 'ok' | 'fail';

export class ScriptResult {
  private result: number;
  /** keepalived's SCRIPT_INIT_STATE_INIT: the script has not completed once yet. */
  private first: boolean;
  status: ScriptStatus;

  constructor(readonly rise: number, readonly fall: number, initFail = false) {
    this.result = initFail ? 0 : rise - 1;
    this.status = initFail ? 'fail' : 'init';
    this.first = !initFail;
  }

  /** One completed run of the script (a timeout is a failure); true when the status changed. */
  report(success: boolean): boolean {
    const was = this.status;
    const first = this.first;
    this.first = false;
    const top = this.rise + this.fall - 1;
    if (success) {
      if (this.result < this.rise - 1) this.result++;
      else if (this.result !== top) {
        if (this.result < this.rise) this.status = 'ok';
        this.result = top;
      }
    } else if (this.result > this.rise) {
      this.result--;
    } else {
      if (this.result === this.rise || first) this.status = 'fail';
      this.result = 0;
    }
    return this.status !== was;
  }
}

export type Tracked =
  | { kind: 'script'; name: string; weight: number; reverse: boolean; status: ScriptStatus }
  | { kind: 'interface'; name: string; weight: number; reverse: boolean; up: boolean }
  | { kind: 'file'; name: string; weight: number; reverse: boolean; value: number };

export interface TrackVerdict {
  priority: number;
  /** Why the instance must be in FAULT, if it must. */
  fault?: string;
  /** A weight-0 script has not reported yet: keepalived's FAULT (init), without notifications. */
  waiting?: string;
}

export function evaluate(base: number, items: readonly Tracked[]): TrackVerdict {
  let sum = 0;
  let fault: string | undefined;
  let waiting: string | undefined;
  for (const t of items) {
    const m = t.reverse ? -1 : 1;
    if (t.kind === 'script') {
      if (t.weight === 0) {
        if (t.status === 'init') waiting ??= `script ${t.name} has not run yet`;
        else if ((t.status === 'ok') !== (m === 1)) fault ??= `script ${t.name} ${t.status === 'ok' ? 'succeeded (reverse)' : 'failed'}`;
      } else if (t.status === 'ok' && t.weight > 0) sum += t.weight * m;
      else if (t.status === 'fail' && t.weight < 0) sum += t.weight * m;
    } else if (t.kind === 'interface') {
      if (t.weight === 0) {
        if (t.up !== (m === 1)) fault ??= `tracked interface ${t.name} ${t.up ? 'up (reverse)' : 'down'}`;
      } else if (t.up && t.weight > 0) sum += t.weight * m;
      else if (!t.up && t.weight < 0) sum += t.weight * m;
    } else if (t.weight === 0) {
      if ((t.value !== 0) === (m === 1)) fault ??= `tracked file ${t.name} has status ${t.value}`;
    } else {
      const s = Math.max(-254, Math.min(253, t.value * t.weight * m));
      if (s === -254) fault ??= `tracked file ${t.name} has status ${t.value} (weighted -254)`;
      else sum += s;
    }
  }
  const priority = base === 255 ? 255 : Math.max(1, Math.min(254, base + sum));
  return { priority, fault, waiting };
}

/**
 * A track_file's value as keepalived reads it (track_file.c process_track_file()): the first
 * 127 bytes as a C integer (strtol base 0: decimal, 0x hex, leading 0 octal, leading blanks
 * and a sign allowed, the rest ignored); an empty or missing file, or no number, is 0; a value
 * outside the 32-bit range is ignored (undefined: the previous value stays).
 */
export function trackFileValue(text: string | undefined): number | undefined {
  if (text === undefined) return 0;
  const m = /^[\s]*([-+]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(text.slice(0, 127));
  if (!m) return 0;
  const body = m[2];
  const mag = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : body.length > 1 && body[0] === '0' ? parseInt(body, 8) : Number(body);
  const v = m[1] === '-' ? -mag : mag;
  if (!Number.isSafeInteger(v) || v < -(2 ** 31) || v > 2 ** 31) return undefined;
  return v;
}
