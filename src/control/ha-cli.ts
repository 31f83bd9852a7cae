/**
 * lvsadm extensions for high availability (not in ipvsadm):
 *
 *   lvsadm --checks                      health checker states of lvsd -f (keepalived.conf)
 *   lvsadm --vrrp                        VRRP instance states of lvsd -f
 *   lvsadm --drain -t|-u VIP:PORT -r RIP[:PORT] [--deadline SEC]
 *        weight 0, wait until the server's connection entries end (TCP entries other than
 *        TIME_WAIT/CLOSE, and UDP entries) or the deadline passes (default 300 s), then delete it.
 *
 *   lvsadm --start-daemon master|backup --mcast-interface IF [--syncid N]
 *          [--mcast-group ADDR] [--mcast-port PORT] [--mcast-ttl TTL]
 *   lvsadm --stop-daemon master|backup
 *        ipvsadm's connection sync commands, run by lvsd's sync daemon (src/ha/sync.ts).
 *
 * All accept --socket PATH like every lvsadm command.
 */
import { readFileSync, statSync } from 'node:fs';
import type { CheckServiceInfo, Command, ConnInfo, ProtoName, Result, ServiceKey, SyncDaemonInfo, SyncState, VrrpStateInfo } from '../ipvs/command';
import { EXIT, LvsadmError } from './errors';

export interface HaIo {
  send: (commands: Command[]) => Promise<Result>;
  stdout: (text: string) => void;
  /** Milliseconds clock and sleep, replaceable in tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** TCP states in which a connection entry no longer carries a live connection. */
const CLOSED_STATES = new Set(['TIME_WAIT', 'CLOSE', 'NONE']);
const DRAIN_POLL_MS = 200;
export const DEFAULT_DRAIN_DEADLINE_S = 300;

/** The options these extensions accept, for lvsadm --help (test/control/usage.test.ts checks both agree). */
export const HA_OPTIONS: ReadonlyArray<{ long: string; arg?: string; with: string }> = [
  { long: 'checks', with: '' },
  { long: 'vrrp', with: '' },
  { long: 'drain', with: '' },
  { long: 'deadline', arg: 'SEC', with: 'drain' },
  { long: 'start-daemon', arg: 'master|backup', with: '' },
  { long: 'stop-daemon', arg: 'master|backup', with: '' },
  { long: 'mcast-interface', arg: 'IF', with: 'start-daemon' },
  { long: 'syncid', arg: 'N', with: 'start-daemon' },
  { long: 'mcast-group', arg: 'ADDR', with: 'start-daemon' },
  { long: 'mcast-port', arg: 'PORT', with: 'start-daemon' },
  { long: 'mcast-ttl', arg: 'TTL', with: 'start-daemon' },
];

/** True when argv asks for one of these extensions (lvsadm hands it over before ipvsadm parsing). */
export function isHaInvocation(argv: readonly string[]): boolean {
  return argv.includes('--checks') || argv.includes('--drain') || argv.includes('--start-daemon')
    || argv.includes('--stop-daemon') || argv.includes('--vrrp');
}

/** lvsadm --vrrp: one line per instance. */
export function formatVrrp(instances: readonly VrrpStateInfo[]): string {
  if (instances.length === 0) return 'no VRRP instances (lvsd runs without vrrp_instance)\n';
  const rows = instances.map((i) => `${i.name.padEnd(20)} ${i.state.padEnd(7)} ${String(i.priority).padEnd(9)} ${i.master || '-'}`);
  return [`${'Instance'.padEnd(20)} ${'State'.padEnd(7)} ${'Priority'.padEnd(9)} Master`, ...rows].join('\n') + '\n';
}

/** The value of --socket in argv, if any. */
export function socketArg(argv: readonly string[]): string | undefined {
  const i = argv.indexOf('--socket');
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith('--socket='));
  return eq?.slice('--socket='.length);
}

function addrPort(s: string, what: string, dfltPort?: number): { addr: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(s);
  if (!m || (m[2] === undefined && dfltPort === undefined)) throw new LvsadmError('EINVAL', `${what}: '${s}' is not ADDR:PORT`);
  const port = m[2] !== undefined ? Number(m[2]) : dfltPort!;
  if (port > 65535) throw new LvsadmError('EINVAL', `${what}: port ${port} out of range`);
  return { addr: m[1], port };
}

interface DrainArgs { service: ServiceKey; dest: { addr: string; port: number }; deadlineS: number }

