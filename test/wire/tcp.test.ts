import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DROP_TCP_DOFF, DROP_TCP_SHORT, TCP_ACK, TCP_FIN, TCP_SYN, WIRE_OK, l4Checksum, tcpAck,
  tcpCheck, tcpChecksum, tcpDataOffset, tcpDstPort, tcpFlags, tcpFlagsFromString,
  tcpFlagsToString, tcpHeaderLen, tcpSeq, tcpSetDataOffset, tcpSrcPort, tcpUrgent, tcpWindow,
} from '../../src/wire';

/**
 * Captured Linux SYN (see ipv4.test.ts). TCP header at byte 20, by hand:
 *   9c40 sport 40000   0050 dport 80   6a8de76d seq   00000000 ack
 *   a0   data offset 10 (40 bytes)     02 flags SYN   faf0 window 64240
 *   c79e checksum      0000 urgent
 *   options: 02 04 05b4 MSS 1460 | 04 02 SACK permitted | 08 0a 21448575 00000000 timestamps
 *            | 01 NOP | 03 03 0a window scale 10
 */
const SYN = Buffer.from(
  '4500003cdef7400040066b9cc6120002c6126401' +
  '9c4000506a8de76d00000000a002faf0c79e0000020405b40402080a21448575000000000103030a', 'hex');
const T = 20;

test('decode every TCP field of a captured SYN', () => {
  assert.equal(tcpCheck(SYN, T, 40), WIRE_OK);
  assert.equal(tcpSrcPort(SYN, T), 40000);
  assert.equal(tcpDstPort(SYN, T), 80);
  assert.equal(tcpSeq(SYN, T), 0x6a8de76d);
  assert.equal(tcpAck(SYN, T), 0);
  assert.equal(tcpDataOffset(SYN, T), 10);
  assert.equal(tcpHeaderLen(SYN, T), 40);
  assert.equal(tcpFlags(SYN, T), TCP_SYN);
  assert.equal(tcpWindow(SYN, T), 64240);
  assert.equal(tcpChecksum(SYN, T), 0xc79e);
  assert.equal(tcpUrgent(SYN, T), 0);
  assert.equal(SYN[T + 20], 2); // MSS option kind
  assert.equal(SYN.readUInt16BE(T + 22), 1460);
});

test('full TCP checksum of the captured SYN matches the wire value', () => {
  assert.equal(l4Checksum(SYN, T, 40, 0xc6120002, 0xc6126401, 6), 0xc79e);
  // Independent of what the field holds.
  const b = Buffer.from(SYN);
  b.writeUInt16BE(0x1234, T + 16);
  assert.equal(l4Checksum(b, T, 40, 0xc6120002, 0xc6126401, 6), 0xc79e);
});

test('tcpCheck negative cases', () => {
  assert.equal(tcpCheck(SYN, T, 19), DROP_TCP_SHORT);
  assert.equal(tcpCheck(SYN, T, 39), DROP_TCP_DOFF); // header says 40 bytes
  const b = Buffer.from(SYN);
  tcpSetDataOffset(b, T, 4);
  assert.equal(tcpCheck(b, T, 40), DROP_TCP_DOFF);
  tcpSetDataOffset(b, T, 5);
  assert.equal(tcpCheck(b, T, 20), WIRE_OK);
});

test('flag letters', () => {
  assert.equal(tcpFlagsFromString('S'), TCP_SYN);
  assert.equal(tcpFlagsFromString('SA'), 0x12);
  assert.equal(tcpFlagsFromString('FA'), TCP_FIN | TCP_ACK);
  assert.equal(tcpFlagsFromString('X'), -1);
  assert.equal(tcpFlagsToString(0x12), 'SA');
  assert.equal(tcpFlagsToString(0xff), 'FSRPAUEC');
});
