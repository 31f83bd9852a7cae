import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  csumFinish, csumFold, csumPartial, csumPartialReplace32, csumReplace16, csumReplace32,
  ipv4Check, ipv4HeaderChecksum, ipv4Checksum, ipv4Dst, ipv4HeaderLen, ipv4Src, l4Checksum,
  natSetDstAddr, natSetDstPort, natSetSrcAddr, natSetSrcPort, pseudoHeaderSum,
  udpCsumReplace16, udpCsumReplace32, WIRE_OK, tcpChecksum, udpChecksum,
} from '../../src/wire';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipvs/types';
import { pkt } from '../support/builder';
import { prng as mulberry32 } from '../support/prng';


/** Slow reference: byte pairs, end-around carry after every addition (RFC 1071 §4.1). */
function refSum(b: Uint8Array, off: number, len: number, initial = 0): number {
  let s = initial;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  for (let i = 0; i < len; i += 2) {
    const hi = b[off + i];
    const lo = i + 1 < len ? b[off + i + 1] : 0;
    s += hi * 256 + lo;
    if (s > 0xffff) s -= 0xffff;
  }
  return s;
}

function randBytes(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

test('RFC 1071 §3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2', () => {
  const bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
  assert.equal(csumPartial(Buffer.from(bytes), 0, 8), 0xddf2);
  assert.equal(csumFinish(0xddf2), 0x220d);
  // Same bytes at an odd offset of a larger buffer.
  const b = Buffer.alloc(13, 0xa5);
  Buffer.from(bytes).copy(b, 3);
  assert.equal(csumPartial(b, 3, 8), 0xddf2);
});

test('csumFold: end-around carry and large inputs', () => {
  assert.equal(csumFold(0), 0);
  assert.equal(csumFold(0xffff), 0xffff);
  assert.equal(csumFold(0x10000), 1);
  assert.equal(csumFold(0x1ffff), 1); // 0xffff + 1 = 0x10000 -> 1
  assert.equal(csumFold(0x2fffd), 0xffff); // 0xfffd + 2
  assert.equal(csumFold(0xffffffff), 0xffff);
  // 2^40 = 2^(16*2) * 2^8 ≡ 2^8 (mod 0xffff) since 2^16 ≡ 1.
  assert.equal(csumFold(2 ** 40), 0x100);
  assert.equal(csumFold(2 ** 32), 1);
  assert.equal(csumFold(2 ** 33 - 1), 1); // 2·2^32 - 1 ≡ 2 - 1
  assert.equal(csumFold(2 ** 52 + 5), 21); // 2^52 = 2^48·2^4 ≡ 16
  // A large initial value passed through csumPartial folds the same way.
  assert.equal(csumPartial(Buffer.from([0, 1]), 0, 2, 2 ** 33 - 1), 2);
});

test('odd length pads the last byte as a high byte', () => {
  assert.equal(csumPartial(Buffer.from([0x12]), 0, 1), 0x1200);
  assert.equal(csumPartial(Buffer.from([0x12, 0x34, 0x56]), 0, 3), 0x1234 + 0x5600);
  assert.equal(csumPartial(Buffer.from([]), 0, 0, 0x1234), 0x1234);
});

test('fast sum equals the slow reference on 3000 seeded random buffers', () => {
  const r = mulberry32(0xc0ffee);
  for (let n = 0; n < 3000; n++) {
    // Mostly awkward small sizes, some up to 64 KiB + a bit (TSO super-packets).
    const len = n % 50 === 0 ? (r() * 70000) | 0 : (r() * 300) | 0;
    const off = (r() * 8) | 0;
    const tail = (r() * 4) | 0;
    const b = randBytes(r, off + len + tail);
    const init = n % 3 === 0 ? 0 : (r() * 0x1ffffff) | 0;
    assert.equal(csumPartial(b, off, len, init), refSum(b, off, len, init), `case ${n} len ${len} off ${off}`);
  }
});

test('all-0xff buffers exercise accumulator folding', () => {
  for (const len of [65535, 65536, 70001]) {
    const b = Buffer.alloc(len + 1, 0xff);
    assert.equal(csumPartial(b, 1, len), refSum(b, 1, len));
  }
});

test('RFC 1624 §4 example: eqn. 3 gives 0x0000, not 0xffff', () => {
  // Other header words sum to 0xcd7a; m = 0x5555 -> m' = 0x3285; HC = ~(0xcd7a + 0x5555) = 0xdd2f.
  assert.equal(csumReplace16(0xdd2f, 0x5555, 0x3285), 0x0000);
  // UDP sends a computed 0 as 0xffff; an absent checksum stays absent.
  assert.equal(udpCsumReplace16(0xdd2f, 0x5555, 0x3285), 0xffff);
  assert.equal(udpCsumReplace16(0, 0x5555, 0x3285), 0);
  assert.equal(udpCsumReplace32(0, 0x01020304, 0x05060708), 0);
});

test('csumReplace16/32 equal full recomputation on random data', () => {
  const r = mulberry32(7);
  for (let n = 0; n < 2000; n++) {
    const words = 2 + ((r() * 40) | 0);
    const b = randBytes(r, words * 2);
    const check = csumFinish(csumPartial(b, 0, b.length));
    if (r() < 0.5) {
      const w = (r() * words) | 0;
      const old = b.readUInt16BE(w * 2);
      const nw = (r() * 0x10000) | 0;
      b.writeUInt16BE(nw, w * 2);
      assert.equal(csumReplace16(check, old, nw), csumFinish(csumPartial(b, 0, b.length)));
    } else {
      const w = (r() * (words - 1)) | 0;
      const old = b.readUInt32BE(w * 2);
      const nv = (r() * 0x100000000) >>> 0;
      b.writeUInt32BE(nv, w * 2);
      assert.equal(csumReplace32(check, old, nv), csumFinish(csumPartial(b, 0, b.length)));
    }
  }
});

test('pseudoHeaderSum by hand: 198.18.0.2 -> 198.18.100.1, UDP, length 18', () => {
  // c612 + 0002 + c612 + 6401 + 0011 + 0012 = 0x1f04a -> fold 0xf04b
  assert.equal(pseudoHeaderSum(0xc6120002, 0xc6126401, 17, 18), 0xf04b);
});

// --- NAT rewrites on random valid packets -------------------------------------------------

type Proto = typeof IPPROTO_TCP | typeof IPPROTO_UDP;

function randAddr(r: () => number): number {
  return (0xc6120000 + ((r() * 0x20000) | 0)) >>> 0; // 198.18.0.0/15
}

function randPacket(r: () => number, proto: Proto, partial: boolean, udpNone: boolean): Buffer {
  const payload = randBytes(r, (r() * 200) | 0);
  const b = pkt().ip({ src: randAddr(r), dst: randAddr(r), ttl: 1 + ((r() * 254) | 0), id: (r() * 65536) | 0, df: r() < 0.5 });
  const csum = partial ? 'partial' : udpNone ? 'none' : undefined;
  if (proto === IPPROTO_TCP) {
    b.tcp({ sport: (r() * 65536) | 0, dport: (r() * 65536) | 0, flags: (r() * 256) | 0, seq: (r() * 2 ** 32) >>> 0, csum: csum as 'partial' | undefined });
  } else {
    b.udp({ sport: (r() * 65536) | 0, dport: (r() * 65536) | 0, csum });
  }
  return b.payload(payload).build();
}

/** Applies 1..4 random rewrites; returns nothing, the packet is changed in place. */
function randRewrites(r: () => number, p: Buffer, proto: Proto, partial: boolean): void {
  const l4 = ipv4HeaderLen(p, 0);
  const k = 1 + ((r() * 4) | 0);
  for (let i = 0; i < k; i++) {
    const which = (r() * 4) | 0;
    if (which === 0) natSetDstAddr(p, 0, l4, proto, randAddr(r), partial);
    else if (which === 1) natSetSrcAddr(p, 0, l4, proto, randAddr(r), partial);
    else if (which === 2) natSetDstPort(p, l4, proto, (r() * 65536) | 0, partial);
    else natSetSrcPort(p, l4, proto, (r() * 65536) | 0, partial);
  }
}

function checkOff(proto: Proto): number {
  return proto === IPPROTO_TCP ? 16 : 6;
}

/** 0 and 0xffff are the two representations of one's-complement zero. */
function norm(c: number): number {
  return c === 0 ? 0xffff : c;
}

test('normal mode: incremental NAT equals full recomputation (TCP and UDP)', () => {
  const r = mulberry32(1624);
  for (let n = 0; n < 2000; n++) {
    const proto: Proto = n % 2 ? IPPROTO_TCP : IPPROTO_UDP;
    const p = randPacket(r, proto, false, false);
    randRewrites(r, p, proto, false);
    const hl = ipv4HeaderLen(p, 0);
    assert.equal(ipv4Check(p, 0, p.length), WIRE_OK);
    assert.equal(ipv4Checksum(p, 0), ipv4HeaderChecksum(p, 0, hl));
    const got = proto === IPPROTO_TCP ? tcpChecksum(p, hl) : udpChecksum(p, hl);
    const want = l4Checksum(p, hl, p.length - hl, ipv4Src(p, 0), ipv4Dst(p, 0), proto);
    if (proto === IPPROTO_UDP) assert.equal(got, want, `case ${n}`); // both apply 0 -> 0xffff
    else assert.equal(norm(got), norm(want), `case ${n}`);
    // And the receiver's view: summing the segment with the field gives 0xffff.
    assert.equal(csumPartial(p, hl, p.length - hl, pseudoHeaderSum(ipv4Src(p, 0), ipv4Dst(p, 0), proto, p.length - hl)), 0xffff);
  }
});

test('normal mode: a UDP checksum of 0 (none) stays 0 through rewrites', () => {
  const r = mulberry32(768);
  for (let n = 0; n < 300; n++) {
    const p = randPacket(r, IPPROTO_UDP, false, true);
    randRewrites(r, p, IPPROTO_UDP, false);
    assert.equal(udpChecksum(p, 20), 0);
    assert.equal(ipv4Check(p, 0, p.length), WIRE_OK);
  }
});

test('partial mode (NEEDS_CSUM): completing the sum after NAT equals the full checksum', () => {
  const r = mulberry32(0x7e57);
  for (let n = 0; n < 2000; n++) {
    const proto: Proto = n % 2 ? IPPROTO_TCP : IPPROTO_UDP;
    const p = randPacket(r, proto, true, false);
    const hl = ipv4HeaderLen(p, 0);
    const co = hl + checkOff(proto);
    randRewrites(r, p, proto, true);
    assert.equal(ipv4Check(p, 0, p.length), WIRE_OK);
    const src = ipv4Src(p, 0);
    const dst = ipv4Dst(p, 0);
    const l4len = p.length - hl;
    // The field still holds exactly the pseudo-header sum of the new addresses.
    assert.equal(p.readUInt16BE(co), pseudoHeaderSum(src, dst, proto, l4len), `case ${n}`);
    // What the kernel does later (skb_checksum_help): sum csum_start..end, complement, store.
    const completed = ~csumPartial(p, hl, l4len) & 0xffff;
    const want = l4Checksum(p, hl, l4len, src, dst, proto);
    assert.equal(norm(completed), norm(want), `case ${n}`);
  }
});

test('partial mode: port rewrites leave the checksum field alone', () => {
  const r = mulberry32(3);
  for (const proto of [IPPROTO_TCP, IPPROTO_UDP] as Proto[]) {
    const p = randPacket(r, proto, true, false);
    const co = 20 + checkOff(proto);
    const before = p.readUInt16BE(co);
    natSetDstPort(p, 20, proto, 8080, true);
    natSetSrcPort(p, 20, proto, 1234, true);
    assert.equal(p.readUInt16BE(20), 1234);
    assert.equal(p.readUInt16BE(22), 8080);
    assert.equal(p.readUInt16BE(co), before);
  }
});

test('l4Off = -1 updates only the IPv4 header (non-first fragments, ICMP)', () => {
  const p = pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1' }).icmp({ type: 8, id: 1, seq: 1 }).payload('abc').build();
  const icmpBefore = Buffer.from(p.subarray(20));
  natSetDstAddr(p, 0, -1, IPPROTO_ICMP, 0xc6120101, false);
  assert.equal(ipv4Dst(p, 0), 0xc6120101);
  assert.equal(ipv4Check(p, 0, p.length), WIRE_OK);
  assert.deepEqual(p.subarray(20), icmpBefore);
  // ICMP has no pseudo-header: with l4Off given, its checksum is still untouched.
  natSetSrcAddr(p, 0, 20, IPPROTO_ICMP, 0xc6120202, false);
  assert.equal(ipv4Check(p, 0, p.length), WIRE_OK);
  assert.deepEqual(p.subarray(20), icmpBefore);
});

test('csumPartialReplace32 on a hand-made pseudo-header sum', () => {
  // Pseudo sum for 198.18.0.2 -> 198.18.100.1 UDP len 18 is 0xf04b (see above).
  // New dst 198.18.100.9: the sum grows by 8: 0xf053.
  assert.equal(csumPartialReplace32(0xf04b, 0xc6126401, 0xc6126409), 0xf053);
});

test('normal mode: a UDP result of 0 is sent as 0xffff', () => {
  const X = 0xc6120109;
  // Choose the last payload word W so that the datagram to X sums to 0xffff: W = ~(sum with W = 0).
  const tmp = pkt().ip({ src: '198.18.0.2', dst: X }).udp({ sport: 1000, dport: 2000 }).payload(Buffer.alloc(2)).build();
  const w = l4Checksum(tmp, 20, 10, 0xc6120002, X, IPPROTO_UDP);
  const p = pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1' }).udp({ sport: 1000, dport: 2000 })
    .payload(Buffer.from([w >>> 8, w & 0xff])).build();
  assert.notEqual(udpChecksum(p, 20), 0);
  natSetDstAddr(p, 0, 20, IPPROTO_UDP, X, false);
  assert.equal(udpChecksum(p, 20), 0xffff);
  assert.equal(l4Checksum(p, 20, 10, 0xc6120002, X, IPPROTO_UDP), 0xffff);
});

test('NAT address setters: a uint32 address and its int32 bits write the same bytes and checksums', () => {
  const addrs = [0x7fffffff, 0x80000000, 0xffffffff, 0xc6120002, 0];
  for (const partial of [false, true]) {
    for (const proto of [IPPROTO_TCP, IPPROTO_UDP]) {
      for (const a of addrs) {
        const base = proto === IPPROTO_TCP
          ? pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1' }).tcp({ sport: 40000, dport: 80, flags: 'S', csum: partial ? 'partial' : undefined }).build()
          : pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1' }).udp({ sport: 40000, dport: 53, csum: partial ? 'partial' : undefined }).build();
        const u = Buffer.from(base);
        const s = Buffer.from(base);
        natSetDstAddr(u, 0, 20, proto, a, partial);
        natSetDstAddr(s, 0, 20, proto, a | 0, partial);
        natSetSrcAddr(u, 0, 20, proto, a, partial);
        natSetSrcAddr(s, 0, 20, proto, a | 0, partial);
        assert.deepEqual(s, u, `address ${a.toString(16)} ${proto} partial=${partial}`);
        assert.equal(ipv4Dst(u, 0), a >>> 0);
        assert.equal(ipv4Src(u, 0), a >>> 0);
        assert.equal(csumPartial(u, 0, 20), 0xffff, 'IPv4 header checksum');
        if (!partial) assert.equal(l4Checksum(u, 20, u.length - 20, a >>> 0, a >>> 0, proto), proto === IPPROTO_TCP ? tcpChecksum(u, 20) : udpChecksum(u, 20));
        // Writing the address already there (in the other form) changes nothing.
        const again = Buffer.from(u);
        natSetDstAddr(again, 0, 20, proto, a | 0, partial);
        assert.deepEqual(again, u);
      }
    }
  }
});
