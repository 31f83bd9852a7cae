/**
 * The control socket: a Unix stream socket carrying NDJSON frames (protocol in command.ts).
 *
 * Requests: { id, commands, more? }. A long batch (lvsadm -R) arrives as several frames of one
 * id, every one but the last with "more": true; each frame is validated (schema.ts) and
 * authorized as it arrives, and the whole batch goes to the handler in ONE call after the last
 * frame (the daemon applies it atomically). At most MAX_BATCH_COMMANDS commands per batch.
 *
 * Answers: { id, ok, result } or { id, ok: false, error }; a listing the handler returns as a
 * stream is sent as a header { id, ok: true, stream: KIND, ... }, frames { id, rows: [...] } of
 * at most a few hundred kilobytes, and { id, end: true } (or an error frame). Nothing is
 * buffered whole on either side: the server waits for the socket to drain before producing the
 * next frame, so a client that does not read holds at most one frame and the kernel's socket
 * buffer; it stops reading a client's requests while OUT_HIGH_WATER bytes are queued for it or
 * MAX_QUEUED_LINES requests wait, so a client that sends and never reads cannot grow lvsd.
 *
 * Bad input never reaches the handler and never takes the server down: an unparsable or
 * malformed frame gets an EPROTO error naming the field, a line longer than MAX_LINE_BYTES
 * gets ETOOLONG and the connection is closed.
 *
 * Access: the socket file is created 0600 (umask held at 0177 while binding, then chmod), 0660
 * with the group of `group`, or 0666 with `readAll`; each connection's peer credentials
 * (SO_PEERCRED, SO_PEERGROUPS) decide what it may do: uid 0, the daemon's own uid and members
 * of `group` may change rules, any other peer may only run the read-only ops of schema.ts
 * READ_OPS.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Command, ConnInfo, Request, Response, Result, ServiceInfo, StreamReply } from '../ipvs/command';
import { EXIT, LvsadmError } from './errors';
import { READ_OPS, validateCommands } from './schema';
import { defaultSocketPathFor } from './netns-path';
import { peerCred, type PeerCred } from '../host/privileges';
export type { PeerCred } from '../host/privileges';

/** Longest request or response line accepted (bytes, without the newline). */
export const MAX_LINE_BYTES = 1 << 20;
/** Commands in one batch (all frames of one request id). */
export const MAX_BATCH_COMMANDS = 1 << 21;
/** Commands per request frame the client sends; rows per answer frame the server sends. */
export const FRAME_COMMANDS = 2000;
export const FRAME_ROWS = 1000;
/** Bytes queued for one client above which the server stops reading its requests. */
export const OUT_HIGH_WATER = 256 << 10;
/** Requests read from one client and not answered yet above which its reading stops. */
export const MAX_QUEUED_LINES = 64;

