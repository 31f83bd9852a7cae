#!/usr/bin/env node
/**
 * lvsadm: ipvsadm's command line for lvsd. Parses argv as ipvsadm does, sends the commands
 * over the control socket (--socket PATH, else $LVSD_SOCKET, else /run/lvsd/lvsd.sock) and
 * prints ipvsadm's output formats. State-changing commands print nothing on success.
 * Exit statuses (errors.ts EXIT, as ipvsadm): 0 success; 1 a listing failed; 2 bad
 * arguments, or lvsd not reachable; 255 the daemon refused the operation, or popt-level
 * argument errors (unknown option, missing argument).
 * -R parses stdin a chunk of lines at a time and sends every restored command in ONE request
 * (in frames, socket.ts), so the daemon applies the whole file or nothing; no size limit.
 * -L -c prints the connection table as lvsd streams it. A reader that goes away (`| head`)
 * ends lvsadm quietly with status 0, as far as the output went (EPIPE).
 */
import type { Command, ConnInfo, Result } from '../ipvs/command';
import { CLIENT_CODES, EXIT, LvsadmError } from '../control/errors';
import { formatConnRows, formatConnsHeader, formatServices, formatStatus, formatSysctl, formatTimeout } from '../control/format';
import { type NameDb, parseArgs, type ParsedInvocation, systemNames, usageText } from '../control/ipvsadm-args';
import { formatSave, parseRestore } from '../control/save';
import { defaultSocketPath, request, type RequestOptions } from '../control/socket';
import { formatDaemons, isHaInvocation, runHa, socketArg } from '../control/ha-cli';
import { packageVersion } from '../daemon/version';

export const LVSADM_VERSION = `lvsadm v${packageVersion()} (ipvsadm-compatible, IPVS v1.2.1)`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readStdin: () => Promise<string>;
  /** stdin a chunk at a time (-R); when absent, readStdin's text is one chunk. */
  stdinChunks?: () => AsyncIterable<string>;
  /** Request transport; defaults to the control socket client. */
  send?: (path: string, commands: Command[], opts?: RequestOptions) => Promise<Result>;
  names?: NameDb;
}

function expect<K extends Result['kind']>(result: Result, kind: K): Extract<Result, { kind: K }> {
  if (result.kind !== kind) throw new LvsadmError('EPROTO', `lvsd answered '${result.kind}' where '${kind}' was expected`);
  return result as Extract<Result, { kind: K }>;
}

/** Idle time allowed while lvsd applies a restore (ipvsadm has no limit; the kernel answers when done). */
const RESTORE_TIMEOUT_MS = 300_000;

/** -R input parsed a chunk of complete lines at a time, line numbers counted across chunks. */
async function restoreCommands(io: Required<CliIo>): Promise<Command[]> {
  const chunks: AsyncIterable<string> = io.stdinChunks();
  const commands: Command[] = [];
  let rest = '';
  let line = 1;
  const parse = (text: string): void => {
    for (const c of parseRestore(text, io.names, line)) commands.push(c);
    let n = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
    line += n;
  };
  for await (const chunk of chunks) {
    const text = rest + chunk;
    const cut = text.lastIndexOf('\n');
    if (cut < 0) {
      rest = text;
      continue;
    }
    parse(text.slice(0, cut + 1));
    rest = text.slice(cut + 1);
  }
  if (rest.length > 0) parse(rest);
  return commands;
}

