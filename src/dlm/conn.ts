/**
 * Client side of one authenticated lvs-dlm connection: TCP with Nagle off, the HELLO/AUTH
 * handshake (auth.ts), request/reply matching by request id, and server pushes.
 * Used by DlmClient and by a standby replicating from its primary.
 */
import { EventEmitter } from 'node:events';
import { connect, Socket } from 'node:net';
import { clientMac, macEqual, newNonce, serverProof } from './auth';
import {
  DlmError,
  Frame,
  FrameDecoder,
  NONCE_LEN,
  Op,
  PROTOCOL_VERSION,
  Reader,
  STATUS,
  encodeFrame,
} from './protocol';

export interface Reply {
  status: number;
  payload: Buffer;
}

interface Pending {
  resolve(r: Reply): void;
  reject(e: Error): void;
}

/** Events: 'push' (Frame) for frames that are not replies; 'close' once. */
export class WireConn extends EventEmitter {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** Role announced in HELLO (protocol.Role). */
  role = 0;

  private constructor(private readonly sock: Socket) {
    super();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Connects, authenticates and verifies the server's proof. Rejects with DlmError
   * NO_SERVER (unreachable, timeout, bad hello) or AUTH_FAILED.
   */
  static open(host: string, port: number, secret: Buffer, timeoutMs: number): Promise<WireConn> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host, port, noDelay: true });
      const wc = new WireConn(sock);
      const decoder = new FrameDecoder();
      let stage: 'hello' | 'auth' | 'ready' = 'hello';
      const clientNonce = newNonce();
      let serverNonce: Buffer | null = null;
      const timer = setTimeout(() => fail(new DlmError(STATUS.NO_SERVER.code, `timeout to ${host}:${port}`)), timeoutMs);
      const fail = (e: Error): void => {
        clearTimeout(timer);
        sock.destroy();
        if (stage !== 'ready') reject(e);
      };
      sock.on('error', (e) => fail(new DlmError(STATUS.NO_SERVER.code, `${host}:${port}: ${e.message}`)));
      sock.on('close', () => {
        clearTimeout(timer);
        if (stage !== 'ready') reject(new DlmError(STATUS.NO_SERVER.code, `${host}:${port} closed`));
        wc.onClose();
      });
      sock.on('data', (chunk: Buffer) => {
        let frames: Frame[];
        try {
          frames = decoder.push(chunk);
        } catch (e) {
          fail(new DlmError(STATUS.BAD_FRAME.code, (e as Error).message));
          return;
        }
        for (const f of frames) {
          if (stage === 'ready') {
            wc.onFrame(f);
            continue;
          }
          try {
            if (stage === 'hello') {
              if (f.op === Op.REPLY) {
                // Refused before the handshake (e.g. TOO_MANY_CONNECTIONS).
                fail(new DlmError(new Reader(f.payload).u16(), `${host}:${port}`));
                return;
              }
              const r = new Reader(f.payload);
              if (f.op !== Op.HELLO || r.u8() !== PROTOCOL_VERSION) throw new Error('bad hello');
              wc.role = r.u8();
              serverNonce = Buffer.from(r.bytes(NONCE_LEN));
              sock.write(encodeFrame(Op.AUTH, 0, clientNonce, clientMac(secret, serverNonce, clientNonce)));
              stage = 'auth';
            } else {
              const r = new Reader(f.payload);
              if (f.op !== Op.REPLY) throw new Error('expected auth reply');
              const status = r.u16();
              if (status !== STATUS.OK.code) {
                fail(new DlmError(status, `${host}:${port}`));
                return;
              }
              if (!macEqual(serverProof(secret, serverNonce!, clientNonce), r.bytes(32))) {
                fail(new DlmError(STATUS.AUTH_FAILED.code, `server ${host}:${port} does not know the secret`));
                return;
              }
              stage = 'ready';
              clearTimeout(timer);
              resolve(wc);
            }
          } catch (e) {
            fail(new DlmError(STATUS.NO_SERVER.code, `${host}:${port}: ${(e as Error).message}`));
            return;
          }
        }
      });
    });
  }

  /** Sends one request; resolves with the reply (any status); rejects DISCONNECTED. */
  request(op: number, ...parts: Buffer[]): Promise<Reply> {
    if (this.closed) return Promise.reject(new DlmError(STATUS.DISCONNECTED.code));
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.sock.write(encodeFrame(op, id, ...parts));
    });
  }

  close(): void {
    this.sock.destroy();
  }

  /** Half-closes after flushing what was written. */
  end(): void {
    this.sock.end();
  }

  private onFrame(f: Frame): void {
    if (f.op === Op.REPLY) {
      const p = this.pending.get(f.reqId);
      if (!p || f.payload.length < 2) {
        if (!p && f.reqId === 0) {
          this.emit('push', f);
          return;
        }
        this.close();
        return;
      }
      this.pending.delete(f.reqId);
      p.resolve({ status: f.payload.readUInt16BE(0), payload: f.payload.subarray(2) });
    } else {
      this.emit('push', f);
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new DlmError(STATUS.DISCONNECTED.code);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.emit('close');
  }
}