/** The control socket path: $LVSD_SOCKET, else the network namespace's default (netns-path.ts). */
export function defaultSocketPath(): string {
  return process.env.LVSD_SOCKET ?? defaultSocketPathFor();
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

export type { StreamReply } from '../ipvs/command';

export type ControlHandler = (cmds: Command[], peer: PeerCred) => Result | StreamReply | Promise<Result | StreamReply>;

export interface ControlServerOptions {
  /** Group (gid) whose members may change rules; the socket file then has mode 0660 and this group. */
  group?: number;
  /** Any local user may connect (socket mode 0666) and run the read-only ops. */
  readAll?: boolean;
  /** Peer credentials of a connection (tests inject them; default SO_PEERCRED). */
  credentials?: (sock: Socket) => PeerCred;
}

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

interface Frame {
  id: number;
  commands: Command[];
  more: boolean;
}

/** A request line → Frame, or an EPROTO response describing what is wrong with it. */
function decodeFrame(line: string): Frame | Response {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return errorResponse(0, 'EPROTO', 'request is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return errorResponse(0, 'EPROTO', 'request must be a JSON object');
  }
  const v = value as Record<string, unknown>;
  const id = typeof v.id === 'number' && Number.isSafeInteger(v.id) && v.id > 0 ? v.id : 0;
  if (id === 0) return errorResponse(0, 'EPROTO', 'request needs a positive integer "id"');
  for (const k of Object.keys(v)) {
    if (k !== 'id' && k !== 'commands' && k !== 'more') return errorResponse(id, 'EPROTO', `request: unknown field "${k}"`);
  }
  if (v.more !== undefined && v.more !== true) return errorResponse(id, 'EPROTO', 'request: "more" must be true when present');
  const checked = validateCommands(v.commands);
  if (!checked.ok) return errorResponse(id, 'EPROTO', checked.message);
  return { id, commands: checked.commands, more: v.more === true };
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

/** SO_PEERCRED of a Node Unix socket (its libuv handle's fd). */
function socketCredentials(sock: Socket): PeerCred {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('control connection has no file descriptor');
  return peerCred(fd);
}

/** The request whose frames are arriving on one connection. */
interface Batch {
  id: number;
  commands: Command[];
  failedId: number;
}

/** Writes frames to one client, waiting for the socket to drain (never queues more than one). */
class FrameWriter {
  constructor(private readonly sock: Socket) {}

  async write(frame: object): Promise<void> {
    if (this.sock.destroyed) throw new Error('client gone');
    if (this.sock.write(`${JSON.stringify(frame)}\n`)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.sock.off('drain', done);
        this.sock.off('close', gone);
        resolve();
      };
      const gone = (): void => {
        this.sock.off('drain', done);
        this.sock.off('close', gone);
        reject(new Error('client gone'));
      };
      this.sock.on('drain', done);
      this.sock.on('close', gone);
    });
  }
}

