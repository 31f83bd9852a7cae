/**
 * Orchestrator and nemesis of the Jepsen-style safety test (driven by netns/dlm-jepsen.sh,
 * which builds the namespaces and passes their names and addresses).
 *
 * Processes, each started with `ip netns exec NS node ...` (which execs, so the PID we hold
 * is the node process itself):
 *   register (reg ns), lvs-dlm primary (pri ns), lvs-dlm standby (sby ns), one
 *   jepsen-client per client ns.
 * Fault schedule (times from the start of the client phase):
 *   - every pauseEveryMs: one client arms its self-pause (SIGUSR1), stops itself between
 *     read and write, and is continued (SIGCONT) pauseMs later (pauseMs > lease);
 *   - at 25% and 60% of minSeconds: SIGKILL one client, restart it;
 *   - at 45% of minSeconds: SIGKILL the primary; clients fail over to the standby.
 * Ends when minSeconds have passed and the register counted `ops` writes, or at maxSeconds.
 * Then checks the register history and the grant histories (checker.ts) and prints a JSON
 * summary line. Exit status: 0 when the result matches --expect (safe: zero violations and
 * at least `ops` writes; violations: at least one violation), 1 otherwise.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GrantEvent, RegisterEvent, Violation, checkGrants, checkRegister } from '../checker';

interface Args {
  out: string;
  nsPrimary: string;
  nsStandby: string;
  nsRegister: string;
  nsClients: string[];
  primary: string;
  standby: string;
  register: string;
  fencing: boolean;
  ops: number;
  minSeconds: number;
  maxSeconds: number;
  keys: number;
  leaseMs: number;
  expect: 'safe' | 'violations';
}

const DIST = join(__dirname, '..', '..', '..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parse(): Args {
  const a = process.argv.slice(2);
  const get = (n: string, d?: string): string => {
    const i = a.indexOf(`--${n}`);
    if (i >= 0 && i + 1 < a.length) return a[i + 1];
    if (d !== undefined) return d;
    throw new Error(`--${n} required`);
  };
  return {
    out: get('out'),
    nsPrimary: get('ns-primary'),
    nsStandby: get('ns-standby'),
    nsRegister: get('ns-register'),
    nsClients: get('ns-clients').split(','),
    primary: get('primary'),
    standby: get('standby'),
    register: get('register'),
    fencing: get('fencing', 'on') === 'on',
    ops: Number(get('ops', '10000')),
    minSeconds: Number(get('min-seconds', '14')),
    maxSeconds: Number(get('max-seconds', '60')),
    keys: Number(get('keys', '3')),
    leaseMs: Number(get('lease-ms', '300')),
    expect: get('expect', 'safe') === 'violations' ? 'violations' : 'safe',
  };
}

class Proc {
  child: ChildProcess;
  out = '';
  constructor(readonly label: string, ns: string, args: string[], logFile: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    this.child.stdout!.on('data', (d: Buffer) => {
      this.out += d.toString();
      if (this.out.length > 1 << 20) this.out = this.out.slice(-(1 << 19));
      log.push(d.toString());
    });
    this.child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
    this.child.on('exit', () => writeFileSync(logFile, log.join(''), { flag: 'a' }));
  }
  get pid(): number {
    return this.child.pid!;
  }
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  signal(sig: NodeJS.Signals): void {
    if (this.alive) process.kill(this.pid, sig);
  }
  async waitFor(re: RegExp, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (re.test(this.out)) return true;
      if (!this.alive) return false;
      await sleep(20);
    }
    return false;
  }
  async stop(sig: NodeJS.Signals = 'SIGTERM', ms = 3000): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.signal('SIGCONT');
    this.signal(sig);
    await Promise.race([exited, sleep(ms)]);
    if (this.alive) {
      this.signal('SIGKILL');
      await exited;
    }
  }
}

/** State letter of /proc/PID/stat ('T' = stopped). */
function procState(pid: number): string {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return '?';
  }
}

function readJsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as T];
      } catch {
        return []; // a line cut short by SIGKILL
      }
    });
}

