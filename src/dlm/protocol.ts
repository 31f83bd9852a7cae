/**
 * The lvs-dlm wire protocol (docs/DLM.md is the full description).
 *
 * Every message is one frame over TCP:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                  length (bytes after this field)              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |      op       |               request id ...                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  ... req id   |               payload ...                     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * All integers are big-endian. `length` is 5 + payload length and must lie in
 * [FRAME_HEAD - 4, MAX_FRAME]; a peer that sends anything else is disconnected.
 * Requests carry a client-chosen request id; the server answers each with one REPLY
 * frame carrying the same id, a status code and an op-specific payload.
 */

/** Largest value of the length field. Big enough for a LOCK with a MAX_NAME name. */
export const MAX_FRAME = 1024;
/** Bytes before the payload: length(4) op(1) request id(4). */
export const FRAME_HEAD = 9;
/** Longest lock name in UTF-8 bytes. */
export const MAX_NAME = 255;
export const PROTOCOL_VERSION = 1;
export const NONCE_LEN = 32;
export const MAC_LEN = 32;
export const SESSION_ID_LEN = 16;
/** LOCK timeout value meaning "wait until granted or the session ends". */
export const WAIT_FOREVER = 0xffffffff;

export const Op = {
  /** server → client on accept: u8 version, u8 role, nonce[32]. */
  HELLO: 0x01,
  /** clientNonce[32], mac[32]. Reply OK: serverProof[32]. */
  AUTH: 0x02,
  /** u32 requested lease ms. Reply OK: sessionId[16], u32 granted lease ms. */
  SESSION_OPEN: 0x03,
  /** sessionId[16]. Reply OK: u32 lease ms. */
  SESSION_RESUME: 0x04,
  /** empty. Reply OK: empty. Renews the lease (as does every request of the session). */
  KEEPALIVE: 0x05,
  /** u8 mode, u32 timeout ms (0 = try, WAIT_FOREVER), u16 name length, name. Reply OK: u64 token. */
  LOCK: 0x06,
  /** u64 token, u16 name length, name. Reply OK: empty. */
  UNLOCK: 0x07,
  /** empty. Ends the session now, releasing its locks. Reply OK: empty. */
  SESSION_CLOSE: 0x08,
  /** standby → primary, empty. Reply OK: u32 epoch, u32 max lease ms. */
  REPL_SUBSCRIBE: 0x10,
  /** primary → standby, request id 0: u32 epoch. */
  REPL_HEARTBEAT: 0x11,
  /** server → client: u16 status, payload. */
  REPLY: 0x80,
} as const;

export const ModeCode = { exclusive: 1, shared: 2 } as const;
export type LockMode = keyof typeof ModeCode;
export const MODE_BY_CODE: ReadonlyMap<number, LockMode> = new Map([
  [1, 'exclusive'],
  [2, 'shared'],
]);

export const Role = { primary: 1, standby: 2 } as const;

/**
 * Status codes of REPLY frames. Stable numbers: clients switch on them.
 * `fatal` statuses are followed by the server closing the connection.
 */
export const STATUS = {
  OK: { code: 0, message: 'ok' },
  BAD_FRAME: { code: 1, message: 'malformed frame', fatal: true },
  NOT_AUTHENTICATED: { code: 2, message: 'authenticate first', fatal: true },
  AUTH_FAILED: { code: 3, message: 'authentication failed', fatal: true },
  NO_SESSION: { code: 4, message: 'no session open on this connection' },
  SESSION_UNKNOWN: { code: 5, message: 'no such session (expired or never existed)' },
  TIMEOUT: { code: 6, message: 'lock not granted within the timeout' },
  BUSY: { code: 7, message: 'lock is held or has waiters (try-lock)' },
  NOT_HELD: { code: 8, message: 'this session does not hold that lock with that token' },
  NAME_INVALID: { code: 9, message: 'lock name empty, longer than 255 bytes or not UTF-8' },
  TOO_MANY_SESSIONS: { code: 10, message: 'session limit reached' },
  TOO_MANY_LOCKS: { code: 11, message: 'lock limit reached' },
  TOO_MANY_WAITERS: { code: 12, message: 'waiter limit reached' },
  NOT_PRIMARY: { code: 13, message: 'this server is a standby; try another server' },
  GRACE: { code: 14, message: 'takeover grace period: no grants yet' },
  ALREADY_WAITING: { code: 15, message: 'this session already waits for that lock' },
  ALREADY_HELD: { code: 16, message: 'this session holds that lock in the other mode' },
  STORAGE: { code: 17, message: 'cannot persist the token ceiling' },
  SESSION_EXISTS: { code: 18, message: 'a session is already open on this connection' },
  TOO_MANY_CONNECTIONS: { code: 19, message: 'connection limit reached', fatal: true },
  SESSION_ENDED: { code: 20, message: 'the session ended while waiting' },
  BAD_REQUEST: { code: 21, message: 'unknown op or bad field value', fatal: true },
  DISCONNECTED: { code: 22, message: 'connection to the server lost (client-side status)' },
  NO_SERVER: { code: 23, message: 'no server reachable (client-side status)' },
} as const;

