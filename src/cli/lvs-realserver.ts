#!/usr/bin/env node
/**
 * lvs-realserver: prepares a real server for LVS direct routing and IP tunneling, in the
 * foreground, as root, and undoes it all on SIGTERM/SIGINT.
 *
 *   lvs-realserver --vip VIP [--vip VIP ...] [--tunnel [--tunnel-mode auto|tunl0|bpf|userspace]]
 *                  [--tun NAME] [--rt-priority N] [--state FILE] [--pid-file PATH]
 *                  [--log-format json|pretty] [--log-level LEVEL] [--version]
 *
 * - Each VIP goes on the loopback as VIP/32, so the server accepts packets addressed to it
 *   without owning the address on its LAN.
 * - ARP suppression (the "ARP problem" of LVS-DR/TUN: only the director may answer ARP for
 *   the VIP): arp_ignore=1 (answer only for addresses of the receiving interface) and
 *   arp_announce=2 (use the best local address as ARP source) on `all` and every interface.
 * - --tunnel: accept IPIP (RFC 2003) from the director, by the first of these that works
 *   (--tunnel-mode picks one and fails when it does not):
 *   - tunl0: the kernel's ipip module (`modprobe ipip`), tunl0 brought up;
 *   - bpf: an eBPF program on the tcx ingress hook of every interface strips the outer header
 *     of IPIP packets to this host's addresses that carry a packet for a VIP
 *     (src/realserver/ipip-bpf.ts; Linux 6.6); it detaches when this process exits, however it
 *     exits. What it leaves alone (fragments, outer options) the userspace path still takes;
 *   - userspace: protocol-4 packets are received on a raw socket and the inner packet is
 *     written into a TUN device of this process, from which the local stack delivers it.
 *   Decapsulated packets carry client sources that may not be routed back through the
 *   interface they arrive on: rp_filter=0 on that interface (the tunnel, or each interface
 *   with the program) and on `all` (the effective value is the larger of the two; a loose
 *   check, 2, still fails on an interface without an address, fib_validate_source in
 *   net/ipv4/fib_frontend.c).
 * - Every change is recorded in a state file (--state, default one per network namespace under
 *   /run/lvs-realserver) before it is made; a start after a crash undoes what the file lists
 *   first (src/realserver/state.ts).
 * - --rt-priority N: the decapsulating thread under SCHED_RR at priority N (src/phy/sched.ts),
 *   as lvsd's option of the same name.
 *
 * Prints "ready" on stdout once everything is in place (and READY=1 under a Type=notify unit,
 * src/daemon/lifecycle.ts); log records (src/log.ts) go to stderr.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ipFromString, IPPROTO_IPIP } from '../ipvs/types';
import { RawIpSocket } from '../phy/raw';
import { applyRtPriorityOption } from '../phy/sched';
import { TunDevice } from '../phy/tun';
import { type DecapCounts, locateInner } from '../realserver/ipip';
import { BpfDecap } from '../realserver/ipip-bpf';
import { ChangeFile, defaultStateFile } from '../realserver/state';
import { trustStateFile } from '../host/statefile';
import { ip, readSysctl, writeSysctl } from '../host/plumbing';
import { createLog, type Log, type LogFormat, logFormatError } from '../log';
import { Lifecycle } from '../daemon/lifecycle';
import { versionLine } from '../daemon/version';

const USAGE = 'usage: lvs-realserver --vip VIP [--vip VIP ...] [--tunnel [--tunnel-mode auto|tunl0|bpf|userspace]] '
  + '[--tun NAME] [--rt-priority N] [--state FILE] [--pid-file PATH] [--log-format json|pretty] [--log-level LEVEL] [--version]';
const TUNNEL_MODES = ['auto', 'tunl0', 'bpf', 'userspace'] as const;

/** Receive buffer of the raw socket: room for bursts of tunnel traffic while the loop is busy. */
const RAW_RCVBUF = 8 << 20;
/** Datagrams per batch, and batches per readiness callback. */
const DECAP_BATCH = 64;
const DECAP_ROUNDS = 16;

function fail(msg: string, code = 1): never {
  process.stderr.write(`lvs-realserver: ${msg}\n`);
  process.exit(code);
}

