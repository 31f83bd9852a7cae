/**
 * IPv6 header view (RFC 8200 §3) and the IPv6 drop reasons shared by src/wire's IPv6 code.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |Version| Traffic Class |           Flow Label                  |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |         Payload Length        |  Next Header  |   Hop Limit   |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    +                         Source Address (128 bits)             +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                                                               |
 *    +                      Destination Address (128 bits)           +
 *    |                                                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Payload length counts everything after these 40 bytes, extension headers included. There is
 * no header checksum: a NAT rewrite of an address touches only the upper-layer checksum, whose
 * pseudo-header holds both addresses (checksum.ts, src/xmit/nat66.ts).
 *
 * Accessors take (buf, off) with off the first byte of the IPv6 header and do not check
 * bounds. Contract: after ipv6Check(buf, off, available) returns WIRE_OK, every accessor here
 * reads inside buf[off .. off + 40 + payload length), which lies inside `available`. Walking
 * the extension headers to the upper-layer header is ipv6-ext.ts's job. Addresses stay in the
 * packet; src/wire/addr6.ts compares, copies and hashes them without allocation.
 */

import { WIRE_OK } from './ipv4';

export { WIRE_OK };

export const IPV6_OFF_VTF = 0;
export const IPV6_OFF_PAYLOAD_LEN = 4;
export const IPV6_OFF_NEXT_HDR = 6;
export const IPV6_OFF_HOP_LIMIT = 7;
export const IPV6_OFF_SRC = 8;
export const IPV6_OFF_DST = 24;
export const IPV6_HDR_LEN = 40;
/** The minimum link MTU every IPv6 link carries (RFC 8200 §5). */
export const IPV6_MIN_MTU = 1280;
/** Largest value of the payload length field (jumbograms, RFC 2675, are not supported). */
export const IPV6_MAX_PAYLOAD = 0xffff;

/** Next header values (IANA "Assigned Internet Protocol Numbers", RFC 8200 §4, RFC 7045). */
export const NEXTHDR_HOP = 0;
export const NEXTHDR_IPIP = 4;
export const NEXTHDR_TCP = 6;
export const NEXTHDR_UDP = 17;
/** IPv6 encapsulated in IPv6 (RFC 2473). */
export const NEXTHDR_IPV6 = 41;
export const NEXTHDR_ROUTING = 43;
export const NEXTHDR_FRAGMENT = 44;
export const NEXTHDR_ESP = 50;
export const NEXTHDR_AUTH = 51;
export const NEXTHDR_ICMPV6 = 58;
export const NEXTHDR_NONE = 59;
export const NEXTHDR_DEST = 60;
export const NEXTHDR_MOBILITY = 135;
export const NEXTHDR_HIP = 139;
export const NEXTHDR_SHIM6 = 140;
/** Alias used where an IP protocol number is expected (ICMPv6 is 58). */
export const IPPROTO_ICMPV6 = NEXTHDR_ICMPV6;

// ---------------------------------------------------------------------------------------
// Drop reasons of IPv6 packets. 0 is "accept"; every other code names a counter. The codes are
// dense so that a counter array can be indexed by them; the names differ from IPv4's
// (WIRE_DROP_NAMES) so that both sets can share one namespace of counters.
// ---------------------------------------------------------------------------------------

/** Fewer than 40 bytes available. */
export const DROP6_SHORT = 1;
/** Version field is not 6. */
export const DROP6_VERSION = 2;
/** 40 + payload length beyond the bytes available. */
export const DROP6_PAYLOAD_LEN = 3;
/** An extension header (or the fixed part of one) runs past the payload. */
export const DROP6_EXT_TRUNCATED = 4;
/** More extension headers than IPV6_MAX_EXT_HDRS (ipv6-ext.ts). */
export const DROP6_EXT_CHAIN = 5;
/** A hop-by-hop options header anywhere but first (RFC 8200 §4.3). */
export const DROP6_HBH_POSITION = 6;
/** A second hop-by-hop, routing or fragment header (RFC 8200 §4.1: each occurs once). */
export const DROP6_EXT_REPEAT = 7;
/** Routing header type 0, deprecated for its amplification attack (RFC 5095). */
export const DROP6_RH0 = 8;
/** A routing header with segments left: the VIP is not the final destination. */
export const DROP6_RH_SEGLEFT = 9;
/**
 * A fragment whose length is not a multiple of 8 with M set, or that ends beyond 65535 bytes
 * of reassembled payload (RFC 8200 §4.5).
 */
