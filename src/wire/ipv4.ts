/**
 * IPv4 header view (RFC 791 §3.1) and the wire-level drop reasons shared by all of src/wire.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |Version|  IHL  |Type of Service|          Total Length         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |         Identification        |Flags|      Fragment Offset    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Time to Live |    Protocol   |         Header Checksum       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                       Source Address                          |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Destination Address                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Options                    |    Padding    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *    Flags: bit 0 reserved (0), bit 1 DF, bit 2 MF. Fragment offset in units of 8 octets.
 *
 * Accessors take (buf, off) with off the first byte of the IP header; they do not check
 * bounds. Contract: after ipv4Check(buf, off, available) returns WIRE_OK, every accessor
 * here reads inside buf[off .. off+ipv4TotalLen), and the L4 header starts at
 * off + ipv4HeaderLen. Addresses are uint32 in host order (as src/ipvs/types.ts), except
 * from the *I32 getters of the packet path: the same 32 bits as a signed int32, which V8
 * keeps in a register or a small integer where a uint32 of 2^31 and above (128.0.0.0 and
 * up, 198.18.0.0/15 among them) would be boxed as a heap number. `a >>> 0` turns one into
 * the other; setters and checksum helpers take either.
 */

import { csumPartial, csumReplace16, ipv4HeaderChecksum } from './checksum';

export const IPV4_OFF_VER_IHL = 0;
export const IPV4_OFF_TOS = 1;
export const IPV4_OFF_TOTAL_LEN = 2;
export const IPV4_OFF_ID = 4;
export const IPV4_OFF_FLAGS_FRAG = 6;
export const IPV4_OFF_TTL = 8;
export const IPV4_OFF_PROTO = 9;
export const IPV4_OFF_CHECK = 10;
export const IPV4_OFF_SRC = 12;
export const IPV4_OFF_DST = 16;
/** Length of a header without options (IHL 5). */
export const IPV4_MIN_HDR_LEN = 20;
/** Masks of the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAG_OFF_MASK = 0x1fff;
/** Type of service precedence "internetwork control" (RFC 791), used on ICMP errors. */
export const IPTOS_PREC_INTERNETCONTROL = 0xc0;

// ---------------------------------------------------------------------------------------
// Drop reasons. 0 is "accept"; every other code names a counter (lvsadm --drops). The
// codes are dense so that a counter array can be indexed by them.
// ---------------------------------------------------------------------------------------

export const WIRE_OK = 0;
/** Fewer than 20 bytes available for the IPv4 header. */
export const DROP_SHORT = 1;
/** Version field is not 4. */
export const DROP_VERSION = 2;
/** IHL < 5, or IHL*4 greater than the total length. */
export const DROP_IHL = 3;
/** Total length < 20 or greater than the bytes available. */
export const DROP_TOTAL_LEN = 4;
/** IPv4 header checksum does not verify. */
export const DROP_HDR_CSUM = 5;
/** TCP: fewer than 20 bytes of L4 data. */
export const DROP_TCP_SHORT = 6;
/** TCP: data offset < 5 or header longer than the L4 data. */
export const DROP_TCP_DOFF = 7;
/** UDP: fewer than 8 bytes of L4 data. */
export const DROP_UDP_SHORT = 8;
/** UDP: length field < 8 or greater than the L4 data. */
export const DROP_UDP_LEN = 9;
/** ICMP: fewer than 8 bytes of L4 data. */
export const DROP_ICMP_SHORT = 10;
/** ICMP: checksum does not verify. */
export const DROP_ICMP_CSUM = 11;
/** A fragment (MF set or offset != 0); wire checks do not reject these, the pipeline may. */
export const DROP_FRAGMENT = 12;

/** Counter names indexed by code; WIRE_DROP_NAMES[WIRE_OK] is "ok". */
export const WIRE_DROP_NAMES: readonly string[] = Object.freeze([
  'ok',
  'ip-short',
  'ip-version',
  'ip-ihl',
  'ip-total-len',
  'ip-hdr-csum',
  'tcp-short',
  'tcp-doff',
  'udp-short',
  'udp-len',
  'icmp-short',
  'icmp-csum',
  'ip-fragment',
]);

/** Number of codes (WIRE_OK included): the length of a counter array indexed by code. */
export const WIRE_DROP_COUNT = WIRE_DROP_NAMES.length;

// ---------------------------------------------------------------------------------------
// Getters
// ---------------------------------------------------------------------------------------

export function ipv4Version(buf: Uint8Array, off: number): number {
  return buf[off] >>> 4;
}

/** Header length in 32-bit words. */
export function ipv4Ihl(buf: Uint8Array, off: number): number {
  return buf[off] & 0x0f;
}

