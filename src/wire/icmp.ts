/**
 * ICMP view (RFC 792) and the builder of the ICMP errors the director emits.
 *
 * Echo / echo reply:                       Error messages (types 3, 4, 5, 11, 12):
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Identifier (echo)            |  Sequence Number (echo)       |
 * |  unused (errors)              |  Next-Hop MTU (3/4, RFC 1191) |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  echo: data ...  /  errors: Internet Header + 64 bits of Original Data Datagram ...
 * +-+-+-+-+-+-+-+-+-
 *
 * The checksum covers the whole ICMP message (RFC 792). Accessors take (buf, off) at the
 * ICMP header and do not check bounds. Contract: after icmpCheck(buf, off, l4Len) returns
 * WIRE_OK, the 8-byte header lies inside buf[off .. off+l4Len) and the checksum verified;
 * for errors, the quoted packet starts at off + ICMP_HDR_LEN (validate it before use).
 */

import { csumFinish, csumPartial } from './checksum';
import {
  DROP_ICMP_CSUM, DROP_ICMP_SHORT, IPTOS_PREC_INTERNETCONTROL, IPV4_MIN_HDR_LEN, WIRE_OK,
  emitIpv4Header, ipv4Src, ipv4Tos,
} from './ipv4';
import { IPPROTO_ICMP } from './proto';

export const ICMP_OFF_TYPE = 0;
export const ICMP_OFF_CODE = 1;
export const ICMP_OFF_CHECK = 2;
export const ICMP_OFF_ID = 4;
export const ICMP_OFF_SEQ = 6;
/** Next-hop MTU of destination-unreachable/fragmentation-needed (RFC 1191 §4). */
export const ICMP_OFF_MTU = 6;
export const ICMP_HDR_LEN = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROB = 12;

/** Codes of ICMP_DEST_UNREACH (RFC 792, RFC 1122, RFC 1812). */
export const ICMP_NET_UNREACH = 0;
export const ICMP_HOST_UNREACH = 1;
export const ICMP_PROT_UNREACH = 2;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_SR_FAILED = 5;
export const ICMP_PKT_FILTERED = 13;

/** Codes of ICMP_TIME_EXCEEDED. */
export const ICMP_EXC_TTL = 0;
export const ICMP_EXC_FRAGTIME = 1;

/** 1 for the error types, which quote an offending datagram (icmp_pointers[].error in net/ipv4/icmp.c). */
export const ICMP_IS_ERROR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const ty of [ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_REDIRECT, ICMP_TIME_EXCEEDED, ICMP_PARAMETER_PROB]) t[ty] = 1;
  return t;
})();

/**
 * Most bytes of the original datagram an emitted error quotes: 576 (the datagram size every
 * host accepts, RFC 1812 §4.3.2.3 "as much of the original datagram as possible without the
 * length of the ICMP datagram exceeding 576 bytes") minus 20 (IP) minus 8 (ICMP) = 548.
 * This is what Linux's icmp_send does. More than RFC 792's minimum (IP header + 8 bytes),
 * so a real server behind IPIP still finds its whole inner header in the quote.
 */
export const ICMP_ERROR_MAX_QUOTE = 576 - IPV4_MIN_HDR_LEN - ICMP_HDR_LEN;

/** TTL of emitted ICMP errors (Linux's default net.ipv4.ip_default_ttl). */
export const ICMP_ERROR_TTL = 64;

function u16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

function set16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

export function icmpType(buf: Uint8Array, off: number): number {
  return buf[off + ICMP_OFF_TYPE];
}

export function icmpCode(buf: Uint8Array, off: number): number {
  return buf[off + ICMP_OFF_CODE];
}

export function icmpChecksum(buf: Uint8Array, off: number): number {
  return u16(buf, off + ICMP_OFF_CHECK);
}

export function icmpId(buf: Uint8Array, off: number): number {
  return u16(buf, off + ICMP_OFF_ID);
}

export function icmpSeq(buf: Uint8Array, off: number): number {
  return u16(buf, off + ICMP_OFF_SEQ);
}

export function icmpMtu(buf: Uint8Array, off: number): number {
  return u16(buf, off + ICMP_OFF_MTU);
}

export function icmpIsError(type: number): boolean {
  return ICMP_IS_ERROR[type & 0xff] === 1;
}

export function icmpSetType(buf: Uint8Array, off: number, type: number): void {
  buf[off + ICMP_OFF_TYPE] = type;
}

export function icmpSetCode(buf: Uint8Array, off: number, code: number): void {
  buf[off + ICMP_OFF_CODE] = code;
}