export type StatusName = keyof typeof STATUS;
export type StatusInfo = { code: number; message: string; fatal?: boolean };

const STATUS_BY_CODE = new Map<number, StatusName>(
  (Object.keys(STATUS) as StatusName[]).map((n) => [STATUS[n].code, n]),
);

export function statusName(code: number): StatusName | `UNKNOWN_${number}` {
  return STATUS_BY_CODE.get(code) ?? `UNKNOWN_${code}`;
}

/** A failure with a stable code; callers switch on `code`, never on the message. */
export class DlmError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(status: number, detail?: string) {
    const name = statusName(status);
    const info: StatusInfo | undefined = (STATUS as Record<string, StatusInfo>)[name];
    super(`${name}: ${info?.message ?? 'unknown status'}${detail ? ` (${detail})` : ''}`);
    this.code = name;
    this.status = status;
    this.name = 'DlmError';
  }
}

/** Thrown by Reader on a payload that does not fit its op; the server answers BAD_FRAME. */
export class FrameError extends Error {}

/** Bounds-checked sequential reader over one frame's payload. */
export class Reader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number): number {
    const at = this.off;
    if (at + n > this.buf.length) throw new FrameError('truncated payload');
    this.off = at + n;
    return at;
  }
  u8(): number {
    return this.buf[this.need(1)];
  }
  u16(): number {
    return this.buf.readUInt16BE(this.need(2));
  }
  u32(): number {
    return this.buf.readUInt32BE(this.need(4));
  }
  u64(): bigint {
    return this.buf.readBigUInt64BE(this.need(8));
  }
  bytes(n: number): Buffer {
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }
  /** u16 length-prefixed UTF-8 string; returns null when not 1..MAX_NAME bytes of valid UTF-8. */
  name(): string | null {
    const len = this.u16();
    const raw = this.bytes(len);
    if (len === 0 || len > MAX_NAME) return null;
    const s = raw.toString('utf8');
    return Buffer.byteLength(s, 'utf8') === len && !s.includes('\ufffd') ? s : null;
  }
  end(): void {
    if (this.off !== this.buf.length) throw new FrameError('trailing bytes');
  }
}

/** Builds one frame; payload parts are copied once into a single buffer. */
export function encodeFrame(op: number, reqId: number, ...parts: Buffer[]): Buffer {
  let plen = 0;
  for (const p of parts) plen += p.length;
  const out = Buffer.allocUnsafe(FRAME_HEAD + plen);
  out.writeUInt32BE(5 + plen, 0);
  out[4] = op;
  out.writeUInt32BE(reqId >>> 0, 5);
  let at = FRAME_HEAD;
  for (const p of parts) {
    p.copy(out, at);
    at += p.length;
  }
  return out;
}

export function encodeReply(reqId: number, status: number, payload?: Buffer): Buffer {
  const st = Buffer.allocUnsafe(2);
  st.writeUInt16BE(status, 0);
  return payload ? encodeFrame(Op.REPLY, reqId, st, payload) : encodeFrame(Op.REPLY, reqId, st);
}

export function u8(v: number): Buffer {
  return Buffer.from([v & 0xff]);
}
export function u16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(v, 0);
  return b;
}
export function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}
export function u64(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(v, 0);
  return b;
}
export function nameField(name: string): Buffer {
  const raw = Buffer.from(name, 'utf8');
  return Buffer.concat([u16(raw.length), raw]);
}

export interface Frame {
  op: number;
  reqId: number;
  payload: Buffer;
}

/**
 * Splits a byte stream into frames. `push` returns the complete frames of the chunk, or
 * throws FrameError when a length field is out of range; at most MAX_FRAME + 4 bytes are
 * ever buffered.
 */
export class FrameDecoder {
  private pending: Buffer | null = null;

  push(chunk: Buffer): Frame[] {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Frame[] = [];
    let at = 0;
    while (buf.length - at >= 4) {
      const len = buf.readUInt32BE(at);
      if (len < FRAME_HEAD - 4 || len > MAX_FRAME) throw new FrameError(`frame length ${len}`);
      if (buf.length - at < 4 + len) break;
      out.push({
        op: buf[at + 4],
        reqId: buf.readUInt32BE(at + 5),
        payload: buf.subarray(at + FRAME_HEAD, at + 4 + len),
      });
      at += 4 + len;
    }
    if (at === buf.length) this.pending = null;
    else {
      // Copy the tail so a large chunk is not kept alive by a small remainder.
      buf = buf.subarray(at);
      this.pending = Buffer.from(buf);
    }
    return out;
  }
}

/** "host:port" → parts; accepts "[v6]:port". */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  if (!m) throw new Error(`expected ADDR:PORT, got "${s}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`port out of range in "${s}"`);
  return { host: m[1] ?? m[2], port };
}
