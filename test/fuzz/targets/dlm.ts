/**
 * Fuzz target: the lock manager's wire protocol as the server receives it. Each input is one
 * client connection, handed to the server's accept path as an in-memory socket (so that a
 * run makes millions of connections without the kernel): if the first byte is odd the client
 * first authenticates as a real one would (HELLO nonce, AUTH with the shared secret), then the
 * rest of the input arrives as raw bytes (frames, partial frames, garbage) in chunks whose
 * sizes the second byte chooses.
 *
 * Contract checked: the server never fails inside a request handler (its log has no
 * `handler-error`) nor arms a timer Node cannot hold, and every 256 inputs a well-behaved client still gets a lock.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DlmServer } from '../../../src/dlm/server';
import { clientMac, newNonce } from '../../../src/dlm/auth';
import { encodeFrame, FrameDecoder, NONCE_LEN, Op, STATUS, u8, u16, u32 } from '../../../src/dlm/protocol';

const SECRET = Buffer.from('fuzzing-secret-0123456789');
const errors: string[] = [];
let instance: DlmServer | undefined;
let started: Promise<unknown> | undefined;
let runs = 0;
// A timer the server arms with a delay Node cannot hold fires at once: a bug, not a warning.
process.on('warning', (w) => { if (w.name === 'TimeoutOverflowWarning') errors.push(w.message); });

/** The part of net.Socket the server uses, in memory: what it writes is decoded as frames. */
class MemorySocket extends EventEmitter {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 40000;
  destroyed = false;
  writableLength = 0;
  private readonly dec = new FrameDecoder();
  readonly frames: Array<{ op: number; payload: Buffer }> = [];
  write(b: Buffer): boolean {
    if (!this.destroyed) for (const f of this.dec.push(Buffer.from(b))) this.frames.push(f);
    return true;
  }
  end(b?: Buffer): this {
    if (b) this.write(b);
    this.destroy();
    return this;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit('close', false);
    }
    return this;
  }
  pause(): this { return this; }
  resume(): this { return this; }
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  setTimeout(): this { return this; }
  /** Delivers bytes as the network would. */
  feed(b: Buffer): void {
    if (!this.destroyed) this.emit('data', b);
  }
}

function server(): DlmServer {
  if (!instance) {
    instance = new DlmServer({
      host: '127.0.0.1', port: 0, secret: SECRET, dataDir: mkdtempSync(join(tmpdir(), 'lvs-dlm-fuzz-')),
      // Short leases and room for many sessions: the fuzzer opens thousands a second, and a
      // session outlives its connection by its lease.
      minLeaseMs: 100, maxLeaseMs: 200, maxSessions: 100_000,
      log: (event, fields) => { if (event === 'handler-error') errors.push(JSON.stringify(fields)); },
    });
    started = instance.start();
  }
  return instance;
}

function connect(auth: boolean): MemorySocket {
  const sock = new MemorySocket();
  (server() as unknown as { accept(s: MemorySocket): void }).accept(sock);
  const hello = sock.frames.shift();
  if (!hello || hello.op !== Op.HELLO) throw new Error('no HELLO from the server');
  if (auth) {
    const nonce = newNonce();
    sock.feed(encodeFrame(Op.AUTH, 1, nonce, clientMac(SECRET, hello.payload.subarray(2, 2 + NONCE_LEN), nonce)));
    const ok = sock.frames.shift();
    if (!ok || ok.op !== Op.REPLY || ok.payload.readUInt16BE(0) !== 0) throw new Error('authentication refused');
  }
  return sock;
}

/** A well-behaved client takes a lock of its own: the LOCK reply's status (0 = granted). */
function probe(name: string): number {
  const sock = connect(true);
  try {
    sock.feed(encodeFrame(Op.SESSION_OPEN, 2, u32(1000)));
    const opened = sock.frames.shift();
    if (!opened || opened.payload.readUInt16BE(0) !== 0) return opened ? opened.payload.readUInt16BE(0) : -1;
    const n = Buffer.from(name);
    sock.feed(encodeFrame(Op.LOCK, 3, u8(1), u32(0), u16(n.length), n));
    const locked = sock.frames.shift();
    return locked ? locked.payload.readUInt16BE(0) : -2;
  } finally {
    sock.destroy();
  }
}

export async function fuzz(data: Buffer): Promise<void> {
  server();
  await started;
  const sock = connect(data.length > 0 && (data[0] & 1) === 1);
  const chunk = 1 + (data.length > 1 ? data[1] : 0);
  const raw = data.subarray(Math.min(2, data.length));
  for (let at = 0; at < raw.length && !sock.destroyed; at += chunk) sock.feed(raw.subarray(at, at + chunk));
  sock.destroy();
  if (errors.length > 0) throw new Error(`request handler failed: ${errors.join('; ')}`);
  if (++runs % 256 === 0) {
    // A fresh server grants nothing during its start-up grace period: wait it out.
    let status = probe(`probe-${runs}`);
    for (let tries = 0; status === STATUS.GRACE.code && tries < 60; tries++) {
      await new Promise((r) => setTimeout(r, 100));
      status = probe(`probe-${runs}-${tries}`);
    }
    if (status !== 0) throw new Error(`a well-behaved client no longer gets a lock (status ${status})`);
  }
}

/** Stops the server (for in-process runs such as the regression test). */
export async function close(): Promise<void> {
  await instance?.close();
  instance = undefined;
  started = undefined;
}