export function icmpSetChecksum(buf: Uint8Array, off: number, check: number): void {
  set16(buf, off + ICMP_OFF_CHECK, check);
}

export function icmpSetId(buf: Uint8Array, off: number, id: number): void {
  set16(buf, off + ICMP_OFF_ID, id);
}

export function icmpSetSeq(buf: Uint8Array, off: number, seq: number): void {
  set16(buf, off + ICMP_OFF_SEQ, seq);
}

export function icmpSetMtu(buf: Uint8Array, off: number, mtu: number): void {
  set16(buf, off + ICMP_OFF_MTU, mtu);
}

/** Computes the checksum of the len-byte ICMP message at off (field taken as zero). */
export function icmpComputeChecksum(buf: Uint8Array, off: number, len: number): number {
  return csumFinish(csumPartial(buf, off, ICMP_OFF_CHECK) + csumPartial(buf, off + 4, len - 4));
}

/** Computes and stores the checksum of the len-byte ICMP message at off. */
export function icmpFillChecksum(buf: Uint8Array, off: number, len: number): void {
  icmpSetChecksum(buf, off, icmpComputeChecksum(buf, off, len));
}

/**
 * Validates an ICMP message at off with l4Len bytes (IP total length minus IP header
 * length): l4Len >= 8 and the checksum over l4Len bytes verifies (ICMP is never offloaded).
 * Returns WIRE_OK, DROP_ICMP_SHORT or DROP_ICMP_CSUM. Only for unfragmented packets.
 */
export function icmpCheck(buf: Uint8Array, off: number, l4Len: number): number {
  if (l4Len < ICMP_HDR_LEN) return DROP_ICMP_SHORT;
  if (csumPartial(buf, off, l4Len) !== 0xffff) return DROP_ICMP_CSUM;
  return WIRE_OK;
}

/**
 * Writes a complete IPv4 + ICMP error at out[off..] about the datagram q[qOff .. qOff+qLen)
 * and returns its length (28 + quoted bytes).
 *
 * - IPv4: src = srcAddr, dst = the source of the quoted datagram, proto 1, TTL `ttl`,
 *   identification `id`, DF clear (the whole error is at most 576 bytes, which every link
 *   carries), TOS = (quoted TOS & 0x1e) | 0xc0 as Linux's icmp_send (RFC 1812 §4.3.2.5
 *   keeps the TOS; precedence "internetwork control").
 * - ICMP: type, code, checksum; bytes 4..5 zero; bytes 6..7 = mtu (the next-hop MTU of
 *   type 3 code 4, RFC 1191; pass 0 for every other error).
 * - Quote: the first min(qLen, ICMP_ERROR_MAX_QUOTE = 548) bytes of the datagram as given.
 *   Pass qLen = the datagram's total length; the quote must hold its IP header and 8 bytes
 *   (RFC 792), which callers ensure by validating the datagram first.
 *
 * out must have room for 28 + min(qLen, 548) bytes from off; the ranges must not overlap.
 * Writes every byte of the result; allocates nothing.
 */
export function buildIcmpError(out: Uint8Array, off: number, type: number, code: number,
  q: Uint8Array, qOff: number, qLen: number, srcAddr: number, mtu = 0, id = 0,
  ttl = ICMP_ERROR_TTL): number {
  const quote = qLen < ICMP_ERROR_MAX_QUOTE ? qLen : ICMP_ERROR_MAX_QUOTE;
  const icmpLen = ICMP_HDR_LEN + quote;
  const total = IPV4_MIN_HDR_LEN + icmpLen;
  emitIpv4Header(out, off, {
    src: srcAddr,
    dst: ipv4Src(q, qOff),
    proto: IPPROTO_ICMP,
    ttl,
    id,
    df: false,
    totalLen: total,
    tos: (ipv4Tos(q, qOff) & 0x1e) | IPTOS_PREC_INTERNETCONTROL,
  });
  const io = off + IPV4_MIN_HDR_LEN;
  out[io + ICMP_OFF_TYPE] = type;
  out[io + ICMP_OFF_CODE] = code;
  set16(out, io + ICMP_OFF_CHECK, 0);
  set16(out, io + 4, 0);
  set16(out, io + ICMP_OFF_MTU, mtu);
  const qo = io + ICMP_HDR_LEN;
  for (let i = 0; i < quote; i++) out[qo + i] = q[qOff + i];
  icmpFillChecksum(out, io, icmpLen);
  return total;
}
