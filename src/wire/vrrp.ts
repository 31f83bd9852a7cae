/**
 * VRRP advertisement (RFC 5798 §5.1 version 3, RFC 3768 §5.1 version 2), IPv4 only.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |Version| Type  | Virtual Rtr ID|   Priority    | Count IPvX Addr|
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * v3 |(rsvd) |     Max Adver Int     |          Checksum             |
 * v2 |   Auth Type   |   Adver Int   |          Checksum             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                       IPvX Address(es)                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * v2 |                   Authentication Data (8 octets)              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * v3: Max Adver Int in centiseconds (12 bits); checksum over an IPv4 pseudo-header and the
 * message. v2: Adver Int in seconds; checksum over the message only; auth type 0 (none),
 * 1 (simple text password, keepalived's auth_type PASS) or 2 (IPSEC-AH: the authentication
 * bytes are zero and an AH header precedes the message, see ./ipsec-ah.ts).
 * Sent to 224.0.0.18 as IP protocol 112 with TTL 255; receivers drop other TTLs (§7.1).
 */
import { csumFinish, csumPartial, pseudoHeaderSum } from './checksum';

export const IPPROTO_VRRP = 112;
export const VRRP_GROUP = '224.0.0.18';
export const VRRP_TTL = 255;
export const VRRP_TYPE_ADVERT = 1;
export const VRRP_HDR_LEN = 8;
export const VRRP_AUTH_LEN = 8;
export const VRRP_AUTH_NONE = 0;
export const VRRP_AUTH_PASS = 1;
export const VRRP_AUTH_AH = 2;

export interface VrrpAdvert {
  version: 2 | 3;
  vrid: number;
  priority: number;
  /** Advertisement interval in centiseconds (v2 carries whole seconds). */
  intervalCs: number;
  /** IPv4 addresses as host-order unsigned integers. */
  addrs: number[];
  /** v2 only: simple password (up to 8 bytes); undefined = auth type 0 (or 2 with authAh). */
  authPass?: string;
  /** v2 only: auth type 2 (IPSEC-AH), the 8 authentication bytes zero. */
  authAh?: boolean;
}

/** Why a received message was refused. */
export const VRRP_OK = 0;
export const VRRP_ERR_SHORT = 1;
export const VRRP_ERR_VERSION = 2;
export const VRRP_ERR_TYPE = 3;
export const VRRP_ERR_LENGTH = 4;
export const VRRP_ERR_CHECKSUM = 5;
export const VRRP_ERR_AUTH = 6;
export const VRRP_ERR_NAMES = ['ok', 'short', 'version', 'type', 'length', 'checksum', 'auth'] as const;

export function vrrpLength(a: Pick<VrrpAdvert, 'version' | 'addrs'>): number {
  return VRRP_HDR_LEN + 4 * a.addrs.length + (a.version === 2 ? VRRP_AUTH_LEN : 0);
}

/** Encodes `a`; src/dst are the IP addresses (host order) for the v3 pseudo-header. */
export function encodeVrrp(a: VrrpAdvert, src: number, dst: number): Buffer {
  const len = vrrpLength(a);
  const b = Buffer.alloc(len);
  b[0] = (a.version << 4) | VRRP_TYPE_ADVERT;
  b[1] = a.vrid;
  b[2] = a.priority;
  b[3] = a.addrs.length;
  if (a.version === 3) {
    b.writeUInt16BE(a.intervalCs & 0x0fff, 4);
  } else {
    b[4] = a.authAh ? VRRP_AUTH_AH : a.authPass !== undefined ? VRRP_AUTH_PASS : VRRP_AUTH_NONE;
    b[5] = Math.max(1, Math.round(a.intervalCs / 100)) & 0xff;
  }
  let o = VRRP_HDR_LEN;
  for (const addr of a.addrs) {
    b.writeUInt32BE(addr >>> 0, o);
    o += 4;
  }
  if (a.version === 2 && a.authPass !== undefined && !a.authAh) b.write(a.authPass.slice(0, VRRP_AUTH_LEN), o, 'latin1');
  const init = a.version === 3 ? pseudoHeaderSum(src, dst, IPPROTO_VRRP, len) : 0;
  b.writeUInt16BE(csumFinish(csumPartial(b, 0, len, init)), 6);
  return b;
}

/**
 * Decodes the VRRP message at buf[off .. off+len). Returns an error code, or VRRP_OK with
 * `out` filled. `authPass` is the locally configured v2 password (checked when given); `ah`:
 * the instance uses IPSEC-AH, so the message must say auth type 2 (its AH header was checked
 * by decodeAhPacket).
 */
export function decodeVrrp(
  buf: Uint8Array, off: number, len: number, src: number, dst: number, out: VrrpAdvert, authPass?: string, ah = false,
): number {
  if (len < VRRP_HDR_LEN) return VRRP_ERR_SHORT;
  const version = buf[off] >> 4;
  if (version !== 2 && version !== 3) return VRRP_ERR_VERSION;
  if ((buf[off] & 0x0f) !== VRRP_TYPE_ADVERT) return VRRP_ERR_TYPE;
  const count = buf[off + 3];
  const need = VRRP_HDR_LEN + 4 * count + (version === 2 ? VRRP_AUTH_LEN : 0);
  if (len < need) return VRRP_ERR_LENGTH;
  const init = version === 3 ? pseudoHeaderSum(src, dst, IPPROTO_VRRP, len) : 0;
  if (csumFinish(csumPartial(buf, off, version === 3 ? len : need, init)) !== 0) return VRRP_ERR_CHECKSUM;
  out.version = version;
  out.vrid = buf[off + 1];
  out.priority = buf[off + 2];
  out.addrs = [];
  for (let i = 0; i < count; i++) {
    const o = off + VRRP_HDR_LEN + 4 * i;
    out.addrs.push(((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0);
  }
  if (version === 3) {
    out.intervalCs = ((buf[off + 4] << 8) | buf[off + 5]) & 0x0fff;
    out.authPass = undefined;
  } else {
    out.intervalCs = buf[off + 5] * 100;
    const type = buf[off + 4];
    if (ah) {
      if (type !== VRRP_AUTH_AH) return VRRP_ERR_AUTH;
      out.authAh = true;
      out.authPass = undefined;
      return VRRP_OK;
    }
    const ao = off + VRRP_HDR_LEN + 4 * count;
    const got = type === VRRP_AUTH_PASS ? Buffer.from(buf.subarray(ao, ao + VRRP_AUTH_LEN)).toString('latin1').replace(/\0+$/, '') : undefined;
    if (authPass !== undefined && (type !== VRRP_AUTH_PASS || got !== authPass.slice(0, VRRP_AUTH_LEN))) return VRRP_ERR_AUTH;
    if (authPass === undefined && type !== VRRP_AUTH_NONE) return VRRP_ERR_AUTH;
    out.authPass = got;
  }
  return VRRP_OK;
}
