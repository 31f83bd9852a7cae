/**
 * IPSEC-AH as keepalived sends it (src/wire/ipsec-ah.ts; keepalived vrrp/vrrp.c
 * vrrp_build_ipsecah(), vrrp_update_pkt(), vrrp_in_chk_ipsecah()). The packets are three
 * adverts Debian's keepalived 2.2.7 sent (tcpdump on the peer of its veth), instance VI_AH,
 * vrid 61, priority 120, `auth_type AH`, `auth_pass "ah!pass1"`, from 198.18.100.2.
 */
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AH_ERR_ICV, AH_ERR_NEXT, AH_ERR_SHORT, AH_ERR_SPI, AH_OK, AhCounter, type AhParsed, ahKey, decodeAhPacket, encodeAhPacket,
} from '../../src/wire/ipsec-ah';
import { VRRP_ERR_AUTH, VRRP_OK, type VrrpAdvert, decodeVrrp, encodeVrrp } from '../../src/wire/vrrp';
import { ipFromString } from '../../src/ipvs/types';

const KEEPALIVED = [
  '45c0004000010000ff33b0a2c6126402e000001270040000c612640200000001d2c1667594a3145bb48ef0f3213d780102013aacc61264010000000000000000',
  '45c0004000020000ff33b0a1c6126402e000001270040000c6126402000000023e47f5ccdf8dc3181ad982fd213d780102013aacc61264010000000000000000',
  '45c0004000030000ff33b0a0c6126402e000001270040000c612640200000003bb911bc224e6159441607a3f213d780102013aacc61264010000000000000000',
].map((h) => Buffer.from(h, 'hex'));
const SRC = ipFromString('198.18.100.2');
const GROUP = ipFromString('224.0.0.18');
const KEY = ahKey('ah!pass1');
const out = (): AhParsed => ({ seq: 0, vrrpOff: 0, vrrpLen: 0 });

test("keepalived's AH adverts verify with its password: ICV, SPI = source, sequence 1, 2, 3", () => {
  KEEPALIVED.forEach((p, i) => {
    const o = out();
    assert.equal(decodeAhPacket(p, p.length, KEY, false, o), AH_OK);
    assert.deepEqual(o, { seq: i + 1, vrrpOff: 44, vrrpLen: 20 });
    const a = {} as VrrpAdvert;
    assert.equal(decodeVrrp(p, o.vrrpOff, o.vrrpLen, SRC, GROUP, a, undefined, true), VRRP_OK);
    assert.deepEqual([a.vrid, a.priority, a.intervalCs, a.addrs, a.authAh], [61, 120, 100, [ipFromString('198.18.100.1')], true]);
  });
});

test('a wrong password, a changed byte, a forged SPI or next header are refused', () => {
  const p = KEEPALIVED[0];
  assert.equal(decodeAhPacket(p, p.length, ahKey('ah!pass2'), false, out()), AH_ERR_ICV);
  // The password is 8 bytes at most: a longer one is the same key, as keepalived cuts it.
  assert.equal(decodeAhPacket(p, p.length, ahKey('ah!pass1-and-more'), false, out()), AH_OK);
  const prio = Buffer.from(p);
  prio[44 + 2] = 250;
  assert.equal(decodeAhPacket(prio, prio.length, KEY, false, out()), AH_ERR_ICV, 'priority raised: the ICV covers the VRRP message');
  const spi = Buffer.from(p);
  spi[12 + 3] ^= 1; // another source address, ICV and SPI from the original
  assert.equal(decodeAhPacket(spi, spi.length, KEY, false, out()), AH_ERR_ICV, 'the ICV covers the source address');
  const next = Buffer.from(p);
  next[20] = 6;
  assert.equal(decodeAhPacket(next, next.length, KEY, false, out()), AH_ERR_NEXT);
  assert.equal(decodeAhPacket(p, 40, KEY, false, out()), AH_ERR_SHORT);
  // Mutable fields are not covered: TOS, fragment offset, checksum (TTL only for unicast).
  const mut = Buffer.from(p);
  mut[1] = 0;
  mut[6] = 0x40;
  mut[10] = 0;
  mut[11] = 0;
  assert.equal(decodeAhPacket(mut, mut.length, KEY, false, out()), AH_OK);
  const ttl = Buffer.from(p);
  ttl[8] = 64;
  assert.equal(decodeAhPacket(ttl, ttl.length, KEY, false, out()), AH_ERR_ICV, 'multicast: TTL is covered');
});

