/**
 * VRRP version 2 with IPSEC-AH authentication as keepalived sends it (keepalived.conf
 * `auth_type AH`; keepalived vrrp/vrrp.c vrrp_build_ipsecah(), vrrp_update_pkt(),
 * vrrp_in_chk_ipsecah(), include/vrrp_ipsecah.h; RFC 2402 header, RFC 2403 HMAC-MD5-96):
 *
 *   IPv4 header (protocol 51, TTL 255, TOS 0xc0, ID counting up, never 0)
 *   AH:  next header 112 | payload length 4 | reserved 0 |
 *        SPI = the sender's IPv4 address (as on the wire) |
 *        sequence number (32 bits, big endian) |
 *        ICV: 12 bytes = HMAC-MD5(key, IP header with TOS, fragment offset, checksum (and, for
 *             unicast, TTL) zeroed ‖ AH with the ICV zeroed ‖ VRRP message)[0..12)
 *   VRRP v2 advert, auth type 2, its 8 authentication bytes zero, checksum over the VRRP message
 *
 * The key is keepalived's auth_data: the auth_pass cut at 8 bytes and zero-padded to 8 (the
 * HMAC always uses 8 key bytes). A receiver drops a message whose ICV does not match, whose SPI
 * is not its source address, or whose sequence number is not above the one it last saw
 * (AhCounter: keepalived keeps one counter per instance for both directions).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const IPPROTO_AH = 51;
export const AH_LEN = 24;
export const AH_ICV_LEN = 12;
/** AH payload length field: the header length in 32-bit words minus 2 (RFC 2402 §2.2). */
export const AH_PAYLOAD_LEN = 4;
export const AH_NEXT_VRRP = 112;
export const IPV4_HDR_LEN = 20;
const TOS_NETWORK_CONTROL = 0xc0;

/** Why an AH message was refused (AH_OK: accepted). */
export const AH_OK = 0;
export const AH_ERR_SHORT = 1;
export const AH_ERR_NEXT = 2;
export const AH_ERR_ICV = 3;
export const AH_ERR_SPI = 4;
export const AH_ERR_NAMES = ['ok', 'ah_short', 'ah_next_header', 'ah_icv', 'ah_spi'] as const;

/** keepalived's auth_data: the password's first 8 bytes, zero-padded to 8. */
export function ahKey(pass: string): Buffer {
  const k = Buffer.alloc(8);
  Buffer.from(pass, 'latin1').copy(k, 0, 0, 8);
  return k;
}

function icv(key: Buffer, ipHdr: Uint8Array, ah: Uint8Array, vrrp: Uint8Array): Buffer {
  return createHmac('md5', key).update(ipHdr).update(ah).update(vrrp).digest().subarray(0, AH_ICV_LEN);
}

export interface AhSend {
  /** Host-order IPv4 addresses. */
  src: number;
  dst: number;
  /** IP identification, 1..65535 (0 would let the kernel choose it after the ICV was computed). */
  id: number;
  ttl: number;
  seq: number;
  /** Unicast peers: the TTL is not covered by the ICV (it may change on the way). */
  unicast: boolean;
  key: Buffer;
}

/** The whole IPv4 packet (for a raw socket with IP_HDRINCL): IP header, AH, `vrrp`. */
export function encodeAhPacket(vrrp: Uint8Array, o: AhSend): Buffer {
  const total = IPV4_HDR_LEN + AH_LEN + vrrp.length;
  const b = Buffer.alloc(total);
  b[0] = 0x45;
  b[1] = 0;
  b.writeUInt16BE(total, 2);
  b.writeUInt16BE(o.id & 0xffff, 4);
  b[8] = o.unicast ? 0 : o.ttl;
  b[9] = IPPROTO_AH;
  b.writeUInt32BE(o.src >>> 0, 12);
  b.writeUInt32BE(o.dst >>> 0, 16);
  const ah = IPV4_HDR_LEN;
  b[ah] = AH_NEXT_VRRP;
  b[ah + 1] = AH_PAYLOAD_LEN;
  b.writeUInt32BE(o.src >>> 0, ah + 4);
  b.writeUInt32BE(o.seq >>> 0, ah + 8);
  b.set(vrrp, ah + AH_LEN);
  // The ICV covers the header with its mutable fields zeroed (TOS, fragment offset, checksum, and
  // TTL for unicast), which is what b holds now; then the real values go in.
  const mac = icv(o.key, b.subarray(0, IPV4_HDR_LEN), b.subarray(ah, ah + AH_LEN), b.subarray(ah + AH_LEN));
  mac.copy(b, ah + 12);
  b[1] = TOS_NETWORK_CONTROL;
  b[8] = o.ttl;
  return b;
}

