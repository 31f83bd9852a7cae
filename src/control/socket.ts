/**
 * The control socket: a Unix stream socket carrying JSON lines (protocol in command.ts).
 * Server: one request at a time per connection, answered in order; each request's command
 * list goes to the handler in ONE call (the daemon applies it atomically). Bad input never
 * reaches the handler and never takes the server down: an unparsable or malformed line gets
 * an EPROTO error response, a line longer than MAX_LINE_BYTES gets ETOOLONG and the
 * connection is closed.
 * Access control is the file mode: the socket is created 0600 (umask held at 0177 while
 * binding, then chmod), so only its owner (root for /run/lvsd) can connect.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Command, Request, Response, Result } from './command';
import { EXIT, LvsadmError } from './errors';

/** Longest request or response line accepted (bytes, without the newline). */
export const MAX_LINE_BYTES = 1 << 20;

/** The control socket path: $LVSD_SOCKET, else /run/lvsd/lvsd.sock; read at call time. */
export function defaultSocketPath(): string {
  return process.env.LVSD_SOCKET ?? '/run/lvsd/lvsd.sock';
}

/** The default socket path as read when this module loaded; prefer defaultSocketPath(). */
export const DEFAULT_SOCKET = defaultSocketPath();

/** strerror texts for the errno codes a client or server meets on a Unix socket. */
const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOTDIR: 'Not a directory',
  ENOTSOCK: 'Socket operation on non-socket',
  ECONNRESET: 'Connection reset by peer',
  EPIPE: 'Broken pipe',
  ENAMETOOLONG: 'File name too long',
  EADDRINUSE: 'Address already in use',
};

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return (e.code !== undefined ? STRERROR[e.code] : undefined) ?? e.message ?? String(err);
}

export type ControlHandler = (cmds: Command[]) => Result | Promise<Result>;

/** Splits a byte stream into lines, bounded by MAX_LINE_BYTES; calls back per complete line. */
class LineReader {
  private parts: Buffer[] = [];
  private pending = 0;

  /** Returns false when a line exceeds the bound (the reader is then unusable). */
  push(chunk: Buffer, onLine: (line: string) => void): boolean {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      if (this.pending + (nl - start) > MAX_LINE_BYTES) return false;
      this.parts.push(chunk.subarray(start, nl));
      const line = Buffer.concat(this.parts).toString('utf8');
      this.parts = [];
      this.pending = 0;
      onLine(line);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.pending += chunk.length - start;
      if (this.pending > MAX_LINE_BYTES) return false;
      this.parts.push(chunk.subarray(start));
    }
    return true;
  }
}

function errorResponse(id: number, code: string, message: string): Response {
  return { id, ok: false, error: { code, message } };
}

/** A request line → Request, or an EPROTO response describing what is wrong with it. */
function decodeRequest(line: string): Request | Response {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return errorResponse(0, 'EPROTO', 'request is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return errorResponse(0, 'EPROTO', 'request must be a JSON object');
  }
  const v = value as { id?: unknown; commands?: unknown };
  const id = typeof v.id === 'number' && Number.isSafeInteger(v.id) ? v.id : 0;
  if (id === 0 && v.id !== 0) return errorResponse(0, 'EPROTO', 'request needs an integer "id"');
  if (!Array.isArray(v.commands)) return errorResponse(id, 'EPROTO', 'request needs a "commands" array');
  for (const c of v.commands) {
    if (typeof c !== 'object' || c === null || typeof (c as { op?: unknown }).op !== 'string') {
      return errorResponse(id, 'EPROTO', 'each command needs a string "op"');
    }
  }
  return { id, commands: v.commands as Command[] };
}

/** Handler exception → response: coded errors pass through, anything else is EINTERNAL. */
function failure(id: number, err: unknown): Response {
  const e = err as { code?: unknown; message?: unknown };
  if (e !== null && typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string') {
    return errorResponse(id, e.code, e.message);
  }
  const message = e !== null && typeof e === 'object' && typeof e.message === 'string' ? e.message : String(err);
  return errorResponse(id, 'EINTERNAL', message);
}