async function run(inv: ParsedInvocation, io: Required<CliIo>, socket: string): Promise<number> {
  const send = (commands: Command[], opts?: RequestOptions): Promise<Result> => io.send(socket, commands, opts);
  switch (inv.kind) {
    case 'help':
      io.stdout(`${LVSADM_VERSION}\n${usageText()}`);
      return EXIT.OK;
    case 'version':
      io.stdout(`${LVSADM_VERSION}\n`);
      return EXIT.OK;
    case 'commands':
      expect(await send(inv.commands), 'done');
      return EXIT.OK;
    case 'restore': {
      const commands = await restoreCommands(io);
      // Applying a large restore takes the daemon a while before it answers.
      if (commands.length > 0) expect(await send(commands, { timeoutMs: RESTORE_TIMEOUT_MS }), 'done');
      return EXIT.OK;
    }
    case 'save': {
      const r = expect(await send([{ op: 'list-services' }]), 'services');
      io.stdout(formatSave(r.services, inv.numeric, io.names));
      return EXIT.OK;
    }
    case 'status': {
      const r = expect(await send([{ op: 'status' }]), 'status');
      io.stdout(formatStatus(r.status));
      return EXIT.OK;
    }
    case 'sysctl': {
      const r = expect(await send([{ op: 'get-sysctl' }]), 'sysctl');
      io.stdout(formatSysctl(r.values));
      return EXIT.OK;
    }
    case 'list': {
      const o = inv.opts;
      if (o.connection) {
        // The title once lvsd answers, then the rows as they stream in.
        let titled = false;
        const title = (): void => {
          if (!titled) io.stdout(formatConnsHeader());
          titled = true;
        };
        const r = expect(await send([{ op: 'list-conns' }], {
          onRows: (rows) => {
            title();
            io.stdout(formatConnRows(rows as ConnInfo[], o, io.names));
          },
        }), 'conns');
        title();
        if (r.conns.length > 0) io.stdout(formatConnRows(r.conns, o, io.names));
      } else if (inv.service) {
        const r = expect(await send([{ op: 'list-services', service: inv.service }]), 'services');
        io.stdout(formatServices(r, { ...o, oneService: true }, io.names));
      } else if (o.timeout) {
        const r = expect(await send([{ op: 'get-timeout' }]), 'timeout');
        io.stdout(formatTimeout(r.timeout));
      } else if (o.daemon) {
        io.stdout(formatDaemons(expect(await send([{ op: 'list-daemons' }]), 'daemons').daemons));
      } else {
        const r = expect(await send([{ op: 'list-services' }]), 'services');
        io.stdout(formatServices(r, o, io.names));
      }
      return EXIT.OK;
    }
  }
}

/** Runs lvsadm with `argv` (without the program name); returns the exit status. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const full: Required<CliIo> = {
    send: (path, commands, opts) => request(path, commands, opts),
    stdinChunks: async function* () {
      yield await io.readStdin();
    },
    names: systemNames(),
    ...io,
  } as Required<CliIo>;
  let inv: ParsedInvocation | undefined;
  try {
    if (isHaInvocation(argv)) {
      const socket = socketArg(argv) ?? defaultSocketPath();
      return await runHa(argv, { send: (cmds) => full.send(socket, cmds), stdout: full.stdout });
    }
    inv = parseArgs(argv, full.names);
    return await run(inv, full, inv.socket ?? defaultSocketPath());
  } catch (err) {
    if (err instanceof LvsadmError) {
      full.stderr(`${err.message}\n`);
      // A failed listing exits 1 as ipvsadm's list functions do; other daemon errors 255.
      const listing = inv !== undefined && (inv.kind === 'list' || inv.kind === 'save' || inv.kind === 'status');
      const daemonReported = !Object.hasOwn(CLIENT_CODES, err.code);
      return listing && daemonReported ? EXIT.LIST : err.exitCode;
    }
    full.stderr(`lvsadm: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.OPERATION;
  }
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer | string) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

if (require.main === module) {
  // The reader of a listing went away (`lvsadm -L -n -c | head`): stop quietly, as ipvsadm
  // does on SIGPIPE, instead of an unhandled EPIPE.
  const quietOnEpipe = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') process.exit(EXIT.OK);
    throw err;
  };
  process.stdout.on('error', quietOnEpipe);
  process.stderr.on('error', quietOnEpipe);
  main(process.argv.slice(2), {
    stdout: (t) => {
      if (!process.stdout.destroyed) process.stdout.write(t);
    },
    stderr: (t) => process.stderr.write(t),
    readStdin: () => readAll(process.stdin),
    stdinChunks: () => process.stdin.setEncoding('utf8') as AsyncIterable<string>,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`lvsadm: ${String(err)}\n`);
      process.exitCode = EXIT.OPERATION;
    },
  );
}
