/**
 * Scripts of the VRRP side as keepalived runs them (keepalived lib/notify.c, vrrp/vrrp.c
 * check_vrrp_script_security(), vrrp_scheduler.c vrrp_script_thread()):
 *
 * - Users: a script runs as its own `user USER [GROUP]` (notify lines: `SCRIPT [USER [GROUP]]`),
 *   else global_defs `script_user`, else the user `keepalived_script` when it exists, else as
 *   lvsd itself. Names are resolved from /etc/passwd and /etc/group (read asynchronously); a
 *   user that does not exist disables the script. Only root can run scripts as another user.
 * - Security (check_script_secure): a script run as root (user or group 0) is insecure when
 *   the file or any directory on its path (as written, and after resolving links) is not owned
 *   by root, or is writable by a non-root group or by others (directories with the sticky bit
 *   excepted). With `enable_script_security` an insecure script is not run ("Unsafe permissions
 *   found for script '...' - disabling"); without it, it runs, and lvsd warns once, as keepalived
 *   does, that scripts run without script security. A script that cannot be found or is not
 *   executable for its user is disabled.
 * - vrrp_script: run every `interval` (never twice at once), killed (SIGTERM to its process
 *   group, SIGKILL a second later) after `timeout`; exit status 0 is success, anything else,
 *   a signal or a timeout is failure. Started with spawn, never waited for synchronously.
 */
import { spawn } from 'node:child_process';
import { constants as FS, promises as fsp } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { ScriptUser, VrrpScriptSpec } from '../control/keepalived';
import type { Log } from '../log';

export interface RunAs { uid: number; gid: number; name: string }

const S_ISVTX = 0o1000;
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;

async function readDb(path: string): Promise<string[][]> {
  try {
    return (await fsp.readFile(path, 'utf8')).split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch {
    return [];
  }
}

/**
 * The uid/gid a script runs as: `u`, else keepalived_script if that user exists, else lvsd's
 * own (undefined). An Error names a user or group that does not exist.
 */
export async function resolveRunAs(u: ScriptUser | undefined): Promise<RunAs | undefined | Error> {
  const passwd = await readDb('/etc/passwd');
  const name = u?.user ?? (passwd.some((p) => p[0] === 'keepalived_script') ? 'keepalived_script' : undefined);
  if (name === undefined) return undefined;
  const p = passwd.find((x) => x[0] === name) ?? (/^\d+$/.test(name) ? [name, 'x', name, name] : undefined);
  if (!p) return new Error(`script user '${name}' does not exist`);
  let gid = Number(p[3]);
  if (u?.group !== undefined) {
    const g = (await readDb('/etc/group')).find((x) => x[0] === u.group);
    if (!g && !/^\d+$/.test(u.group)) return new Error(`script group '${u.group}' does not exist`);
    gid = g ? Number(g[2]) : Number(u.group);
  }
  const uid = Number(p[2]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return new Error(`script user '${name}': bad passwd entry`);
  const self = process.getuid?.() ?? 0;
  if (uid === self && gid === (process.getgid?.() ?? 0)) return undefined;
  if (self !== 0) return new Error(`lvsd is not root: it cannot run scripts as '${name}'`);
  return { uid, gid, name };
}

/** The program's path: as written when it contains '/', else the first executable on PATH. */
export async function findProgram(prog: string): Promise<string | undefined> {
  if (prog.includes('/')) return prog;
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, prog);
    try {
      await fsp.access(p, FS.X_OK);
      return p;
    } catch {
      // next directory
    }
  }
  return undefined;
}

/** keepalived's check_security(): the first insecure component of `path`, if any. */
async function insecureComponent(path: string): Promise<string | undefined> {
  const parts = path.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const p = i === 1 ? '/' : parts.slice(0, i).join('/');
    if (i > 1 && parts[i - 1] === '') continue;
    const st = await fsp.lstat(p);
    const last = i === parts.length;
    const unsafe = st.uid !== 0
      || (((st.isDirectory() && (st.mode & S_ISVTX) === 0) || st.isFile())
        && ((st.gid !== 0 && (st.mode & 0o020) !== 0) || (st.mode & 0o002) !== 0));
    if (!last && !st.isDirectory()) return `${p} (not a directory)`;
    if (unsafe) return p;
  }
  return undefined;
}

export interface ScriptCheck {
  /** Absolute program path to run, or undefined when the script must not run. */
  path?: string;
  /** Why it is not run, or what is unsafe about it (logged by the caller). */
  problem?: string;
  insecure: boolean;
}

