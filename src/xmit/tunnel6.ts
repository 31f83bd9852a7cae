/**
 * Pure helpers of IP tunnelling over IPv6 (ipvsadm -i with an IPv6 real server), as
 * ip_vs_tunnel_xmit_v6 in net/netfilter/ipvs/ip_vs_xmit.c: the client's packet, untouched,
 * behind an outer IPv6 header from the director's address to the real server.
 *
 * - IPv6 in IPv6 (RFC 2473, next header 41): traffic class and flow label copied from the
 *   inner header (RFC 2473 §6.5 lets the entry point copy the traffic class; a copied flow
 *   label keeps the client's flow on one ECMP path, RFC 6438 §3), hop limit 64 by default.
 * - IPv4 in IPv6 (RFC 2473 §5, next header 4): traffic class = the inner TOS, flow label as
 *   given (0 by default).
 * No tunnel encapsulation limit option (RFC 2473 §4.1.1) is added, as IPVS adds none: the
 *   outer header is exactly 40 bytes.
 *
 * Path MTU (RFC 2473 §7.1): the tunnel MTU is the path MTU minus 40. An IPv6 packet that does
 * not fit is answered with packet too big carrying max(1280, path MTU - 40) when it is larger
 * than 1280 bytes; one of 1280 bytes or less must get through, so the outer packet is
 * fragmented instead. An IPv4 packet with DF gets ICMP fragmentation-needed with path MTU - 40;
 * one without DF is fragmented outside.
 *
 * Offloads: virtio-net has no GSO type for tunnelled packets, so a TSO6 or USO super-packet
 * is cut into segments (tcp6WriteSegment, udp6WriteSegment) with complete checksums, and a
 * NEEDS_CSUM checksum is completed in place (completeChecksum6), as src/xmit/gso.ts does for
 * IPv4. Every function writes into a caller's buffer and allocates nothing when source and
 * output are the same buffer (the device buffer with its slots and scratch space).
 */

import { csumFold, csumPartial, l4Checksum6 } from '../wire/checksum';
import {
  IPV6_HDR_LEN, IPV6_MIN_MTU, IPV6_OFF_DST, IPV6_OFF_SRC, NEXTHDR_IPIP, NEXTHDR_IPV6, NEXTHDR_TCP, NEXTHDR_UDP,
  ipv6FlowLabel, ipv6SetPayloadLen, ipv6SetVtf, ipv6TrafficClass,
} from '../wire/ipv6';

/** Bytes the outer header adds. */
export const IP6_TUNNEL_OVERHEAD = IPV6_HDR_LEN;
/** Hop limit of outer headers (Linux's default net.ipv6.conf.*.hop_limit). */
export const TUNNEL6_HOP_LIMIT = 64;
/** virtio-net GSO type of UDP segmentation offload (VIRTIO_NET_HDR_GSO_UDP_L4, Linux 5.18). */
export const VNET_GSO_UDP_L4 = 5;

/** Verdicts of tunnel6MtuCheck. */
export const TUN6_FITS = 0;
/** Answer an IPv6 inner packet with packet too big (tunnel6ReportedMtu). */
export const TUN6_PACKET_TOO_BIG = 1;
/** Answer an IPv4 inner packet with ICMP fragmentation needed (path MTU - 40). */
export const TUN6_FRAG_NEEDED = 2;
/** Send it; the outer packet is fragmented (by the kernel, after the TUN). */
export const TUN6_FRAGMENT_OUTER = 3;

function set32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = v >>> 16;
  buf[o + 2] = v >>> 8;
  buf[o + 3] = v;
}

/**
 * Writes a 40-byte outer IPv6 header at off: payload length innerLen, next header `nextHdr`
 * (41 or 4), the traffic class, flow label and hop limit given, source slot src[so..],
 * destination slot dst[do_..]. Every byte is written.
 */
export function writeIp6OuterHeader(buf: Uint8Array, off: number, src: Uint32Array, so: number, dst: Uint32Array,
  do_: number, innerLen: number, nextHdr: number, trafficClass: number, flowLabel: number,
  hopLimit = TUNNEL6_HOP_LIMIT): void {
  ipv6SetVtf(buf, off, trafficClass, flowLabel);
  ipv6SetPayloadLen(buf, off, innerLen);
  buf[off + 6] = nextHdr;
  buf[off + 7] = hopLimit;
  for (let i = 0; i < 4; i++) {
    set32(buf, off + IPV6_OFF_SRC + (i << 2), src[so + i]);
    set32(buf, off + IPV6_OFF_DST + (i << 2), dst[do_ + i]);
  }
}

