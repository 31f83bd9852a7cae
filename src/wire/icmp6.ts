/**
 * ICMPv6 view (RFC 4443), the message classes the director must recognise (Neighbor
 * Discovery, RFC 4861; Multicast Listener Discovery, RFC 2710 / RFC 3810) and the builders of
 * the ICMPv6 messages it emits from a VIP.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Type      |     Code      |          Checksum             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  echo: Identifier             |  echo: Sequence Number        |
 *    |  packet too big: MTU (32 bits)                                |
 *    |  parameter problem: Pointer (32 bits); other errors: unused   |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  echo: data ... / errors: as much of the invoking packet as fits in 1280 bytes
 *    +-+-+-+-+-+-+-+-+-
 *
 * Types below 128 are errors, 128 and above informational (RFC 4443 §2.1). The checksum
 * covers an IPv6 pseudo-header (RFC 4443 §2.3, checksum.ts pseudoHeaderSum6) and the whole
 * message. Accessors take (buf, off) at the ICMPv6 header and do not check bounds; callers
 * validate through ipv6Classify (ipv6-ext.ts), which verifies the checksum.
 */

import { csumPartial, l4Checksum6, pseudoHeaderSum6 } from './checksum';
import {
  DROP6_ICMP_CSUM, DROP6_ICMP_SHORT, IPV6_HDR_LEN, IPV6_MIN_MTU, IPV6_OFF_DST, IPV6_OFF_SRC, NEXTHDR_ICMPV6,
  WIRE_OK, ipv6SetPayloadLen, ipv6SetVtf,
} from './ipv6';

export const ICMP6_OFF_TYPE = 0;
export const ICMP6_OFF_CODE = 1;
export const ICMP6_OFF_CHECK = 2;
export const ICMP6_OFF_ID = 4;
export const ICMP6_OFF_SEQ = 6;
/** MTU of packet too big, pointer of parameter problem: 32 bits at offset 4. */
export const ICMP6_OFF_PARAM = 4;
export const ICMP6_HDR_LEN = 8;

export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROB = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;
export const ICMP6_MLD_QUERY = 130;
export const ICMP6_MLD_REPORT = 131;
export const ICMP6_MLD_DONE = 132;
export const ICMP6_ND_ROUTER_SOLICIT = 133;
export const ICMP6_ND_ROUTER_ADVERT = 134;
export const ICMP6_ND_NEIGHBOR_SOLICIT = 135;
export const ICMP6_ND_NEIGHBOR_ADVERT = 136;
export const ICMP6_ND_REDIRECT = 137;
export const ICMP6_MLD2_REPORT = 143;

/** Codes of destination unreachable (RFC 4443 §3.1). */
export const ICMP6_NOROUTE = 0;
export const ICMP6_ADM_PROHIBITED = 1;
export const ICMP6_NOT_NEIGHBOUR = 2;
export const ICMP6_ADDR_UNREACH = 3;
export const ICMP6_PORT_UNREACH = 4;
export const ICMP6_POLICY_FAIL = 5;
export const ICMP6_REJECT_ROUTE = 6;

/** Codes of time exceeded (RFC 4443 §3.3). */
export const ICMP6_EXC_HOPLIMIT = 0;
export const ICMP6_EXC_FRAGTIME = 1;

/** Codes of parameter problem (RFC 4443 §3.4). */
export const ICMP6_HDR_FIELD = 0;
export const ICMP6_UNK_NEXTHDR = 1;
export const ICMP6_UNK_OPTION = 2;

/**
 * Most bytes of the invoking packet an emitted error quotes: the whole error must fit the
 * IPv6 minimum MTU (RFC 4443 §2.4 (c)): 1280 - 40 (IPv6) - 8 (ICMPv6) = 1232.
 */
export const ICMP6_ERROR_MAX_QUOTE = IPV6_MIN_MTU - IPV6_HDR_LEN - ICMP6_HDR_LEN;

/** Hop limit of emitted ICMPv6 messages (Linux's default net.ipv6.conf.*.hop_limit). */
export const ICMP6_HOP_LIMIT = 64;

/** Message class by type: 1 error, 2 NDP, 3 MLD, 0 other informational. */
export const ICMP6_CLASS_ERROR = 1;
export const ICMP6_CLASS_NDP = 2;
export const ICMP6_CLASS_MLD = 3;
export const ICMP6_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let ty = 0; ty < 128; ty++) t[ty] = ICMP6_CLASS_ERROR;
  for (const ty of [ICMP6_ND_ROUTER_SOLICIT, ICMP6_ND_ROUTER_ADVERT, ICMP6_ND_NEIGHBOR_SOLICIT,
    ICMP6_ND_NEIGHBOR_ADVERT, ICMP6_ND_REDIRECT]) t[ty] = ICMP6_CLASS_NDP;
  for (const ty of [ICMP6_MLD_QUERY, ICMP6_MLD_REPORT, ICMP6_MLD_DONE, ICMP6_MLD2_REPORT]) t[ty] = ICMP6_CLASS_MLD;
  return t;
})();

function u16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

function set16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

