/**
 * IPIP decapsulation (RFC 2003) on a real server whose kernel has no ipip module: datagrams
 * read from a protocol-4 raw socket into slots, the inner packet of each located in place and
 * handed on by offset (no copy).
 *
 *   slot i:  | headroom | outer IPv4 header (ihl*4) | inner IPv4 packet ... |
 *                        ^ i*slotSize + headroom     ^ offs[k], outLens[k]
 */
import { IPV4_MIN_HDR_LEN } from '../wire/ipv4';

/** Counters of a decapsulating real server. */
export interface DecapCounts {
  /** Inner packets the TUN device took. */
  decapsulated: number;
  /** Datagrams dropped: not IPv4, a truncated or inconsistent outer or inner header. */
  malformed: number;
  /** Inner packets the TUN device refused (write error). */
  refused: number;
}

/**
 * For each of the count datagrams (datagram i at buf[i*slotSize + headroom ..), lens[i]
 * bytes long) writes the offset and length of its inner IPv4 packet to offs/outLens and
 * returns how many were valid; the others are skipped. A datagram is valid when the outer
 * header is IPv4 with ihl >= 5 and a total length within what was read, and the payload
 * starts with an IPv4 header (ihl >= 5) whose total length fits in the outer payload.
 */
export function locateInner(
  buf: Uint8Array, slotSize: number, headroom: number, lens: Int32Array, count: number,
  offs: Int32Array, outLens: Int32Array,
): number {
  let k = 0;
  for (let i = 0; i < count; i++) {
    const o = i * slotSize + headroom;
    const len = lens[i];
    if (len < 2 * IPV4_MIN_HDR_LEN || buf[o] >>> 4 !== 4) continue;
    const ohl = (buf[o] & 0x0f) << 2;
    const outerLen = (buf[o + 2] << 8) | buf[o + 3];
    if (ohl < IPV4_MIN_HDR_LEN || outerLen > len || outerLen < ohl + IPV4_MIN_HDR_LEN) continue;
    const inner = o + ohl;
    const ihl = (buf[inner] & 0x0f) << 2;
    const innerLen = (buf[inner + 2] << 8) | buf[inner + 3];
    if (buf[inner] >>> 4 !== 4 || ihl < IPV4_MIN_HDR_LEN || innerLen < ihl || innerLen > outerLen - ohl) continue;
    offs[k] = inner;
    outLens[k] = innerLen;
    k++;
  }
  return k;
}
