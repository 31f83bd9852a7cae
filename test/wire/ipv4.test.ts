import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DROP_HDR_CSUM, DROP_IHL, DROP_SHORT, DROP_TOTAL_LEN, DROP_VERSION, WIRE_DROP_COUNT,
  WIRE_DROP_NAMES, WIRE_OK, emitIpv4Header, fragOffset, ipv4Check, ipv4Checksum,
  ipv4ChecksumOk, ipv4DecTtl, ipv4Df, ipv4Dst, ipv4FillChecksum, ipv4FlagsFrag,
  ipv4HeaderChecksum, ipv4HeaderLen, ipv4Id, ipv4Ihl, ipv4Mf, ipv4Proto, ipv4SetDst,
  ipv4SetSrc, ipv4SetTotalLen, ipv4Src, ipv4Tos, ipv4TotalLen, ipv4Ttl, ipv4Version,
  isFragment, parseIpv4Header,
} from '../../src/wire';
import * as wire from '../../src/wire';
import { pkt } from '../support/builder';

/**
 * TCP SYN sent by Linux (198.18.0.2:40000 -> 198.18.100.1:80), read from a TUN device
 * without offloads, so every checksum is complete. IPv4 header by hand:
 *   45       version 4, IHL 5 (20 bytes)     00    TOS 0
 *   003c     total length 60                 def7  id 57079
 *   4000     DF, offset 0                    40 06 TTL 64, proto 6
 *   6b9c     header checksum
 *   c6120002 198.18.0.2                      c6126401 198.18.100.1
 * Checksum: 4500+003c+def7+4000+4006+c612+0002+c612+6401 = 0x39460 -> 0x9463 -> ~ = 0x6b9c.
 */
const SYN = Buffer.from(
  '4500003cdef7400040066b9cc6120002c6126401' +
  '9c4000506a8de76d00000000a002faf0c79e0000020405b40402080a21448575000000000103030a', 'hex');

test('decode every IPv4 field of a captured SYN', () => {
  assert.equal(ipv4Check(SYN, 0, SYN.length), WIRE_OK);
  assert.equal(ipv4Version(SYN, 0), 4);
  assert.equal(ipv4Ihl(SYN, 0), 5);
  assert.equal(ipv4HeaderLen(SYN, 0), 20);
  assert.equal(ipv4Tos(SYN, 0), 0);
  assert.equal(ipv4TotalLen(SYN, 0), 60);
  assert.equal(ipv4Id(SYN, 0), 0xdef7);
  assert.equal(ipv4FlagsFrag(SYN, 0), 0x4000);
  assert.equal(ipv4Df(SYN, 0), true);
  assert.equal(ipv4Mf(SYN, 0), false);
  assert.equal(fragOffset(SYN, 0), 0);
  assert.equal(isFragment(SYN, 0), false);
  assert.equal(ipv4Ttl(SYN, 0), 64);
  assert.equal(ipv4Proto(SYN, 0), 6);
  assert.equal(ipv4Checksum(SYN, 0), 0x6b9c);
  assert.equal(ipv4Src(SYN, 0), 0xc6120002);
  assert.equal(ipv4Dst(SYN, 0), 0xc6126401);
  assert.equal(ipv4HeaderChecksum(SYN, 0, 20), 0x6b9c);
  assert.equal(ipv4ChecksumOk(SYN, 0), true);
  assert.deepEqual(parseIpv4Header(SYN, 0), {
    src: 0xc6120002, dst: 0xc6126401, proto: 6, ttl: 64, id: 0xdef7, df: true, totalLen: 60, tos: 0,
  });
});

test('emitIpv4Header into a 0xa5-poisoned buffer reproduces the captured header', () => {
  const b = Buffer.alloc(30, 0xa5);
  const n = emitIpv4Header(b, 3, { src: 0xc6120002, dst: 0xc6126401, proto: 6, ttl: 64, id: 0xdef7, df: true, totalLen: 60 });
  assert.equal(n, 20);
  assert.deepEqual(b.subarray(3, 23), SYN.subarray(0, 20));
  assert.ok(b.subarray(0, 3).every((x) => x === 0xa5));
  assert.ok(b.subarray(23).every((x) => x === 0xa5));
});

