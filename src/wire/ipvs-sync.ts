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
 *
 * Scale-out extensions (docs/SCALEOUT.md):
 * - Origin: an entry may carry an optional parameter (type OPT_ORIGIN = 0x50: bit
 *   IPVS_OPT_F_PARAM 0x40 set, so the kernel skips it as optional) with the sender's
 *   IPv4 address, the director whose datapath handled the connection:
 *     | 0x50 | len 6 | origin u32 | 0 0 |        (entry size 36 + 8 = 44)
 *   Entries are padded to 4 bytes, as ip_vs_process_message steps over them.
 * - Bulk resync request, multicast to the group by a starting director from a socket of
 *   its own (the answers come back to that address and port):
 *     | 0xfe | syncid | 0 0 | magic "LVSR" | nonce u32 | time u32 (Unix s) | [HMAC 16] |
 * - Dump, unicast to the requester, paced: a whole v1 message (as encodeSync makes it)
 *   wrapped in
 *     | 0xfd | syncid | 0 0 | magic "LVSD" | nonce u32 | index u16 | flags u8 (1 = last) | 0 |
 *     | v1 message (its own size field) | [HMAC 16 of everything before] |
 *   index counts the dump's messages from 0, so the requester sees a lost one.
 *   Byte 0 (0xfe, 0xfd) fails the kernel's v1 test and a size field of 0 fails its length
 *   test: a kernel backup drops both.
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
/** Optional parameter of an entry carrying its origin (IPVS_OPT_F_PARAM | 0x10). */
export const OPT_ORIGIN = 0x50;
/** An entry with the origin parameter. */
export const SYNC_CONN_V4_ORIGIN_LEN = SYNC_CONN_V4_LEN + 8;
const MAGIC_REQUEST = 0x4c565352; // "LVSR"
const MAGIC_DUMP = 0x4c565344; // "LVSD"
export const SYNC_REQUEST_LEN = 16;
export const SYNC_DUMP_HDR_LEN = 16;
/** Dump flag: the last message of the dump. */
export const DUMP_F_LAST = 1;
/** Entries per dump message: a dump datagram with its MAC stays within an Ethernet MTU. */
export const SYNC_DUMP_MAX_CONNS = Math.floor((1500 - 20 - 8 - SYNC_DUMP_HDR_LEN - SYNC_MAC_LEN - SYNC_MESG_HDR_LEN)
  / SYNC_CONN_V4_ORIGIN_LEN);

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
  /** The director that handled the connection (OPT_ORIGIN), when the entry carries one. */
  origin?: number;
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

/**
 * Packs entries into messages of at most maxLen bytes (sealSync adds sequence and trailer).
 * With `origin` (non-zero) every entry carries it (OPT_ORIGIN); else an entry's own origin
 * field, if any.
 */
