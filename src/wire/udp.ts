/**
 * UDP header view (RFC 768).
 *
 *     0      7 8     15 16    23 24    31
 *    +--------+--------+--------+--------+
 *    |     Source      |   Destination   |
 *    |      Port       |      Port       |
 *    +--------+--------+--------+--------+
 *    |                 |                 |
 *    |     Length      |    Checksum     |
 *    +--------+--------+--------+--------+
 *    |
 *    |          data octets ...
 *    +---------------- ...
 *
 * Length counts header and data. A checksum of 0 means "not computed"; a computed 0 is sent
 * as 0xffff. The checksum is not verified here (TUN offloads may leave a partial sum, see
 * checksum.ts). Accessors take (buf, off) at the UDP header and do not check bounds.
 * Contract: after udpCheck(buf, off, l4Len) returns WIRE_OK, the header and udpLength bytes
 * from off lie inside buf[off .. off+l4Len).
 */

import { DROP_UDP_LEN, DROP_UDP_SHORT, WIRE_OK } from './ipv4';

export const UDP_OFF_SPORT = 0;
export const UDP_OFF_DPORT = 2;
export const UDP_OFF_LEN = 4;
export const UDP_OFF_CHECK = 6;
export const UDP_HDR_LEN = 8;

function u16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

function set16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

export function udpSrcPort(buf: Uint8Array, off: number): number {
  return u16(buf, off + UDP_OFF_SPORT);
}

export function udpDstPort(buf: Uint8Array, off: number): number {
  return u16(buf, off + UDP_OFF_DPORT);
}

export function udpLength(buf: Uint8Array, off: number): number {
  return u16(buf, off + UDP_OFF_LEN);
}

export function udpChecksum(buf: Uint8Array, off: number): number {
  return u16(buf, off + UDP_OFF_CHECK);
}

export function udpSetSrcPort(buf: Uint8Array, off: number, port: number): void {
  set16(buf, off + UDP_OFF_SPORT, port);
}

export function udpSetDstPort(buf: Uint8Array, off: number, port: number): void {
  set16(buf, off + UDP_OFF_DPORT, port);
}

export function udpSetLength(buf: Uint8Array, off: number, len: number): void {
  set16(buf, off + UDP_OFF_LEN, len);
}

export function udpSetChecksum(buf: Uint8Array, off: number, check: number): void {
  set16(buf, off + UDP_OFF_CHECK, check);
}

/**
 * Validates a UDP header at off with l4Len bytes of datagram (IP total length minus IP
 * header length): l4Len >= 8 and 8 <= length field <= l4Len (a shorter length field is
 * allowed, the rest is padding, as udp_rcv in net/ipv4/udp.c trims).
 * Returns WIRE_OK, DROP_UDP_SHORT or DROP_UDP_LEN. Only for first fragments.
 */
export function udpCheck(buf: Uint8Array, off: number, l4Len: number): number {
  if (l4Len < UDP_HDR_LEN) return DROP_UDP_SHORT;
  const ulen = u16(buf, off + UDP_OFF_LEN);
  if (ulen < UDP_HDR_LEN || ulen > l4Len) return DROP_UDP_LEN;
  return WIRE_OK;
}