/** Header length in bytes (IHL * 4). */
export function ipv4HeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off] & 0x0f) << 2;
}

export function ipv4Tos(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_OFF_TOS];
}

export function ipv4TotalLen(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_OFF_TOTAL_LEN] << 8) | buf[off + IPV4_OFF_TOTAL_LEN + 1];
}

export function ipv4Id(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_OFF_ID] << 8) | buf[off + IPV4_OFF_ID + 1];
}

/** The whole flags/fragment-offset word; mask with IPV4_FLAG_* / IPV4_FRAG_OFF_MASK. */
export function ipv4FlagsFrag(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_OFF_FLAGS_FRAG] << 8) | buf[off + IPV4_OFF_FLAGS_FRAG + 1];
}

export function ipv4Df(buf: Uint8Array, off: number): boolean {
  return (buf[off + IPV4_OFF_FLAGS_FRAG] & (IPV4_FLAG_DF >>> 8)) !== 0;
}

export function ipv4Mf(buf: Uint8Array, off: number): boolean {
  return (buf[off + IPV4_OFF_FLAGS_FRAG] & (IPV4_FLAG_MF >>> 8)) !== 0;
}

/** Fragment offset in bytes (the field counts 8-octet units). */
export function fragOffset(buf: Uint8Array, off: number): number {
  return (ipv4FlagsFrag(buf, off) & IPV4_FRAG_OFF_MASK) << 3;
}

/** True for any fragment: MF set or fragment offset != 0 (RFC 791). */
export function isFragment(buf: Uint8Array, off: number): boolean {
  return (ipv4FlagsFrag(buf, off) & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK)) !== 0;
}

export function ipv4Ttl(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_OFF_TTL];
}

export function ipv4Proto(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_OFF_PROTO];
}

/** The header checksum field as stored. */
export function ipv4Checksum(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_OFF_CHECK] << 8) | buf[off + IPV4_OFF_CHECK + 1];
}

function readU32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

function writeU32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = v >>> 16;
  buf[o + 2] = v >>> 8;
  buf[o + 3] = v;
}

export function ipv4Src(buf: Uint8Array, off: number): number {
  return readU32(buf, off + IPV4_OFF_SRC);
}

export function ipv4Dst(buf: Uint8Array, off: number): number {
  return readU32(buf, off + IPV4_OFF_DST);
}

/** The source address as int32 (the packet path's form; see the contract above). */
export function ipv4SrcI32(buf: Uint8Array, off: number): number {
  const o = off + IPV4_OFF_SRC;
  return (buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3];
}

/** The destination address as int32. */
export function ipv4DstI32(buf: Uint8Array, off: number): number {
  const o = off + IPV4_OFF_DST;
  return (buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3];
}

// ---------------------------------------------------------------------------------------
// Raw setters: they write the field only. Fix the header checksum afterwards with
// ipv4FillChecksum, or use the natSet* helpers of checksum.ts that update it incrementally.
// ---------------------------------------------------------------------------------------

export function ipv4SetVersionIhl(buf: Uint8Array, off: number, version: number, ihl: number): void {
  buf[off] = (version << 4) | (ihl & 0x0f);
}

export function ipv4SetTos(buf: Uint8Array, off: number, tos: number): void {
  buf[off + IPV4_OFF_TOS] = tos;
}

export function ipv4SetTotalLen(buf: Uint8Array, off: number, len: number): void {
  buf[off + IPV4_OFF_TOTAL_LEN] = len >>> 8;
  buf[off + IPV4_OFF_TOTAL_LEN + 1] = len;
}

export function ipv4SetId(buf: Uint8Array, off: number, id: number): void {
  buf[off + IPV4_OFF_ID] = id >>> 8;
  buf[off + IPV4_OFF_ID + 1] = id;
}

export function ipv4SetFlagsFrag(buf: Uint8Array, off: number, word: number): void {
  buf[off + IPV4_OFF_FLAGS_FRAG] = word >>> 8;
  buf[off + IPV4_OFF_FLAGS_FRAG + 1] = word;
}

export function ipv4SetTtl(buf: Uint8Array, off: number, ttl: number): void {
  buf[off + IPV4_OFF_TTL] = ttl;
}

export function ipv4SetProto(buf: Uint8Array, off: number, proto: number): void {
  buf[off + IPV4_OFF_PROTO] = proto;
}

export function ipv4SetChecksum(buf: Uint8Array, off: number, check: number): void {
  buf[off + IPV4_OFF_CHECK] = check >>> 8;
  buf[off + IPV4_OFF_CHECK + 1] = check;
}

export function ipv4SetSrc(buf: Uint8Array, off: number, addr: number): void {
  writeU32(buf, off + IPV4_OFF_SRC, addr);
}