/**
 * Copies src[from .. to) to out[at ..]. Within one buffer (the datapath's case: slots and
 * scratch space share the device buffer) this is copyWithin, which allocates nothing and is
 * correct for overlapping ranges; across buffers it costs one subarray view (Buffer.copy
 * allocates as much).
 */
function copyBytes(src: Uint8Array, from: number, to: number, out: Uint8Array, at: number): void {
  if (src === out) out.copyWithin(at, from, to);
  else out.set(src.subarray(from, to), at);
}

/**
 * Moves inner[innerOff .. +innerLen) to out[outOff + 40 ..] unless it is there already (the
 * headroom case: out === inner and innerOff === outOff + 40).
 */
function placeInner(out: Uint8Array, outOff: number, inner: Uint8Array, innerOff: number, innerLen: number): void {
  const to = outOff + IPV6_HDR_LEN;
  if (out === inner && to === innerOff) return;
  copyBytes(inner, innerOff, innerOff + innerLen, out, to);
}

/**
 * IPv6-in-IPv6: writes at out[outOff..] the outer header and the IPv6 packet
 * inner[innerOff .. innerOff+innerLen), traffic class and flow label copied from it. Returns
 * the tunnel packet's length (innerLen + 40). Precondition: innerLen <= 65535.
 */
export function encap6in6(out: Uint8Array, outOff: number, inner: Uint8Array, innerOff: number, innerLen: number,
  src: Uint32Array, so: number, dst: Uint32Array, do_: number, hopLimit = TUNNEL6_HOP_LIMIT): number {
  const tc = ipv6TrafficClass(inner, innerOff);
  const fl = ipv6FlowLabel(inner, innerOff);
  placeInner(out, outOff, inner, innerOff, innerLen);
  writeIp6OuterHeader(out, outOff, src, so, dst, do_, innerLen, NEXTHDR_IPV6, tc, fl, hopLimit);
  return IPV6_HDR_LEN + innerLen;
}

/**
 * IPv4-in-IPv6: as encap6in6 for the IPv4 packet at inner[innerOff..]; traffic class = its
 * TOS, flow label `flowLabel`.
 */
export function encap4in6(out: Uint8Array, outOff: number, inner: Uint8Array, innerOff: number, innerLen: number,
  src: Uint32Array, so: number, dst: Uint32Array, do_: number, hopLimit = TUNNEL6_HOP_LIMIT, flowLabel = 0): number {
  const tos = inner[innerOff + 1];
  placeInner(out, outOff, inner, innerOff, innerLen);
  writeIp6OuterHeader(out, outOff, src, so, dst, do_, innerLen, NEXTHDR_IPIP, tos, flowLabel, hopLimit);
  return IPV6_HDR_LEN + innerLen;
}

/** The MTU a packet too big reports for a tunnel over a path of pathMtu: max(1280, pathMtu - 40). */
export function tunnel6ReportedMtu(pathMtu: number): number {
  const m = pathMtu - IPV6_HDR_LEN;
  return m < IPV6_MIN_MTU ? IPV6_MIN_MTU : m;
}

/**
 * What to do with an inner packet of innerLen bytes (IPv6 when innerV6, else IPv4 with its DF
 * bit `df`) on a tunnel over a path of pathMtu (the rules above). Returns a TUN6_* verdict.
 */
export function tunnel6MtuCheck(innerV6: boolean, innerLen: number, df: boolean, pathMtu: number): number {
  if (innerLen + IPV6_HDR_LEN <= pathMtu) return TUN6_FITS;
  if (innerV6) return innerLen > IPV6_MIN_MTU ? TUN6_PACKET_TOO_BIG : TUN6_FRAGMENT_OUTER;
  return df ? TUN6_FRAG_NEEDED : TUN6_FRAGMENT_OUTER;
}

/**
 * Completes a NEEDS_CSUM checksum of the IPv6 packet at ipOff (totalLen bytes) in place, as
 * skb_checksum_help: the field at ipOff+csumStart+csumOffset holds the pseudo-header sum; the
 * sum over [ipOff+csumStart, ipOff+totalLen) including that field is complemented into it. A
 * UDP (proto = the upper-layer protocol) result of 0 is stored as 0xffff.
 */
