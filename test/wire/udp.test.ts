import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DROP_UDP_LEN, DROP_UDP_SHORT, WIRE_OK, ipv4Check, ipv4Checksum, ipv4Id, ipv4TotalLen,
  l4Checksum, udpCheck, udpChecksum, udpDstPort, udpLength, udpSetLength, udpSrcPort,
} from '../../src/wire';

/**
 * UDP datagram sent by Linux (198.18.0.2:40001 -> 198.18.100.1:53, "hello lvs\n"), from a TUN
 * without offloads. IP: total 38, id 0x540d, DF, TTL 64, proto 17, checksum 0xf691.
 * UDP by hand: 9c41 sport 40001, 0035 dport 53, 0012 length 18, 4fb8 checksum.
 * Checksum: pseudo c612+0002+c612+6401+0011+0012 = 0x1f04a; header 9c41+0035+0012 = 0x9c88;
 * data 6865+6c6c+6f20+6c76+730a = 0x22371; total 0x4b043 -> 0xb047 -> ~ = 0x4fb8.
 */
const UDP = Buffer.from(
  '45000026540d40004011f691c6120002c6126401' + '9c41003500124fb8' + '68656c6c6f206c76730a', 'hex');
const U = 20;

test('decode every field of a captured UDP datagram', () => {
  assert.equal(ipv4Check(UDP, 0, UDP.length), WIRE_OK);
  assert.equal(ipv4TotalLen(UDP, 0), 38);
  assert.equal(ipv4Id(UDP, 0), 0x540d);
  assert.equal(ipv4Checksum(UDP, 0), 0xf691);
  assert.equal(udpCheck(UDP, U, 18), WIRE_OK);
  assert.equal(udpSrcPort(UDP, U), 40001);
  assert.equal(udpDstPort(UDP, U), 53);
  assert.equal(udpLength(UDP, U), 18);
  assert.equal(udpChecksum(UDP, U), 0x4fb8);
  assert.equal(UDP.subarray(U + 8).toString(), 'hello lvs\n');
  assert.equal(l4Checksum(UDP, U, 18, 0xc6120002, 0xc6126401, 17), 0x4fb8);
});

test('udpCheck negative cases', () => {
  assert.equal(udpCheck(UDP, U, 7), DROP_UDP_SHORT);
  assert.equal(udpCheck(UDP, U, 17), DROP_UDP_LEN); // length field 18 > 17 available
  const b = Buffer.from(UDP);
  udpSetLength(b, U, 7);
  assert.equal(udpCheck(b, U, 18), DROP_UDP_LEN);
  udpSetLength(b, U, 10); // shorter than the IP payload: the rest is padding
  assert.equal(udpCheck(b, U, 18), WIRE_OK);
});