export const DROP6_FRAG_LEN = 10;
/** A first fragment without the whole header chain and upper-layer header (RFC 7112 §5). */
export const DROP6_FRAG_CHAIN = 11;
/** A multicast source address (RFC 4291 §2.7). */
export const DROP6_SRC_MULTICAST = 12;
/** TCP: fewer than 20 bytes of upper-layer data. */
export const DROP6_TCP_SHORT = 13;
/** TCP: data offset < 5 or header longer than the upper-layer data. */
export const DROP6_TCP_DOFF = 14;
/** UDP: fewer than 8 bytes of upper-layer data. */
export const DROP6_UDP_SHORT = 15;
/** UDP: length field < 8 or greater than the upper-layer data. */
export const DROP6_UDP_LEN = 16;
/** UDP: a zero checksum field, invalid over IPv6 (RFC 8200 §8.1). */
export const DROP6_UDP_ZERO_CSUM = 17;
/** ICMPv6: fewer than 8 bytes. */
export const DROP6_ICMP_SHORT = 18;
/** ICMPv6: checksum (with its pseudo-header) does not verify. */
export const DROP6_ICMP_CSUM = 19;
/** Neighbor Discovery (RFC 4861): link-local signalling, never forwarded. */
export const DROP6_NDP = 20;
/** Multicast Listener Discovery (RFC 2710, RFC 3810): never forwarded. */
export const DROP6_MLD = 21;
/** A fragment; the wire checks accept these, the pipeline decides (frag6.ts). */
export const DROP6_FRAGMENT = 22;
/** A later fragment whose first fragment was not seen (frag6.ts). */
export const DROP6_FRAG_UNMATCHED = 23;
/** A first fragment while the fragment tracker is at its budget (frag6.ts). */
export const DROP6_FRAG_FULL = 24;
/** An ICMPv6 error whose quoted packet is unusable (too short, not IPv6, no ports). */
export const DROP6_ICMP_QUOTE = 25;

/** Counter names indexed by code; IPV6_DROP_NAMES[WIRE_OK] is "ok". */
export const IPV6_DROP_NAMES: readonly string[] = Object.freeze([
  'ok',
  'ip6-short',
  'ip6-version',
  'ip6-payload-len',
  'ip6-ext-truncated',
  'ip6-ext-chain',
  'ip6-hbh-position',
  'ip6-ext-repeat',
  'ip6-rh0',
  'ip6-rh-segleft',
  'ip6-frag-len',
  'ip6-frag-chain',
  'ip6-src-multicast',
  'tcp6-short',
  'tcp6-doff',
  'udp6-short',
  'udp6-len',
  'udp6-zero-csum',
  'icmp6-short',
  'icmp6-csum',
  'icmp6-ndp',
  'icmp6-mld',
  'ip6-fragment',
  'frag6-unmatched',
  'frag6-full',
  'icmp6-quote',
]);

/** Number of codes (WIRE_OK included): the length of a counter array indexed by code. */
export const IPV6_DROP_COUNT = IPV6_DROP_NAMES.length;

// ---------------------------------------------------------------------------------------
// Getters
// ---------------------------------------------------------------------------------------

export function ipv6Version(buf: Uint8Array, off: number): number {
  return buf[off] >>> 4;
}

/** Traffic class (DSCP << 2 | ECN, RFC 2474 / RFC 3168). */
export function ipv6TrafficClass(buf: Uint8Array, off: number): number {
  return ((buf[off] & 0x0f) << 4) | (buf[off + 1] >>> 4);
}

