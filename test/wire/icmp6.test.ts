import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DROP6_ICMP_QUOTE, ICMP6_ADDR_UNREACH, ICMP6_ERROR_MAX_QUOTE, ICMP6_PORT_UNREACH, Icmp6Quote, Ipv6Info, WIRE_OK,
  buildDestUnreach6, buildEchoReply6, buildIcmp6Error, buildPacketTooBig, formatIpv6Bytes, icmp6Code,
  icmp6ErrorAllowed, icmp6Id, icmp6IsError, icmp6IsMld, icmp6IsNdp, icmp6Param, icmp6Seq, icmp6Type,
  ipv6Classify, ipv6FromString, parseIcmp6Quote,
} from '../../src/wire';
import { pkt6, refL4Ok } from '../fixtures/ipv6/builder6';

const CIP = '2001:2::2';
const VIP_T = '2001:2:0:100::1';
const RIP = '2001:2:1::11';
const VIP = ipv6FromString(VIP_T) as Uint32Array;

function classify(p: Uint8Array): Ipv6Info {
  const info = new Ipv6Info();
  assert.equal(ipv6Classify(p, 0, p.length, info, false), WIRE_OK);
  return info;
}

test('type classes', () => {
  for (let t = 0; t < 128; t++) assert.equal(icmp6IsError(t), true);
  for (let t = 128; t < 256; t++) assert.equal(icmp6IsError(t), false);
  assert.deepEqual([...Array(256).keys()].filter(icmp6IsNdp), [133, 134, 135, 136, 137]);
  assert.deepEqual([...Array(256).keys()].filter(icmp6IsMld), [130, 131, 132, 143]);
});

test('packet too big: from the VIP, MTU never below 1280, quote within 1280 bytes, every byte written', () => {
  for (const size of [100, 1232, 1233, 1500, 9000]) {
    const q = pkt6({ src: CIP, dst: VIP_T, flow: 0x77 }).tcp({ sport: 40000, dport: 80, flags: 0x10 })
      .payload(Buffer.alloc(size - 60, 0x61)).build();
    const out = Buffer.alloc(1400, 0xa5);
    const len = buildPacketTooBig(out, 3, q, 0, q.length, VIP, 0, 1460);
    const quote = Math.min(size, ICMP6_ERROR_MAX_QUOTE);
    assert.equal(len, 48 + quote, `size ${size}`);
    assert.ok(len <= 1280);
    const e = out.subarray(3, 3 + len);
    assert.equal(out[2], 0xa5);
    assert.equal(out[3 + len], 0xa5);
    assert.equal(e[0], 0x60);
    assert.equal(e[1] | e[2] | e[3], 0, 'traffic class and flow label 0');
    assert.equal(e.readUInt16BE(4), 8 + quote);
    assert.equal(e[6], 58);
    assert.equal(e[7], 64);
    assert.equal(formatIpv6Bytes(e, 8), VIP_T);
    assert.equal(formatIpv6Bytes(e, 24), CIP);
    assert.equal(icmp6Type(e, 40), 2);
    assert.equal(icmp6Code(e, 40), 0);
    assert.equal(icmp6Param(e, 40), 1460);
    assert.deepEqual(e.subarray(48), q.subarray(0, quote));
    assert.ok(refL4Ok(e, 40, 58), 'checksum verifies (reference sum)');
    assert.equal(classify(e).proto, 58);
  }
  const q = pkt6({ src: CIP, dst: VIP_T }).udp({ sport: 1, dport: 2 }).build();
  const out = Buffer.alloc(200);
  buildPacketTooBig(out, 0, q, 0, q.length, VIP, 0, 1000);
  assert.equal(icmp6Param(out, 40), 1280, 'raised to the IPv6 minimum MTU');
});

