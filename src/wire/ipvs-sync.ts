/**
 * IPVS connection synchronisation messages, protocol version 1 (net/netfilter/ipvs/ip_vs_sync.c,
 * struct ip_vs_sync_mesg and struct ip_vs_sync_v4), IPv4 entries without options.
 *
 * Message header (8 bytes):
 *    0               1               2               3
 *   +---------------+---------------+-------------------------------+
 *   |  reserved = 0 |    syncid     |          size (bytes)         |
 *   +---------------+---------------+-------------------------------+
 *   |   nr_conns    |  version = 1  |       spare (lvsd: seq16)     |
 *   +---------------+---------------+-------------------------------+
 * Entry (36 bytes):
 *   | type = 0 (v4) |   protocol    | ver(4 bits) | entry size (12) |
 *   |                         flags (IP_VS_CONN_F_*)                |
 *   |            state              |            cport              |
 *   |            vport              |            dport              |
 *   |                            fwmark                             |
 *   |                      timeout (seconds)                        |
 *   |                            caddr                              |
 *   |                            vaddr                              |
 *   |                            daddr                              |
 * Sent by UDP to 224.0.0.81:8848 (or unicast). Entries with options (sequence adjustment,
 * persistence-engine data) are skipped by their size; other types are skipped too.
 *
 * lvsd extensions (IPVS has no authentication and no loss detection):
 * - `spare` carries the low 16 bits of the sender's message sequence number (0 = none, as
 *   the kernel sends; the kernel ignores the field), so a backup notices a lost datagram.
 * - With a shared key, a trailer follows the `size` bytes (the kernel drops a datagram whose
 *   length differs from `size`, so keyed messages are for lvsd backups only):
 *     | magic "LVS1" | boot u32 | seq u32 | time u32 (Unix s) | HMAC-SHA256(key, all before)[0..16) |
 *   boot is random per sender start; (boot, seq) and time let the receiver refuse replays.
 * - NACK (backup to the master's source address and port), asking for messages again:
 *     | 0xff | syncid | size u16 | magic "LVSN" | boot u32 | n u8 | 0 0 0 | seq u32 × n |
 *   followed by a 16-byte HMAC of everything before when keyed. Byte 0 = 0xff makes any
 *   IPVS receiver refuse it as a bad version.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SYNC_GROUP = '224.0.0.81';
export const SYNC_PORT = 8848;
export const SYNC_PROTO_VER = 1;
export const SYNC_MESG_HDR_LEN = 8;
export const SYNC_CONN_V4_LEN = 36;
export const SYNC_MAC_LEN = 16;
/** Keyed trailer: magic, boot, seq, time, MAC. */
export const SYNC_TRAILER_LEN = 16 + SYNC_MAC_LEN;
const MAGIC_MESG = 0x4c565331; // "LVS1"
const MAGIC_NACK = 0x4c56534e; // "LVSN"
/** Default payload ceiling: an Ethernet MTU minus IPv4 and UDP headers, minus the trailer. */
export const SYNC_MAX_MESG = 1500 - 20 - 8 - SYNC_TRAILER_LEN;
/** Most sequence numbers one NACK asks for. */
export const SYNC_NACK_MAX = 32;

/** IP_VS_CONN_F_* bits carried on the wire (include/uapi/linux/ip_vs.h). */
export const CONN_F_FWD_MASK = 0x0007;
export const CONN_F_NOOUTPUT = 0x0080;
export const CONN_F_INACTIVE = 0x0100;
export const CONN_F_TEMPLATE = 0x1000;

export interface SyncConn {
  protocol: number;
  flags: number;
  state: number;
  cport: number;
  vport: number;
  dport: number;
  fwmark: number;
  timeoutSec: number;
  /** Host-order IPv4 addresses. */
  caddr: number;
  vaddr: number;
  daddr: number;
}

/** What a sender adds to a message (lvsd extension; see the header comment). */
export interface SyncSeal {
  /** Message sequence number, u32, increasing by one per new message. */
  seq: number;
  /** Random per sender start. */
  boot: number;
  /** Unix time in seconds. */
  time: number;
}

/** Sequence and trailer fields of a received message. */
export interface SyncMeta {
  /** spare: low 16 bits of the sequence number, 0 = none. */
  seq16: number;
  /** Trailer fields; keyed is false when the message had none. */
  keyed: boolean;
  boot: number;
  seq: number;
  time: number;
}

export function newSyncMeta(): SyncMeta {
  return { seq16: 0, keyed: false, boot: 0, seq: 0, time: 0 };
}

/**
 * Stamps message m (as encodeSync made it) with seal: spare = seq16, and with a key the
 * trailer. Returns the datagram to send (m itself when not keyed).
 */
