/**
 * IPv6 extension headers (RFC 8200 §4): the bounded walk from the fixed header to the
 * upper-layer header, the classification the packet path needs before it may look at ports,
 * and the reading of the packet an ICMPv6 error quotes.
 *
 * Extension headers walked (RFC 7045 §2 lists them; all but the fragment header and AH have
 * the uniform format of RFC 6564: next header, length in 8-octet units not counting the first):
 *
 *   0   hop-by-hop options    (x + 1) * 8 bytes, only right after the IPv6 header (§4.3)
 *   43  routing               (x + 1) * 8; type 0 dropped (RFC 5095); segments left != 0
 *                              dropped (the VIP is not the final destination)
 *   44  fragment              8 bytes: next header, reserved, offset(13) res(2) M(1), id(32)
 *   51  authentication        (x + 2) * 4 bytes (RFC 4302 §2.2)
 *   60  destination options   (x + 1) * 8 (at most twice, §4.1)
 *   135 mobility, 139 HIP, 140 shim6: (x + 1) * 8
 *
 * ESP (50) and no next header (59) end the walk as upper-layer protocols. A chain longer than
 * IPV6_MAX_EXT_HDRS, a header that runs past the payload, a second fragment/routing/AH header
 * or a third destination options header is dropped, each with its reason (ipv6.ts DROP6_*).
 *
 * Fragments (§4.5): the walk stops at a fragment header with a non-zero offset (what follows
 * is payload, not headers); a first fragment must carry the whole chain and the upper-layer
 * header (RFC 7112 §5); an atomic fragment (offset 0, M clear, RFC 6946) is processed as an
 * unfragmented packet and only flagged.
 *
 * Everything here is allocation-free: results go into an Ipv6Info the caller owns and reuses.
 */

import { addr6IsMulticastBytes, addr6IsUnspecifiedBytes } from './addr6';
import {
  ICMP6_CLASS, ICMP6_CLASS_ERROR, ICMP6_CLASS_MLD, ICMP6_CLASS_NDP, ICMP6_HDR_LEN, ICMP6_ND_REDIRECT,
  ICMP6_PACKET_TOO_BIG, ICMP6_PARAM_PROB, ICMP6_UNK_OPTION, icmp6Check,
} from './icmp6';
import {
  DROP6_EXT_CHAIN, DROP6_EXT_REPEAT, DROP6_EXT_TRUNCATED, DROP6_FRAG_CHAIN, DROP6_FRAG_LEN, DROP6_HBH_POSITION,
  DROP6_ICMP_QUOTE, DROP6_ICMP_SHORT, DROP6_MLD, DROP6_NDP, DROP6_RH0, DROP6_RH_SEGLEFT, DROP6_SRC_MULTICAST,
  DROP6_TCP_DOFF, DROP6_TCP_SHORT, DROP6_UDP_LEN, DROP6_UDP_SHORT, DROP6_UDP_ZERO_CSUM,
  IPV6_HDR_LEN, IPV6_OFF_DST, IPV6_OFF_NEXT_HDR, IPV6_OFF_SRC, NEXTHDR_AUTH, NEXTHDR_DEST, NEXTHDR_FRAGMENT,
  NEXTHDR_HIP, NEXTHDR_HOP, NEXTHDR_ICMPV6, NEXTHDR_MOBILITY, NEXTHDR_ROUTING, NEXTHDR_SHIM6, NEXTHDR_TCP,
  NEXTHDR_UDP, WIRE_OK, ipv6Check, ipv6PayloadLen,
} from './ipv6';

/**
 * Most extension headers walked. A chain that follows RFC 8200 §4.1 (each header once,
 * destination options twice) has at most eight: hop-by-hop, destination options, routing,
 * fragment, AH, destination options, mobility and one of HIP/shim6. Anything longer is an
 * attack on the walk, not traffic.
 */
export const IPV6_MAX_EXT_HDRS = 8;

/** Fragment state of a classified packet. */
export const FRAG6_NONE = 0;
/** Offset 0, M set: carries the upper-layer header (and so the ports). */
export const FRAG6_FIRST = 1;
/** Offset != 0: no upper-layer header; follows its first fragment (frag6.ts). */
export const FRAG6_LATER = 2;

/** Kind of extension header by next header value: 0 not one, else its length rule. */
const EXT_UNIFORM = 1;
const EXT_AUTH = 2;
const EXT_FRAGMENT = 3;
const EXT_KIND: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const nh of [NEXTHDR_HOP, NEXTHDR_ROUTING, NEXTHDR_DEST, NEXTHDR_MOBILITY, NEXTHDR_HIP, NEXTHDR_SHIM6]) t[nh] = EXT_UNIFORM;
  t[NEXTHDR_AUTH] = EXT_AUTH;
  t[NEXTHDR_FRAGMENT] = EXT_FRAGMENT;
  return t;
})();