export interface AhParsed {
  seq: number;
  /** Offset and length of the VRRP message in the buffer. */
  vrrpOff: number;
  vrrpLen: number;
}

/**
 * Checks the AH header of the IPv4 packet buf[0 .. len) (IP header included, as a raw socket
 * delivers it): next header VRRP, ICV, SPI = source address. Fills `out` and returns AH_OK,
 * or an AH_ERR_* code. The sequence number is the caller's to check (AhCounter.accept).
 */
export function decodeAhPacket(buf: Uint8Array, len: number, key: Buffer, unicast: boolean, out: AhParsed): number {
  if (len < IPV4_HDR_LEN) return AH_ERR_SHORT;
  const ihl = (buf[0] & 0x0f) * 4;
  if (ihl < IPV4_HDR_LEN || len < ihl + AH_LEN + 8) return AH_ERR_SHORT;
  const ah = ihl;
  if (buf[ah] !== AH_NEXT_VRRP) return AH_ERR_NEXT;
  const ip = Buffer.from(buf.subarray(0, ihl));
  ip[1] = 0;
  ip[6] = 0;
  ip[7] = 0;
  ip[10] = 0;
  ip[11] = 0;
  if (unicast) ip[8] = 0;
  const ahz = Buffer.from(buf.subarray(ah, ah + AH_LEN));
  ahz.fill(0, 12, AH_LEN);
  const mac = icv(key, ip, ahz, buf.subarray(ah + AH_LEN, len));
  if (!timingSafeEqual(mac, buf.subarray(ah + 12, ah + AH_LEN))) return AH_ERR_ICV;
  for (let i = 0; i < 4; i++) if (buf[ah + 4 + i] !== buf[12 + i]) return AH_ERR_SPI;
  out.seq = ((buf[ah + 8] << 24) | (buf[ah + 9] << 16) | (buf[ah + 10] << 8) | buf[ah + 11]) >>> 0;
  out.vrrpOff = ah + AH_LEN;
  out.vrrpLen = len - ah - AH_LEN;
  return AH_OK;
}

/**
 * keepalived's per-instance AH sequence counter (vrrp.c ipsecah_counter): one number for what
 * is sent and what is accepted.
 * - send: the counter goes up by one per advertisement (it stops at 0xFFFFFFFE and marks the
 *   counter cycled; becoming master again resets a cycled counter to 0);
 * - receive: a number above the counter is accepted and becomes the counter; others are replays;
 * - a master that hears a lower-priority master takes that one's number + 1, so that its own
 *   next adverts are above what the other side has seen.
 */
export class AhCounter {
  seq = 0;
  cycled = false;

  next(): number {
    if (this.seq > 0xfffffffd) this.cycled = true;
    else this.seq++;
    return this.seq;
  }

  /** True (and the counter follows) when `seq` is above the counter. */
  accept(seq: number): boolean {
    if (seq > this.seq) {
      this.seq = seq;
      return true;
    }
    return false;
  }

  syncFromLower(seq: number): void {
    this.seq = Math.min(seq + 1, 0xffffffff);
    this.cycled = false;
  }

  becomingMaster(): void {
    if (this.cycled) {
      this.cycled = false;
      this.seq = 0;
    }
  }
}
