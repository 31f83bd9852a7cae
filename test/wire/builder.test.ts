import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DROP_HDR_CSUM, DROP_ICMP_CSUM, DROP_IHL, DROP_TCP_DOFF, DROP_UDP_LEN, DROP_VERSION, WIRE_OK,
  csumPartial, icmpCheck, ipv4Check, l4Checksum, pseudoHeaderSum, tcpCheck, udpCheck,
} from '../../src/wire';
import { pkt } from '../support/builder';

// Packets captured from Linux through a TUN without offloads; fields decoded by hand in
// ipv4/tcp/udp/icmp.test.ts. The builder must reproduce them exactly from their fields.
const SYN = Buffer.from(
  '4500003cdef7400040066b9cc6120002c6126401' +
  '9c4000506a8de76d00000000a002faf0c79e0000020405b40402080a21448575000000000103030a', 'hex');
const UDP = Buffer.from('45000026540d40004011f691c6120002c6126401' + '9c41003500124fb8' + '68656c6c6f206c76730a', 'hex');
const ECHO = Buffer.from(
  '4500002c206b400040012a3ec6120002c6126401' + '080035f992ce0001' + '30313233343536373839616263646566', 'hex');
const PROBE = Buffer.from('45000021123400003f117970c6126401c6120002829a829b000dc5a070726f6265', 'hex');
const UNREACH = Buffer.from('45c0003d2071000040016967c6120002c6126401' + '0303ed4300000000', 'hex');

const C = '198.18.0.2';
const V = '198.18.100.1';

test('builder reproduces a captured TCP SYN with options', () => {
  const p = pkt().ip({ src: C, dst: V, ttl: 64, id: 0xdef7, df: true })
    .tcp({ sport: 40000, dport: 80, flags: 'S', seq: 0x6a8de76d, window: 64240,
      options: Buffer.from('020405b40402080a21448575000000000103030a', 'hex') })
    .build();
  assert.deepEqual(p, SYN);
});

test('builder reproduces a captured UDP datagram', () => {
  const p = pkt().ip({ src: C, dst: V, id: 0x540d, df: true }).udp({ sport: 40001, dport: 53 }).payload('hello lvs\n').build();
  assert.deepEqual(p, UDP);
  const probe = pkt().ip({ src: V, dst: C, id: 0x1234, ttl: 63 }).udp({ sport: 33434, dport: 33435 }).payload('probe').build();
  assert.deepEqual(probe, PROBE);
});

test('builder reproduces a captured echo request', () => {
  const p = pkt().ip({ src: C, dst: V, id: 0x206b, df: true }).icmp({ type: 8, id: 0x92ce, seq: 1 })
    .payload('0123456789abcdef').build();
  assert.deepEqual(p, ECHO);
});

test('builder reproduces a captured port unreachable quoting another packet', () => {
  const p = pkt().ip({ src: C, dst: V, id: 0x2071, tos: 0xc0 }).icmp({ type: 3, code: 3 }).quote(PROBE).build();
  assert.deepEqual(p, Buffer.concat([UNREACH, PROBE]));
  const short = pkt().ip({ src: C, dst: V }).icmp({ type: 3, code: 3 }).quote(PROBE, 28).build();
  assert.equal(short.length, 20 + 8 + 28);
  assert.equal(icmpCheck(short, 20, 36), WIRE_OK);
});

test('buildInto writes at an offset and nothing else', () => {
  const b = Buffer.alloc(UDP.length + 9, 0xa5);
  const n = pkt().ip({ src: C, dst: V, id: 0x540d, df: true }).udp({ sport: 40001, dport: 53 }).payload('hello lvs\n').buildInto(b, 4);
  assert.equal(n, UDP.length);
  assert.deepEqual(b.subarray(4, 4 + n), UDP);
  assert.ok(b.subarray(0, 4).every((x) => x === 0xa5));
  assert.ok(b.subarray(4 + n).every((x) => x === 0xa5));
});

test('checksum options: bad, partial, none, exact', () => {
  const base = () => pkt().ip({ src: C, dst: V, id: 0x540d, df: true });
  assert.equal(ipv4Check(base().ip({ src: C, dst: V, csum: 'bad' }).build(), 0, 20), DROP_HDR_CSUM);
  const badUdp = base().udp({ sport: 40001, dport: 53, csum: 'bad' }).payload('hello lvs\n').build();
  assert.notEqual(badUdp.readUInt16BE(26), 0x4fb8);
  assert.equal(ipv4Check(badUdp, 0, badUdp.length), WIRE_OK);
  const partial = base().udp({ sport: 40001, dport: 53, csum: 'partial' }).payload('hello lvs\n').build();
  assert.equal(partial.readUInt16BE(26), 0xf04b); // pseudo-header sum by hand (checksum.test.ts)
  assert.equal(~csumPartial(partial, 20, 18) & 0xffff, 0x4fb8); // completing gives the real one
  assert.equal(base().udp({ sport: 1, dport: 2, csum: 'none' }).build().readUInt16BE(26), 0);
  assert.equal(base().udp({ sport: 1, dport: 2, csum: 0x1234 }).build().readUInt16BE(26), 0x1234);
  const tcpPartial = pkt().ip({ src: C, dst: V }).tcp({ sport: 1, dport: 2, flags: 'SA', csum: 'partial' }).build();
  assert.equal(tcpPartial.readUInt16BE(36), pseudoHeaderSum(0xc6120002, 0xc6126401, 6, 20));
  const tcpBad = pkt().ip({ src: C, dst: V }).tcp({ sport: 1, dport: 2, csum: 'bad' }).build();
  assert.notEqual(tcpBad.readUInt16BE(36), l4Checksum(tcpBad, 20, 20, 0xc6120002, 0xc6126401, 6));
  const icmpBad = pkt().ip({ src: C, dst: V }).icmp({ type: 8, csum: 'bad' }).build();
  assert.equal(icmpCheck(icmpBad, 20, 8), DROP_ICMP_CSUM);
});

test('forced invalid header fields', () => {
  assert.equal(ipv4Check(pkt().ip({ src: C, dst: V, version: 6 }).build(), 0, 20), DROP_VERSION);
  assert.equal(ipv4Check(pkt().ip({ src: C, dst: V, ihl: 4 }).build(), 0, 20), DROP_IHL);
  const doff = pkt().ip({ src: C, dst: V }).tcp({ sport: 1, dport: 2, doff: 4 }).build();
  assert.equal(tcpCheck(doff, 20, 20), DROP_TCP_DOFF);
  const ulen = pkt().ip({ src: C, dst: V }).udp({ sport: 1, dport: 2, len: 9 }).build();
  assert.equal(udpCheck(ulen, 20, 8), DROP_UDP_LEN);
  assert.equal(pkt().ip({ src: C, dst: V, totalLen: 100 }).build().readUInt16BE(2), 100);
  assert.throws(() => pkt().ip({ src: '300.1.1.1', dst: V }).build());
  assert.throws(() => pkt().build());
});