export function sealSync(m: Buffer, seal: SyncSeal, key?: Buffer): Buffer {
  m.writeUInt16BE(seal.seq & 0xffff, 6);
  if (!key) return m;
  const size = m.readUInt16BE(2);
  const b = Buffer.alloc(size + SYNC_TRAILER_LEN);
  m.copy(b, 0, 0, size);
  b.writeUInt32BE(MAGIC_MESG, size);
  b.writeUInt32BE(seal.boot >>> 0, size + 4);
  b.writeUInt32BE(seal.seq >>> 0, size + 8);
  b.writeUInt32BE(seal.time >>> 0, size + 12);
  createHmac('sha256', key).update(b.subarray(0, size + 16)).digest().copy(b, size + 16, 0, SYNC_MAC_LEN);
  return b;
}

/** Packs entries into messages of at most maxLen bytes (sealSync adds sequence and trailer). */
export function encodeSync(syncid: number, conns: readonly SyncConn[], maxLen = SYNC_MAX_MESG): Buffer[] {
  const per = Math.max(1, Math.min(255, Math.floor((maxLen - SYNC_MESG_HDR_LEN) / SYNC_CONN_V4_LEN)));
  const out: Buffer[] = [];
  for (let i = 0; i < conns.length; i += per) {
    const batch = conns.slice(i, i + per);
    const size = SYNC_MESG_HDR_LEN + batch.length * SYNC_CONN_V4_LEN;
    const b = Buffer.alloc(size);
    b[1] = syncid;
    b.writeUInt16BE(size, 2);
    b[4] = batch.length;
    b[5] = SYNC_PROTO_VER;
    let o = SYNC_MESG_HDR_LEN;
    for (const c of batch) {
      b[o] = 0;
      b[o + 1] = c.protocol;
      b.writeUInt16BE(SYNC_CONN_V4_LEN & 0x0fff, o + 2);
      b.writeUInt32BE(c.flags >>> 0, o + 4);
      b.writeUInt16BE(c.state, o + 8);
      b.writeUInt16BE(c.cport, o + 10);
      b.writeUInt16BE(c.vport, o + 12);
      b.writeUInt16BE(c.dport, o + 14);
      b.writeUInt32BE(c.fwmark >>> 0, o + 16);
      b.writeUInt32BE(c.timeoutSec >>> 0, o + 20);
      b.writeUInt32BE(c.caddr >>> 0, o + 24);
      b.writeUInt32BE(c.vaddr >>> 0, o + 28);
      b.writeUInt32BE(c.daddr >>> 0, o + 32);
      o += SYNC_CONN_V4_LEN;
    }
    out.push(b);
  }
  return out;
}

export const SYNC_OK = 0;
export const SYNC_ERR_SHORT = 1;
export const SYNC_ERR_VERSION = 2;
export const SYNC_ERR_SIZE = 3;
export const SYNC_ERR_SYNCID = 4;
export const SYNC_ERR_AUTH = 5;
export const SYNC_ERR_NAMES = ['ok', 'short', 'version', 'size', 'syncid', 'auth'] as const;

/** An empty message (nr_conns 0): sent when idle so that the last sequence number is known. */
export function encodeSyncHeartbeat(syncid: number): Buffer {
  const b = Buffer.alloc(SYNC_MESG_HDR_LEN);
  b[1] = syncid;
  b.writeUInt16BE(SYNC_MESG_HDR_LEN, 2);
  b[5] = SYNC_PROTO_VER;
  return b;
}

/**
 * Decodes one message. `syncid` 0 accepts any. Calls `onConn` for each IPv4 entry (the same
 * object, overwritten: copy what you keep). Returns SYNC_OK or an error code; entries are
 * delivered only when the whole message is well formed.
 */