test('the same header decoded at an odd offset', () => {
  const b = Buffer.alloc(SYN.length + 7, 0xa5);
  SYN.copy(b, 7);
  assert.equal(ipv4Check(b, 7, SYN.length), WIRE_OK);
  assert.equal(ipv4Src(b, 7), 0xc6120002);
  assert.equal(ipv4Dst(b, 7), 0xc6126401);
});

function withByte(p: Buffer, i: number, v: number): Buffer {
  const c = Buffer.from(p);
  c[i] = v;
  return c;
}

test('ipv4Check negative cases', () => {
  assert.equal(ipv4Check(SYN, 0, 19), DROP_SHORT);
  assert.equal(ipv4Check(Buffer.alloc(0), 0, 0), DROP_SHORT);
  // Version 6 with a fixed checksum still fails on version.
  const v6 = withByte(SYN, 0, 0x65);
  ipv4FillChecksum(v6, 0);
  assert.equal(ipv4Check(v6, 0, v6.length), DROP_VERSION);
  assert.equal(ipv4Check(withByte(SYN, 0, 0x44), 0, SYN.length), DROP_IHL);
  assert.equal(ipv4Check(withByte(SYN, 0, 0x40), 0, SYN.length), DROP_IHL);
  // Total length beyond the bytes available.
  assert.equal(ipv4Check(SYN, 0, 59), DROP_TOTAL_LEN);
  const big = Buffer.from(SYN);
  ipv4SetTotalLen(big, 0, 61);
  ipv4FillChecksum(big, 0);
  assert.equal(ipv4Check(big, 0, 60), DROP_TOTAL_LEN);
  // Total length below 20.
  const small = Buffer.from(SYN);
  ipv4SetTotalLen(small, 0, 19);
  ipv4FillChecksum(small, 0);
  assert.equal(ipv4Check(small, 0, 60), DROP_TOTAL_LEN);
  // IHL*4 (60) greater than the total length (40).
  const ihl = pkt().ip({ src: '198.18.0.1', dst: '198.18.0.2', ihl: 15 }).payload(Buffer.alloc(20)).build();
  assert.equal(ipv4Check(ihl, 0, ihl.length), DROP_IHL);
  // One flipped bit anywhere in the header.
  for (let i = 0; i < 20; i++) {
    if (i === 0 || i === 2 || i === 3) continue; // those fail earlier checks
    assert.equal(ipv4Check(withByte(SYN, i, SYN[i] ^ 0x01), 0, SYN.length), DROP_HDR_CSUM, `byte ${i}`);
  }
  assert.equal(ipv4Check(pkt().ip({ src: 1, dst: 2, csum: 'bad' }).build(), 0, 20), DROP_HDR_CSUM);
});

test('link padding after the datagram is accepted', () => {
  const b = Buffer.concat([SYN, Buffer.alloc(6)]);
  assert.equal(ipv4Check(b, 0, b.length), WIRE_OK);
  assert.equal(ipv4TotalLen(b, 0), 60);
});

test('options: IHL 6 with a Router Alert option (RFC 2113) passes and is covered by the checksum', () => {
  const p = pkt().ip({ src: '198.18.0.1', dst: '198.18.0.2', options: Buffer.from([0x94, 0x04, 0x00, 0x00]) })
    .udp({ sport: 1, dport: 2 }).build();
  assert.equal(ipv4Check(p, 0, p.length), WIRE_OK);
  assert.equal(ipv4Ihl(p, 0), 6);
  assert.equal(ipv4HeaderLen(p, 0), 24);
  assert.equal(p[20], 0x94);
  assert.equal(ipv4Check(withByte(p, 21, 0x05), 0, p.length), DROP_HDR_CSUM);
});