/** The 20-bit flow label (RFC 6437). */
export function ipv6FlowLabel(buf: Uint8Array, off: number): number {
  return ((buf[off + 1] & 0x0f) << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

export function ipv6PayloadLen(buf: Uint8Array, off: number): number {
  return (buf[off + IPV6_OFF_PAYLOAD_LEN] << 8) | buf[off + IPV6_OFF_PAYLOAD_LEN + 1];
}

/** Length of the whole packet: 40 + payload length. */
export function ipv6TotalLen(buf: Uint8Array, off: number): number {
  return IPV6_HDR_LEN + ipv6PayloadLen(buf, off);
}

export function ipv6NextHeader(buf: Uint8Array, off: number): number {
  return buf[off + IPV6_OFF_NEXT_HDR];
}

export function ipv6HopLimit(buf: Uint8Array, off: number): number {
  return buf[off + IPV6_OFF_HOP_LIMIT];
}

/** Offset of the source address bytes (16 of them). */
export function ipv6SrcOff(off: number): number {
  return off + IPV6_OFF_SRC;
}

/** Offset of the destination address bytes (16 of them). */
export function ipv6DstOff(off: number): number {
  return off + IPV6_OFF_DST;
}

// ---------------------------------------------------------------------------------------
// Raw setters (there is no header checksum to maintain)
// ---------------------------------------------------------------------------------------

/** Writes version 6, the traffic class and the flow label (the first 32 bits). */
export function ipv6SetVtf(buf: Uint8Array, off: number, trafficClass: number, flowLabel: number): void {
  buf[off] = 0x60 | ((trafficClass >>> 4) & 0x0f);
  buf[off + 1] = ((trafficClass & 0x0f) << 4) | ((flowLabel >>> 16) & 0x0f);
  buf[off + 2] = flowLabel >>> 8;
  buf[off + 3] = flowLabel;
}

export function ipv6SetPayloadLen(buf: Uint8Array, off: number, len: number): void {
  buf[off + IPV6_OFF_PAYLOAD_LEN] = len >>> 8;
  buf[off + IPV6_OFF_PAYLOAD_LEN + 1] = len;
}

export function ipv6SetNextHeader(buf: Uint8Array, off: number, nh: number): void {
  buf[off + IPV6_OFF_NEXT_HDR] = nh;
}

export function ipv6SetHopLimit(buf: Uint8Array, off: number, hl: number): void {
  buf[off + IPV6_OFF_HOP_LIMIT] = hl;
}

/**
 * Decrements the hop limit and returns the new value. Precondition: hop limit > 0 (a packet
 * whose hop limit would reach 0 is answered with time exceeded by a forwarder, RFC 8200 §3).
 */
export function ipv6DecHopLimit(buf: Uint8Array, off: number): number {
  const hl = buf[off + IPV6_OFF_HOP_LIMIT] - 1;
  buf[off + IPV6_OFF_HOP_LIMIT] = hl;
  return hl;
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

/**
 * Validates the fixed IPv6 header at off with `available` bytes from off: available >= 40,
 * version 6, 40 + payload length <= available. Returns WIRE_OK or a DROP6_* code. Bytes
 * beyond 40 + payload length (link padding) are allowed; use ipv6TotalLen.
 */
export function ipv6Check(buf: Uint8Array, off: number, available: number): number {
  if (available < IPV6_HDR_LEN) return DROP6_SHORT;
  if (buf[off] >>> 4 !== 6) return DROP6_VERSION;
  if (IPV6_HDR_LEN + ipv6PayloadLen(buf, off) > available) return DROP6_PAYLOAD_LEN;
  return WIRE_OK;
}

// ---------------------------------------------------------------------------------------
// Repr: for headers the director builds (outer tunnel headers, ICMPv6 messages) and tests.
// ---------------------------------------------------------------------------------------

export interface Ipv6Repr {
  /** Source and destination: slots of 4 words (addr6.ts) with their word indexes. */
  src: Uint32Array;
  srcO: number;
  dst: Uint32Array;
  dstO: number;
  nextHeader: number;
  hopLimit: number;
  payloadLen: number;
  trafficClass?: number;
  flowLabel?: number;
}

function storeWords(a: Uint32Array, o: number, buf: Uint8Array, off: number): void {
  for (let i = 0; i < 4; i++) {
    const w = a[o + i];
    const b = off + (i << 2);
    buf[b] = w >>> 24;
    buf[b + 1] = w >>> 16;
    buf[b + 2] = w >>> 8;
    buf[b + 3] = w;
  }
}

/** Writes all 40 header bytes; returns IPV6_HDR_LEN. */
export function emitIpv6Header(buf: Uint8Array, off: number, r: Ipv6Repr): number {
  ipv6SetVtf(buf, off, r.trafficClass ?? 0, r.flowLabel ?? 0);
  ipv6SetPayloadLen(buf, off, r.payloadLen);
  buf[off + IPV6_OFF_NEXT_HDR] = r.nextHeader;
  buf[off + IPV6_OFF_HOP_LIMIT] = r.hopLimit;
  storeWords(r.src, r.srcO, buf, off + IPV6_OFF_SRC);
  storeWords(r.dst, r.dstO, buf, off + IPV6_OFF_DST);
  return IPV6_HDR_LEN;
}
