/**
 * TCP header view (RFC 793 §3.1; flags ECE/CWR from RFC 3168).
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |          Source Port          |       Destination Port        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                        Sequence Number                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Acknowledgment Number                      |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Data |       |C|E|U|A|P|R|S|F|                               |
 *    | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *    |       |       |R|E|G|K|H|T|N|N|                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           Checksum            |         Urgent Pointer        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Options                    |    Padding    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Accessors take (buf, off) with off the first byte of the TCP header and do not check
 * bounds. Contract: after tcpCheck(buf, off, l4Len) returns WIRE_OK, every accessor reads
 * inside buf[off .. off+l4Len) and the payload starts at off + tcpHeaderLen.
 * The checksum is not verified here: with TUN offloads it may be a partial sum (checksum.ts).
 * Raw setters write the field only; NAT rewrites use natSet* of checksum.ts.
 */

import { DROP_TCP_DOFF, DROP_TCP_SHORT, WIRE_OK } from './ipv4';

export const TCP_OFF_SPORT = 0;
export const TCP_OFF_DPORT = 2;
export const TCP_OFF_SEQ = 4;
export const TCP_OFF_ACK = 8;
export const TCP_OFF_DOFF = 12;
export const TCP_OFF_FLAGS = 13;
export const TCP_OFF_WINDOW = 14;
export const TCP_OFF_CHECK = 16;
export const TCP_OFF_URG = 18;
export const TCP_MIN_HDR_LEN = 20;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

function u16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

function u32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
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

export function tcpSrcPort(buf: Uint8Array, off: number): number {
  return u16(buf, off + TCP_OFF_SPORT);
}

export function tcpDstPort(buf: Uint8Array, off: number): number {
  return u16(buf, off + TCP_OFF_DPORT);
}

export function tcpSeq(buf: Uint8Array, off: number): number {
  return u32(buf, off + TCP_OFF_SEQ);
}

export function tcpAck(buf: Uint8Array, off: number): number {
  return u32(buf, off + TCP_OFF_ACK);
}

/** Data offset in 32-bit words. */
export function tcpDataOffset(buf: Uint8Array, off: number): number {
  return buf[off + TCP_OFF_DOFF] >>> 4;
}

/** Header length in bytes (data offset * 4). */
export function tcpHeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off + TCP_OFF_DOFF] >>> 4) << 2;
}

/** The 8 flag bits (CWR..FIN); test with TCP_SYN etc. */
export function tcpFlags(buf: Uint8Array, off: number): number {
  return buf[off + TCP_OFF_FLAGS];
}

export function tcpWindow(buf: Uint8Array, off: number): number {
  return u16(buf, off + TCP_OFF_WINDOW);
}

export function tcpChecksum(buf: Uint8Array, off: number): number {
  return u16(buf, off + TCP_OFF_CHECK);
}

export function tcpUrgent(buf: Uint8Array, off: number): number {
  return u16(buf, off + TCP_OFF_URG);
}

export function tcpSetSrcPort(buf: Uint8Array, off: number, port: number): void {
  set16(buf, off + TCP_OFF_SPORT, port);
}

export function tcpSetDstPort(buf: Uint8Array, off: number, port: number): void {
  set16(buf, off + TCP_OFF_DPORT, port);
}

export function tcpSetSeq(buf: Uint8Array, off: number, seq: number): void {
  set32(buf, off + TCP_OFF_SEQ, seq);
}

export function tcpSetAck(buf: Uint8Array, off: number, ack: number): void {
  set32(buf, off + TCP_OFF_ACK, ack);
}

/** Writes the data offset (words) with the reserved bits zero. */
export function tcpSetDataOffset(buf: Uint8Array, off: number, words: number): void {
  buf[off + TCP_OFF_DOFF] = (words & 0x0f) << 4;
}

export function tcpSetFlags(buf: Uint8Array, off: number, flags: number): void {
  buf[off + TCP_OFF_FLAGS] = flags;
}

export function tcpSetWindow(buf: Uint8Array, off: number, win: number): void {
  set16(buf, off + TCP_OFF_WINDOW, win);
}

export function tcpSetChecksum(buf: Uint8Array, off: number, check: number): void {
  set16(buf, off + TCP_OFF_CHECK, check);
}

export function tcpSetUrgent(buf: Uint8Array, off: number, urg: number): void {
  set16(buf, off + TCP_OFF_URG, urg);
}

/**
 * Validates a TCP header at off with l4Len bytes of segment (IP total length minus IP
 * header length): l4Len >= 20, data offset >= 5 and data offset * 4 <= l4Len.
 * Returns WIRE_OK, DROP_TCP_SHORT or DROP_TCP_DOFF. Only for first fragments.
 */
export function tcpCheck(buf: Uint8Array, off: number, l4Len: number): number {
  if (l4Len < TCP_MIN_HDR_LEN) return DROP_TCP_SHORT;
  const hl = (buf[off + TCP_OFF_DOFF] >>> 4) << 2;
  if (hl < TCP_MIN_HDR_LEN || hl > l4Len) return DROP_TCP_DOFF;
  return WIRE_OK;
}

/** Flag letters in tcpdump order of bits, for tests and logs: 'S', 'SA', 'FA', 'R'... */
const FLAG_LETTERS: readonly [string, number][] = [
  ['F', TCP_FIN], ['S', TCP_SYN], ['R', TCP_RST], ['P', TCP_PSH],
  ['A', TCP_ACK], ['U', TCP_URG], ['E', TCP_ECE], ['C', TCP_CWR],
];

/** Parses flag letters (any order, from FSRPAUEC) into flag bits; -1 on an unknown letter. */
export function tcpFlagsFromString(s: string): number {
  let f = 0;
  for (const ch of s) {
    const e = FLAG_LETTERS.find(([l]) => l === ch);
    if (!e) return -1;
    f |= e[1];
  }
  return f;
}

/** Renders flag bits as letters in the order FSRPAUEC. */
export function tcpFlagsToString(flags: number): string {
  let s = '';
  for (const [l, bit] of FLAG_LETTERS) if (flags & bit) s += l;
  return s;
}