test('the SPI must be the source address even with a valid ICV (a key holder cannot speak for another address)', () => {
  const vrrp = encodeVrrp({ version: 2, vrid: 61, priority: 120, intervalCs: 100, addrs: [1], authAh: true }, SRC, GROUP);
  const p = encodeAhPacket(vrrp, { src: SRC, dst: GROUP, id: 9, ttl: 255, seq: 5, unicast: false, key: KEY });
  assert.equal(decodeAhPacket(p, p.length, KEY, false, out()), AH_OK);
  // Another SPI, and an ICV recomputed over it as a key holder could.
  p.writeUInt32BE(SRC + 1, 24);
  const z = Buffer.from(p);
  z[1] = 0;
  z.fill(0, 32, 44);
  createHmac('md5', KEY).update(z).digest().subarray(0, 12).copy(p, 32);
  assert.equal(decodeAhPacket(p, p.length, KEY, false, out()), AH_ERR_SPI);
});

test("lvsd's encoding of the same advert is keepalived's, byte for byte (IP checksum left to the kernel)", () => {
  KEEPALIVED.forEach((p, i) => {
    const vrrp = encodeVrrp({ version: 2, vrid: 61, priority: 120, intervalCs: 100, addrs: [ipFromString('198.18.100.1')], authAh: true }, SRC, GROUP);
    assert.deepEqual([...vrrp], [...p.subarray(44)], 'VRRP message: auth type 2, authentication bytes zero');
    const mine = encodeAhPacket(vrrp, { src: SRC, dst: GROUP, id: i + 1, ttl: 255, seq: i + 1, unicast: false, key: KEY });
    const theirs = Buffer.from(p);
    theirs[10] = 0;
    theirs[11] = 0;
    assert.equal(mine.toString('hex'), theirs.toString('hex'));
  });
});

test('unicast: the TTL is left out of the ICV on both sides', () => {
  const vrrp = encodeVrrp({ version: 2, vrid: 61, priority: 120, intervalCs: 100, addrs: [1], authAh: true }, SRC, GROUP);
  const p = encodeAhPacket(vrrp, { src: SRC, dst: SRC + 1, id: 3, ttl: 255, seq: 1, unicast: true, key: KEY });
  p[8] = 61;
  assert.equal(decodeAhPacket(p, p.length, KEY, true, out()), AH_OK);
  assert.equal(decodeAhPacket(p, p.length, KEY, false, out()), AH_ERR_ICV);
});

test('a VRRP message without auth type 2 is refused by an AH instance', () => {
  const plain = encodeVrrp({ version: 2, vrid: 61, priority: 120, intervalCs: 100, addrs: [1] }, SRC, GROUP);
  assert.equal(decodeVrrp(plain, 0, plain.length, SRC, GROUP, {} as VrrpAdvert, undefined, true), VRRP_ERR_AUTH);
  const ah = encodeVrrp({ version: 2, vrid: 61, priority: 120, intervalCs: 100, addrs: [1], authAh: true }, SRC, GROUP);
  assert.equal(decodeVrrp(ah, 0, ah.length, SRC, GROUP, {} as VrrpAdvert), VRRP_ERR_AUTH, 'nor accepted by an instance without authentication');
});

test("the sequence counter: one for both directions, replays refused, a lower master's number + 1 (keepalived's ipsecah_counter)", () => {
  const c = new AhCounter();
  assert.deepEqual([c.next(), c.next()], [1, 2]);
  assert.equal(c.accept(2), false, 'not above the counter: a replay');
  assert.equal(c.accept(10), true);
  assert.equal(c.accept(10), false);
  assert.equal(c.next(), 11, 'what is sent next is above what was accepted');
  c.syncFromLower(40);
  assert.equal(c.next(), 42);
  c.seq = 0xfffffffe;
  assert.equal(c.next(), 0xfffffffe);
  assert.equal(c.cycled, true);
  c.becomingMaster();
  assert.equal(c.next(), 1, 'a cycled counter starts again when becoming master');
});