export function parseDrain(argv: readonly string[]): DrainArgs {
  let service: ServiceKey | undefined;
  let dest: string | undefined;
  let deadlineS = DEFAULT_DRAIN_DEADLINE_S;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new LvsadmError('EINVAL', `${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--drain': break;
      case '--socket': i++; break;
      case '-t': case '--tcp-service': case '-u': case '--udp-service': {
        const proto: ProtoName = a === '-t' || a === '--tcp-service' ? 'tcp' : 'udp';
        service = { proto, ...addrPort(val(), a) };
        break;
      }
      case '-r': case '--real-server': dest = val(); break;
      case '--deadline': {
        const v = val();
        if (!/^\d+(\.\d+)?$/.test(v)) throw new LvsadmError('EINVAL', `--deadline: '${v}' is not a number of seconds`);
        deadlineS = Number(v);
        break;
      }
      default:
        if (a.startsWith('--socket=')) break;
        throw new LvsadmError('EINVAL', `--drain: unexpected argument '${a}'`);
    }
  }
  if (!service) throw new LvsadmError('EINVAL', '--drain needs -t or -u VIP:PORT');
  if (dest === undefined) throw new LvsadmError('EINVAL', '--drain needs -r RIP[:PORT]');
  return { service, dest: addrPort(dest, '-r', service.port), deadlineS };
}

/** Connection entries of `dest` under `service` that still carry a connection. */
export function liveEntries(conns: readonly ConnInfo[], service: ServiceKey, dest: { addr: string; port: number }): number {
  let n = 0;
  for (const c of conns) {
    if (c.proto !== service.proto || c.vaddr !== service.addr || c.vport !== service.port) continue;
    if (c.daddr !== dest.addr || c.dport !== dest.port) continue;
    if (c.proto === 'tcp' && CLOSED_STATES.has(c.state)) continue;
    n++;
  }
  return n;
}

function expectKind<K extends Result['kind']>(r: Result, kind: K): Extract<Result, { kind: K }> {
  if (r.kind !== kind) throw new LvsadmError('EPROTO', `lvsd answered '${r.kind}' where '${kind}' was expected`);
  return r as Extract<Result, { kind: K }>;
}

export async function drain(args: DrainArgs, io: HaIo): Promise<number> {
  const now = io.now ?? (() => Date.now());
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const { service, dest } = args;
  const svcs = expectKind(await io.send([{ op: 'list-services', service }]), 'services');
  const d = svcs.services[0]?.dests.find((x) => x.addr === dest.addr && x.port === dest.port);
  if (!d) throw new LvsadmError('ENOENT', `No such destination ${dest.addr}:${dest.port} in ${service.addr}:${service.port}`);
  await io.send([{ op: 'edit-server', service, dest: { ...dest, fwd: d.fwd, weight: 0 } }]);
  const deadline = now() + args.deadlineS * 1000;
  let left = 0;
  for (;;) {
    left = liveEntries(expectKind(await io.send([{ op: 'list-conns' }]), 'conns').conns, service, dest);
    if (left === 0 || now() >= deadline) break;
    await sleep(Math.min(DRAIN_POLL_MS, Math.max(1, deadline - now())));
  }
  await io.send([{ op: 'delete-server', service, dest }]);
  io.stdout(left === 0
    ? `drained ${dest.addr}:${dest.port} from ${service.addr}:${service.port}: removed with no connections left\n`
    : `drained ${dest.addr}:${dest.port} from ${service.addr}:${service.port}: deadline passed, removed with ${left} connections left\n`);
  return EXIT.OK;
}

export function formatChecks(services: readonly CheckServiceInfo[]): string {
  const lines: string[] = [];
  for (const s of services) {
    const head = `${s.proto.toUpperCase()}  ${s.addr}:${s.port}`.padEnd(28);
    lines.push(`${head} live weight ${s.liveWeight}, quorum ${s.quorum} (hysteresis ${s.hysteresis}) `
      + `${s.quorumUp ? 'up' : 'LOST'}${s.sorryActive ? ', sorry server active' : ''}`);
    for (const c of s.checks) {
      lines.push(`  -> ${c.dest.padEnd(22)} ${c.check.padEnd(10)} ${c.state.toUpperCase().padEnd(4)} `
        + `probes ${c.probes} failures ${c.failures} retry ${c.retries} since ${c.since}s: ${c.detail}`);
    }
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}

const SYNC_STATES: readonly string[] = ['master', 'backup'];

/** Shortest and longest --sync-key (bytes of the file, one trailing newline ignored). */
export const SYNC_KEY_MIN = 16;
export const SYNC_KEY_MAX = 1024;

/**
 * The key file of --sync-key, as hex: it must not be readable by group or others, as ssh
 * refuses loose private keys.
 */
export function readSyncKey(file: string): string {
  let st;
  let b: Buffer;
  try {
    st = statSync(file);
    b = readFileSync(file);
  } catch (err) {
    throw new LvsadmError('EINVAL', `--sync-key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if ((st.mode & 0o077) !== 0) throw new LvsadmError('EINVAL', `--sync-key ${file}: permissions too open (use chmod 600)`);
  if (b.length > 0 && b[b.length - 1] === 0x0a) b = b.subarray(0, b.length - 1);
  if (b.length < SYNC_KEY_MIN || b.length > SYNC_KEY_MAX) {
    throw new LvsadmError('EINVAL', `--sync-key ${file}: the key must have ${SYNC_KEY_MIN}..${SYNC_KEY_MAX} bytes`);
  }
  return b.toString('hex');
}

/** --start-daemon / --stop-daemon arguments as a command. */
export function parseDaemon(argv: readonly string[]): Command {
  let cmd: 'start-daemon' | 'stop-daemon' | undefined;
  let state: string | undefined;
  const d: Partial<SyncDaemonInfo> = { syncid: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new LvsadmError('EINVAL', `${a} needs a value`);
      return v;
    };
    const num = (min: number, max: number): number => {
      const v = val();
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new LvsadmError('EINVAL', `${a}: '${v}' out of range ${min}..${max}`);
      return Number(v);
    };
    switch (a) {
      case '--start-daemon': case '--stop-daemon':
        if (cmd) throw new LvsadmError('EINVAL', 'only one of --start-daemon, --stop-daemon');
        cmd = a === '--start-daemon' ? 'start-daemon' : 'stop-daemon';
        state = val();
        break;
      case '--socket': i++; break;
      case '--mcast-interface': d.mcastIface = val(); break;
      case '--syncid': d.syncid = num(0, 255); break;
      case '--mcast-group': d.group = val(); break;
      case '--mcast-port': d.port = num(1, 65535); break;
      case '--mcast-ttl': d.ttl = num(1, 255); break;
      case '--sync-peer': d.peer = val(); break;
      case '--sync-key': d.key = readSyncKey(val()); break;
      default:
        if (a.startsWith('--socket=')) break;
        throw new LvsadmError('EINVAL', `unexpected argument '${a}' with ${cmd ?? '--start-daemon'}`);
    }
  }
  if (!state || !SYNC_STATES.includes(state)) throw new LvsadmError('EINVAL', `sync daemon state must be master or backup, got '${state ?? ''}'`);
  if (cmd === 'stop-daemon') return { op: 'stop-daemon', state: state as SyncState };
  if (!d.mcastIface) throw new LvsadmError('EINVAL', '--start-daemon needs --mcast-interface');
  return { op: 'start-daemon', daemon: { ...d, state: state as SyncState, mcastIface: d.mcastIface, syncid: d.syncid ?? 0 } };
}