export function encodeSync(syncid: number, conns: readonly SyncConn[], maxLen = SYNC_MAX_MESG, origin = 0): Buffer[] {
  const entryLen = (c: SyncConn): number => ((origin || c.origin) ? SYNC_CONN_V4_ORIGIN_LEN : SYNC_CONN_V4_LEN);
  const widest = origin !== 0 || conns.some((c) => c.origin) ? SYNC_CONN_V4_ORIGIN_LEN : SYNC_CONN_V4_LEN;
  const per = Math.max(1, Math.min(255, Math.floor((maxLen - SYNC_MESG_HDR_LEN) / widest)));
  const out: Buffer[] = [];
  for (let i = 0; i < conns.length; i += per) {
    const batch = conns.slice(i, i + per);
    let size = SYNC_MESG_HDR_LEN;
    for (const c of batch) size += entryLen(c);
    const b = Buffer.alloc(size);
    b[1] = syncid;
    b.writeUInt16BE(size, 2);
    b[4] = batch.length;
    b[5] = SYNC_PROTO_VER;
    let o = SYNC_MESG_HDR_LEN;
    for (const c of batch) {
      const len = entryLen(c);
      b[o] = 0;
      b[o + 1] = c.protocol;
      b.writeUInt16BE(len & 0x0fff, o + 2);
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
      if (len === SYNC_CONN_V4_ORIGIN_LEN) {
        b[o + 36] = OPT_ORIGIN;
        b[o + 37] = 6;
        b.writeUInt32BE((origin || c.origin || 0) >>> 0, o + 38);
      }
      o += len;
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
  // Entries are padded to 4 bytes (ip_vs_process_message steps by the aligned size).
  let o = SYNC_MESG_HDR_LEN;
  for (let i = 0; i < n; i++) {
    if (o + 4 > size) return SYNC_ERR_SIZE;
    const len = b.readUInt16BE(o + 2) & 0x0fff;
    if (len < 4 || o + len > size) return SYNC_ERR_SIZE;
    o += (len + 3) & ~3;
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
      const origin = entryOrigin(b, o + SYNC_CONN_V4_LEN, o + len);
      if (origin !== 0) c.origin = origin;
      else if (c.origin !== undefined) delete c.origin;
      onConn(c);
    }
    o += (len + 3) & ~3;
  }
  return SYNC_OK;
}

/** The OPT_ORIGIN value among the options in b[from..end), 0 when absent or malformed. */
function entryOrigin(b: Buffer, from: number, end: number): number {
  let p = from;
  while (p + 2 <= end) {
    const type = b[p];
    const len = b[p + 1];
    if (len === 0 || p + 2 + len > end) return 0;
    if (type === OPT_ORIGIN && len >= 4) return b.readUInt32BE(p + 2);
    p += 2 + len;
  }
  return 0;
}

function mac(key: Buffer, b: Buffer, end: number): Buffer {
  return createHmac('sha256', key).update(b.subarray(0, end)).digest().subarray(0, SYNC_MAC_LEN);
}

/** A bulk resync request (see the header comment). */
export function encodeSyncRequest(syncid: number, nonce: number, time: number, key?: Buffer): Buffer {
  const b = Buffer.alloc(SYNC_REQUEST_LEN + (key ? SYNC_MAC_LEN : 0));
  b[0] = 0xfe;
  b[1] = syncid;
  b.writeUInt32BE(MAGIC_REQUEST, 4);
  b.writeUInt32BE(nonce >>> 0, 8);
  b.writeUInt32BE(time >>> 0, 12);
  if (key) mac(key, b, SYNC_REQUEST_LEN).copy(b, SYNC_REQUEST_LEN);
  return b;
}

export interface SyncRequest {
  nonce: number;
  time: number;
}

/** Whether b is a resync request (by its first byte and magic), before any other check. */
export function isSyncRequest(b: Buffer): boolean {
  return b.length >= 8 && b[0] === 0xfe && b.readUInt32BE(4) === MAGIC_REQUEST;
}

/** Decodes a resync request into out; SYNC_OK or an error code. syncid 0 accepts any. */
export function decodeSyncRequest(b: Buffer, syncid: number, key: Buffer | undefined, out: SyncRequest): number {
  if (b.length < SYNC_REQUEST_LEN) return SYNC_ERR_SHORT;
  if (!isSyncRequest(b) || b[2] !== 0 || b[3] !== 0) return SYNC_ERR_VERSION;
  if (b.length !== SYNC_REQUEST_LEN + (key ? SYNC_MAC_LEN : 0)) return SYNC_ERR_SIZE;
  if (key && !timingSafeEqual(mac(key, b, SYNC_REQUEST_LEN), b.subarray(SYNC_REQUEST_LEN))) return SYNC_ERR_AUTH;
  if (syncid !== 0 && b[1] !== syncid) return SYNC_ERR_SYNCID;
  out.nonce = b.readUInt32BE(8);
  out.time = b.readUInt32BE(12);
  return SYNC_OK;
}

/** One dump message around v1 message `m` (encodeSync's). */
export function encodeSyncDump(syncid: number, nonce: number, index: number, last: boolean, m: Buffer, key?: Buffer): Buffer {
  const end = SYNC_DUMP_HDR_LEN + m.length;
  const b = Buffer.alloc(end + (key ? SYNC_MAC_LEN : 0));
  b[0] = 0xfd;
  b[1] = syncid;
  b.writeUInt32BE(MAGIC_DUMP, 4);
  b.writeUInt32BE(nonce >>> 0, 8);
  b.writeUInt16BE(index & 0xffff, 12);
  b[14] = last ? DUMP_F_LAST : 0;
  m.copy(b, SYNC_DUMP_HDR_LEN);
  if (key) mac(key, b, end).copy(b, end);
  return b;
}

export interface SyncDumpMeta {
  nonce: number;
  index: number;
  last: boolean;
}

/**
 * Decodes a dump message: checks its frame (magic, syncid, MAC) and the v1 message inside,
 * then calls onConn per entry. SYNC_OK or an error code; nothing is delivered on an error.
 */
export function decodeSyncDump(b: Buffer, syncid: number, key: Buffer | undefined, meta: SyncDumpMeta,
  onConn: (c: SyncConn) => void, accept: (meta: SyncDumpMeta) => boolean = () => true): number {
  if (b.length < SYNC_DUMP_HDR_LEN + SYNC_MESG_HDR_LEN) return SYNC_ERR_SHORT;
  if (b[0] !== 0xfd || b.readUInt32BE(4) !== MAGIC_DUMP || b[2] !== 0 || b[3] !== 0) return SYNC_ERR_VERSION;
  const inner = b.readUInt16BE(SYNC_DUMP_HDR_LEN + 2);
  const end = SYNC_DUMP_HDR_LEN + inner;
  if (inner < SYNC_MESG_HDR_LEN || b.length !== end + (key ? SYNC_MAC_LEN : 0)) return SYNC_ERR_SIZE;
  if (key && !timingSafeEqual(mac(key, b, end), b.subarray(end))) return SYNC_ERR_AUTH;
  if (syncid !== 0 && b[1] !== syncid) return SYNC_ERR_SYNCID;
  meta.nonce = b.readUInt32BE(8);
  meta.index = b.readUInt16BE(12);
  meta.last = (b[14] & DUMP_F_LAST) !== 0;
  const m = b.subarray(SYNC_DUMP_HDR_LEN, end);
  // The whole inner message must be well formed before anything is delivered.
  const rc = decodeSync(m, syncid, undefined, () => undefined);
  if (rc !== SYNC_OK) return rc;
  if (!accept(meta)) return SYNC_OK;
  return decodeSync(m, syncid, undefined, onConn);
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
