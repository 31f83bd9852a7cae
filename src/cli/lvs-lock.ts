#!/usr/bin/env node
/**
 * lvs-lock: run a command while holding a named lock of lvs-dlm.
 *
 *   lvs-lock --server ADDR:PORT [--server ADDR:PORT ...] --secret-file FILE
 *            [--shared] [--timeout SEC] [--connect-timeout SEC] [--lease-ms N] NAME -- COMMAND [ARG...]
 *   lvs-lock --version | --help
 *
 * The command runs with LVS_LOCK_NAME and LVS_LOCK_TOKEN (the fencing token, decimal) in its
 * environment. --timeout 0 tries once; without --timeout it waits until granted (at most
 * MAX_TIMEOUT_SEC, the protocol's largest finite wait). When no server answers for
 * --connect-timeout seconds (default 10), it gives up with 77.
 * If the lease is lost while the command runs, the command gets SIGTERM (SIGKILL 5 s later).
 *
 * Exit status (EXIT below): the command's own status (128+N when killed by signal N), or
 *   64 usage error, 75 lock not granted in time (or busy with --timeout 0),
 *   76 lease lost while the command ran, 77 no server reachable or authentication failed,
 *   78 refused by the server (limits, invalid name, other error codes).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import { readSecretFile } from '../dlm/auth';
import { DlmClient } from '../dlm/client';
import { DlmError } from '../dlm/protocol';
import { versionLine } from '../daemon/version';

/** Largest --timeout: the wire carries a u32 of milliseconds, 0xffffffff meaning forever. */
export const MAX_TIMEOUT_SEC = Math.floor(0xfffffffe / 1000);
export const DEFAULT_CONNECT_TIMEOUT_SEC = 10;

export const EXIT = { usage: 64, timeout: 75, leaseLost: 76, noServer: 77, refused: 78 } as const;

/** Error code → exit status for failures to get the lock. */
const EXIT_BY_CODE: Record<string, number> = {
  TIMEOUT: EXIT.timeout,
  BUSY: EXIT.timeout,
  GRACE: EXIT.timeout,
  NO_SERVER: EXIT.noServer,
  AUTH_FAILED: EXIT.noServer,
  DISCONNECTED: EXIT.noServer,
};

const USAGE = 'lvs-lock --server ADDR:PORT [--server ...] --secret-file FILE [--shared] [--timeout SEC] [--connect-timeout SEC] [--lease-ms N] NAME -- COMMAND...';

function usage(msg: string): never {
  process.stderr.write(
    `lvs-lock: ${msg}\nusage: ${USAGE}\n`,
  );
  process.exit(EXIT.usage);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(versionLine('lvs-lock'));
    return;
  }
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return;
  }
  const dd = argv.indexOf('--');
  if (dd < 0 || dd === argv.length - 1) usage('missing -- COMMAND');
  let values: { server?: string[]; 'secret-file'?: string; shared?: boolean; timeout?: string; 'connect-timeout'?: string; 'lease-ms'?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv.slice(0, dd),
      options: {
        server: { type: 'string', multiple: true },
        'secret-file': { type: 'string' },
        shared: { type: 'boolean' },
        timeout: { type: 'string' },
        'connect-timeout': { type: 'string' },
        'lease-ms': { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (positionals.length !== 1) usage('exactly one lock NAME before --');
  if (!values.server?.length || !values['secret-file']) usage('--server and --secret-file are required');
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    const t = Number(values.timeout);
    if (!Number.isFinite(t) || t < 0) usage('--timeout needs seconds >= 0');
    if (t > MAX_TIMEOUT_SEC) usage(`--timeout at most ${MAX_TIMEOUT_SEC} seconds (omit it to wait until granted)`);
    timeoutMs = Math.round(t * 1000);
  }
  let connectWaitMs = DEFAULT_CONNECT_TIMEOUT_SEC * 1000;
  if (values['connect-timeout'] !== undefined) {
    const t = Number(values['connect-timeout']);
    if (!Number.isFinite(t) || t <= 0 || t > MAX_TIMEOUT_SEC) usage(`--connect-timeout needs seconds in (0, ${MAX_TIMEOUT_SEC}]`);
    connectWaitMs = Math.round(t * 1000);
  }
  const leaseMs = values['lease-ms'] !== undefined ? Number(values['lease-ms']) : 5000;
  if (!Number.isInteger(leaseMs) || leaseMs <= 0) usage('--lease-ms needs a positive integer');
  const name = positionals[0];
  const command = argv.slice(dd + 1);

  let client: DlmClient;
  try {
    client = new DlmClient({ servers: values.server, secret: readSecretFile(values['secret-file']), leaseMs, connectWaitMs });
  } catch (e) {
    usage((e as Error).message);
  }
  let handle;
  try {
    handle = await client.lock(name, { mode: values.shared ? 'shared' : 'exclusive', timeoutMs });
  } catch (e) {
    const code = e instanceof DlmError ? e.code : 'ERROR';
    process.stderr.write(`lvs-lock: ${(e as Error).message}\n`);
    await client.close();
    process.exit(EXIT_BY_CODE[code] ?? EXIT.refused);
  }

  const child = spawn(command[0], command.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, LVS_LOCK_NAME: name, LVS_LOCK_TOKEN: handle.token.toString() },
  });
  let leaseLost = false;
  let finished = false;
  const finish = async (status: number, release: boolean): Promise<void> => {
    if (finished) return;
    finished = true;
    if (release) await handle.unlock();
    await client.close();
    process.exit(status);
  };
  client.on('lease-lost', () => {
    leaseLost = true;
    process.stderr.write(`lvs-lock: lease on "${name}" lost; stopping the command\n`);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('error', (e) => {
    process.stderr.write(`lvs-lock: cannot run ${command[0]}: ${e.message}\n`);
    void finish(127, true);
  });
  child.on('exit', (code, signal) => {
    if (leaseLost) void finish(EXIT.leaseLost, false);
    else void finish(code ?? 128 + (signal ? constants.signals[signal] : 0), true);
  });
}

void main();