function tryRun(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** LIFO list of actions that restore what was changed. */
const undo: Array<() => void> = [];
/** The same changes on disk, for a start after a crash (src/realserver/state.ts). */
let changes: ChangeFile | undefined;

function setSysctl(key: string, value: string): void {
  const old = readSysctl(key);
  if (old === undefined || old === value) return;
  changes?.setSysctl(key, old);
  if (!writeSysctl(key, value)) throw new Error(`cannot set ${key}=${value}`);
  undo.push(() => {
    writeSysctl(key, old); // the interface may be gone
  });
}

function hasAddr(dev: string, vip: string): boolean {
  const j = JSON.parse(ip(['-j', 'addr', 'show', 'dev', dev])) as Array<{ addr_info?: Array<{ local?: string }> }>;
  return j.some((l) => (l.addr_info ?? []).some((a) => a.local === vip));
}

/** Userspace IPIP decapsulation: raw socket in, TUN out. Returns a stop function. */
function userspaceTunnel(tunName: string): () => void {
  // Datagrams are read straight into the TUN device's slots and the inner packets written
  // from there (src/realserver/ipip.ts): one batch per crossing in each direction, no copy.
  const tun = TunDevice.open({ name: tunName, batch: DECAP_BATCH, scratchSlots: 0, vnetHdr: false, offload: false });
  undo.push(() => tun.close());
  setSysctl(`net.ipv6.conf.${tun.name}.disable_ipv6`, '1');
  setSysctl(`net.ipv4.conf.${tun.name}.rp_filter`, '0');
  ip(['link', 'set', 'dev', tun.name, 'up']);
  const sock = RawIpSocket.open(IPPROTO_IPIP, RAW_RCVBUF);
  const readLens = new Int32Array(DECAP_BATCH);
  const offs = new Int32Array(DECAP_BATCH);
  const lens = new Int32Array(DECAP_BATCH);
  const counts: DecapCounts = { decapsulated: 0, malformed: 0, refused: 0 };
  sock.start(() => {
    // Bounded so that signals and timers still run under a sustained flow.
    for (let round = 0; round < DECAP_ROUNDS; round++) {
      const n = sock.read(tun.buf, tun.slotSize, tun.headroom, DECAP_BATCH, readLens);
      if (n === 0) return;
      const k = locateInner(tun.buf, tun.slotSize, tun.headroom, readLens, n, offs, lens);
      counts.malformed += n - k;
      const w = tun.write(offs, lens, k);
      counts.decapsulated += w;
      counts.refused += k - w;
      if (n < DECAP_BATCH) return;
    }
  });
  return () => {
    sock.close();
    process.stdout.write(`ipip ${JSON.stringify(counts)}\n`);
  };
}

/** Brings up tunl0 of the kernel's ipip module; false when the kernel has none. */
function kernelTunnel(): boolean {
  if (!tryRun('ip', ['link', 'show', 'tunl0']) && !(tryRun('modprobe', ['ipip']) && tryRun('ip', ['link', 'show', 'tunl0']))) {
    return false;
  }
  const wasUp = /\bUP\b/.test(ip(['link', 'show', 'tunl0']).split('\n')[0] ?? '');
  setSysctl('net.ipv4.conf.tunl0.rp_filter', '0');
  if (!wasUp) {
    changes?.tunl0Up();
    ip(['link', 'set', 'tunl0', 'up']);
    undo.push(() => ip(['link', 'set', 'tunl0', 'down']));
  }
  return true;
}

/** IPv4 addresses of this host that are not loopback addresses or VIPs. */
function localAddresses(vips: readonly number[]): number[] {
  const j = JSON.parse(ip(['-j', '-4', 'addr', 'show'])) as Array<{ addr_info?: Array<{ local?: string }> }>;
  const out: number[] = [];
  for (const l of j) {
    for (const a of l.addr_info ?? []) {
      const n = a.local === undefined ? -1 : ipFromString(a.local);
      if (n >= 0 && n >>> 24 !== 127 && !vips.includes(n) && !out.includes(n)) out.push(n);
    }
  }
  return out;
}

/**
 * The eBPF decapsulator on the tcx ingress hook of every interface in ifaces; returns a stop
 * function that detaches it and prints its counters. Throws when the kernel refuses.
 */
function bpfTunnel(ifaces: readonly string[], vips: readonly number[]): () => void {
  const locals = localAddresses(vips);
  if (locals.length === 0) throw new Error('no IPv4 address to receive tunnelled packets on');
  const ifindexes = ifaces.map((n) => Number(readFileSync(`/sys/class/net/${n}/ifindex`, 'utf8').trim()));
  const decap = BpfDecap.attach(ifindexes, locals, vips);
  for (const dev of ifaces) setSysctl(`net.ipv4.conf.${dev}.rp_filter`, '0');
  return () => {
    const counts = decap.counts();
    decap.close();
    process.stdout.write(`ipip-bpf ${JSON.stringify(counts)}\n`);
  };
}

function main(): void {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        vip: { type: 'string', multiple: true },
        tunnel: { type: 'boolean', default: false },
        'tunnel-mode': { type: 'string' },
        tun: { type: 'string', default: 'lvsrs%d' },
        'rt-priority': { type: 'string' },
        state: { type: 'string' },
        'pid-file': { type: 'string' },
        'log-format': { type: 'string' },
        'log-level': { type: 'string' },
        version: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`, 2);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (values.version) {
    process.stdout.write(versionLine('lvs-realserver'));
    return;
  }
  const logFormat = values['log-format'] ?? 'json';
  if (logFormatError(logFormat)) fail(logFormatError(logFormat)!, 2);
  // stdout carries the "ready" line and the decapsulation counters: records go to stderr.
  const log: Log = createLog('lvs-realserver', values['log-level'], { format: logFormat as LogFormat, fd: 2 });
  const lifecycle = new Lifecycle(log, values['pid-file']);
  const vips = values.vip ?? [];
  if (vips.length === 0) fail(`at least one --vip is needed\n${USAGE}`, 2);
  for (const v of vips) if (ipFromString(v) < 0) fail(`--vip: not an IPv4 address: '${v}'`, 2);
  const tunName = values.tun ?? 'lvsrs%d';
  if (!/^[A-Za-z0-9_.%-]{1,15}$/.test(tunName)) fail(`--tun: invalid interface name '${tunName}'`, 2);
  const tunnelMode = values['tunnel-mode'] ?? 'auto';
  if (!(TUNNEL_MODES as readonly string[]).includes(tunnelMode)) {
    fail(`--tunnel-mode must be one of ${TUNNEL_MODES.join(', ')}, got '${tunnelMode}'`, 2);
  }
  if (values['tunnel-mode'] !== undefined && !values.tunnel) fail('--tunnel-mode needs --tunnel', 2);
  applyRtPriorityOption(values['rt-priority'], fail);

  // A previous instance that was killed left its changes in the state file: undo them first,
  // so that this instance records the host's own values.
  // Only a state file root alone could have written is acted on (src/host/statefile.ts); the
  // files this instance writes are 0600.
  const stateFile = values.state ?? defaultStateFile();
  process.umask(0o077);
  try {
    const stale = !trustStateFile(stateFile) ? undefined : ChangeFile.recover(stateFile, {
      delVip: (v) => ip(['addr', 'del', `${v}/32`, 'dev', 'lo']),
      writeSysctl: (k, v) => writeSysctl(k, v),
      tunl0Down: () => ip(['link', 'set', 'tunl0', 'down']),
    });
    if (stale) {
      log.warn({ file: stateFile, vips: stale.vips, sysctls: stale.sysctls.length },
        `undid what an unclean stop left (${stale.vips.length} VIPs, ${stale.sysctls.length} sysctls, ${stateFile})`);
    }
  } catch (err) {
    fail(`state file ${stateFile}: ${(err as Error).message}`);
  }
  changes = new ChangeFile(stateFile);

  let stopTunnel: (() => void) | undefined;
  const restore = (): void => {
    stopTunnel?.();
    stopTunnel = undefined;
    while (undo.length > 0) {
      try {
        undo.pop()!();
      } catch {
        /* keep undoing the rest */
      }
    }
    changes?.remove();
  };
  const exit = (code: number): void => {
    lifecycle.stopping();
    restore();
    lifecycle.exited();
    process.exit(code);
  };
  process.on('SIGTERM', () => exit(0));
  process.on('SIGINT', () => exit(0));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    exit(1);
  });

  let mode = 'none';
  try {
    for (const v of vips) {
      if (hasAddr('lo', v)) continue;
      changes.addVip(v);
      ip(['addr', 'add', `${v}/32`, 'dev', 'lo']);
      undo.push(() => ip(['addr', 'del', `${v}/32`, 'dev', 'lo']));
    }
    const ifaces = readdirSync('/sys/class/net').filter((n) => n !== 'lo');
    for (const dev of ['all', ...ifaces]) {
      setSysctl(`net.ipv4.conf.${dev}.arp_ignore`, '1');
      setSysctl(`net.ipv4.conf.${dev}.arp_announce`, '2');
    }
    if (values.tunnel) {
      // The effective rp_filter is max(all, interface): `all` must not force a check either.
      setSysctl('net.ipv4.conf.all.rp_filter', '0');
      if ((tunnelMode === 'auto' || tunnelMode === 'tunl0') && kernelTunnel()) mode = 'tunl0';
      else if (tunnelMode === 'tunl0') throw new Error('--tunnel-mode tunl0: the kernel has no ipip module (tunl0)');
      const stops: Array<() => void> = [];
      stopTunnel = () => stops.splice(0).reverse().forEach((f) => f());
      if (mode === 'none' && (tunnelMode === 'auto' || tunnelMode === 'bpf')) {
        try {
          stops.push(bpfTunnel(ifaces, vips.map(ipFromString)));
          mode = 'bpf';
        } catch (err) {
          if (tunnelMode === 'bpf') throw new Error(`--tunnel-mode bpf: ${(err as Error).message}`);
          log.info({ reason: (err as Error).message }, 'no eBPF decapsulation; decapsulating in userspace');
        }
      }
      // With the eBPF program, the userspace path takes what it leaves alone.
      if (mode !== 'tunl0') {
        stops.push(userspaceTunnel(tunName));
        if (mode === 'none') mode = 'userspace';
      }
    }
  } catch (err) {
    process.stderr.write(`lvs-realserver: ${(err as Error).message}\n`);
    exit(1);
    return;
  }
  process.stdout.write(`ready vips=${vips.join(',')} tunnel=${mode}\n`);
  log.info({ vips, tunnel: mode }, 'ready');
  lifecycle.started(`VIPs ${vips.join(', ')}, tunnel ${mode}`);
  // Stay in the foreground until a signal (the raw socket's watcher keeps the loop alive
  // whenever the userspace path runs).
  if (mode === 'none' || mode === 'tunl0') setInterval(() => undefined, 1 << 30);
}

main();
