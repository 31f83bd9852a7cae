#!/usr/bin/env node
/**
 * lvsd: the director daemon. Runs in the foreground as root, logs JSON lines to stdout,
 * and is configured through lvsadm over its control socket (or --config at start).
 *
 *   lvsd [--socket PATH] [--config FILE] [--tun NAME] [--table N] [--batch N]
 *        [--no-offload] [--max-conns N] [--rps-cpus MASK] [--log-level LEVEL]
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { Command } from '../control/command';
import { parseRestore } from '../control/save';
import { ControlServer, defaultSocketPath } from '../control/socket';
import { Plumbing } from '../host/plumbing';
import { Director, VERSION } from '../ipvs/director';
import { FWD_MASQ } from '../ipvs/types';
import { createLog } from '../log';
import { TunDevice } from '../phy/tun';

const USAGE = 'usage: lvsd [--socket PATH] [--config FILE] [--tun NAME] [--table N] [--batch N] '
  + '[--no-offload] [--max-conns N] [--rps-cpus MASK] [--log-level LEVEL]';

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
        tun: { type: 'string', default: 'lvs0' },
        table: { type: 'string' },
        batch: { type: 'string' },
        'no-offload': { type: 'boolean', default: false },
        'max-conns': { type: 'string' },
        'log-level': { type: 'string' },
        'rps-cpus': { type: 'string' },
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
  const log = createLog('lvsd', values['log-level']);
  const cpus = availableParallelism();
  const rpsCpus = values['rps-cpus'] ?? (cpus > 1 ? ((2 ** Math.min(cpus, 32)) - 1).toString(16) : '');
  if (!/^[0-9a-fA-F,]*$/.test(rpsCpus)) fail(`--rps-cpus must be a hexadecimal CPU mask, got '${rpsCpus}'`, 2);

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

  const stateFile = `${socketPath}.plumbing.json`;
  Plumbing.recover(stateFile, log);
  let dev: TunDevice;
  try {
    dev = TunDevice.open({ name: tunName, batch, vnetHdr: !values['no-offload'], offload: !values['no-offload'] });
  } catch (err) {
    fail(`cannot open TUN device ${tunName}: ${(err as Error).message}`);
  }
  const plumbing = new Plumbing({ tun: dev.name, table, stateFile, rpsCpus: rpsCpus === '0' ? '' : rpsCpus }, log);

  const director = new Director(dev, {
    maxConns,
    hooks: {
      serviceAdded: (svc) => {
        plumbing.serviceRule(true, svc.proto, svc.addr, svc.port);
        log.info({ service: `${svc.proto}:${svc.addr}:${svc.port}`, scheduler: svc.schedName }, 'service added');
      },
      serviceRemoved: (svc) => {
        plumbing.serviceRule(false, svc.proto, svc.addr, svc.port);
        log.info({ service: `${svc.proto}:${svc.addr}:${svc.port}` }, 'service removed');
      },
      destAdded: (svc, d) => {
        if (d.fwd === FWD_MASQ) plumbing.replyRule(true, svc.proto, d.addr, d.port);
        log.info({ service: svc.id, dest: `${d.addr}:${d.port}`, fwd: d.fwd, weight: d.weight }, 'real server added');
      },
      destRemoved: (svc, d) => {
        if (d.fwd === FWD_MASQ) plumbing.replyRule(false, svc.proto, d.addr, d.port);
        log.info({ service: svc.id, dest: `${d.addr}:${d.port}` }, 'real server removed');
      },
    },
  });

  let stopping = false;
  let control: ControlServer | undefined;
  const shutdown = async (reason: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, 'stopping');
    try {
      director.stop();
      director.services.clear();
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
  process.on('SIGHUP', () => log.info({}, 'SIGHUP ignored (no reloadable configuration)'));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    void shutdown('uncaughtException', 1);
  });

  try {
    plumbing.setup();
    director.handle(initial);
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
  log.info({ version: VERSION, tun: dev.name, socket: socketPath, offload: !values['no-offload'], batch }, 'lvsd started');
}

void main();