/** True when `nh` is an extension header the walk steps over. */
export function ipv6IsExtHeader(nh: number): boolean {
  return EXT_KIND[nh & 0xff] !== 0;
}

/**
 * What the walk and the classifier learnt about one packet. Offsets are absolute in the
 * buffer. One instance per caller, reused for every packet.
 */
export class Ipv6Info {
  /** Upper-layer protocol: the next header value after the chain (59 none, 50 ESP...). */
  proto = 0;
  /** Offset of the upper-layer header (of the fragment's data for FRAG6_LATER). */
  l4Off = 0;
  /** Bytes from l4Off to the end of the packet (of the quote, for a quoted packet). */
  l4Len = 0;
  /** Offset just past the packet: ipOff + 40 + payload length (or the quote's end). */
  end = 0;
  /** Number of extension headers walked. */
  extHdrs = 0;
  /** FRAG6_NONE, FRAG6_FIRST or FRAG6_LATER (an atomic fragment is FRAG6_NONE). */
  frag = FRAG6_NONE;
  /** Offset of the fragment header, -1 when there is none. */
  fragHdrOff = -1;
  /** Identification of the fragment header (uint32). */
  fragId = 0;
  /** Fragment offset in bytes. */
  fragOffset = 0;
  /** M flag of the fragment header. */
  fragMore = false;
  /** A fragment header with offset 0 and M clear (RFC 6946). */
  atomic = false;
  /** Offset of the routing header, -1 when there is none. */
  routingOff = -1;

  reset(): void {
    this.proto = 0;
    this.l4Off = 0;
    this.l4Len = 0;
    this.end = 0;
    this.extHdrs = 0;
    this.frag = FRAG6_NONE;
    this.fragHdrOff = -1;
    this.fragId = 0;
    this.fragOffset = 0;
    this.fragMore = false;
    this.atomic = false;
    this.routingOff = -1;
  }
}

const SEEN_ROUTING = 1;
const SEEN_FRAGMENT = 2;
const SEEN_AUTH = 4;

/**
 * Walks the chain of the packet whose IPv6 header is at off and ends at `end` (exclusive), as
 * described above, filling info. `quoted`: the packet is a quote inside an ICMPv6 error, cut
 * short at `end`; the upper-layer header may then be incomplete (info.l4Len tells).
 * Returns WIRE_OK or a DROP6_* code. Precondition: off + 40 <= end <= buf.length.
 */
export function ipv6WalkChain(buf: Uint8Array, off: number, end: number, info: Ipv6Info, quoted: boolean): number {
  info.reset();
  info.end = end;
  let nh = buf[off + IPV6_OFF_NEXT_HDR];
  let p = off + IPV6_HDR_LEN;
  let seen = 0;
  let dest = 0;
  let n = 0;
  for (;;) {
    const kind = EXT_KIND[nh];
    if (kind === 0) break;
    if (++n > IPV6_MAX_EXT_HDRS) return DROP6_EXT_CHAIN;
    // The chain of a first fragment must be complete within it (RFC 7112).
    const cut = info.frag === FRAG6_FIRST && !quoted ? DROP6_FRAG_CHAIN : DROP6_EXT_TRUNCATED;
    let len: number;
    if (kind === EXT_FRAGMENT) {
      if (seen & SEEN_FRAGMENT) return DROP6_EXT_REPEAT;
      seen |= SEEN_FRAGMENT;
      len = 8;
      if (p + 8 > end) return cut;
      const word = (buf[p + 2] << 8) | buf[p + 3];
      const offset = word & 0xfff8;
      const more = (word & 1) !== 0;
      info.fragHdrOff = p;
      info.fragId = ((buf[p + 4] << 24) | (buf[p + 5] << 16) | (buf[p + 6] << 8) | buf[p + 7]) >>> 0;
      info.fragOffset = offset;
      info.fragMore = more;
      if (offset === 0 && !more) {
        info.atomic = true;
      } else if (!quoted) {
        // Reassembled payload: the headers before this one, then offset + data (RFC 8200 §4.5).
        const data = end - (p + 8);
        if ((more && (data & 7) !== 0) || p - (off + IPV6_HDR_LEN) + offset + data > 0xffff) return DROP6_FRAG_LEN;
      }
      if (offset !== 0) {
        info.frag = FRAG6_LATER;
        info.extHdrs = n;
        info.proto = buf[p];
        info.l4Off = p + 8;
        info.l4Len = end - (p + 8);
        return WIRE_OK;
      }
      if (more) info.frag = FRAG6_FIRST;
    } else {
      if (p + 2 > end) return cut;
      len = kind === EXT_AUTH ? (buf[p + 1] + 2) << 2 : (buf[p + 1] + 1) << 3;
      if (p + len > end) return cut;
      if (nh === NEXTHDR_HOP) {
        if (n !== 1) return DROP6_HBH_POSITION;
      } else if (nh === NEXTHDR_ROUTING) {
        if (seen & SEEN_ROUTING) return DROP6_EXT_REPEAT;
        seen |= SEEN_ROUTING;
        // Type and segments left sit in the first 8 bytes, which len (>= 8) covers.
        if (buf[p + 2] === 0) return DROP6_RH0;
        if (buf[p + 3] !== 0) return DROP6_RH_SEGLEFT;
        info.routingOff = p;
      } else if (nh === NEXTHDR_AUTH) {
        if (seen & SEEN_AUTH) return DROP6_EXT_REPEAT;
        seen |= SEEN_AUTH;
      } else if (nh === NEXTHDR_DEST) {
        if (++dest > 2) return DROP6_EXT_REPEAT;
      }
    }
    nh = buf[p];
    p += len;
  }
  info.extHdrs = n;
  info.proto = nh;
  info.l4Off = p;
  info.l4Len = end - p;
  return WIRE_OK;
}