export class ControlServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly credentials: (sock: Socket) => PeerCred;

  constructor(
    readonly path: string,
    private readonly handler: ControlHandler,
    private readonly opts: ControlServerOptions = {},
  ) {
    this.credentials = opts.credentials ?? socketCredentials;
  }

  /**
   * Creates the parent directory (0700) if missing (adding search permission for group and
   * others when the socket is shared), replaces a stale socket file that nobody answers on,
   * refuses (EADDRINUSE) when another daemon answers or the path is not a socket, then listens
   * with the socket file at mode 0600, 0660 with the control group's gid, or 0666 with readAll.
   */
  async listen(): Promise<void> {
    if (this.server) throw new LvsadmError('EINTERNAL', 'control server already listening');
    const group = this.opts.group;
    const shared = group !== undefined || this.opts.readAll === true;
    const dir = dirname(this.path);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new LvsadmError('EACCES', `cannot create ${dir}: ${errnoText(err)}`);
    }
    // Others reach a shared socket through its directory: search permission only (no read, no write).
    if (shared) chmodSync(dir, (lstatSync(dir).mode & 0o7777) | 0o011);
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
    if (group !== undefined) chownSync(this.path, process.geteuid?.() ?? 0, group);
    chmodSync(this.path, this.opts.readAll === true ? 0o666 : group !== undefined ? 0o660 : 0o600);
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

  /** Whether `peer` may change rules (uid 0, the daemon's uid, or a member of the control group). */
  mayWrite(peer: PeerCred): boolean {
    if (peer.uid === 0 || peer.uid === process.geteuid?.()) return true;
    const g = this.opts.group;
    return g !== undefined && (peer.gid === g || peer.groups.includes(g));
  }

  private serve(sock: Socket): void {
    let peer: PeerCred;
    try {
      peer = this.credentials(sock);
    } catch {
      sock.destroy();
      return;
    }
    this.sockets.add(sock);
    const reader = new LineReader();
    const out = new FrameWriter(sock);
    const queue: string[] = [];
    let busy = false;
    let tooLong = false;
    const batch: Batch = { id: 0, commands: [], failedId: 0 };

    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        while (queue.length > 0 && !sock.destroyed) {
          await this.frame(queue.shift() as string, peer, batch, out);
          if (queue.length < MAX_QUEUED_LINES / 2 && sock.writableLength < OUT_HIGH_WATER && !tooLong) sock.resume();
        }
        if (tooLong && !sock.destroyed) {
          await out.write(errorResponse(0, 'ETOOLONG', `request line longer than ${MAX_LINE_BYTES} bytes`));
          sock.end();
        } else if (!sock.destroyed) {
          sock.resume(); // everything read is answered and written out
        }
      } catch {
        sock.destroy(); // the client went away mid-answer
      } finally {
        busy = false;
      }
    };
    sock.on('data', (chunk: Buffer) => {
      if (tooLong) return;
      const ok = reader.push(chunk, (line) => {
        if (line.trim().length > 0) queue.push(line);
      });
      if (!ok) tooLong = true;
      if (!ok || queue.length >= MAX_QUEUED_LINES || sock.writableLength >= OUT_HIGH_WATER) sock.pause();
      void pump();
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
  }

  /**
   * One request frame: validated, authorized, added to the open batch or answered. A batch
   * answered with an error leaves its id in failedId: its remaining frames are dropped.
   */
  private async frame(line: string, peer: PeerCred, batch: Batch, out: FrameWriter): Promise<void> {
    const f = decodeFrame(line);
    const refuse = async (r: Response): Promise<void> => {
      batch.failedId = r.id;
      batch.id = 0;
      batch.commands = [];
      await out.write(r);
    };
    if ('ok' in f) {
      await refuse(f);
      return;
    }
    if (f.id === batch.failedId) return;
    batch.failedId = 0;
    if (batch.id !== 0 && f.id !== batch.id) {
      await refuse(errorResponse(f.id, 'EPROTO', `request ${f.id} arrived while request ${batch.id} had more frames to come`));
      return;
    }
    if (!this.mayWrite(peer)) {
      const write = f.commands.find((c) => !READ_OPS.has(c.op));
      if (write !== undefined) {
        await refuse(errorResponse(f.id, 'EPERM',
          `Permission denied: uid ${peer.uid} may only read (${write.op} needs root or the control group)`));
        return;
      }
    }
    if (batch.commands.length + f.commands.length > MAX_BATCH_COMMANDS) {
      await refuse(errorResponse(f.id, 'E2BIG', `more than ${MAX_BATCH_COMMANDS} commands in one request`));
      return;
    }
    for (const c of f.commands) batch.commands.push(c);
    if (f.more) {
      batch.id = f.id;
      return;
    }
    const commands = batch.commands;
    batch.id = 0;
    batch.commands = [];
    let reply: Result | StreamReply;
    try {
      reply = await this.handler(commands, peer);
    } catch (err) {
      await out.write(failure(f.id, err));
      return;
    }
    if (reply.kind !== 'stream') {
      await out.write({ id: f.id, ok: true, result: reply });
      return;
    }
    await out.write(reply.of === 'services'
      ? { id: f.id, ok: true, stream: 'services', tableSize: reply.tableSize }
      : { id: f.id, ok: true, stream: 'conns' });
    try {
      for await (const rows of reply.rows as AsyncIterable<unknown[]>) {
        for (let i = 0; i < rows.length; i += FRAME_ROWS) await out.write({ id: f.id, rows: rows.slice(i, i + FRAME_ROWS) });
      }
    } catch (err) {
      if ((err as Error).message === 'client gone') throw err;
      await out.write(failure(f.id, err));
      return;
    }
    await out.write({ id: f.id, end: true });
  }
}

let nextId = 1;

export interface RequestOptions {
  /** Milliseconds without any frame from lvsd after which the request fails (ETIMEDOUT). */
  timeoutMs?: number;
  /** Rows of a streamed listing, as they arrive; without it they are collected into the Result. */
  onRows?: (rows: unknown[]) => void;
}

/** Merges service rows: consecutive rows of the same service carry further real servers. */
function appendServices(into: ServiceInfo[], rows: ServiceInfo[]): void {
  for (const s of rows) {
    const last = into[into.length - 1];
    if (last && last.proto === s.proto && last.addr === s.addr && last.port === s.port && last.fwmark === s.fwmark) {
      for (const d of s.dests) last.dests.push(d);
    } else {
      into.push(s);
    }
  }
}

/**
 * Sends `commands` as one request (in frames of FRAME_COMMANDS, waiting for the socket to
 * drain between them) and returns the daemon's Result. A streamed listing is collected into
 * its Result, or handed to opts.onRows as it arrives (the Result then has no rows). Throws
 * LvsadmError: ENOTRUNNING when nothing listens at `path`, ETIMEDOUT after `timeoutMs` without
 * a frame, EPROTO on a malformed answer, and the daemon's own code and message when it
 * reports an error.
 */
