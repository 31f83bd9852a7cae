/**
 * Software offloads for transmitters whose output path cannot take the TUN's offload
 * metadata (IPIP: virtio_net_hdr has no GSO type for it, include/uapi/linux/virtio_net.h):
 * completing a NEEDS_CSUM checksum and cutting a TCPv4 super-packet into MSS-sized segments,
 * as the kernel's skb_checksum_help and tcp_gso_segment (net/ipv4/tcp_offload.c) do.
 *
 * Offsets: csum_start of a TUN frame counts from the IP header (a TUN frame has no link
 * header); every function here takes ipOff = the IP header.
 */
import { csumFold, csumPartial, ipv4HeaderChecksum, l4Checksum } from '../wire/checksum';
import {
  VNET_F_NEEDS_CSUM, VNET_GSO_ECN, VNET_GSO_NONE, VNET_GSO_TCPV4, VNET_OFF_CSUM_OFFSET, VNET_OFF_CSUM_START,
  VNET_OFF_FLAGS, VNET_OFF_GSO_SIZE, VNET_OFF_GSO_TYPE,
} from '../phy/device';
import { IPPROTO_TCP, IPPROTO_UDP } from '../ipvs/types';

const IP_TOTAL_LEN = 2;
const IP_ID = 4;
const IP_PROTO = 9;
const IP_CHECK = 10;
const IP_SRC = 12;
const IP_DST = 16;
const TCP_SEQ = 4;
const TCP_DOFF = 12;
const TCP_FLAGS = 13;
const TCP_CHECK = 16;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

function u16le(buf: Uint8Array, o: number): number {
  return buf[o] | (buf[o + 1] << 8);
}

function u32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

function put16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

function put32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 24;
  buf[o + 1] = v >>> 16;
  buf[o + 2] = v >>> 8;
  buf[o + 3] = v;
}

/** GSO type of the virtio_net_hdr at frame without the ECN bit (VNET_GSO_NONE when vnetHdrLen is 0). */
export function vnetGsoType(buf: Uint8Array, frame: number, vnetHdrLen: number): number {
  return vnetHdrLen === 0 ? VNET_GSO_NONE : buf[frame + VNET_OFF_GSO_TYPE] & ~VNET_GSO_ECN;
}

/** gso_size of the virtio_net_hdr at frame: payload bytes per segment. */
export function vnetGsoSize(buf: Uint8Array, frame: number): number {
  return u16le(buf, frame + VNET_OFF_GSO_SIZE);
}

/** True when the frame's L4 checksum field holds only the pseudo-header sum. */
export function vnetNeedsCsum(buf: Uint8Array, frame: number, vnetHdrLen: number): boolean {
  return vnetHdrLen !== 0 && (buf[frame + VNET_OFF_FLAGS] & VNET_F_NEEDS_CSUM) !== 0;
}

/**
 * Completes a NEEDS_CSUM checksum in place (skb_checksum_help): the field at
 * ipOff+csumStart+csumOffset holds the pseudo-header sum; the one's-complement sum over
 * [ipOff+csumStart, ipOff+totalLen) including that field is complemented into it. A UDP
 * result of 0 is stored as 0xffff (RFC 768: 0 means "no checksum").
 */
export function completeChecksum(buf: Uint8Array, ipOff: number, totalLen: number, csumStart: number,
  csumOffset: number): void {
  const start = ipOff + csumStart;
  const field = start + csumOffset;
  const c = ~csumFold(csumPartial(buf, start, ipOff + totalLen - start)) & 0xffff;
  put16(buf, field, c === 0 && buf[ipOff + IP_PROTO] === IPPROTO_UDP ? 0xffff : c);
}

/** completeChecksum with csum_start/csum_offset read from the virtio_net_hdr at frame. */
export function completeChecksumFromVnet(buf: Uint8Array, frame: number, ipOff: number, totalLen: number): void {
  completeChecksum(buf, ipOff, totalLen, u16le(buf, frame + VNET_OFF_CSUM_START),
    u16le(buf, frame + VNET_OFF_CSUM_OFFSET));
}

/** IP + TCP header bytes of the TCPv4 packet at ipOff. */
export function tcpHeadersLen(buf: Uint8Array, ipOff: number): number {
  const hl = (buf[ipOff] & 0x0f) << 2;
  return hl + ((buf[ipOff + hl + TCP_DOFF] >>> 4) << 2);
}

/** Number of segments of at most mss payload bytes (at least 1). */
export function tcpSegmentCount(buf: Uint8Array, ipOff: number, totalLen: number, mss: number): number {
  const payload = totalLen - tcpHeadersLen(buf, ipOff);
  return payload <= 0 ? 1 : Math.ceil(payload / mss);
}

/** True when the GSO type is one tcpWriteSegment handles. */
export function gsoSupported(gsoType: number, proto: number): boolean {
  return gsoType === VNET_GSO_TCPV4 && proto === IPPROTO_TCP;
}

/**
 * Writes segment k (0-based) of the TCPv4 super-packet src[ipOff .. ipOff+totalLen) to
 * out[outOff..] and returns its length: the IP and TCP headers copied, then payload bytes
 * [k*mss, min((k+1)*mss, payload)). Per segment (tcp_gso_segment, inet_gso_segment):
 * total length, IP ID = first ID + k, sequence number + k*mss, FIN and PSH only on the last
 * segment, CWR only on the first; IP and TCP checksums complete (whatever the source's
 * checksum field held). out and src may be the same buffer if the ranges do not overlap.
 */
export function tcpWriteSegment(src: Buffer, ipOff: number, totalLen: number, mss: number, k: number,
  out: Buffer, outOff: number): number {
  const ipHl = (src[ipOff] & 0x0f) << 2;
  const hdrs = tcpHeadersLen(src, ipOff);
  const payload = totalLen - hdrs;
  const from = k * mss;
  const chunk = Math.max(0, Math.min(mss, payload - from));
  const last = from + chunk >= payload;
  src.copy(out, outOff, ipOff, ipOff + hdrs);
  if (chunk > 0) src.copy(out, outOff + hdrs, ipOff + hdrs + from, ipOff + hdrs + from + chunk);
  const len = hdrs + chunk;
  put16(out, outOff + IP_TOTAL_LEN, len);
  put16(out, outOff + IP_ID, ((src[ipOff + IP_ID] << 8 | src[ipOff + IP_ID + 1]) + k) & 0xffff);
  put16(out, outOff + IP_CHECK, 0);
  put16(out, outOff + IP_CHECK, ipv4HeaderChecksum(out, outOff, ipHl));
  const t = outOff + ipHl;
  put32(out, t + TCP_SEQ, u32(src, ipOff + ipHl + TCP_SEQ) + from);
  let flags = out[t + TCP_FLAGS];
  if (!last) flags &= ~(TCP_FIN | TCP_PSH);
  if (k > 0) flags &= ~TCP_CWR;
  out[t + TCP_FLAGS] = flags;
  put16(out, t + TCP_CHECK, l4Checksum(out, t, len - ipHl, u32(out, outOff + IP_SRC), u32(out, outOff + IP_DST),
    IPPROTO_TCP));
  return len;
}
