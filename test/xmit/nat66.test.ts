import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Ipv6Info, WIRE_OK, formatIpv6Bytes, ipv6Classify, ipv6FromString, l4Checksum6, pseudoHeaderSum6,
} from '../../src/wire';
import { nat66Reply, nat66Request, nat66SetDst, nat66SetSrc } from '../../src/xmit/nat66';
import { type Csum6, pkt6, refL4Ok, refPseudo, refSum } from '../fixtures/ipv6/builder6';
import { prng } from '../support/prng';

const CIP = '2001:2::2';
const VIP_T = '2001:2:0:100::1';
const RIP_T = '2001:2:1::11';
const VIP = ipv6FromString(VIP_T) as Uint32Array;
const RIP = ipv6FromString(RIP_T) as Uint32Array;

function classify(p: Buffer, partial = false): Ipv6Info {
  const info = new Ipv6Info();
  assert.equal(ipv6Classify(p, 0, p.length, info, partial), WIRE_OK);
  return info;
}

function checkOffset(proto: number): number {
  return proto === 6 ? 16 : proto === 17 ? 6 : 2;
}

test('request: VIP -> RIP and port on TCP, UDP; address only on ICMPv6 echo; full checksums stay exact', () => {
  const cases = [
    pkt6({ src: CIP, dst: VIP_T }).tcp({ sport: 40000, dport: 80, flags: 0x02 }).build(),
    pkt6({ src: CIP, dst: VIP_T }).hbh().dest(1).tcp({ sport: 40000, dport: 80 }).payload('GET / HTTP/1.1\r\n\r\n').build(),
    pkt6({ src: CIP, dst: VIP_T }).udp({ sport: 5353, dport: 53 }).payload('odd').build(),
    pkt6({ src: CIP, dst: VIP_T }).icmp6({ type: 128, id: 9, seq: 1 }).payload('ping').build(),
  ];
  for (const p of cases) {
    const info = classify(p);
    const before = Buffer.from(p);
    nat66Request(p, 0, info.l4Off, info.proto, RIP, 0, 8080, false);
    assert.equal(formatIpv6Bytes(p, 24), RIP_T);
    assert.equal(formatIpv6Bytes(p, 8), CIP);
    if (info.proto !== 58) {
      assert.equal(p.readUInt16BE(info.l4Off + 2), 8080);
      assert.equal(p.readUInt16BE(info.l4Off), before.readUInt16BE(info.l4Off));
    } else {
      assert.equal(p.readUInt16BE(info.l4Off + 4), 9, 'the echo identifier is kept');
    }
    assert.ok(refL4Ok(p, info.l4Off, info.proto), `proto ${info.proto}: verifies`);
    assert.equal(p.readUInt16BE(info.l4Off + checkOffset(info.proto)), l4Checksum6(p, 0, info.l4Off, info.l4Len, info.proto));
    // Only the destination, the port and the checksum changed.
    for (let i = 0; i < p.length; i++) {
      const co = info.l4Off + checkOffset(info.proto);
      if ((i >= 24 && i < 40) || i === co || i === co + 1 || (info.proto !== 58 && (i === info.l4Off + 2 || i === info.l4Off + 3))) continue;
      assert.equal(p[i], before[i], `byte ${i}`);
    }
  }
});

test('reply: RIP -> VIP and port as source; echo reply keeps its identifier', () => {
  const p = pkt6({ src: RIP_T, dst: CIP }).tcp({ sport: 8080, dport: 40000, flags: 0x12 }).build();
  const info = classify(p);
  nat66Reply(p, 0, info.l4Off, 6, VIP, 0, 80, false);
  assert.equal(formatIpv6Bytes(p, 8), VIP_T);
  assert.equal(p.readUInt16BE(40), 80);
  assert.equal(p.readUInt16BE(42), 40000);
  assert.ok(refL4Ok(p, 40, 6));
  const e = pkt6({ src: RIP_T, dst: CIP }).icmp6({ type: 129, id: 9, seq: 1 }).payload('ping').build();
  nat66Reply(e, 0, 40, 58, VIP, 0, 80, false);
  assert.equal(formatIpv6Bytes(e, 8), VIP_T);
  assert.equal(e.readUInt16BE(44), 9);
  assert.ok(refL4Ok(e, 40, 58));
  // The echo identifier can be rewritten on request (NAT of the identifier).
  nat66SetSrc(e, 0, 40, 58, RIP, 0, 0x4444, false);
  assert.equal(e.readUInt16BE(44), 0x4444);
  assert.ok(refL4Ok(e, 40, 58));
});

test('partial checksums (NEEDS_CSUM): the field stays the pseudo-header sum of the new addresses', () => {
  for (const proto of [6, 17, 58]) {
    const b = pkt6({ src: CIP, dst: VIP_T });
    const p = (proto === 6 ? b.tcp({ sport: 40000, dport: 80, csum: 'partial' }) : proto === 17
      ? b.udp({ sport: 40000, dport: 53, csum: 'partial' }) : b.icmp6({ type: 128, id: 1, csum: 'partial' }))
      .payload(Buffer.alloc(3000, 0x61)).build();
    const info = classify(p, true);
    nat66Request(p, 0, info.l4Off, proto, RIP, 0, 8080, true);
    const co = info.l4Off + checkOffset(proto);
    assert.equal(p.readUInt16BE(co), pseudoHeaderSum6(p, 0, proto, info.l4Len), `proto ${proto}`);
    assert.equal(p.readUInt16BE(co), refPseudo(p.subarray(8, 24), p.subarray(24, 40), proto, info.l4Len));
    // What the kernel then does (skb_checksum_help) yields a verifying checksum.
    const c = ~refSum(p.subarray(info.l4Off)) & 0xffff;
    p.writeUInt16BE(c, co);
    assert.ok(refL4Ok(p, info.l4Off, proto), `proto ${proto} completed`);
  }
});

