#!/usr/bin/env node
/**
 * lvsd: the director daemon. Runs in the foreground as root, logs JSON lines to stdout,
 * and is configured through lvsadm over its control socket (or --config at start).
 *
 *   lvsd [--socket PATH] [--config FILE] [--tun NAME] [--table N] [--batch N]
 *        [--no-offload] [--max-conns N] [--rps-cpus MASK] [--xmit packet|tun] [--log-level LEVEL]
 *        [--pcap FILE [--pcap-max-bytes N]] [--sysctl NAME=VALUE ...] [--rt-priority N]
 *        [-f|--use-file KEEPALIVED_CONF [-i|--config-id ID]] [--pid-file PATH] [--log-format json|pretty] [--version]
 *        [--workers N] [--control-group GROUP] [--control-world-readable] [--keep-bind-service]
 *        [--metrics-listen [ADDR:]PORT]   Prometheus metrics and the live page (docs/METRICS.md)
 *        [--announce-table N]   ready VIPs as host routes in routing table N (docs/SCALEOUT.md)
 *   lvsd -t|--config-test -f KEEPALIVED_CONF [-i ID]   (exit 0: would load, 1: refused, 2: usage)
 *
 * Hardening (docs/SECURITY.md): one lvsd per socket and TUN name (src/daemon/instance.ts),
 * state files trusted only when only root could have written them (src/host/statefile.ts),
 * SIGUSR1 writes SOCKET.data, and after setup only the needed capabilities remain
 * (src/daemon/privileges.ts).
 *
 * With -f (keepalived's option) lvsd reads a keepalived.conf: virtual servers with health
 * checkers (src/health/), VRRP instances (src/ha/vrrp-node.ts) and lvs_sync_daemon
 * (src/ha/sync.ts). SIGHUP re-reads it and applies the difference; a file that does not parse
 * leaves the running configuration in place.
 */
import '../daemon/sigusr1'; // first: SIGUSR1 never opens the inspector (src/daemon/instance.ts)
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { Command, StatusInfo } from '../ipvs/command';
import { parseRestore } from '../control/save';
import { ControlServer, defaultSocketPath } from '../control/socket';
import { Plumbing } from '../host/plumbing';
import { Director, VERSION } from '../ipvs/director';
import { type Knobs, parseKnob } from '../ipvs/knobs';
import { FWD_MASQ, FWD_ROUTE, FWD_TUNNEL, IPPROTO_UDP, ipFromString } from '../ipvs/types';
import { fwmarkDeviceName } from '../ipvs/fwmark';
import { Forwarding } from '../host/forwarding';
import { ClientNextHops } from '../host/nexthop';
import type { Device } from '../phy/device';
import { type FrameSink, PacketSocket } from '../phy/packet';
import { DEFAULT_PCAP_MAX_BYTES, PCAP_MIN_MAX_BYTES, PcapDevice, PcapFrameSink, PcapWriter } from '../phy/pcap';
import { createLog, endpointText, fwdText, type LogFormat, logFormatError, serviceText } from '../log';
import { handleLogged } from '../control/audit';
import { Lifecycle } from '../daemon/lifecycle';
import { versionLine } from '../daemon/version';
import { applyRtPriorityOption } from '../phy/sched';
import { TunDevice } from '../phy/tun';
import type { KeepalivedConfig } from '../control/keepalived';
import { type KeepalivedRuntime, loadKeepalived, startKeepalived } from '../daemon/keepalived';
import { SyncControl } from '../ha/sync-control';
import { rowsDump } from '../ha/sync';
import { MAX_WORKERS, PacketWorkers } from '../datapath/workers';
import { setRealtimePriority } from '../phy/sched';
import { configTest } from '../health/load';
import { acquireInstance, guardSigusr1 } from '../daemon/instance';
import { dropPrivileges, groupId } from '../daemon/privileges';
import { stateDump } from '../daemon/dump';
import { trustStateFile } from '../host/statefile';
import { DirectorMetrics } from '../metrics/daemon';
import { type ListenAddr, parseListen } from '../metrics/listen';
import { directorSources } from '../metrics/sources';
import { Announcer, announceTableError, checkAnnounceTable, EVALUATE_MS, linkIndex, readyVips } from '../host/announce';
import { RtnlSocket } from '../host/rtnetlink';