/**
 * ipv6Check then the walk over the packet at off with `available` bytes: the whole of what the
 * packet path must know before it reads ports. Returns WIRE_OK or a DROP6_* code.
 */
export function ipv6Walk(buf: Uint8Array, off: number, available: number, info: Ipv6Info): number {
  const rc = ipv6Check(buf, off, available);
  if (rc !== WIRE_OK) return rc;
  return ipv6WalkChain(buf, off, off + IPV6_HDR_LEN + ipv6PayloadLen(buf, off), info, false);
}

/**
 * Validates and classifies the IPv6 packet at off with `available` bytes (the frame's length
 * from off): header (ipv6Check), chain (ipv6WalkChain), a unicast source, then the
 * upper-layer header:
 * - TCP: 20 bytes and a data offset that fits; UDP: 8 bytes, a length field in 8..l4Len
 *   (unfragmented), a non-zero checksum field unless `l4Partial`;
 * - ICMPv6: 8 bytes; Neighbor Discovery and MLD are dropped (DROP6_NDP, DROP6_MLD: the
 *   kernel's business, never forwarded); the checksum verifies for unfragmented messages
 *   unless `l4Partial`;
 * - a first fragment whose upper-layer header is cut: DROP6_FRAG_CHAIN;
 * - later fragments (info.frag === FRAG6_LATER) and other protocols pass unexamined.
 * `l4Partial`: the frame came with virtio-net NEEDS_CSUM (the checksum field holds the
 * pseudo-header sum). Returns WIRE_OK or a DROP6_* code.
 */
export function ipv6Classify(buf: Uint8Array, off: number, available: number, info: Ipv6Info, l4Partial: boolean): number {
  const rc = ipv6Walk(buf, off, available, info);
  if (rc !== WIRE_OK) return rc;
  if (addr6IsMulticastBytes(buf, off + IPV6_OFF_SRC)) return DROP6_SRC_MULTICAST;
  if (info.frag === FRAG6_LATER) return WIRE_OK;
  const first = info.frag === FRAG6_FIRST;
  const l4 = info.l4Off;
  const len = info.l4Len;
  switch (info.proto) {
    case NEXTHDR_TCP: {
      if (len < 20) return first ? DROP6_FRAG_CHAIN : DROP6_TCP_SHORT;
      const hl = (buf[l4 + 12] >>> 4) << 2;
      if (hl < 20) return DROP6_TCP_DOFF;
      if (hl > len) return first ? DROP6_FRAG_CHAIN : DROP6_TCP_DOFF;
      return WIRE_OK;
    }
    case NEXTHDR_UDP: {
      if (len < 8) return first ? DROP6_FRAG_CHAIN : DROP6_UDP_SHORT;
      const ulen = (buf[l4 + 4] << 8) | buf[l4 + 5];
      if (ulen < 8 || (!first && ulen > len) || (first && ulen <= len)) return DROP6_UDP_LEN;
      if (!l4Partial && buf[l4 + 6] === 0 && buf[l4 + 7] === 0) return DROP6_UDP_ZERO_CSUM;
      return WIRE_OK;
    }
    case NEXTHDR_ICMPV6: {
      if (len < ICMP6_HDR_LEN) return first ? DROP6_FRAG_CHAIN : DROP6_ICMP_SHORT;
      const cls = ICMP6_CLASS[buf[l4]];
      if (cls === ICMP6_CLASS_NDP) return DROP6_NDP;
      if (cls === ICMP6_CLASS_MLD) return DROP6_MLD;
      return first ? WIRE_OK : icmp6Check(buf, off, l4, len, l4Partial);
    }
    default:
      return WIRE_OK;
  }
}

