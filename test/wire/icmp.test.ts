import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DROP_ICMP_CSUM, DROP_ICMP_SHORT, ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_ERROR_MAX_QUOTE,
  ICMP_FRAG_NEEDED, ICMP_PORT_UNREACH, WIRE_OK, buildIcmpError, icmpCheck, icmpChecksum,
  icmpCode, icmpId, icmpIsError, icmpMtu, icmpSeq, icmpType, ipv4Check, ipv4Df, ipv4Dst,
  ipv4Proto, ipv4Src, ipv4Tos, ipv4TotalLen, ipv4Ttl,
} from '../../src/wire';
import { pkt } from '../support/builder';

/**
 * Echo request sent by Linux (ping socket) 198.18.0.2 -> 198.18.100.1, data "0123456789abcdef".
 * ICMP by hand: 08 type echo, 00 code, 35f9 checksum, 92ce id, 0001 seq.
 * Checksum: 0800+92ce+0001 + 3031+3233+3435+3637+3839+6162+6364+6566 = 0x2ca04 -> 0xca06 -> ~ = 0x35f9.
 */
const ECHO = Buffer.from(
  '4500002c206b400040012a3ec6120002c6126401' + '080035f992ce0001' + '30313233343536373839616263646566', 'hex');

/** UDP datagram 198.18.100.1:33434 -> 198.18.0.2:33435 "probe", written into the TUN. */
const PROBE = Buffer.from('45000021123400003f117970c6126401c6120002829a829b000dc5a070726f6265', 'hex');

/**
 * Linux's answer to PROBE (no socket on 33435): port unreachable quoting all 33 bytes.
 * Outer IP: 45 c0 (TOS 0xc0) 003d (61) 2071 (id) 0000 (no DF) 40 01 (TTL 64, ICMP) 6967,
 *   checksum 45c0+003d+2071+4001+c612+0002+c612+6401 = 0x29696 -> 0x9698 -> ~ = 0x6967.
 * ICMP: 03 03 ed43 00000000, then PROBE.
 */
const UNREACH = Buffer.from(
  '45c0003d2071000040016967c6120002c6126401' + '0303ed4300000000' +
  '45000021123400003f117970c6126401c6120002829a829b000dc5a070726f6265', 'hex');

test('decode a captured echo request', () => {
  assert.equal(ipv4Check(ECHO, 0, ECHO.length), WIRE_OK);
  assert.equal(ipv4Proto(ECHO, 0), 1);
  assert.equal(icmpCheck(ECHO, 20, 24), WIRE_OK);
  assert.equal(icmpType(ECHO, 20), ICMP_ECHO);
  assert.equal(icmpCode(ECHO, 20), 0);
  assert.equal(icmpChecksum(ECHO, 20), 0x35f9);
  assert.equal(icmpId(ECHO, 20), 0x92ce);
  assert.equal(icmpSeq(ECHO, 20), 1);
  assert.equal(icmpIsError(ICMP_ECHO), false);
});

test('decode a captured port unreachable and its quote', () => {
  assert.equal(ipv4Check(UNREACH, 0, UNREACH.length), WIRE_OK);
  assert.equal(ipv4Tos(UNREACH, 0), 0xc0);
  assert.equal(ipv4TotalLen(UNREACH, 0), 61);
  assert.equal(ipv4Df(UNREACH, 0), false);
  assert.equal(icmpCheck(UNREACH, 20, 41), WIRE_OK);
  assert.equal(icmpType(UNREACH, 20), ICMP_DEST_UNREACH);
  assert.equal(icmpCode(UNREACH, 20), ICMP_PORT_UNREACH);
  assert.equal(icmpChecksum(UNREACH, 20), 0xed43);
  assert.equal(icmpIsError(icmpType(UNREACH, 20)), true);
  // The quoted datagram is a valid IPv4 packet flowing the other way.
  assert.equal(ipv4Check(UNREACH, 28, 33), WIRE_OK);
  assert.equal(ipv4Src(UNREACH, 28), ipv4Dst(UNREACH, 0));
  assert.equal(ipv4Dst(UNREACH, 28), ipv4Src(UNREACH, 0));
  assert.equal(UNREACH.readUInt16BE(48), 33434);
});

test('icmpCheck negative cases', () => {
  assert.equal(icmpCheck(ECHO, 20, 7), DROP_ICMP_SHORT);
  for (const i of [20, 21, 24, 30, 43]) {
    const b = Buffer.from(ECHO);
    b[i] ^= 0x10;
    assert.equal(icmpCheck(b, 20, 24), DROP_ICMP_CSUM, `byte ${i}`);
  }
  // The checksum covers the whole message: a shorter view fails too.
  assert.equal(icmpCheck(ECHO, 20, 22), DROP_ICMP_CSUM);
});

test('buildIcmpError reproduces the Linux port unreachable byte for byte', () => {
  const out = Buffer.alloc(100, 0xa5);
  const n = buildIcmpError(out, 5, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, PROBE, 0, PROBE.length, 0xc6120002, 0, 0x2071, 64);
  assert.equal(n, 61);
  assert.deepEqual(out.subarray(5, 5 + n), UNREACH);
  assert.ok(out.subarray(0, 5).every((x) => x === 0xa5));
  assert.ok(out.subarray(5 + n).every((x) => x === 0xa5));
});

test('buildIcmpError quotes at most 548 bytes: the error is 576 bytes', () => {
  assert.equal(ICMP_ERROR_MAX_QUOTE, 548);
  const payload = Buffer.alloc(1472);
  for (let i = 0; i < payload.length; i++) payload[i] = i * 7;
  const big = pkt().ip({ src: '198.18.0.9', dst: '198.18.100.1', df: true, tos: 0x10 })
    .udp({ sport: 5000, dport: 6000 }).payload(payload).build();
  assert.equal(big.length, 1500);
  const src = Buffer.alloc(3 + big.length);
  big.copy(src, 3);
  const out = Buffer.alloc(600, 0xa5);
  const n = buildIcmpError(out, 0, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, src, 3, big.length, 0xc6126401, 1480);
  assert.equal(n, 576);
  assert.equal(ipv4Check(out, 0, n), WIRE_OK);
  assert.equal(ipv4TotalLen(out, 0), 576);
  assert.equal(ipv4Src(out, 0), 0xc6126401);
  assert.equal(ipv4Dst(out, 0), 0xc6120009);
  assert.equal(ipv4Ttl(out, 0), 64);
  assert.equal(ipv4Tos(out, 0), 0xd0); // (0x10 & 0x1e) | 0xc0
  assert.equal(icmpCheck(out, 20, 556), WIRE_OK);
  assert.equal(icmpType(out, 20), 3);
  assert.equal(icmpCode(out, 20), 4);
  assert.equal(out.readUInt16BE(24), 0);
  assert.equal(icmpMtu(out, 20), 1480);
  assert.deepEqual(out.subarray(28, 576), big.subarray(0, 548));
  assert.ok(out.subarray(576).every((x) => x === 0xa5));
});
