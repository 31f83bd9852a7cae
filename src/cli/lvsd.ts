#!/usr/bin/env node
/**
 * lvsd: the director daemon. Runs in the foreground as root, logs JSON lines to stdout,
 * and is configured through lvsadm over its control socket (or --config at start).
 *
 *   lvsd [--socket PATH] [--config FILE] [--tun NAME] [--table N] [--batch N]
 *        [--no-offload] [--max-conns N] [--rps-cpus MASK] [--xmit packet|tun] [--log-level LEVEL]
 *        [--pcap FILE [--pcap-max-bytes N]] [--sysctl NAME=VALUE ...] [--rt-priority N]
 *        [-f|--use-file KEEPALIVED_CONF]
 *        [--metrics-listen [ADDR:]PORT]   Prometheus metrics and the live page (docs/METRICS.md)
 *
 * With -f (keepalived's option) lvsd reads a keepalived.conf: virtual servers with health
 * checkers (src/health/), VRRP instances (src/ha/vrrp-node.ts) and lvs_sync_daemon
 * (src/ha/sync.ts). SIGHUP re-reads it and applies the difference; a file that does not parse
 * leaves the running configuration in place.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { Command } from '../control/command';
import { parseRestore } from '../control/save';
import { ControlServer, defaultSocketPath } from '../control/socket';
import { Plumbing } from '../host/plumbing';
import { Director, VERSION } from '../ipvs/director';
import { type Knobs, parseKnob } from '../ipvs/knobs';
import { FWD_MASQ, FWD_ROUTE, FWD_TUNNEL, IPPROTO_UDP } from '../ipvs/types';
import { fwmarkDeviceName } from '../ipvs/fwmark';
import { Forwarding } from '../host/forwarding';
import { ClientNextHops } from '../host/nexthop';
import type { Device } from '../phy/device';
import { type FrameSink, PacketSocket } from '../phy/packet';
import { DEFAULT_PCAP_MAX_BYTES, PcapDevice, PcapFrameSink, PcapWriter } from '../phy/pcap';
import { createLog } from '../log';
import { applyRtPriorityOption } from '../phy/sched';
import { TunDevice } from '../phy/tun';
import type { KeepalivedConfig } from '../control/keepalived';
import { type KeepalivedRuntime, loadKeepalived, startKeepalived } from '../health/runtime';
import { SyncControl } from '../ha/sync-control';
import { DirectorMetrics } from '../metrics/daemon';
import { type ListenAddr, parseListen } from '../metrics/listen';
import { directorSources } from '../metrics/sources';

const USAGE = 'usage: lvsd [--socket PATH] [--config FILE] [-f|--use-file KEEPALIVED_CONF] [--tun NAME] [--table N] [--batch N] '
  + '[--no-offload] [--max-conns N] [--rps-cpus MASK] [--xmit packet|tun] [--log-level LEVEL] [--pcap FILE [--pcap-max-bytes N]] [--sysctl NAME=VALUE ...] '
  + '[--rt-priority N]';

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
        'metrics-listen': { type: 'string' },
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
    process.stdout.write(`lvsd ${VERSION}\n`);
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
  const pcapMax = intOpt(values['pcap-max-bytes'], 'pcap-max-bytes', 24, Number.MAX_SAFE_INTEGER, DEFAULT_PCAP_MAX_BYTES);
  const knobs: Partial<Knobs> = {};
  for (const s of values.sysctl ?? []) {
    try {
      const k = parseKnob(s);
      knobs[k.name] = k.value;
    } catch (err) {
      fail(`--sysctl: ${(err as Error).message}`, 2);
    }
  }
  const log = createLog('lvsd', values['log-level']);
  const cpus = availableParallelism();
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
      kaConfig = loadKeepalived(kaFile);
    } catch (err) {
      fail((err as Error).message);
    }
  }

  // --rt-priority: the packet thread (this one) under SCHED_RR, before anything in the kernel
  // changes (see src/phy/sched.ts).
  const rtPriority = applyRtPriorityOption(values['rt-priority'], fail);
  if (rtPriority !== 0) log.info({ policy: 'SCHED_RR', priority: rtPriority }, 'packet thread scheduling');

  // Bound before the TUN device exists, so that a port in use changes nothing.
  let metrics: DirectorMetrics | undefined;
  if (metricsAddr) {
    try {
      metrics = await DirectorMetrics.bind(metricsAddr);
    } catch (err) {
      fail((err as Error).message);
    }
  }

  const stateFile = `${socketPath}.plumbing.json`;
  Plumbing.recover(stateFile, log);
  let dev: TunDevice;
  try {
    // Scratch slots hold ICMP errors and the segments of tunnelled super-packets.
    dev = TunDevice.open({ name: tunName, batch, scratchSlots: batch + 16, vnetHdr: !values['no-offload'],
      offload: !values['no-offload'] });
  } catch (err) {
    fail(`cannot open TUN device ${tunName}: ${(err as Error).message}`);
  }
  // --pcap FILE: what lvsd reads and sends, up to --pcap-max-bytes (then no more is written).
  let pcap: PcapWriter | undefined;
  if (values.pcap !== undefined) {
    try {
      pcap = new PcapWriter(values.pcap, pcapMax);
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
  const director = new Director(dataDev, {
    maxConns,
    knobs,
    hooks: {
      serviceAdded: (svc) => {
        if (svc.fwmark !== 0) openFwmark(svc.fwmark);
        else plumbing.serviceRule(true, svc.proto, svc.addr, svc.port);
        log.info({ service: `${svc.proto}:${svc.addr}:${svc.port}`, fwmark: svc.fwmark, scheduler: svc.schedName },
          'service added');
      },
      serviceRemoved: (svc) => {
        if (svc.fwmark !== 0) closeFwmark(svc.fwmark);
        else plumbing.serviceRule(false, svc.proto, svc.addr, svc.port);
        log.info({ service: `${svc.proto}:${svc.addr}:${svc.port}`, fwmark: svc.fwmark }, 'service removed');
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
        log.info({ service: svc.id, dest: `${d.addr}:${d.port}`, fwd: d.fwd, weight: d.weight }, 'real server added');
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
        log.info({ service: svc.id, dest: `${d.addr}:${d.port}` }, 'real server removed');
      },
    },
  });

  director.pipeline.tunnel = forwarding.tunnel;
  director.pipeline.route = forwarding.route;
  director.pipeline.natDirect = natDirect;
  const nextHops = natDirect ? new ClientNextHops(forwarding.route, openSink) : undefined;
  if (nextHops) director.pipeline.onNextHopMiss = (a) => nextHops.miss(a);
  director.pipeline.onMtu = (rip, mtu) => forwarding.reportMtu(rip, mtu);

  // Firewall-mark services (src/ipvs/fwmark.ts): a TUN device per mark, opened like the main
  // one, and its policy route. A device that cannot be opened leaves the service without
  // traffic; the error is logged.
  const markOffload = !values['no-offload'];
  function openFwmark(mark: number): void {
    const name = fwmarkDeviceName(dev.name, mark);
    try {
      const markDev = TunDevice.open({ name, batch, scratchSlots: batch + 16, vnetHdr: markOffload, offload: markOffload });
      director.fwmarks.attach(mark, pcap ? new PcapDevice(markDev, pcap) : markDev);
      plumbing.fwmarkRoute(true, mark, markDev.name);
    } catch (err) {
      log.error({ err, mark, dev: name }, 'cannot set up the firewall-mark device');
    }
  }
  function closeFwmark(mark: number): void {
    plumbing.fwmarkRoute(false, mark, fwmarkDeviceName(dev.name, mark));
    director.fwmarks.detach(mark);
  }

  const syncControl = new SyncControl(director, log);
  // No health checkers without -f: lvsadm --checks lists nothing (startKeepalived replaces this).
  director.registerQuery('list-checks', () => ({ kind: 'checks', services: [] }));
  let stopping = false;
  let control: ControlServer | undefined;
  const shutdown = async (reason: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, 'stopping');
    try {
      await metrics?.close();
      await keepalived?.stop();
      syncControl.close();
      director.stop();
      director.services.clear();
      forwarding.stop();
      pcap?.close();
    } catch (err) {
      log.error({ err }, 'error while stopping the datapath');
    }
    plumbing.teardown();
    if (control) await control.close().catch(() => undefined);
    log.flush?.();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGHUP', () => {
    if (keepalived) keepalived.reload();
    else log.info({}, 'SIGHUP ignored (no reloadable configuration)');
  });
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    void shutdown('uncaughtException', 1);
  });

  try {
    plumbing.setup();
    director.handle(initial);
    if (kaFile !== undefined && kaConfig) keepalived = startKeepalived(director, log, kaFile, kaConfig);
    if (keepalived?.sync) syncControl.adopt(keepalived.sync);
  } catch (err) {
    log.fatal({ err }, 'startup failed');
    process.stderr.write(`lvsd: ${(err as Error).message}\n`);
    await shutdown('startup failed', 1);
    return;
  }

  control = new ControlServer(socketPath, (cmds) => director.handle(cmds));
  try {
    await control.listen();
  } catch (err) {
    process.stderr.write(`lvsd: control socket ${socketPath}: ${(err as Error).message}\n`);
    control = undefined;
    await shutdown('control socket', 1);
    return;
  }
  director.start();
  forwarding.start();
  metrics?.attach(directorSources(director, {
    health: () => keepalived?.manager, vrrp: () => keepalived?.vrrp, sync: () => syncControl.daemons(),
  }));
  if (metricsAddr) log.info({ listen: `${metricsAddr.host}:${metricsAddr.port}` }, 'metrics listening');
  log.info({ version: VERSION, tun: dev.name, socket: socketPath, offload: !values['no-offload'], batch }, 'lvsd started');
}

void main();