/** check_script_secure(): may `prog` run as `runAs` (undefined: lvsd's own user)? */
export async function checkScript(prog: string, runAs: RunAs | undefined, secure: boolean): Promise<ScriptCheck> {
  const path = await findProgram(prog);
  if (!path) return { problem: `cannot find script ${prog} in PATH - disabling`, insecure: false };
  let real: string;
  let st;
  try {
    real = await fsp.realpath(path);
    st = await fsp.stat(real);
  } catch (err) {
    return { problem: `script ${prog} cannot be accessed - ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} - disabling`, insecure: false };
  }
  const uid = runAs?.uid ?? process.getuid?.() ?? 0;
  const gid = runAs?.gid ?? process.getgid?.() ?? 0;
  const exec = uid === 0 ? (st.mode & 0o111) !== 0
    : st.uid === uid ? (st.mode & 0o100) !== 0 : st.gid === gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
  if (!st.isFile() || !exec) return { problem: `script '${prog}' is not executable for uid:gid ${uid}:${gid} - disabling`, insecure: false };
  const asRoot = uid === 0 || gid === 0
    || (st.uid === 0 && (st.mode & S_ISUID) !== 0 && (st.mode & 0o100) !== 0)
    || (st.gid === 0 && (st.mode & S_ISGID) !== 0 && (st.mode & 0o010) !== 0);
  if (!asRoot) return { path, insecure: false };
  let bad: string | undefined;
  try {
    bad = (await insecureComponent(path)) ?? (real !== path ? await insecureComponent(real) : undefined);
  } catch (err) {
    return { problem: `script ${prog}: ${(err as Error).message} - disabling`, insecure: false };
  }
  if (bad === undefined) return { path, insecure: false };
  const problem = `Unsafe permissions found for script '${prog}' (${bad} is writable by a non-root user)${secure ? ' - disabling' : ''}`;
  return secure ? { problem, insecure: true } : { path, problem, insecure: true };
}

/**
 * Runs argv once as runAs in its own process group; calls done(success, why) once, on exit or
 * after timeoutMs (SIGTERM to the group, SIGKILL one second later). Returns a function that
 * kills the run (done is then not called).
 */
export function runOnce(argv: readonly string[], runAs: RunAs | undefined, timeoutMs: number, done: (ok: boolean, why: string) => void): () => void {
  let finished = false;
  let killTimer: NodeJS.Timeout | undefined;
  const child = spawn(argv[0], argv.slice(1), {
    stdio: 'ignore', detached: true, ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const kill = (sig: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  const finish = (ok: boolean, why: string): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    done(ok, why);
  };
  const timer = setTimeout(() => {
    kill('SIGTERM');
    killTimer = setTimeout(() => kill('SIGKILL'), 1000);
    killTimer.unref();
    finish(false, `timed out after ${timeoutMs} ms`);
  }, timeoutMs);
  timer.unref();
  child.on('error', (err) => finish(false, err.message));
  child.on('exit', (code, signal) => {
    if (killTimer) clearTimeout(killTimer);
    if (code === 0) finish(true, 'exit 0');
    else finish(false, signal ? `killed by ${signal}` : `exit ${code}`);
  });
  return () => {
    finished = true;
    clearTimeout(timer);
    kill('SIGKILL');
  };
}

/** A vrrp_script, run every interval once its user and security are settled. */
export class ScriptRunner {
  private timer: NodeJS.Timeout | undefined;
  private cancel: (() => void) | undefined;
  private running = false;
  private stopped = false;
  private runAs: RunAs | undefined;
  private argv: string[] = [];
  private lastWhy = '';

  constructor(
    readonly spec: VrrpScriptSpec, private readonly log: Log,
    private readonly onResult: (ok: boolean, why: string) => void,
  ) {}

  /** Resolves the user and checks the script; false when it must not run (logged). */
  async prepare(): Promise<boolean> {
    const ra = await resolveRunAs(this.spec.user);
    if (ra instanceof Error) {
      this.log.error({ script: this.spec.name, error: ra.message }, `Disabling track script ${this.spec.name}: ${ra.message}`);
      return false;
    }
    this.runAs = ra;
    const c = await checkScript(this.spec.argv[0], ra, this.spec.secure);
    if (!c.path) {
      this.log.error({ script: this.spec.name, error: c.problem }, `Disabling track script ${this.spec.name}: ${c.problem}`);
      return false;
    }
    if (c.problem) this.log.warn({ script: this.spec.name }, c.problem);
    this.argv = [c.path, ...this.spec.argv.slice(1)];
    return true;
  }

  start(): void {
    if (this.stopped) return;
    this.tick();
  }

  private tick(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), this.spec.intervalMs);
    this.timer.unref();
    if (this.running) return;
    this.running = true;
    this.cancel = runOnce(this.argv, this.runAs, this.spec.timeoutMs, (ok, why) => {
      this.running = false;
      this.cancel = undefined;
      if (this.stopped) return;
      if (why !== this.lastWhy) this.log.info({ script: this.spec.name, result: why }, `VRRP_Script(${this.spec.name}) now returning ${why}`);
      this.lastWhy = why;
      this.onResult(ok, why);
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.cancel?.();
    this.cancel = undefined;
  }
}

/**
 * A notify script: `cmd` through /bin/sh -c (as lvsd has always run them, so shell syntax in
 * the line works) with `args` appended, quoted, as runAs; output discarded, never waited for.
 */
export function runNotify(cmd: string, args: readonly string[], runAs: RunAs | undefined): void {
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('/bin/sh', ['-c', args.length ? `${cmd} ${quoted}` : cmd], {
    stdio: 'ignore', detached: true, ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
  child.on('error', () => undefined);
  child.unref();
}
