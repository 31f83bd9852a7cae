#!/usr/bin/env node
/**
 * lvs-dlm: the distributed lock manager server (docs/DLM.md).
 *
 *   lvs-dlm --listen ADDR:PORT --secret-file FILE --data DIR [--standby-of ADDR:PORT]
 *           [--max-connections N] [--max-sessions N] [--max-locks N] [--max-waiters N]
 *           [--min-lease-ms N] [--max-lease-ms N] [--failover-ms N] [--heartbeat-ms N]
 *           [--grace-margin-ms N] [--auth-timeout-ms N] [--max-unauth-per-source N]
 *           [--pid-file PATH] [--log-format json|pretty] [--log-level LEVEL] [--version]
 *           [--metrics-listen [ADDR:]PORT]    Prometheus /metrics (docs/METRICS.md)
 *
 * Logs JSON lines (pino, src/log.ts) to stdout; the first is {"msg":"listening",...,"port":N}.
 * Under a Type=notify unit it reports READY=1 once listening and STOPPING=1 (src/daemon/lifecycle.ts).
 * SIGTERM/SIGINT close the server and exit 0. Exit 64 on a usage error, 1 on a start failure.
 */
import { createLog, type LogFormat, logFormatError } from '../log';
import { Lifecycle } from '../daemon/lifecycle';
import { versionLine } from '../daemon/version';
import { parseArgs } from 'node:util';
import { readSecretFile } from '../dlm/auth';
import { parseHostPort } from '../dlm/protocol';
import { DlmServer, DlmServerOptions } from '../dlm/server';
import { createDlmRegistry } from '../metrics/dlm';
import { type ListenAddr, parseListen } from '../metrics/listen';
import { MetricsServer } from '../metrics/server';

const NUMERIC: Record<string, keyof DlmServerOptions> = {
  'max-connections': 'maxConnections',
  'max-sessions': 'maxSessions',
  'max-locks': 'maxLocks',
  'max-waiters': 'maxWaiters',
  'min-lease-ms': 'minLeaseMs',
  'max-lease-ms': 'maxLeaseMs',
  'failover-ms': 'failoverMs',
  'heartbeat-ms': 'heartbeatMs',
  'grace-margin-ms': 'graceMarginMs',
  'auth-timeout-ms': 'authTimeoutMs',
  'max-unauth-per-source': 'maxUnauthPerSource',
};

const USAGE =
  'usage: lvs-dlm --listen ADDR:PORT --secret-file FILE --data DIR [--standby-of ADDR:PORT] ' +
  Object.keys(NUMERIC).map((k) => `[--${k} N]`).join(' ') + ' [--pid-file PATH] [--log-format json|pretty] [--log-level LEVEL] [--version]';

function usage(msg: string): never {
  process.stderr.write(`lvs-dlm: ${msg}\n${USAGE}\n`);
  process.exit(64);
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options: Record<string, { type: 'string' | 'boolean' }> = {
      listen: { type: 'string' },
      'secret-file': { type: 'string' },
      data: { type: 'string' },
      'standby-of': { type: 'string' },
      'metrics-listen': { type: 'string' },
      help: { type: 'boolean' },
      version: { type: 'boolean' },
      'pid-file': { type: 'string' },
      'log-format': { type: 'string' },
      'log-level': { type: 'string' },
    };
    for (const k of Object.keys(NUMERIC)) options[k] = { type: 'string' };
    values = parseArgs({ options, strict: true }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    usage((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (values.version) {
    process.stdout.write(versionLine('lvs-dlm'));
    return;
  }
  const logFormat = typeof values['log-format'] === 'string' ? values['log-format'] : 'json';
  if (logFormatError(logFormat)) usage(logFormatError(logFormat)!);
  const listen = values.listen, secretFile = values['secret-file'], data = values.data;
  if (typeof listen !== 'string' || typeof secretFile !== 'string' || typeof data !== 'string') {
    usage('--listen, --secret-file and --data are required');
  }
  let metricsAddr: ListenAddr | undefined;
  try {
    if (typeof values['metrics-listen'] === 'string') metricsAddr = parseListen(values['metrics-listen']);
  } catch (e) {
    usage((e as Error).message);
  }
  const logLevel = typeof values['log-level'] === 'string' ? values['log-level'] : undefined;
  const log = createLog('lvs-dlm', logLevel, { format: logFormat as LogFormat });
  const lifecycle = new Lifecycle(log, typeof values['pid-file'] === 'string' ? values['pid-file'] : undefined);
  // Bound first: a port in use fails the start before the data directory is touched.
  const metrics = metricsAddr ? new MetricsServer({ listen: metricsAddr }) : undefined;
  try {
    await metrics?.listen();
  } catch (e) {
    log.error({ error: (e as Error).message }, 'start failed');
    const code = (e as NodeJS.ErrnoException).code;
    process.stderr.write(`lvs-dlm: --metrics-listen ${values['metrics-listen']}: ${code === 'EADDRINUSE' ? 'address already in use' : code ?? (e as Error).message}\n`);
    process.exit(1);
  }
  let opts: DlmServerOptions;
  try {
    const addr = parseHostPort(listen);
    opts = {
      host: addr.host,
      port: addr.port,
      secret: readSecretFile(secretFile),
      dataDir: data,
      standbyOf: typeof values['standby-of'] === 'string' ? parseHostPort(values['standby-of']) : undefined,
      log: (event, fields) => log.info(fields ?? {}, event),
    };
    for (const [flag, key] of Object.entries(NUMERIC)) {
      const v = values[flag];
      if (typeof v !== 'string') continue;
      if (!/^\d+$/.test(v)) usage(`--${flag} needs a non-negative integer`);
      (opts as unknown as Record<string, number>)[key] = Number(v);
    }
  } catch (e) {
    usage((e as Error).message);
  }
  const server = new DlmServer(opts);
  metrics?.serve(createDlmRegistry(server));
  server.on('takeover', (epoch: number) => log.warn({ epoch }, 'now primary'));
  try {
    await server.start();
  } catch (e) {
    log.error({ error: (e as Error).message }, 'start failed');
    process.exit(1);
  }
  const stop = (): void => {
    lifecycle.stopping();
    void server.close().then(() => {
      lifecycle.exited();
      process.exit(0);
    });
  };
  // Handlers first: a supervisor may send SIGTERM as soon as it reads READY=1.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  lifecycle.started();
}

void main();