export function request(path: string, commands: Command[], timeoutOrOpts: number | RequestOptions = 5000): Promise<Result> {
  const opts: RequestOptions = typeof timeoutOrOpts === 'number' ? { timeoutMs: timeoutOrOpts } : timeoutOrOpts;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const id = nextId++;
  return new Promise<Result>((resolve, reject) => {
    const sock = createConnection(path);
    const reader = new LineReader();
    let settled = false;
    let connected = false;
    let stream: { kind: 'conns'; conns: ConnInfo[] } | { kind: 'services'; tableSize: number; services: ServiceInfo[] } | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: LvsadmError | undefined, result?: Result): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(result as Result);
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(
        () => finish(new LvsadmError('ETIMEDOUT', `Timed out after ${timeoutMs} ms waiting for lvsd at ${path}`)),
        timeoutMs,
      );
    };
    arm();
    const sendAll = async (): Promise<void> => {
      for (let i = 0; i === 0 || i < commands.length; i += FRAME_COMMANDS) {
        const part = commands.slice(i, i + FRAME_COMMANDS);
        const more = i + FRAME_COMMANDS < commands.length;
        const req: Request & { more?: true } = more ? { id, commands: part, more: true } : { id, commands: part };
        if (settled) return;
        if (!sock.write(`${JSON.stringify(req)}\n`)) {
          await new Promise<void>((r) => {
            const done = (): void => {
              sock.off('drain', done);
              sock.off('close', done);
              r();
            };
            sock.on('drain', done);
            sock.on('close', done);
          });
        }
        arm();
      }
    };
    sock.once('connect', () => {
      connected = true;
      void sendAll();
    });
    sock.on('error', (err) => {
      finish(
        connected
          ? new LvsadmError('EPROTO', `Connection to lvsd at ${path} failed: ${errnoText(err)}`)
          : new LvsadmError('ENOTRUNNING', `Can't connect to lvsd at ${path}: ${errnoText(err)}`),
      );
    });
    sock.on('close', () => finish(new LvsadmError('EPROTO', `lvsd at ${path} closed the connection without answering`)));
    const malformed = (): void => finish(new LvsadmError('EPROTO', `malformed answer from lvsd at ${path}`));
    const onLine = (line: string): void => {
      if (settled) return;
      let f: Record<string, unknown>;
      try {
        f = JSON.parse(line) as Record<string, unknown>;
      } catch {
        malformed();
        return;
      }
      if (typeof f !== 'object' || f === null) return malformed();
      if (f.ok === false) {
        const e = (f.error ?? { code: 'EINTERNAL', message: 'unknown error' }) as { code: unknown; message: unknown };
        finish(new LvsadmError(String(e.code), String(e.message)));
        return;
      }
      if (f.id !== id) {
        finish(new LvsadmError('EPROTO', `answer from lvsd at ${path} has id ${String(f.id)}, expected ${id}`));
        return;
      }
      if (f.ok === true && f.stream === undefined) {
        if (typeof f.result !== 'object' || f.result === null) return malformed();
        finish(undefined, f.result as Result);
      } else if (f.ok === true && f.stream === 'conns') {
        stream = { kind: 'conns', conns: [] };
      } else if (f.ok === true && f.stream === 'services' && typeof f.tableSize === 'number') {
        stream = { kind: 'services', tableSize: f.tableSize, services: [] };
      } else if (stream && Array.isArray(f.rows)) {
        if (opts.onRows) opts.onRows(f.rows);
        else if (stream.kind === 'conns') for (const r of f.rows as ConnInfo[]) stream.conns.push(r);
        else appendServices(stream.services, f.rows as ServiceInfo[]);
      } else if (stream && f.end === true) {
        finish(undefined, stream);
      } else {
        malformed();
      }
    };
    sock.on('data', (chunk: Buffer) => {
      arm();
      const ok = reader.push(chunk, onLine);
      if (!ok) finish(new LvsadmError('ETOOLONG', `answer from lvsd at ${path} is longer than ${MAX_LINE_BYTES} bytes`));
    });
  });
}