test('destination unreachable: port and address codes', () => {
  const q = pkt6({ src: CIP, dst: VIP_T }).udp({ sport: 5353, dport: 53 }).payload('q').build();
  const out = Buffer.alloc(200, 0xa5);
  for (const code of [ICMP6_PORT_UNREACH, ICMP6_ADDR_UNREACH]) {
    const len = buildDestUnreach6(out, 0, code, q, 0, q.length, VIP, 0);
    assert.equal(len, 48 + q.length);
    assert.equal(icmp6Type(out, 40), 1);
    assert.equal(icmp6Code(out, 40), code);
    assert.equal(icmp6Param(out, 40), 0, 'unused field zero');
    assert.ok(refL4Ok(out.subarray(0, len), 40, 58));
  }
  const custom = buildIcmp6Error(out, 0, 3, 1, 0, q, 0, q.length, VIP, 0, 200);
  assert.equal(out[7], 200);
  assert.equal(custom, 48 + q.length);
});

test('echo reply: copied and in place over extension headers', () => {
  const req = pkt6({ src: CIP, dst: VIP_T, hopLimit: 50 }).icmp6({ type: 128, id: 0x1234, seq: 9 }).payload('ping-data').build();
  const info = classify(req);
  const out = Buffer.alloc(req.length + 4, 0xa5);
  const len = buildEchoReply6(out, 2, req, 0, info.l4Off, info.l4Len);
  assert.equal(len, req.length);
  const rep = out.subarray(2, 2 + len);
  assert.equal(out[2 + len], 0xa5);
  assert.equal(formatIpv6Bytes(rep, 8), VIP_T);
  assert.equal(formatIpv6Bytes(rep, 24), CIP);
  assert.equal(icmp6Type(rep, 40), 129);
  assert.equal(icmp6Id(rep, 40), 0x1234);
  assert.equal(icmp6Seq(rep, 40), 9);
  assert.equal(rep.subarray(48).toString(), 'ping-data');
  assert.ok(refL4Ok(rep, 40, 58));
  // In place, with a hop-by-hop and a destination options header to move over.
  const withExt = pkt6({ src: CIP, dst: VIP_T }).hbh().dest(1).icmp6({ type: 128, id: 5, seq: 6 }).payload('x'.repeat(33)).build();
  const i2 = classify(withExt);
  const n = buildEchoReply6(withExt, 0, withExt, 0, i2.l4Off, i2.l4Len);
  assert.equal(n, 40 + 8 + 33);
  const r2 = withExt.subarray(0, n);
  assert.equal(r2[6], 58);
  assert.equal(r2.readUInt16BE(4), 41);
  assert.equal(icmp6Id(r2, 40), 5);
  assert.equal(r2.subarray(48).toString(), 'x'.repeat(33));
  assert.equal(formatIpv6Bytes(r2, 8), VIP_T);
  assert.ok(refL4Ok(r2, 40, 58));
});