/** Runs an HA extension invocation; returns lvsadm's exit status. */
export async function runHa(argv: readonly string[], io: HaIo): Promise<number> {
  if (argv.includes('--drain')) return drain(parseDrain(argv), io);
  if (argv.includes('--start-daemon') || argv.includes('--stop-daemon')) {
    expectKind(await io.send([parseDaemon(argv)]), 'done');
    return EXIT.OK;
  }
  const what = argv.includes('--vrrp') ? '--vrrp' : '--checks';
  const extra = argv.filter((a, i) => a !== what && a !== '--socket' && argv[i - 1] !== '--socket'
    && !a.startsWith('--socket=') && a !== '-n' && a !== '--numeric');
  if (extra.length) throw new LvsadmError('EINVAL', `${what}: unexpected argument '${extra[0]}'`);
  if (what === '--vrrp') io.stdout(formatVrrp(expectKind(await io.send([{ op: 'list-vrrp' }]), 'vrrp').instances));
  else io.stdout(formatChecks(expectKind(await io.send([{ op: 'list-checks' }]), 'checks').services));
  return EXIT.OK;
}

/** ipvsadm's -L --daemon lines. */
export function formatDaemons(ds: readonly SyncDaemonInfo[]): string {
  return ds.map((d) => {
    let s = `${d.state} sync daemon (mcast=${d.mcastIface}, syncid=${d.syncid}`;
    if (d.group !== undefined) s += `, group=${d.group}`;
    if (d.port !== undefined) s += `, port=${d.port}`;
    if (d.ttl !== undefined) s += `, ttl=${d.ttl}`;
    return s + ')\n';
  }).join('');
}