function set32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = v >>> 16;
  buf[o + 2] = v >>> 8;
  buf[o + 3] = v;
}

export function icmp6Type(buf: Uint8Array, off: number): number {
  return buf[off + ICMP6_OFF_TYPE];
}

export function icmp6Code(buf: Uint8Array, off: number): number {
  return buf[off + ICMP6_OFF_CODE];
}

export function icmp6Checksum(buf: Uint8Array, off: number): number {
  return u16(buf, off + ICMP6_OFF_CHECK);
}

export function icmp6Id(buf: Uint8Array, off: number): number {
  return u16(buf, off + ICMP6_OFF_ID);
}

export function icmp6Seq(buf: Uint8Array, off: number): number {
  return u16(buf, off + ICMP6_OFF_SEQ);
}

/** The 32-bit field at offset 4: packet too big's MTU, parameter problem's pointer. */
export function icmp6Param(buf: Uint8Array, off: number): number {
  const o = off + ICMP6_OFF_PARAM;
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

export function icmp6IsError(type: number): boolean {
  return ICMP6_CLASS[type & 0xff] === ICMP6_CLASS_ERROR;
}

/** Neighbor Discovery: router/neighbor solicitation and advertisement, redirect (RFC 4861 §4). */
export function icmp6IsNdp(type: number): boolean {
  return ICMP6_CLASS[type & 0xff] === ICMP6_CLASS_NDP;
}

/** Multicast Listener Discovery v1 (RFC 2710) and v2 reports (RFC 3810). */
export function icmp6IsMld(type: number): boolean {
  return ICMP6_CLASS[type & 0xff] === ICMP6_CLASS_MLD;
}

export function icmp6SetChecksum(buf: Uint8Array, off: number, check: number): void {
  set16(buf, off + ICMP6_OFF_CHECK, check);
}

export function icmp6SetId(buf: Uint8Array, off: number, id: number): void {
  set16(buf, off + ICMP6_OFF_ID, id);
}

/** Computes and stores the checksum of the len-byte ICMPv6 message at l4Off (header at ipOff). */
export function icmp6FillChecksum(buf: Uint8Array, ipOff: number, l4Off: number, len: number): void {
  icmp6SetChecksum(buf, l4Off, l4Checksum6(buf, ipOff, l4Off, len, NEXTHDR_ICMPV6));
}

/**
 * Validates an ICMPv6 message of l4Len bytes at l4Off whose IPv6 header is at ipOff (payload
 * length and chain already validated): l4Len >= 8 and the checksum verifies, unless `partial`
 * (a NEEDS_CSUM frame: the field holds the pseudo-header sum, completed by the kernel).
 * Returns WIRE_OK, DROP6_ICMP_SHORT or DROP6_ICMP_CSUM.
 */
export function icmp6Check(buf: Uint8Array, ipOff: number, l4Off: number, l4Len: number, partial: boolean): number {
  if (l4Len < ICMP6_HDR_LEN) return DROP6_ICMP_SHORT;
  if (partial) return WIRE_OK;
  if (csumPartial(buf, l4Off, l4Len, pseudoHeaderSum6(buf, ipOff, NEXTHDR_ICMPV6, l4Len)) !== 0xffff) return DROP6_ICMP_CSUM;
  return WIRE_OK;
}

// ---------------------------------------------------------------------------------------
// Builders. Each writes a complete IPv6 + ICMPv6 packet (every byte) into out from off,
// allocates nothing and returns the packet's length. Traffic class and flow label are 0 (as
// Linux's icmp6_send with a default socket), hop limit ICMP6_HOP_LIMIT unless given.
// ---------------------------------------------------------------------------------------

function writeWords(a: Uint32Array, o: number, buf: Uint8Array, off: number): void {
  for (let i = 0; i < 4; i++) set32(buf, off + (i << 2), a[o + i]);
}

/**
 * An ICMPv6 error of `type`/`code` with the 32-bit `param` (MTU, pointer, or 0) about the
 * packet q[qOff .. qOff+qLen), from slot src[so..] to the quoted packet's source address.
 * Quotes the first min(qLen, ICMP6_ERROR_MAX_QUOTE) bytes, so the error never exceeds 1280
 * bytes. q holds at least the invoking packet's 40-byte header (it was classified); out must
 * have room for 48 + the quote from off; the ranges must not overlap.
 * Whether an error may be sent at all is icmp6ErrorAllowed's question (ipv6-ext.ts).
 */
export function buildIcmp6Error(out: Uint8Array, off: number, type: number, code: number, param: number,
  q: Uint8Array, qOff: number, qLen: number, src: Uint32Array, so: number, hopLimit = ICMP6_HOP_LIMIT): number {
  const quote = qLen < ICMP6_ERROR_MAX_QUOTE ? qLen : ICMP6_ERROR_MAX_QUOTE;
  const icmpLen = ICMP6_HDR_LEN + quote;
  ipv6SetVtf(out, off, 0, 0);
  ipv6SetPayloadLen(out, off, icmpLen);
  out[off + 6] = NEXTHDR_ICMPV6;
  out[off + 7] = hopLimit;
  writeWords(src, so, out, off + IPV6_OFF_SRC);
  for (let i = 0; i < 16; i++) out[off + IPV6_OFF_DST + i] = q[qOff + IPV6_OFF_SRC + i];
  const io = off + IPV6_HDR_LEN;
  out[io + ICMP6_OFF_TYPE] = type;
  out[io + ICMP6_OFF_CODE] = code;
  set16(out, io + ICMP6_OFF_CHECK, 0);
  set32(out, io + ICMP6_OFF_PARAM, param);
  const qo = io + ICMP6_HDR_LEN;
  for (let i = 0; i < quote; i++) out[qo + i] = q[qOff + i];
  icmp6FillChecksum(out, off, io, icmpLen);
  return IPV6_HDR_LEN + icmpLen;
}

/**
 * Packet too big (RFC 4443 §3.2, RFC 8201) about q from the VIP in slot src[so..], reporting
 * `mtu` raised to 1280 if below (no IPv6 link is smaller, RFC 8200 §5).
 */
export function buildPacketTooBig(out: Uint8Array, off: number, q: Uint8Array, qOff: number, qLen: number,
  src: Uint32Array, so: number, mtu: number): number {
  const m = mtu < IPV6_MIN_MTU ? IPV6_MIN_MTU : mtu;
  return buildIcmp6Error(out, off, ICMP6_PACKET_TOO_BIG, 0, m, q, qOff, qLen, src, so);
}

/**
 * Destination unreachable (RFC 4443 §3.1) about q from the VIP in slot src[so..]:
 * code ICMP6_PORT_UNREACH (no service on the port) or ICMP6_ADDR_UNREACH (no real server).
 */
export function buildDestUnreach6(out: Uint8Array, off: number, code: number, q: Uint8Array, qOff: number,
  qLen: number, src: Uint32Array, so: number): number {
  return buildIcmp6Error(out, off, ICMP6_DEST_UNREACH, code, 0, q, qOff, qLen, src, so);
}

/**
 * Echo reply (RFC 4443 §4.2) to the echo request whose IPv6 header is at req[ipOff] and whose
 * ICMPv6 message is req[l4Off .. l4Off+l4Len) (validated, l4Len >= 8): from the request's
 * destination to its source, with the request's identifier, sequence number and data, and no
 * extension headers. out may be req itself with off <= ipOff (a reply in place: the data moves
 * down over any extension headers); otherwise the ranges must not overlap.
 */
export function buildEchoReply6(out: Uint8Array, off: number, req: Uint8Array, ipOff: number, l4Off: number,
  l4Len: number, hopLimit = ICMP6_HOP_LIMIT): number {
  // The addresses as eight words before anything is overwritten.
  const s = ipOff + IPV6_OFF_SRC;
  const d = ipOff + IPV6_OFF_DST;
  const rd0 = (req[s] << 24) | (req[s + 1] << 16) | (req[s + 2] << 8) | req[s + 3];
  const rd1 = (req[s + 4] << 24) | (req[s + 5] << 16) | (req[s + 6] << 8) | req[s + 7];
  const rd2 = (req[s + 8] << 24) | (req[s + 9] << 16) | (req[s + 10] << 8) | req[s + 11];
  const rd3 = (req[s + 12] << 24) | (req[s + 13] << 16) | (req[s + 14] << 8) | req[s + 15];
  const rs0 = (req[d] << 24) | (req[d + 1] << 16) | (req[d + 2] << 8) | req[d + 3];
  const rs1 = (req[d + 4] << 24) | (req[d + 5] << 16) | (req[d + 6] << 8) | req[d + 7];
  const rs2 = (req[d + 8] << 24) | (req[d + 9] << 16) | (req[d + 10] << 8) | req[d + 11];
  const rs3 = (req[d + 12] << 24) | (req[d + 13] << 16) | (req[d + 14] << 8) | req[d + 15];
  const io = off + IPV6_HDR_LEN;
  // Forward copy: safe in place because the destination never lies above the source.
  if (out !== req || io !== l4Off) for (let i = 0; i < l4Len; i++) out[io + i] = req[l4Off + i];
  ipv6SetVtf(out, off, 0, 0);
  ipv6SetPayloadLen(out, off, l4Len);
  out[off + 6] = NEXTHDR_ICMPV6;
  out[off + 7] = hopLimit;
  set32(out, off + IPV6_OFF_SRC, rs0);
  set32(out, off + IPV6_OFF_SRC + 4, rs1);
  set32(out, off + IPV6_OFF_SRC + 8, rs2);
  set32(out, off + IPV6_OFF_SRC + 12, rs3);
  set32(out, off + IPV6_OFF_DST, rd0);
  set32(out, off + IPV6_OFF_DST + 4, rd1);
  set32(out, off + IPV6_OFF_DST + 8, rd2);
  set32(out, off + IPV6_OFF_DST + 12, rd3);
  out[io + ICMP6_OFF_TYPE] = ICMP6_ECHO_REPLY;
  out[io + ICMP6_OFF_CODE] = 0;
  icmp6FillChecksum(out, off, io, l4Len);
  return IPV6_HDR_LEN + l4Len;
}