test('error parsing: the quoted packet\'s addresses and ports, for relaying', () => {
  const reply = pkt6({ src: RIP, dst: CIP }).dest().tcp({ sport: 8080, dport: 40000, flags: 0x12 }).payload(Buffer.alloc(1400)).build();
  const out = Buffer.alloc(1400);
  const len = buildPacketTooBig(out, 0, reply, 0, reply.length, ipv6FromString('2001:2:1::1') as Uint32Array, 0, 1400);
  const e = out.subarray(0, len);
  const info = classify(e);
  const q = new Icmp6Quote();
  assert.equal(parseIcmp6Quote(e, info.l4Off, info.l4Len, q), WIRE_OK);
  assert.equal(q.ipOff, 48);
  assert.equal(formatIpv6Bytes(e, q.ipOff + 8), RIP);
  assert.equal(formatIpv6Bytes(e, q.ipOff + 24), CIP);
  assert.equal(q.proto, 6);
  assert.equal(q.l4Off, 48 + 48);
  assert.equal(q.sport, 8080);
  assert.equal(q.dport, 40000);
  assert.equal(q.laterFragment, false);

  const udp = pkt6({ src: CIP, dst: VIP_T }).udp({ sport: 5353, dport: 53 }).build();
  const du = Buffer.alloc(200);
  const dl = buildDestUnreach6(du, 0, 4, udp, 0, udp.length, VIP, 0);
  const di = classify(du.subarray(0, dl));
  assert.equal(parseIcmp6Quote(du, di.l4Off, di.l4Len, q), WIRE_OK);
  assert.deepEqual([q.proto, q.sport, q.dport], [17, 5353, 53]);

  const echo = pkt6({ src: CIP, dst: VIP_T }).icmp6({ type: 128, id: 77, seq: 1 }).build();
  const eo = Buffer.alloc(200);
  const el = buildIcmp6Error(eo, 0, 3, 0, 0, echo, 0, echo.length, VIP, 0);
  const ei = classify(eo.subarray(0, el));
  assert.equal(parseIcmp6Quote(eo, ei.l4Off, ei.l4Len, q), WIRE_OK);
  assert.deepEqual([q.proto, q.sport, q.dport], [58, 77, 77]);

  const frag = pkt6({ src: CIP, dst: VIP_T }).frag({ offset: 1232, more: false, id: 4 }).nextHeader(6).payload(Buffer.alloc(16)).build();
  const fo = Buffer.alloc(200);
  const fl = buildIcmp6Error(fo, 0, 3, 1, 0, frag, 0, frag.length, VIP, 0);
  const fi = classify(fo.subarray(0, fl));
  assert.equal(parseIcmp6Quote(fo, fi.l4Off, fi.l4Len, q), WIRE_OK);
  assert.equal(q.laterFragment, true);
  assert.equal(q.sport, -1);

  // Unusable quotes: too short for the header, not IPv6, ports cut, a quoted ICMPv6 error,
  // a chain the walk refuses.
  const cases: [string, Buffer][] = [
    ['short', udp.subarray(0, 39)],
    ['ports cut', udp.subarray(0, 45)],
    ['not ipv6', Buffer.concat([Buffer.from([0x45]), udp.subarray(1)])],
    ['quoted error', e],
    ['rh0', pkt6({ src: CIP, dst: VIP_T }).routing(0, 1).udp({ sport: 1, dport: 2 }).build()],
    ['esp', pkt6({ src: CIP, dst: VIP_T }).nextHeader(50).payload(Buffer.alloc(16)).build()],
  ];
  for (const [label, qp] of cases) {
    const o = Buffer.alloc(1400);
    const l = buildIcmp6Error(o, 0, 1, 0, 0, qp, 0, qp.length, VIP, 0);
    const ii = classify(o.subarray(0, l));
    assert.equal(parseIcmp6Quote(o, ii.l4Off, ii.l4Len, q), DROP6_ICMP_QUOTE, label);
  }
});

test('icmp6ErrorAllowed: RFC 4443 §2.4 (e)', () => {
  const ok = pkt6({ src: CIP, dst: VIP_T }).tcp({ sport: 1, dport: 2 }).build();
  assert.equal(icmp6ErrorAllowed(ok, 0, classify(ok), 1, 4), true);
  const mcast = pkt6({ src: CIP, dst: 'ff0e::1' }).udp({ sport: 1, dport: 2 }).build();
  assert.equal(icmp6ErrorAllowed(mcast, 0, classify(mcast), 1, 4), false);
  assert.equal(icmp6ErrorAllowed(mcast, 0, classify(mcast), 2, 0), true, 'packet too big may answer multicast');
  assert.equal(icmp6ErrorAllowed(mcast, 0, classify(mcast), 4, 2), true);
  assert.equal(icmp6ErrorAllowed(mcast, 0, classify(mcast), 4, 0), false);
  const unspec = pkt6({ src: '::', dst: VIP_T }).udp({ sport: 1, dport: 2 }).build();
  assert.equal(icmp6ErrorAllowed(unspec, 0, classify(unspec), 1, 4), false);
  const err = Buffer.alloc(200);
  const n = buildDestUnreach6(err, 0, 4, ok, 0, ok.length, VIP, 0);
  assert.equal(icmp6ErrorAllowed(err, 0, classify(err.subarray(0, n)), 1, 4), false, 'never about an error');
  const echo = pkt6({ src: CIP, dst: VIP_T }).icmp6({ type: 128 }).build();
  assert.equal(icmp6ErrorAllowed(echo, 0, classify(echo), 1, 4), true);
});