export function completeChecksum6(buf: Uint8Array, ipOff: number, totalLen: number, csumStart: number,
  csumOffset: number, proto: number): void {
  const start = ipOff + csumStart;
  const field = start + csumOffset;
  let c = ~csumFold(csumPartial(buf, start, ipOff + totalLen - start)) & 0xffff;
  if (c === 0 && proto === NEXTHDR_UDP) c = 0xffff;
  buf[field] = c >>> 8;
  buf[field + 1] = c;
}

/** Segments of at most `size` payload bytes after `hdrs` header bytes (at least 1). */
export function segmentCount6(totalLen: number, hdrs: number, size: number): number {
  const payload = totalLen - hdrs;
  return payload <= 0 ? 1 : Math.ceil(payload / size);
}

/** IPv6 header, extension headers and TCP header bytes of the TCPv6 packet (TCP at l4Off). */
export function tcp6HeadersLen(buf: Uint8Array, ipOff: number, l4Off: number): number {
  return l4Off - ipOff + ((buf[l4Off + 12] >>> 4) << 2);
}

/**
 * Writes segment k (0-based) of the TSO6 super-packet src[ipOff .. ipOff+totalLen), whose TCP
 * header is at l4Off, to out[outOff..] and returns its length: every header byte (IPv6,
 * extension headers, TCP) copied, then payload bytes [k*mss, min((k+1)*mss, payload)). Per
 * segment (tcp_gso_segment, ipv6_gso_segment): payload length, sequence number + k*mss, FIN
 * and PSH only on the last segment, CWR only on the first, a complete TCP checksum whatever
 * the source field held. out and src may be the same buffer if the ranges do not overlap.
 */
export function tcp6WriteSegment(src: Uint8Array, ipOff: number, l4Off: number, totalLen: number, mss: number,
  k: number, out: Uint8Array, outOff: number): number {
  const hdrs = tcp6HeadersLen(src, ipOff, l4Off);
  const payload = totalLen - hdrs;
  const from = k * mss;
  const rest = payload - from;
  const chunk = rest <= 0 ? 0 : rest < mss ? rest : mss;
  const last = from + chunk >= payload;
  copyBytes(src, ipOff, ipOff + hdrs, out, outOff);
  if (chunk > 0) copyBytes(src, ipOff + hdrs + from, ipOff + hdrs + from + chunk, out, outOff + hdrs);
  const len = hdrs + chunk;
  ipv6SetPayloadLen(out, outOff, len - IPV6_HDR_LEN);
  const t = outOff + (l4Off - ipOff);
  const s = l4Off + 4;
  set32(out, t + 4, (((src[s] << 24) | (src[s + 1] << 16) | (src[s + 2] << 8) | src[s + 3]) + from) >>> 0);
  let flags = out[t + 13];
  if (!last) flags &= ~0x09; // FIN, PSH
  if (k > 0) flags &= ~0x80; // CWR
  out[t + 13] = flags;
  const c = l4Checksum6(out, outOff, t, len - (l4Off - ipOff), NEXTHDR_TCP);
  out[t + 16] = c >>> 8;
  out[t + 17] = c;
  return len;
}

/**
 * Writes segment k of the USO super-packet src[ipOff .. ipOff+totalLen) over IPv6 (UDP header
 * at l4Off; `size` = gso_size, datagram payload bytes per segment) to out[outOff..] and
 * returns its length: headers copied, payload bytes [k*size, ...), payload length and UDP
 * length set, a complete UDP checksum (udp6_ufo_fragment / __udp_gso_segment: every segment
 * is a datagram of its own).
 */
export function udp6WriteSegment(src: Uint8Array, ipOff: number, l4Off: number, totalLen: number, size: number,
  k: number, out: Uint8Array, outOff: number): number {
  const hdrs = l4Off - ipOff + 8;
  const payload = totalLen - hdrs;
  const from = k * size;
  const rest = payload - from;
  const chunk = rest <= 0 ? 0 : rest < size ? rest : size;
  copyBytes(src, ipOff, ipOff + hdrs, out, outOff);
  if (chunk > 0) copyBytes(src, ipOff + hdrs + from, ipOff + hdrs + from + chunk, out, outOff + hdrs);
  const len = hdrs + chunk;
  ipv6SetPayloadLen(out, outOff, len - IPV6_HDR_LEN);
  const u = outOff + (l4Off - ipOff);
  const ulen = 8 + chunk;
  out[u + 4] = ulen >>> 8;
  out[u + 5] = ulen;
  const c = l4Checksum6(out, outOff, u, ulen, NEXTHDR_UDP);
  out[u + 6] = c >>> 8;
  out[u + 7] = c;
  return len;
}