/** Connects to `path`; resolves true if something accepts, false if nothing listens there. */
function probe(path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection(path);
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(true); // a listener that accepts slowly is still a listener
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

export class ControlServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly path: string,
    private readonly handler: ControlHandler,
  ) {}

  /**
   * Creates the parent directory (0700) if missing, replaces a stale socket file that nobody
   * answers on, refuses (EADDRINUSE) when another daemon answers or the path is not a socket,
   * then listens with the socket file at mode 0600.
   */
  async listen(): Promise<void> {
    if (this.server) throw new LvsadmError('EINTERNAL', 'control server already listening');
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    let existing;
    try {
      existing = lstatSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (existing) {
      if (!existing.isSocket()) {
        throw new LvsadmError('EADDRINUSE', `${this.path} exists and is not a socket; not replacing it`, EXIT.USAGE);
      }
      if (await probe(this.path, 1000)) {
        throw new LvsadmError('EADDRINUSE', `another lvsd is already answering on ${this.path}`, EXIT.USAGE);
      }
      unlinkSync(this.path);
    }
    const server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      // Node binds synchronously inside listen(); the umask covers the bind only.
      const previous = process.umask(0o177);
      try {
        server.listen(this.path, () => {
          server.off('error', onError);
          resolve();
        });
      } finally {
        process.umask(previous);
      }
    });
    chmodSync(this.path, 0o600);
    server.on('error', () => {
      /* accept errors (EMFILE etc.) must not crash the daemon; the listener stays up */
    });
    this.server = server;
  }

  /** Stops listening, drops open connections, removes the socket file. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }

  private serve(sock: Socket): void {
    this.sockets.add(sock);
    const reader = new LineReader();
    let chain: Promise<void> = Promise.resolve();
    const send = (r: Response): void => {
      if (!sock.destroyed) sock.write(`${JSON.stringify(r)}\n`);
    };
    sock.on('data', (chunk: Buffer) => {
      const ok = reader.push(chunk, (line) => {
        if (line.trim().length === 0) return;
        chain = chain.then(() => this.answer(line)).then(send, () => undefined);
      });
      if (!ok) {
        sock.pause();
        chain.then(() => {
          send(errorResponse(0, 'ETOOLONG', `request line longer than ${MAX_LINE_BYTES} bytes`));
          sock.end();
        });
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
  }

  private async answer(line: string): Promise<Response> {
    const req = decodeRequest(line);
    if ('ok' in req) return req;
    try {
      const result = await this.handler(req.commands);
      return { id: req.id, ok: true, result };
    } catch (err) {
      return failure(req.id, err);
    }
  }
}

let nextId = 1;

/**
 * Sends `commands` as one request and returns the daemon's Result. Throws LvsadmError:
 * ENOTRUNNING when nothing listens at `path`, ETIMEDOUT after `timeoutMs`, EPROTO on a
 * malformed answer, and the daemon's own code and message when it reports an error.
 */
export function request(path: string, commands: Command[], timeoutMs = 5000): Promise<Result> {
  const id = nextId++;
  return new Promise<Result>((resolve, reject) => {
    const sock = createConnection(path);
    const reader = new LineReader();
    let settled = false;
    let connected = false;
    const finish = (err: LvsadmError | undefined, result?: Result): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(result as Result);
    };
    const timer = setTimeout(
      () => finish(new LvsadmError('ETIMEDOUT', `Timed out after ${timeoutMs} ms waiting for lvsd at ${path}`)),
      timeoutMs,
    );
    sock.once('connect', () => {
      connected = true;
      const req: Request = { id, commands };
      sock.write(`${JSON.stringify(req)}\n`);
    });
    sock.on('error', (err) => {
      finish(
        connected
          ? new LvsadmError('EPROTO', `Connection to lvsd at ${path} failed: ${errnoText(err)}`)
          : new LvsadmError('ENOTRUNNING', `Can't connect to lvsd at ${path}: ${errnoText(err)}`),
      );
    });
    sock.on('close', () => finish(new LvsadmError('EPROTO', `lvsd at ${path} closed the connection without answering`)));
    sock.on('data', (chunk: Buffer) => {
      const ok = reader.push(chunk, (line) => {
        let res: Response;
        try {
          res = JSON.parse(line) as Response;
        } catch {
          finish(new LvsadmError('EPROTO', `malformed answer from lvsd at ${path}`));
          return;
        }
        if (typeof res !== 'object' || res === null || typeof res.ok !== 'boolean') {
          finish(new LvsadmError('EPROTO', `malformed answer from lvsd at ${path}`));
        } else if (!res.ok) {
          const e = res.error ?? { code: 'EINTERNAL', message: 'unknown error' };
          finish(new LvsadmError(String(e.code), String(e.message)));
        } else if (res.id !== id) {
          finish(new LvsadmError('EPROTO', `answer from lvsd at ${path} has id ${res.id}, expected ${id}`));
        } else {
          finish(undefined, res.result);
        }
      });
      if (!ok) finish(new LvsadmError('ETOOLONG', `answer from lvsd at ${path} is longer than ${MAX_LINE_BYTES} bytes`));
    });
  });
}