/**
 * The packet an ICMPv6 error quotes, as its relay needs it. Offsets are absolute in the
 * error's buffer; the addresses are the 16 bytes at ipOff + 8 (source) and ipOff + 24
 * (destination) of the quoted header.
 */
export class Icmp6Quote {
  /** Offset of the quoted IPv6 header. */
  ipOff = 0;
  /** The quoted packet's upper-layer protocol and the offset of its header inside the quote. */
  proto = 0;
  l4Off = 0;
  /** Source and destination ports (TCP/UDP), or the identifier twice (ICMPv6 echo); -1 none. */
  sport = -1;
  dport = -1;
  /** The quoted packet was a later fragment: no ports. */
  laterFragment = false;
  /** Walk of the quoted chain. */
  readonly chain = new Ipv6Info();
}

/**
 * Reads the packet quoted by the ICMPv6 error of l4Len bytes at l4Off (classified already:
 * an error type, checksum verified). The quote must hold the quoted packet's IPv6 header, a
 * chain the walk accepts within the quote, and - unless it is a later fragment - the first 8
 * bytes of a TCP, UDP or ICMPv6 header (ports, or the echo identifier; RFC 4443 §2.4 (c)
 * makes the quote as long as fits, so a real error always has them). Returns WIRE_OK or
 * DROP6_ICMP_QUOTE (any defect: a relay has nothing to match).
 */
export function parseIcmp6Quote(buf: Uint8Array, l4Off: number, l4Len: number, q: Icmp6Quote): number {
  const ip = l4Off + ICMP6_HDR_LEN;
  const end = l4Off + l4Len;
  q.ipOff = ip;
  q.sport = -1;
  q.dport = -1;
  q.laterFragment = false;
  if (end - ip < IPV6_HDR_LEN) return DROP6_ICMP_QUOTE;
  if (buf[ip] >>> 4 !== 6) return DROP6_ICMP_QUOTE;
  const claimed = ip + IPV6_HDR_LEN + ipv6PayloadLen(buf, ip);
  const info = q.chain;
  if (ipv6WalkChain(buf, ip, claimed < end ? claimed : end, info, true) !== WIRE_OK) return DROP6_ICMP_QUOTE;
  q.proto = info.proto;
  q.l4Off = info.l4Off;
  if (info.frag === FRAG6_LATER) {
    q.laterFragment = true;
    return WIRE_OK;
  }
  const l4 = info.l4Off;
  if (info.l4Len < 8) return DROP6_ICMP_QUOTE;
  if (info.proto === NEXTHDR_TCP || info.proto === NEXTHDR_UDP) {
    q.sport = (buf[l4] << 8) | buf[l4 + 1];
    q.dport = (buf[l4 + 2] << 8) | buf[l4 + 3];
    return WIRE_OK;
  }
  if (info.proto === NEXTHDR_ICMPV6 && ICMP6_CLASS[buf[l4]] !== ICMP6_CLASS_ERROR) {
    q.sport = q.dport = (buf[l4 + 4] << 8) | buf[l4 + 5];
    return WIRE_OK;
  }
  return DROP6_ICMP_QUOTE;
}

/**
 * May an ICMPv6 error of `type`/`code` be sent about the packet at off, classified into
 * info? Not (RFC 4443 §2.4 (e)) about an ICMPv6 error or a redirect, about a packet to a
 * multicast address (except packet too big, and parameter problem code 2), nor to a source
 * that names no single node (unspecified or multicast).
 */
export function icmp6ErrorAllowed(buf: Uint8Array, off: number, info: Ipv6Info, type: number, code: number): boolean {
  const src = off + IPV6_OFF_SRC;
  if (addr6IsUnspecifiedBytes(buf, src) || addr6IsMulticastBytes(buf, src)) return false;
  if (addr6IsMulticastBytes(buf, off + IPV6_OFF_DST)
    && type !== ICMP6_PACKET_TOO_BIG && !(type === ICMP6_PARAM_PROB && code === ICMP6_UNK_OPTION)) return false;
  if (info.proto === NEXTHDR_ICMPV6 && info.frag !== FRAG6_LATER && info.l4Len >= 1) {
    const t = buf[info.l4Off];
    if (ICMP6_CLASS[t] === ICMP6_CLASS_ERROR || t === ICMP6_ND_REDIRECT) return false;
  }
  return true;
}
