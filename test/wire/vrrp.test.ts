/** VRRP advertisement codec: fixed bytes, checksums against a slow reference, refusals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  VRRP_ERR_AUTH, VRRP_ERR_CHECKSUM, VRRP_ERR_LENGTH, VRRP_ERR_SHORT, VRRP_ERR_VERSION, VRRP_OK,
  type VrrpAdvert, decodeVrrp, encodeVrrp,
} from '../../src/wire/vrrp';
import { ipFromString } from '../../src/ipvs/types';

/** One's-complement sum, 16 bits at a time, the obvious way (RFC 1071). */
function slowSum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

const SRC = ipFromString('198.18.0.11');
const DST = ipFromString('224.0.0.18');

test('v2 with a PASS password: the bytes keepalived sends', () => {
  const a: VrrpAdvert = { version: 2, vrid: 51, priority: 150, intervalCs: 100, addrs: [ipFromString('198.18.0.1')], authPass: '1111' };
  const b = encodeVrrp(a, SRC, DST);
  const want = [0x21, 51, 150, 1, 1, 1, 0, 0, 198, 18, 0, 1, 0x31, 0x31, 0x31, 0x31, 0, 0, 0, 0];
  const ck = ~slowSum(want) & 0xffff;
  want[6] = ck >> 8;
  want[7] = ck & 0xff;
  assert.deepEqual([...b], want);
  const out = { version: 3, vrid: 0, priority: 0, intervalCs: 0, addrs: [] } as VrrpAdvert;
  assert.equal(decodeVrrp(b, 0, b.length, SRC, DST, out, '1111'), VRRP_OK);
  assert.deepEqual(out, a);
  assert.equal(decodeVrrp(b, 0, b.length, SRC, DST, out, '2222'), VRRP_ERR_AUTH);
  assert.equal(decodeVrrp(b, 0, b.length, SRC, DST, out, undefined), VRRP_ERR_AUTH);
});

test('v3: centisecond interval, checksum over the IPv4 pseudo-header', () => {
  const a: VrrpAdvert = { version: 3, vrid: 7, priority: 100, intervalCs: 100, addrs: [ipFromString('198.18.0.1'), ipFromString('198.19.0.1')] };
  const b = encodeVrrp(a, SRC, DST);
  assert.equal(b.length, 16);
  assert.deepEqual([...b.subarray(0, 6)], [0x31, 7, 100, 2, 0x00, 0x64]);
  // Pseudo-header: src, dst, zero, protocol 112, length.
  const pseudo = [198, 18, 0, 11, 224, 0, 0, 18, 0, 112, 0, 16];
  assert.equal(slowSum([...pseudo, ...b]), 0xffff);
  const out = {} as VrrpAdvert;
  assert.equal(decodeVrrp(b, 0, b.length, SRC, DST, out), VRRP_OK);
  assert.deepEqual(out, { ...a, authPass: undefined });
  // The same bytes from another source fail the v3 checksum.
  assert.equal(decodeVrrp(b, 0, b.length, SRC + 1, DST, out), VRRP_ERR_CHECKSUM);
});

test('refusals: short, bad version, truncated address list, flipped bit', () => {
  const b = encodeVrrp({ version: 3, vrid: 1, priority: 1, intervalCs: 100, addrs: [1] }, SRC, DST);
  const out = {} as VrrpAdvert;
  assert.equal(decodeVrrp(b, 0, 7, SRC, DST, out), VRRP_ERR_SHORT);
  assert.equal(decodeVrrp(b, 0, 11, SRC, DST, out), VRRP_ERR_LENGTH);
  const v = Buffer.from(b);
  v[0] = 0x41;
  assert.equal(decodeVrrp(v, 0, v.length, SRC, DST, out), VRRP_ERR_VERSION);
  const f = Buffer.from(b);
  f[2] ^= 4;
  assert.equal(decodeVrrp(f, 0, f.length, SRC, DST, out), VRRP_ERR_CHECKSUM);
});