export function ipv4SetDst(buf: Uint8Array, off: number, addr: number): void {
  writeU32(buf, off + IPV4_OFF_DST, addr);
}

/** Computes and stores the header checksum over IHL*4 bytes. */
export function ipv4FillChecksum(buf: Uint8Array, off: number): void {
  ipv4SetChecksum(buf, off, ipv4HeaderChecksum(buf, off, ipv4HeaderLen(buf, off)));
}

/**
 * Decrements the TTL and updates the header checksum incrementally (RFC 1624: TTL is the
 * high byte of the TTL/protocol word). Returns the new TTL. Precondition: TTL > 0.
 */
export function ipv4DecTtl(buf: Uint8Array, off: number): number {
  const o = off + IPV4_OFF_TTL;
  const oldW = (buf[o] << 8) | buf[o + 1];
  const ttl = buf[o] - 1;
  buf[o] = ttl;
  ipv4SetChecksum(buf, off, csumReplace16(ipv4Checksum(buf, off), oldW, oldW - 0x100));
  return ttl;
}

// ---------------------------------------------------------------------------------------
// Validation (RFC 1812 §5.2.2)
// ---------------------------------------------------------------------------------------

/**
 * Validates the IPv4 header at off with `available` bytes of buffer from off:
 * available >= 20, version 4, IHL >= 5, 20 <= total length <= available, IHL*4 <= total
 * length, and a header checksum that verifies. Returns WIRE_OK or a DROP_* code.
 * Trailing bytes beyond the total length (link padding) are allowed; use ipv4TotalLen.
 * Fragments pass; test isFragment separately.
 */
export function ipv4Check(buf: Uint8Array, off: number, available: number): number {
  if (available < IPV4_MIN_HDR_LEN) return DROP_SHORT;
  const vi = buf[off];
  if (vi >>> 4 !== 4) return DROP_VERSION;
  const hl = (vi & 0x0f) << 2;
  if (hl < IPV4_MIN_HDR_LEN) return DROP_IHL;
  const tl = ipv4TotalLen(buf, off);
  if (tl < IPV4_MIN_HDR_LEN || tl > available) return DROP_TOTAL_LEN;
  if (hl > tl) return DROP_IHL;
  if (csumPartial(buf, off, hl) !== 0xffff) return DROP_HDR_CSUM;
  return WIRE_OK;
}

/** True when the header checksum over IHL*4 bytes verifies. */
export function ipv4ChecksumOk(buf: Uint8Array, off: number): boolean {
  return csumPartial(buf, off, ipv4HeaderLen(buf, off)) === 0xffff;
}

// ---------------------------------------------------------------------------------------
// Repr: a plain value for headers the director builds (outer IPIP headers, ICMP errors)
// and for tests. Not for the per-packet fast path.
// ---------------------------------------------------------------------------------------

export interface Ipv4Repr {
  src: number;
  dst: number;
  proto: number;
  ttl: number;
  id: number;
  df: boolean;
  /** Total length of the datagram (header + payload). */
  totalLen: number;
  /** Type of service; 0 when absent. */
  tos?: number;
}

/**
 * Writes a 20-byte header (no options, MF 0, fragment offset 0) with its checksum.
 * Returns IPV4_MIN_HDR_LEN. Every header byte is written.
 */
export function emitIpv4Header(buf: Uint8Array, off: number, r: Ipv4Repr): number {
  buf[off] = 0x45;
  buf[off + IPV4_OFF_TOS] = r.tos ?? 0;
  ipv4SetTotalLen(buf, off, r.totalLen);
  ipv4SetId(buf, off, r.id);
  ipv4SetFlagsFrag(buf, off, r.df ? IPV4_FLAG_DF : 0);
  buf[off + IPV4_OFF_TTL] = r.ttl;
  buf[off + IPV4_OFF_PROTO] = r.proto;
  ipv4SetSrc(buf, off, r.src);
  ipv4SetDst(buf, off, r.dst);
  ipv4SetChecksum(buf, off, ipv4HeaderChecksum(buf, off, IPV4_MIN_HDR_LEN));
  return IPV4_MIN_HDR_LEN;
}

/** Reads the Repr fields of a header (options and fragment fields are not represented). */
export function parseIpv4Header(buf: Uint8Array, off: number): Ipv4Repr {
  return {
    src: ipv4Src(buf, off),
    dst: ipv4Dst(buf, off),
    proto: ipv4Proto(buf, off),
    ttl: ipv4Ttl(buf, off),
    id: ipv4Id(buf, off),
    df: ipv4Df(buf, off),
    totalLen: ipv4TotalLen(buf, off),
    tos: ipv4Tos(buf, off),
  };
}