async function main(): Promise<void> {
  const A = parse();
  const secretFile = join(A.out, 'secret');
  const t0 = Date.now();
  const faults: string[] = [];
  const note = (f: string): void => {
    faults.push(`${((Date.now() - t0) / 1000).toFixed(2)}s ${f}`);
  };
  const logs = (n: string): string => join(A.out, `${n}.log`);
  const dlmArgs = ['--secret-file', secretFile, '--max-lease-ms', String(A.leaseMs * 2), '--min-lease-ms', '50', '--failover-ms', '400', '--heartbeat-ms', '50', '--grace-margin-ms', '100'];

  const register = new Proc('register', A.nsRegister, [join(DIST, 'src/dlm/testing/register.js'), '--listen', A.register, '--fencing', A.fencing ? 'on' : 'off', '--history', join(A.out, 'register.jsonl')], logs('register'));
  const primary = new Proc('primary', A.nsPrimary, [join(DIST, 'src/cli/lvs-dlm.js'), '--listen', A.primary, '--data', join(A.out, 'data-primary'), ...dlmArgs], logs('primary'));
  const standby = new Proc('standby', A.nsStandby, [join(DIST, 'src/cli/lvs-dlm.js'), '--listen', A.standby, '--data', join(A.out, 'data-standby'), '--standby-of', A.primary, ...dlmArgs], logs('standby'));
  const all: Proc[] = [register, primary, standby];
  const clients = new Map<string, Proc>();
  const startClient = (i: number): Proc => {
    const id = `c${i + 1}`;
    const p = new Proc(id, A.nsClients[i], [join(DIST, 'src/dlm/testing/jepsen-client.js'), '--id', id, '--servers', `${A.primary},${A.standby}`, '--secret-file', secretFile, '--register', A.register, '--keys', String(A.keys), '--lease-ms', String(A.leaseMs), '--history', join(A.out, `grants-${id}.jsonl`)], logs(id));
    clients.set(id, p);
    all.push(p);
    return p;
  };
  let ok = false;
  let summary: Record<string, unknown> = {};
  try {
    if (!(await register.waitFor(/listening/, 5000))) throw new Error('register did not start');
    if (!(await primary.waitFor(/"listening"/, 5000))) throw new Error('primary did not start');
    if (!(await standby.waitFor(/standby-synced/, 5000))) throw new Error('standby did not sync with the primary');
    A.nsClients.forEach((_, i) => startClient(i));
    const ids = [...clients.keys()];
    const start = Date.now();
    const at = (frac: number): number => start + frac * A.minSeconds * 1000;
    const killClientAt = [at(0.25), at(0.6)];
    const failoverAt = at(0.45);
    let failedOver = false;
    let nextPause = start + 800;
    let pauseN = 0;
    const count = (): number => {
      const i = register.out.lastIndexOf('count ');
      return i < 0 ? 0 : parseInt(register.out.slice(i + 6), 10) || 0;
    };
    while (Date.now() - start < A.maxSeconds * 1000) {
      const now = Date.now();
      if (now - start >= A.minSeconds * 1000 && count() >= A.ops) break;
      if (!failedOver && now >= failoverAt) {
        failedOver = true;
        primary.signal('SIGKILL');
        note('SIGKILL primary');
      }
      if (killClientAt.length && now >= killClientAt[0]) {
        killClientAt.shift();
        const id = ids[Math.floor(Math.random() * ids.length)];
        clients.get(id)!.signal('SIGKILL');
        note(`SIGKILL ${id}`);
        await sleep(100);
        startClient(ids.indexOf(id));
        note(`restart ${id}`);
      }
      if (now >= nextPause) {
        const id = ids[pauseN++ % ids.length];
        const p = clients.get(id)!;
        p.signal('SIGUSR1');
        // Wait until it stopped itself between read and write.
        let stopped = false;
        for (let i = 0; i < 100 && p.alive; i++) {
          if (procState(p.pid) === 'T') {
            stopped = true;
            break;
          }
          await sleep(10);
        }
        if (stopped) {
          const pauseMs = A.leaseMs * 3;
          note(`SIGSTOP ${id} ${pauseMs}ms`);
          await sleep(pauseMs);
          p.signal('SIGCONT');
          note(`SIGCONT ${id}`);
        }
        nextPause = Date.now() + 700;
      }
      await sleep(20);
    }
    for (const p of clients.values()) await p.stop();
    await register.stop();
    const reg = readJsonLines<RegisterEvent>(join(A.out, 'register.jsonl'));
    const grants = ids.flatMap((id) => readJsonLines<GrantEvent>(join(A.out, `grants-${id}.jsonl`)));
    const r = checkRegister(reg);
    const g = checkGrants(grants);
    const violations: Violation[] = [...r.violations, ...g];
    const pauses = faults.filter((f) => f.includes('SIGSTOP')).length;
    summary = {
      fencing: A.fencing,
      seconds: (Date.now() - start) / 1000,
      registerOps: reg.length,
      writes: r.acceptedWrites + r.rejectedWrites,
      acceptedWrites: r.acceptedWrites,
      rejectedWrites: r.rejectedWrites,
      rejectedReads: reg.filter((e) => e.op === 'read' && !e.accepted).length,
      grants: grants.length,
      pauses,
      failedOver: /now primary/.test(standby.out),
      violations: violations.length,
      violationKinds: [...new Set(violations.map((v) => v.kind))],
      examples: violations.slice(0, 5).map((v) => v.detail),
      faults,
    };
    const enoughOps = r.acceptedWrites + r.rejectedWrites >= A.ops;
    ok = A.expect === 'safe'
      ? violations.length === 0 && enoughOps && summary.failedOver === true && pauses > 0
      : violations.length > 0;
  } catch (e) {
    summary = { error: (e as Error).message, faults };
  } finally {
    for (const p of all) await p.stop('SIGTERM', 1000);
  }
  process.stdout.write(JSON.stringify(summary) + '\n');
  process.exit(ok ? 0 : 1);
}

void main();