const USAGE = 'usage: lvsd [--socket PATH] [--config FILE] [-f|--use-file KEEPALIVED_CONF] [--tun NAME] [--table N] [--batch N] '
  + '[--no-offload] [--max-conns N] [--rps-cpus MASK] [--xmit packet|tun] [--log-level LEVEL] [--pcap FILE [--pcap-max-bytes N]] [--sysctl NAME=VALUE ...] '
  + '[--rt-priority N] [--pid-file PATH] [--log-format json|pretty] [--version] [--workers N] [-i|--config-id ID] [-t|--config-test] '
  + '[--control-group GROUP] [--control-world-readable] [--keep-bind-service] [--metrics-listen [ADDR:]PORT] [--announce-table N]';

function fail(msg: string, code = 1): never {
  process.stderr.write(`lvsd: ${msg}\n`);
  process.exit(code);
}

function intOpt(v: string | undefined, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) fail(`--${name} must be an integer from ${min} to ${max}, got '${v}'`, 2);
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        socket: { type: 'string' },
        config: { type: 'string' },
        'use-file': { type: 'string', short: 'f' },
        tun: { type: 'string', default: 'lvs0' },
        table: { type: 'string' },
        batch: { type: 'string' },
        'no-offload': { type: 'boolean', default: false },
        'max-conns': { type: 'string' },
        sysctl: { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        'rps-cpus': { type: 'string' },
        xmit: { type: 'string' },
        pcap: { type: 'string' },
        'pcap-max-bytes': { type: 'string' },
        'rt-priority': { type: 'string' },
        'pid-file': { type: 'string' },
        'log-format': { type: 'string' },
        workers: { type: 'string' },
        'config-test': { type: 'boolean', short: 't', default: false },
        'config-id': { type: 'string', short: 'i' },
        'control-group': { type: 'string' },
        'keep-bind-service': { type: 'boolean', default: false },
        'control-world-readable': { type: 'boolean', default: false },
        'metrics-listen': { type: 'string' },
        'announce-table': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
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
    process.stdout.write(versionLine('lvsd'));
    return;
  }
  // -t / --config-test (keepalived's option): check the -f file and exit before anything exists.
  if (values['config-test']) {
    if (values['use-file'] === undefined) fail('--config-test needs -f KEEPALIVED_CONF', 2);
    process.exitCode = await configTest(values['use-file'], { configId: values['config-id'] }, (l) => process.stderr.write(l + '\n'));
    return;
  }
  const socketPath = values.socket ?? defaultSocketPath();
  const tunName = values.tun ?? 'lvs0';
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tunName)) fail(`--tun: invalid interface name '${tunName}'`, 2);
  const table = intOpt(values.table, 'table', 1, 0xfffffffe, 4040);
  const batch = intOpt(values.batch, 'batch', 1, 1024, 64);
  const maxConns = intOpt(values['max-conns'], 'max-conns', 1, 1 << 26, 1 << 20);
  // --xmit packet (default): NAT and tunnel packets leave through AF_PACKET sockets straight to
  // the next hop's MAC; tun: back through the TUN and the kernel's forwarding path.
  const xmit = values.xmit ?? 'packet';
  if (xmit !== 'packet' && xmit !== 'tun') fail(`--xmit must be 'packet' or 'tun', got '${xmit}'`, 2);
  const natDirect = xmit === 'packet';
  const pcapMax = intOpt(values['pcap-max-bytes'], 'pcap-max-bytes', PCAP_MIN_MAX_BYTES, Number.MAX_SAFE_INTEGER, DEFAULT_PCAP_MAX_BYTES);
  const knobs: Partial<Knobs> = {};
  for (const s of values.sysctl ?? []) {
    try {
      const k = parseKnob(s);
      knobs[k.name] = k.value;
    } catch (err) {
      fail(`--sysctl: ${(err as Error).message}`, 2);
    }
  }
  const logFormat = values['log-format'] ?? 'json';
  if (logFormatError(logFormat)) fail(logFormatError(logFormat)!, 2);
  // --pcap - puts the capture on stdout: the log goes to stderr.
  const log = createLog('lvsd', values['log-level'], { format: logFormat as LogFormat, fd: values.pcap === '-' ? 2 : 1 });
  const lifecycle = new Lifecycle(log, values['pid-file']);
  const cpus = availableParallelism();
  // --workers N: packet worker threads, one TUN queue each (default: one per CPU lvsd may use).
  const nWorkers = intOpt(values.workers, 'workers', 1, MAX_WORKERS, Math.min(cpus, MAX_WORKERS));
  const rpsCpus = values['rps-cpus'] ?? (cpus > 1 ? ((2 ** Math.min(cpus, 32)) - 1).toString(16) : '');
  if (!/^[0-9a-fA-F,]*$/.test(rpsCpus)) fail(`--rps-cpus must be a hexadecimal CPU mask, got '${rpsCpus}'`, 2);

  // --metrics-listen [ADDR:]PORT: Prometheus metrics and the live page (src/metrics/).
  let metricsAddr: ListenAddr | undefined;
  if (values['metrics-listen'] !== undefined) {
    try {
      metricsAddr = parseListen(values['metrics-listen']);
    } catch (err) {
      fail((err as Error).message, 2);
    }
  }

  // --announce-table N: ready VIPs as host routes in table N (src/host/announce.ts).
  let announceTable: number | undefined;
  if (values['announce-table'] !== undefined) {
    announceTable = intOpt(values['announce-table'], 'announce-table', 0, 0xffffffff, 0);
    const err = announceTableError(announceTable, table);
    if (err !== undefined) fail(err, 2);
  }

  // Validate the configuration before anything in the kernel changes.
  let initial: Command[] = [];
  if (values.config) {
    let text: string;
    try {
      text = readFileSync(values.config, 'utf8');
    } catch (err) {
      fail(`cannot read ${values.config}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      initial = parseRestore(text);
    } catch (err) {
      fail(`${values.config}: ${(err as Error).message}`);
    }
  }
  // keepalived.conf (-f, as keepalived's own option): virtual servers with health checkers.
  const kaFile = values['use-file'];
  let kaConfig: KeepalivedConfig | undefined;
  let keepalived: KeepalivedRuntime | undefined;
  if (kaFile !== undefined) {
    try {
      kaConfig = await loadKeepalived(kaFile, { configId: values['config-id'] });
    } catch (err) {
      fail((err as Error).message);
    }
  }

  // --rt-priority: the packet thread (this one) under SCHED_RR, before anything in the kernel
  // changes (see src/phy/sched.ts).
  // Without the option, keepalived.conf's vrrp_rt_priority / checker_rt_priority (the higher)
  // stands for it; refused by the kernel, it is logged and lvsd goes on, as keepalived does.
  let rtPriority = 0;
  if (values['rt-priority'] === undefined && kaConfig?.rtPriority !== undefined) {
    try {
      setRealtimePriority(kaConfig.rtPriority);
      rtPriority = kaConfig.rtPriority;
    } catch (err) {
      log.warn({ priority: kaConfig.rtPriority, error: (err as Error).message }, 'vrrp_rt_priority / checker_rt_priority not applied');
    }
  } else rtPriority = applyRtPriorityOption(values['rt-priority'], fail);
  // The packet workers run under SCHED_RR; the main thread (control plane) goes back to ordinary.
  if (rtPriority !== 0) setRealtimePriority(0);
  if (rtPriority !== 0) log.info({ policy: 'SCHED_RR', priority: rtPriority }, 'packet worker scheduling');

  // One lvsd per socket and TUN name, and only state files root alone could have written.
  process.umask(0o077);
  let controlGid: number | undefined;
  try {
    if (values['control-group'] !== undefined) controlGid = groupId(values['control-group']);
    acquireInstance(socketPath, tunName);
  } catch (err) {
    fail((err as Error).message);
  }
  // Bound before the TUN device exists, so that a port in use changes nothing.
  let metrics: DirectorMetrics | undefined;
  if (metricsAddr) {
    try {
      metrics = await DirectorMetrics.bind(metricsAddr);
    } catch (err) {
      fail((err as Error).message);
    }
  }

  // A table another program uses is refused before anything changes.
  let announceRtnl: RtnlSocket | undefined;
  if (announceTable !== undefined) {
    try {
      announceRtnl = new RtnlSocket(0);
      await checkAnnounceTable(announceRtnl, announceTable, 0);
    } catch (err) {
      announceRtnl?.close();
      fail((err as Error).message);
    }
  }

  const stateFile = `${socketPath}.plumbing.json`;
  let staleState = false;
  try {
    staleState = trustStateFile(stateFile);
  } catch (err) {
    fail((err as Error).message);
  }
  if (staleState) Plumbing.recover(stateFile, log);
  let dev: TunDevice;
  try {
    // Scratch slots hold ICMP errors and the segments of tunnelled super-packets.
    dev = TunDevice.open({ name: tunName, batch, scratchSlots: batch + 16, vnetHdr: !values['no-offload'],
      offload: !values['no-offload'], multiQueue: true });
  } catch (err) {
    fail(`cannot open TUN device ${tunName}: ${(err as Error).message}`);
  }
  // --pcap FILE|-: what lvsd reads and sends; a file rotates at --pcap-max-bytes (src/phy/pcap.ts).
  let pcap: PcapWriter | undefined;
  if (values.pcap !== undefined) {
    try {
      pcap = new PcapWriter(values.pcap, pcapMax, 65535, {
        onError: (err) => log.error({ file: values.pcap, error: err.message }, 'capture stopped: the output failed'),
      });
    } catch (err) {
      fail(`--pcap ${values.pcap}: ${(err as Error).message}`);
    }
  }
  const dataDev: Device = pcap ? new PcapDevice(dev, pcap) : dev;
  const openSink = (ifname: string): FrameSink => {
    const sock = PacketSocket.open(ifname, !values['no-offload']);
    return pcap ? new PcapFrameSink(sock, pcap) : sock;
  };
  const plumbing = new Plumbing({ tun: dev.name, table, stateFile, rpsCpus: rpsCpus === '0' ? '' : rpsCpus }, log);

  const forwarding = new Forwarding(log, openSink, { tunnelDirect: natDirect });
  const workers = new PacketWorkers({ dev, workers: nWorkers, batch, vnetHdr: !values['no-offload'],
    offload: !values['no-offload'], natDirect, maxConns, rtPriority, log,
    pcap: pcap && values.pcap !== undefined ? { path: values.pcap, maxBytes: pcapMax } : undefined, capture: pcap,
    crashHook: process.env.LVSD_TEST_CRASH_HOOK === '1' });
  const director = new Director(dataDev, {
    maxConns,
    knobs,
    hooks: workers.hooks({
      serviceAdded: (svc) => {
        if (svc.fwmark !== 0) openFwmark(svc.fwmark);
        else plumbing.serviceRule(true, svc.proto, svc.addr, svc.port);
        log.debug({ service: serviceText(svc), scheduler: svc.schedName }, 'service added');
      },
      serviceRemoved: (svc) => {
        if (svc.fwmark !== 0) closeFwmark(svc.fwmark);
        else plumbing.serviceRule(false, svc.proto, svc.addr, svc.port);
        log.debug({ service: serviceText(svc) }, 'service removed');
      },
      destAdded: (svc, d) => {
        // A firewall-mark service may carry TCP and UDP: replies of both enter the TUN.
        if (d.fwd === FWD_MASQ && svc.fwmark !== 0) plumbing.replyRule(true, IPPROTO_UDP, d.addr, d.port);
        if (d.fwd === FWD_MASQ) plumbing.replyRule(true, svc.proto, d.addr, d.port);
        if (d.fwd === FWD_MASQ) plumbing.icmpReplyRule(true, d.addr);
        if (d.fwd === FWD_TUNNEL) {
          forwarding.addTunnel(d.addr);
          plumbing.tunnelIcmp(true);
        }
        if (d.fwd === FWD_ROUTE || (d.fwd === FWD_MASQ && natDirect)) forwarding.addRoute(d.addr);
        log.debug({ service: serviceText(svc), dest: endpointText(d.addr, d.port), fwd: fwdText(d.fwd), weight: d.weight }, 'real server added');
      },
      destRemoved: (svc, d) => {
        if (d.fwd === FWD_MASQ && svc.fwmark !== 0) plumbing.replyRule(false, IPPROTO_UDP, d.addr, d.port);
        if (d.fwd === FWD_MASQ) plumbing.replyRule(false, svc.proto, d.addr, d.port);
        if (d.fwd === FWD_MASQ) plumbing.icmpReplyRule(false, d.addr);
        if (d.fwd === FWD_TUNNEL) {
          forwarding.removeTunnel(d.addr);
          plumbing.tunnelIcmp(false);
        }
        if (d.fwd === FWD_ROUTE || (d.fwd === FWD_MASQ && natDirect)) forwarding.removeRoute(d.addr);
        log.debug({ service: serviceText(svc), dest: endpointText(d.addr, d.port) }, 'real server removed');
      },
    }),
  });

  director.pipeline.tunnel = forwarding.tunnel;
  director.pipeline.route = forwarding.route;
  director.pipeline.natDirect = natDirect;
  const nextHops = natDirect ? new ClientNextHops(forwarding.route, openSink) : undefined;
  if (nextHops) director.pipeline.onNextHopMiss = (a) => nextHops.miss(a);
  director.pipeline.onMtu = (rip, mtu) => forwarding.reportMtu(rip, mtu);
  workers.mirror(forwarding.route, forwarding.tunnel);
  if (nextHops) workers.onNextHopMiss = (a) => nextHops.miss(a);
  workers.onMtu = (rip, mtu) => forwarding.reportMtu(rip, mtu);

  // Firewall-mark services (src/ipvs/fwmark.ts): a TUN device per mark, opened like the main
  // one, and its policy route. A device that cannot be opened leaves the service without
  // traffic; the error is logged.
  const markOffload = !values['no-offload'];
  function openFwmark(mark: number): void {
    const name = fwmarkDeviceName(dev.name, mark);
    try {
      const markDev = workers.openFwmark(mark, name);
      director.fwmarks.attach(mark, pcap ? new PcapDevice(markDev, pcap) : markDev);
      plumbing.fwmarkRoute(true, mark, markDev.name);
    } catch (err) {
      log.error({ err, mark, dev: name }, 'cannot set up the firewall-mark device');
    }
  }
  function closeFwmark(mark: number): void {
    plumbing.fwmarkRoute(false, mark, fwmarkDeviceName(dev.name, mark));
    director.fwmarks.detach(mark);
    workers.closeFwmark(mark);
  }

  const syncControl = new SyncControl(director, log);
  // Bulk resync dumps read the packet workers' tables (the director's own is empty then).
  syncControl.setDumpSource(() => rowsDump(workers.connRows()));
  // No health checkers without -f: lvsadm --checks lists nothing (startKeepalived replaces this).
  director.registerQuery('list-checks', () => ({ kind: 'checks', services: [] }));
  director.registerQuery('list-vrrp', () => ({ kind: 'vrrp', instances: keepalived?.ha.info() ?? [] }));
  let announcer: Announcer | undefined;
  let announceTimer: NodeJS.Timeout | undefined;
  // Ready VIPs (services with a usable real server, synced, VRRP allowing) into the table.
  const announce = (): void => {
    if (!announcer || stopping) return;
    const vrrp = keepalived?.ha.info() ?? [];
    const vrrpVips = new Map<number, boolean>();
    for (const i of vrrp) {
      for (const a of i.vips ?? []) {
        const n = ipFromString(a);
        if (n >= 0) vrrpVips.set(n, (vrrpVips.get(n) ?? false) || i.state === 'MASTER');
      }
    }
    void announcer.want(readyVips({
      services: director.services.services(), synced: syncControl.synced,
      vrrpAllows: vrrp.length === 0 || vrrp.some((i) => i.state === 'MASTER'), vrrpVips,
    }));
  };
  let stopping = false;
  let control: ControlServer | undefined;
  const shutdown = async (reason: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    lifecycle.stopping();
    log.info({ reason }, 'stopping');
    try {
      if (announceTimer) clearInterval(announceTimer);
      await announcer?.close();
      announceRtnl?.close();
      await metrics?.close();
      await keepalived?.stop();
      syncControl.close();
      await workers.stop();
      director.stop();
      director.services.clear();
      forwarding.stop();
      nextHops?.stop();
      if (pcap) {
        await pcap.close();
        log.info({ packets: pcap.packets, dropped: pcap.dropped, rotations: pcap.rotations }, 'capture closed');
      }
    } catch (err) {
      log.error({ err }, 'error while stopping the datapath');
    }
    await plumbing.teardown().catch((err: Error) => log.error({ err }, 'error while removing the kernel plumbing'));
    if (control) await control.close().catch(() => undefined);
    log.flush?.();
    lifecycle.exited();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGHUP', () => void lifecycle.reload(async () => {
    if (keepalived) await keepalived.reload();
    else log.info({}, 'SIGHUP ignored (no reloadable configuration)');
  }));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    void shutdown('uncaughtException', 1);
  });

  workers.start(director);
  if (workers.count !== nWorkers) log.warn({ workers: workers.count, wanted: nWorkers }, 'fewer packet workers than asked');
  // Test-only hook, enabled by LVSD_TEST_CRASH_HOOK=1: SIGUSR1/SIGUSR2 make worker 0/1 throw.
  if (process.env.LVSD_TEST_CRASH_HOOK === '1') {
    process.on('SIGUSR1', () => workers.crash(0));
    process.on('SIGUSR2', () => workers.crash(1));
  }
  try {
    plumbing.setup();
    await plumbing.applied(() => director.handle(initial));
    if (initial.length > 0) log.info({ file: values.config, commands: initial.length }, 'configuration loaded');
    if (kaFile !== undefined && kaConfig) keepalived = await startKeepalived(director, log, kaFile, kaConfig, {
      configId: values['config-id'], adoptSync: (d) => syncControl.adopt(d),
      vrrp: { vipStateFile: `${socketPath}.vips.json`, blackholeTable: table },
    });
    if (keepalived?.sync) syncControl.adopt(keepalived.sync);
  } catch (err) {
    log.fatal({ err }, 'startup failed');
    process.stderr.write(`lvsd: ${(err as Error).message}\n`);
    await shutdown('startup failed', 1);
    return;
  }

  // Every rule change is logged once with who asked (SO_PEERCRED; src/control/audit.ts).
  control = new ControlServer(socketPath,
    (cmds, peer) => handleLogged(log, async (c) => plumbing.applied(() => workers.handle(c)).then((r) => {
      announce();
      return r;
    }), cmds, peer),
    { group: controlGid, readAll: values['control-world-readable'] });
  try {
    await control.listen();
  } catch (err) {
    process.stderr.write(`lvsd: control socket ${socketPath}: ${(err as Error).message}\n`);
    control = undefined;
    await shutdown('control socket', 1);
    return;
  }
  // Routes and neighbours over rtnetlink; without it DR/tunnel real servers stay unresolved.
  await forwarding.start().then(() => {
    if (nextHops && forwarding.kernelView) nextHops.attach(forwarding.kernelView);
  }, (err: Error) => log.error({ err: err.message }, 'cannot follow routes and neighbours (rtnetlink)'));
  if (guardSigusr1(`${socketPath}.data`, () => stateDump(director),
    (err) => (err ? log.error({ err }, 'state dump failed') : log.info({ file: `${socketPath}.data` }, 'state dumped')))) {
    log.warn({}, 'an inspector opened before start-up was closed');
  }
  try {
    const p = dropPrivileges({ rtPriority: rtPriority !== 0, bindService: values['keep-bind-service'], steering: workers.steered });
    log.info({ keep: p.keep, threads: p.threads, reached: p.reached }, 'capabilities reduced');
    if (!p.bounded) log.warn({}, 'bounding set not reduced (no CAP_SETPCAP): children could regain capabilities');
  } catch (err) {
    log.fatal({ err }, 'cannot drop privileges');
    process.stderr.write(`lvsd: cannot drop privileges: ${(err as Error).message}\n`);
    await shutdown('privileges', 1);
    return;
  }
  if (announceRtnl && announceTable !== undefined) {
    try {
      const ifindex = await linkIndex(announceRtnl, dev.name);
      if (ifindex === 0) throw new Error(`no link ${dev.name}`);
      announcer = new Announcer(announceRtnl, announceTable, ifindex, log);
    } catch (err) {
      log.fatal({ err }, 'cannot announce');
      process.stderr.write(`lvsd: --announce-table: ${(err as Error).message}\n`);
      await shutdown('announce', 1);
      return;
    }
    const a = announcer;
    director.registerCounters(() => ({
      announce_vips: a.routes.size, announce_announced: a.stats.announced, announce_withdrawn: a.stats.withdrawn,
      announce_errors: a.stats.errors, announce_synced: syncControl.synced ? 1 : 0,
    }));
    syncControl.onSynced(announce);
    announceTimer = setInterval(announce, EVALUATE_MS);
    announceTimer.unref();
    log.info({ table: announceTable, ifindex: announcer.ifindex }, 'announcing ready VIPs');
  }
  let gathered: StatusInfo | undefined;
  metrics?.attach(directorSources(director, {
    health: () => keepalived?.manager, vrrp: () => keepalived?.ha, sync: () => syncControl.daemons(),
    // The counters are the packet workers': gathered before each scrape.
    refresh: async () => {
      await workers.refreshStats();
      const base = director.handle([{ op: 'status' }]);
      if (base.kind === 'status') gathered = await workers.status(base.status);
    },
    packetThreads: () => Array.from({ length: workers.count }, (_, i) => ({
      thread: String(i + 1),
      packets: gathered?.counters[`worker${i}.rx_packets`] ?? 0,
      batches: gathered?.counters[`worker${i}.rx_batches`] ?? 0,
    })),
    drops: () => gathered?.drops ?? {},
    connEntries: () => gathered?.conns ?? 0,
  }));
  if (metricsAddr) log.info({ listen: `${metricsAddr.host}:${metricsAddr.port}` }, 'metrics listening');
  log.info({ version: VERSION, tun: dev.name, socket: socketPath, offload: !values['no-offload'], batch,
    workers: workers.count }, 'lvsd started');
  lifecycle.started(`${director.services.services().length} virtual services, control socket ${socketPath}`);
}

void main();