export function decodeSync(
  b: Buffer, syncid: number, key: Buffer | undefined, onConn: (c: SyncConn) => void, meta?: SyncMeta,
): number {
  if (b.length < SYNC_MESG_HDR_LEN) return SYNC_ERR_SHORT;
  if (b[0] !== 0 || b[5] !== SYNC_PROTO_VER) return SYNC_ERR_VERSION;
  const size = b.readUInt16BE(2);
  if (size < SYNC_MESG_HDR_LEN || size > b.length) return SYNC_ERR_SIZE;
  if (syncid !== 0 && b[1] !== syncid) return SYNC_ERR_SYNCID;
  const keyed = b.length === size + SYNC_TRAILER_LEN && b.readUInt32BE(size) === MAGIC_MESG;
  if (key) {
    if (!keyed) return SYNC_ERR_AUTH;
    const want = createHmac('sha256', key).update(b.subarray(0, size + 16)).digest().subarray(0, SYNC_MAC_LEN);
    if (!timingSafeEqual(want, b.subarray(size + 16, size + SYNC_TRAILER_LEN))) return SYNC_ERR_AUTH;
  }
  if (meta) {
    meta.seq16 = b.readUInt16BE(6);
    meta.keyed = key !== undefined;
    meta.boot = meta.keyed ? b.readUInt32BE(size + 4) : 0;
    meta.seq = meta.keyed ? b.readUInt32BE(size + 8) : 0;
    meta.time = meta.keyed ? b.readUInt32BE(size + 12) : 0;
  }
  const n = b[4];
  // First pass: every entry's size must fit, so that a truncated message delivers nothing.
  let o = SYNC_MESG_HDR_LEN;
  for (let i = 0; i < n; i++) {
    if (o + 4 > size) return SYNC_ERR_SIZE;
    const len = b.readUInt16BE(o + 2) & 0x0fff;
    if (len < 4 || o + len > size) return SYNC_ERR_SIZE;
    o += len;
  }
  const c: SyncConn = { protocol: 0, flags: 0, state: 0, cport: 0, vport: 0, dport: 0, fwmark: 0, timeoutSec: 0, caddr: 0, vaddr: 0, daddr: 0 };
  o = SYNC_MESG_HDR_LEN;
  for (let i = 0; i < n; i++) {
    const len = b.readUInt16BE(o + 2) & 0x0fff;
    const ver = b[o + 2] >> 4;
    if (b[o] === 0 && ver === 0 && len >= SYNC_CONN_V4_LEN) {
      c.protocol = b[o + 1];
      c.flags = b.readUInt32BE(o + 4);
      c.state = b.readUInt16BE(o + 8);
      c.cport = b.readUInt16BE(o + 10);
      c.vport = b.readUInt16BE(o + 12);
      c.dport = b.readUInt16BE(o + 14);
      c.fwmark = b.readUInt32BE(o + 16);
      c.timeoutSec = b.readUInt32BE(o + 20);
      c.caddr = b.readUInt32BE(o + 24);
      c.vaddr = b.readUInt32BE(o + 28);
      c.daddr = b.readUInt32BE(o + 32);
      onConn(c);
    }
    o += len;
  }
  return SYNC_OK;
}

/** A NACK asking sender `boot` for messages `seqs` again (at most SYNC_NACK_MAX). */
export function encodeSyncNack(syncid: number, boot: number, seqs: readonly number[], key?: Buffer): Buffer {
  const n = Math.min(seqs.length, SYNC_NACK_MAX);
  const size = 16 + 4 * n;
  const b = Buffer.alloc(size + (key ? SYNC_MAC_LEN : 0));
  b[0] = 0xff;
  b[1] = syncid;
  b.writeUInt16BE(size, 2);
  b.writeUInt32BE(MAGIC_NACK, 4);
  b.writeUInt32BE(boot >>> 0, 8);
  b[12] = n;
  for (let i = 0; i < n; i++) b.writeUInt32BE(seqs[i] >>> 0, 16 + 4 * i);
  if (key) createHmac('sha256', key).update(b.subarray(0, size)).digest().copy(b, size, 0, SYNC_MAC_LEN);
  return b;
}

/**
 * Decodes a NACK for sender `boot` and syncid (0 = any); calls onSeq per sequence number.
 * Returns SYNC_OK or an error code (wrong boot counts as SYNC_ERR_SYNCID: not ours).
 */
export function decodeSyncNack(
  b: Buffer, syncid: number, boot: number, key: Buffer | undefined, onSeq: (seq: number) => void,
): number {
  if (b.length < 16) return SYNC_ERR_SHORT;
  if (b[0] !== 0xff || b.readUInt32BE(4) !== MAGIC_NACK) return SYNC_ERR_VERSION;
  const size = b.readUInt16BE(2);
  const n = b[12];
  if (n > SYNC_NACK_MAX || size !== 16 + 4 * n || b.length !== size + (key ? SYNC_MAC_LEN : 0)) return SYNC_ERR_SIZE;
  if (key) {
    const want = createHmac('sha256', key).update(b.subarray(0, size)).digest().subarray(0, SYNC_MAC_LEN);
    if (!timingSafeEqual(want, b.subarray(size, size + SYNC_MAC_LEN))) return SYNC_ERR_AUTH;
  }
  if ((syncid !== 0 && b[1] !== syncid) || b.readUInt32BE(8) !== boot >>> 0) return SYNC_ERR_SYNCID;
  for (let i = 0; i < n; i++) onSeq(b.readUInt32BE(16 + 4 * i));
  return SYNC_OK;
}
