/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Vocabulary used by every function here:
 * - a *sum* is a one's-complement sum folded to 16 bits, NOT complemented (0..0xffff);
 * - a *checksum* is the value stored in a header field: the complement of the sum of the
 *   covered bytes taken with the checksum field as zero.
 * A receiver that sums the covered bytes including a correct checksum field gets 0xffff.
 *
 * Byte order: sums are over 16-bit big-endian words starting at the first byte of the range,
 * whatever the parity of its offset inside the Buffer; an odd trailing byte is padded with a
 * zero low byte (RFC 1071 §4.1).
 *
 * Two kinds of L4 checksum field meet the NAT code (see natSet* below):
 * - normal: the field holds a complete checksum (RFC 793 §3.1, RFC 768);
 * - partial: the packet came through a TUN with virtio-net offloads and carries
 *   VIRTIO_NET_HDR_F_NEEDS_CSUM (include/uapi/linux/virtio_net.h). The field then holds the
 *   pseudo-header sum, not complemented; the kernel sums csum_start..end later and stores the
 *   complement at csum_start + csum_offset (skb_checksum_help, net/core/dev.c).
 */

import { IPPROTO_TCP, IPPROTO_UDP } from './proto';

/**
 * Folds any non-negative sum (up to 2^53) to 16 bits with end-around carry.
 * The result is 0 only when the input is 0.
 */