test('fragments: MF, offset, DF', () => {
  const first = pkt().ip({ src: 1, dst: 2, mf: true }).payload(Buffer.alloc(16)).build();
  assert.equal(isFragment(first, 0), true);
  assert.equal(ipv4Mf(first, 0), true);
  assert.equal(fragOffset(first, 0), 0);
  const later = pkt().ip({ src: 1, dst: 2, fragOffset: 1480 }).payload(Buffer.alloc(16)).build();
  assert.equal(later.readUInt16BE(6), 185); // 1480 / 8
  assert.equal(isFragment(later, 0), true);
  assert.equal(fragOffset(later, 0), 1480);
  assert.equal(ipv4Check(later, 0, later.length), WIRE_OK); // wire checks do not reject fragments
  const df = pkt().ip({ src: 1, dst: 2, df: true }).build();
  assert.equal(isFragment(df, 0), false);
});

test('ipv4DecTtl updates the checksum incrementally', () => {
  const b = Buffer.from(SYN);
  assert.equal(ipv4DecTtl(b, 0), 63);
  assert.equal(ipv4Ttl(b, 0), 63);
  assert.equal(ipv4Checksum(b, 0), 0x6c9c); // one less in the TTL/proto word: ~sum grows by 0x100
  assert.equal(ipv4Check(b, 0, b.length), WIRE_OK);
});

test('raw setters do not touch the checksum; ipv4FillChecksum repairs it', () => {
  const b = Buffer.from(SYN);
  ipv4SetSrc(b, 0, 0xc6120101);
  ipv4SetDst(b, 0, 0xc6120202);
  assert.equal(ipv4Checksum(b, 0), 0x6b9c);
  assert.equal(ipv4Check(b, 0, b.length), DROP_HDR_CSUM);
  ipv4FillChecksum(b, 0);
  assert.equal(ipv4Check(b, 0, b.length), WIRE_OK);
  assert.equal(b.readUInt32BE(12), 0xc6120101);
  assert.equal(b.readUInt32BE(16), 0xc6120202);
});

test('drop reason table: dense codes with unique names', () => {
  const codes = Object.entries(wire).filter(([k]) => k.startsWith('DROP_')).map(([, v]) => v as number);
  assert.equal(WIRE_DROP_COUNT, WIRE_DROP_NAMES.length);
  assert.equal(codes.length, WIRE_DROP_COUNT - 1);
  assert.deepEqual([...codes].sort((a, b) => a - b), Array.from({ length: codes.length }, (_, i) => i + 1));
  assert.equal(new Set(WIRE_DROP_NAMES).size, WIRE_DROP_NAMES.length);
  assert.equal(WIRE_DROP_NAMES[WIRE_OK], 'ok');
  assert.equal(WIRE_DROP_NAMES[DROP_HDR_CSUM], 'ip-hdr-csum');
});

test('int32 address getters: the same bits as the uint32 getters at 2^31-1, 2^31 and 2^32-1', () => {
  for (const [src, dst] of [['127.255.255.255', '128.0.0.0'], ['255.255.255.255', '0.0.0.0'], ['198.18.0.2', '198.19.255.255']]) {
    const p = pkt().ip({ src, dst }).udp({ sport: 1, dport: 2 }).build();
    assert.equal(wire.ipv4SrcI32(p, 0), ipv4Src(p, 0) | 0, src);
    assert.equal(wire.ipv4DstI32(p, 0), ipv4Dst(p, 0) | 0, dst);
    assert.equal(wire.ipv4SrcI32(p, 0) >>> 0, ipv4Src(p, 0));
  }
  const p = pkt().ip({ src: '128.0.0.0', dst: '255.255.255.255' }).udp({ sport: 1, dport: 2 }).build();
  assert.equal(wire.ipv4SrcI32(p, 0), -0x80000000);
  assert.equal(wire.ipv4DstI32(p, 0), -1);
  assert.ok(Number.isInteger(wire.ipv4DstI32(p, 0)) && ipv4Dst(p, 0) === 0xffffffff);
});