test('fragments: the first fragment\'s checksum covers the whole datagram; later fragments change only the address', () => {
  const rest = Buffer.alloc(800, 0x33);
  const first = pkt6({ src: CIP, dst: VIP_T }).frag({ offset: 0, more: true, id: 5 })
    .udp({ sport: 5353, dport: 53, len: 8 + 1216 + 800, csumOver: rest }).payload(Buffer.alloc(1216, 0x44)).build();
  const info = classify(first);
  nat66Request(first, 0, info.l4Off, 17, RIP, 0, 5300, false);
  const whole = Buffer.concat([first.subarray(info.l4Off), rest]);
  assert.equal(refSum(whole, refPseudo(first.subarray(8, 24), first.subarray(24, 40), 17, whole.length)), 0xffff);
  assert.equal(first.readUInt16BE(info.l4Off + 2), 5300);
  const later = pkt6({ src: CIP, dst: VIP_T }).frag({ offset: 1224, more: false, id: 5 }).nextHeader(17).payload(rest).build();
  const before = Buffer.from(later);
  nat66SetDst(later, 0, -1, 17, RIP, 0, 5300, false);
  assert.equal(formatIpv6Bytes(later, 24), RIP_T);
  assert.deepEqual(later.subarray(40), before.subarray(40));
  assert.deepEqual(later.subarray(0, 24), before.subarray(0, 24));
});

test('UDP: a computed 0 is sent as 0xffff; a zero field stays zero', () => {
  // Make the post-NAT sum 0xffff: add the post-NAT checksum into a payload word beforehand.
  const p = pkt6({ src: CIP, dst: VIP_T }).udp({ sport: 1, dport: 53 }).payload(Buffer.alloc(8)).build();
  const probe = Buffer.from(p);
  nat66Request(probe, 0, 40, 17, RIP, 0, 53, false);
  const c = l4Checksum6(probe, 0, 40, 16, 17);
  p.writeUInt16BE(c, 48);
  p.writeUInt16BE(l4Checksum6(p, 0, 40, 16, 17), 46);
  nat66Request(p, 0, 40, 17, RIP, 0, 53, false);
  assert.equal(p.readUInt16BE(46), 0xffff);
  assert.ok(refL4Ok(p, 40, 17));
  const z = pkt6({ src: CIP, dst: VIP_T }).udp({ sport: 1, dport: 53, csum: 'none' }).build();
  nat66Request(z, 0, 40, 17, RIP, 0, 54, false);
  assert.equal(z.readUInt16BE(46), 0);
});

test('property: 3000 random rewrites equal a full recomputation (full) or the new pseudo-header sum (partial)', () => {
  const r = prng(66);
  const addr = new Uint32Array(4);
  for (let n = 0; n < 3000; n++) {
    const proto = [6, 17, 58][n % 3];
    const partial = r() < 0.3;
    const csum: Csum6 | undefined = partial ? 'partial' : undefined;
    const src = `2001:2:${((r() * 65536) | 0).toString(16)}::${((r() * 65536) | 0).toString(16)}`;
    const dst = `2001:2::${((r() * 65536) | 0).toString(16)}:${((r() * 65536) | 0).toString(16)}`;
    const data = Buffer.alloc((r() * 300) | 0);
    for (let i = 0; i < data.length; i++) data[i] = (r() * 256) | 0;
    const b = pkt6({ src, dst });
    if (r() < 0.2) b.dest();
    const sport = (r() * 65536) | 0;
    const dport = (r() * 65536) | 0;
    const p = (proto === 6 ? b.tcp({ sport, dport, csum }) : proto === 17 ? b.udp({ sport, dport, csum })
      : b.icmp6({ type: r() < 0.5 ? 128 : 129, id: sport, csum })).payload(data).build();
    const info = classify(p, partial);
    for (let k = 0; k < 4; k++) addr[k] = r() < 0.25 ? 0 : (r() * 2 ** 32) >>> 0;
    const port = r() < 0.1 ? -1 : (r() * 65536) | 0;
    const reply = r() < 0.5;
    if (reply) nat66SetSrc(p, 0, info.l4Off, proto, addr, 0, port, partial);
    else nat66SetDst(p, 0, info.l4Off, proto, addr, 0, port, partial);
    const co = info.l4Off + checkOffset(proto);
    const field = p.readUInt16BE(co);
    if (partial) {
      assert.equal(field, pseudoHeaderSum6(p, 0, proto, info.l4Len), `case ${n}`);
    } else {
      const full = l4Checksum6(p, 0, info.l4Off, info.l4Len, proto);
      // One's complement has two zeros: an incremental update may give either for TCP/ICMPv6.
      assert.ok(field === full || (proto !== 17 && field + full === 0xffff && (field === 0 || full === 0)), `case ${n}`);
      assert.ok(refL4Ok(p, info.l4Off, proto), `case ${n} verifies`);
    }
    if (port >= 0) {
      const po = proto === 58 ? info.l4Off + 4 : info.l4Off + (reply ? 0 : 2);
      assert.equal(p.readUInt16BE(po), port);
    }
  }
});