export function csumFold(sum: number): number {
  // Bit operations see only 32 bits: bring larger sums down first (2^16 ≡ 1 mod 0xffff).
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  // Two rounds suffice below 2^32: the first leaves at most 0x1fffe, the second 0xffff.
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** Complement of the folded sum: the value to store in a checksum field. */
export function csumFinish(sum: number): number {
  return ~csumFold(sum) & 0xffff;
}

/**
 * One's-complement sum of buf[off .. off+len) added to `initial` (any non-negative number
 * below 2^52, e.g. a previous sum or a pseudoHeaderSum). Returns a folded 16-bit sum.
 * Precondition: 0 <= off, off+len <= buf.length (not checked; callers validated lengths).
 */
export function csumPartial(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = 0;
  let i = off;
  const end = off + len;
  // 16 bytes per round: eight 16-bit words. Folding every 1024 rounds keeps the accumulator
  // below 2^30 (1024 * 8 * 0xffff + 0x1ffff), a V8 small integer on every build.
  const end16 = off + (len & ~15);
  let rounds = 0;
  while (i < end16) {
    sum += ((buf[i] << 8) | buf[i + 1]) + ((buf[i + 2] << 8) | buf[i + 3])
      + ((buf[i + 4] << 8) | buf[i + 5]) + ((buf[i + 6] << 8) | buf[i + 7])
      + ((buf[i + 8] << 8) | buf[i + 9]) + ((buf[i + 10] << 8) | buf[i + 11])
      + ((buf[i + 12] << 8) | buf[i + 13]) + ((buf[i + 14] << 8) | buf[i + 15]);
    i += 16;
    if (++rounds === 1024) {
      sum = (sum & 0xffff) + (sum >>> 16);
      rounds = 0;
    }
  }
  const end2 = end - 1;
  while (i < end2) {
    sum += (buf[i] << 8) | buf[i + 1];
    i += 2;
  }
  if (i < end) sum += buf[i] << 8;
  return csumFold(sum + initial);
}

/**
 * Sum of the IPv4 pseudo-header (RFC 793 §3.1, RFC 768): source, destination, zero, protocol,
 * L4 length. Addresses are uint32 host order; returns a folded 16-bit sum.
 */
export function pseudoHeaderSum(src: number, dst: number, proto: number, l4Len: number): number {
  return csumFold((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4Len);
}

/**
 * Checksum to store in an IPv4 header of hdrLen bytes at off (RFC 791 §3.1), computed with
 * the checksum field (bytes 10..11) taken as zero whatever it holds.
 */
export function ipv4HeaderChecksum(buf: Uint8Array, off: number, hdrLen: number): number {
  return csumFinish(csumPartial(buf, off, 10) + csumPartial(buf, off + 12, hdrLen - 12));
}

/** Offset of the checksum field inside the L4 header, by IP protocol; -1 = none we maintain. */
export const L4_CHECK_OFFSET: Int8Array = (() => {
  const t = new Int8Array(256).fill(-1);
  t[IPPROTO_TCP] = 16;
  t[IPPROTO_UDP] = 6;
  return t;
})();

/**
 * Full TCP or UDP checksum over l4Len bytes at l4Off with the pseudo-header of src/dst,
 * taking the checksum field as zero whatever it holds. For UDP a computed 0 is returned as
 * 0xffff (RFC 768: 0 means "no checksum"). `proto` must be IPPROTO_TCP or IPPROTO_UDP.
 * l4Len is the segment length for TCP and the UDP length field for UDP (both pseudo-header
 * length and covered bytes).
 */
export function l4Checksum(buf: Uint8Array, l4Off: number, l4Len: number, src: number, dst: number, proto: number): number {
  const co = L4_CHECK_OFFSET[proto];
  const s = csumPartial(buf, l4Off, co, pseudoHeaderSum(src, dst, proto, l4Len));
  const c = csumFinish(csumPartial(buf, l4Off + co + 2, l4Len - co - 2, s));
  return c === 0 && proto === IPPROTO_UDP ? 0xffff : c;
}

/**
 * RFC 1624 eqn. 3 for one 16-bit word of the covered data changing from `oldW` to `newW`:
 * HC' = ~(~HC + ~m + m'). Takes and returns a checksum field value.
 */
export function csumReplace16(check: number, oldW: number, newW: number): number {
  return ~csumFold((~check & 0xffff) + (~oldW & 0xffff) + newW) & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit value (an address) changing: both 16-bit halves at once. */
export function csumReplace32(check: number, oldV: number, newV: number): number {
  return ~csumFold((~check & 0xffff)
    + (~oldV >>> 16 & 0xffff) + (~oldV & 0xffff)
    + (newV >>> 16) + (newV & 0xffff)) & 0xffff;
}

/**
 * Updates a field holding a non-complemented sum (a NEEDS_CSUM pseudo-header sum) for a
 * 16-bit word of the summed data changing: sum + ~old + new, folded, not complemented.
 */
export function csumPartialReplace16(sum: number, oldW: number, newW: number): number {
  return csumFold(sum + (~oldW & 0xffff) + newW);
}

/** As csumPartialReplace16 for a 32-bit value (an address of the pseudo-header). */
export function csumPartialReplace32(sum: number, oldV: number, newV: number): number {
  return csumFold(sum + (~oldV >>> 16 & 0xffff) + (~oldV & 0xffff) + (newV >>> 16) + (newV & 0xffff));
}

/**
 * Checksum field of a UDP header after a change of covered data, keeping RFC 768's rules:
 * a field of 0 ("no checksum") stays 0, and a computed 0 is sent as 0xffff.
 */
export function udpCsumReplace32(check: number, oldV: number, newV: number): number {
  if (check === 0) return 0;
  const c = csumReplace32(check, oldV, newV);
  return c === 0 ? 0xffff : c;
}

/** As udpCsumReplace32 for a 16-bit word (a port). */
export function udpCsumReplace16(check: number, oldW: number, newW: number): number {
  if (check === 0) return 0;
  const c = csumReplace16(check, oldW, newW);
  return c === 0 ? 0xffff : c;
}

// ---------------------------------------------------------------------------------------
// NAT setters: write a field and keep every checksum that covers it correct.
//
// Common contract:
// - buf holds an IPv4 packet whose header is at ipOff and was validated (ipv4Check), and
//   whose L4 header is at l4Off and was validated (tcpCheck/udpCheck) when proto is TCP or
//   UDP. Pass l4Off = -1 when there is no L4 header to maintain (non-first fragments, or
//   protocols without a pseudo-header such as ICMP); then only the IPv4 header is updated.
// - The IPv4 header checksum is updated incrementally (RFC 1624), never recomputed.
// - l4Partial = false: the TCP/UDP field holds a complete checksum; it is updated with
//   RFC 1624 eqn. 3. A UDP checksum of 0 ("none") stays 0; a result of 0 becomes 0xffff.
// - l4Partial = true (virtio NEEDS_CSUM): the field holds the pseudo-header sum. Addresses are
//   in the pseudo-header, so the sum is adjusted by csumPartialReplace32. Ports are inside the
//   range the kernel will sum, so port setters leave the field untouched.
// ---------------------------------------------------------------------------------------

/** The 32 bits at o as int32: an address compared and summed here never needs a heap number. */
function readI32(buf: Uint8Array, o: number): number {
  return (buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3];
}

function writeU32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = v >>> 16;
  buf[o + 2] = v >>> 8;
  buf[o + 3] = v;
}

function readU16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

function writeU16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

/** IPv4 header offsets used here (RFC 791); ipv4.ts documents the whole header. */
const IP_CHECK = 10;
const IP_SRC = 12;
const IP_DST = 16;

function natSetAddr(buf: Uint8Array, ipOff: number, field: number, l4Off: number, proto: number,
  newAddr: number, l4Partial: boolean): void {
  const o = ipOff + field;
  const oldAddr = readI32(buf, o);
  if (oldAddr === newAddr) return;
  writeU32(buf, o, newAddr);
  writeU16(buf, ipOff + IP_CHECK, csumReplace32(readU16(buf, ipOff + IP_CHECK), oldAddr, newAddr));
  if (l4Off < 0) return;
  const co = L4_CHECK_OFFSET[proto];
  if (co < 0) return;
  const c = l4Off + co;
  const check = readU16(buf, c);
  let v: number;
  if (l4Partial) v = csumPartialReplace32(check, oldAddr, newAddr);
  else if (proto === IPPROTO_UDP) v = udpCsumReplace32(check, oldAddr, newAddr);
  else v = csumReplace32(check, oldAddr, newAddr);
  writeU16(buf, c, v);
}

function natSetPort(buf: Uint8Array, l4Off: number, field: number, proto: number,
  newPort: number, l4Partial: boolean): void {
  const o = l4Off + field;
  const oldPort = readU16(buf, o);
  if (oldPort === newPort) return;
  writeU16(buf, o, newPort);
  if (l4Partial) return;
  const c = l4Off + L4_CHECK_OFFSET[proto];
  const check = readU16(buf, c);
  writeU16(buf, c, proto === IPPROTO_UDP ? udpCsumReplace16(check, oldPort, newPort) : csumReplace16(check, oldPort, newPort));
}

/**
 * Rewrites the IPv4 destination address (host order, uint32 or its int32 bits: both are
 * compared as int32); see the contract above.
 */
export function natSetDstAddr(buf: Uint8Array, ipOff: number, l4Off: number, proto: number,
  newAddr: number, l4Partial: boolean): void {
  natSetAddr(buf, ipOff, IP_DST, l4Off, proto, newAddr | 0, l4Partial);
}

/** Rewrites the IPv4 source address (uint32 or int32, as natSetDstAddr); see the contract above. */
export function natSetSrcAddr(buf: Uint8Array, ipOff: number, l4Off: number, proto: number,
  newAddr: number, l4Partial: boolean): void {
  natSetAddr(buf, ipOff, IP_SRC, l4Off, proto, newAddr | 0, l4Partial);
}

/**
 * Rewrites the TCP/UDP destination port (bytes 2..3 of both headers). `proto` must be
 * IPPROTO_TCP or IPPROTO_UDP and l4Off a validated L4 header; see the contract above.
 */
export function natSetDstPort(buf: Uint8Array, l4Off: number, proto: number, newPort: number, l4Partial: boolean): void {
  natSetPort(buf, l4Off, 2, proto, newPort & 0xffff, l4Partial);
}

/** Rewrites the TCP/UDP source port (bytes 0..1); as natSetDstPort. */
export function natSetSrcPort(buf: Uint8Array, l4Off: number, proto: number, newPort: number, l4Partial: boolean): void {
  natSetPort(buf, l4Off, 0, proto, newPort & 0xffff, l4Partial);
}

// ---------------------------------------------------------------------------------------
// IPv6 (RFC 8200 §8.1). The pseudo-header is source address, destination address (the final
// one: packets whose routing header has segments left are never checksummed here), the
// 32-bit upper-layer packet length, three zero bytes and the next header value of the
// upper-layer protocol. ICMPv6 has one too (RFC 4443 §2.3), unlike ICMP. UDP over IPv6 must
// carry a checksum (RFC 8200 §8.1: a zero field is invalid, except for the tunnel protocols
// of RFC 6935, which the director does not terminate).
// ---------------------------------------------------------------------------------------

/** ICMPv6's next header value (IANA); ipv6.ts names it IPPROTO_ICMPV6. */
const NEXTHDR_ICMPV6 = 58;

/** Offset of the checksum field inside the upper-layer header over IPv6; -1 = none maintained. */
export const L4_CHECK_OFFSET6: Int8Array = (() => {
  const t = new Int8Array(256).fill(-1);
  t[IPPROTO_TCP] = 16;
  t[IPPROTO_UDP] = 6;
  t[NEXTHDR_ICMPV6] = 2;
  return t;
})();

/**
 * Sum of the IPv6 pseudo-header of the packet whose IPv6 header is at ipOff (its addresses are
 * bytes 8..39), for upper-layer protocol `proto` and length l4Len. Folded, not complemented:
 * the value a NEEDS_CSUM field holds.
 */
export function pseudoHeaderSum6(buf: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  return csumPartial(buf, ipOff + 8, 32, proto + (l4Len >>> 16) + (l4Len & 0xffff));
}

/**
 * Full checksum of the TCP, UDP or ICMPv6 message of l4Len bytes at l4Off, whose IPv6 header
 * is at ipOff, taking its checksum field as zero whatever it holds. For UDP a computed 0 is
 * returned as 0xffff. `proto` must have an entry in L4_CHECK_OFFSET6.
 */
export function l4Checksum6(buf: Uint8Array, ipOff: number, l4Off: number, l4Len: number, proto: number): number {
  const co = L4_CHECK_OFFSET6[proto];
  const s = csumPartial(buf, l4Off, co, pseudoHeaderSum6(buf, ipOff, proto, l4Len));
  const c = csumFinish(csumPartial(buf, l4Off + co + 2, l4Len - co - 2, s));
  return c === 0 && proto === IPPROTO_UDP ? 0xffff : c;
}

/**
 * The one's-complement difference an address change makes to any sum covering it: the sum
 * of the complements of the 8 old words (the 16 bytes at buf[off..]) and of the 8 new words
 * (slot a[o..o+4), four uint32 as src/wire/addr6.ts). Folded to 16 bits. Apply it with
 * csumApplyDelta (a checksum field) or csumPartialApplyDelta (a NEEDS_CSUM sum).
 */
export function csumAddr6Delta(buf: Uint8Array, off: number, a: Uint32Array, o: number): number {
  let d = 0;
  for (let i = 0; i < 16; i += 2) d += ~((buf[off + i] << 8) | buf[off + i + 1]) & 0xffff;
  for (let k = 0; k < 4; k++) {
    const w = a[o + k];
    d += (w >>> 16) + (w & 0xffff);
  }
  return csumFold(d);
}

/** RFC 1624 eqn. 3 with a precomputed delta (sum of ~old and new words): ~(~HC + delta). */
export function csumApplyDelta(check: number, delta: number): number {
  return ~csumFold((~check & 0xffff) + delta) & 0xffff;
}

/** A non-complemented sum (NEEDS_CSUM field) after the change a delta describes. */
export function csumPartialApplyDelta(sum: number, delta: number): number {
  return csumFold(sum + delta);
}
