import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ipv6Info, WIRE_OK, formatIpv6Bytes, ipv4Check, ipv6Classify, ipv6FromString } from '../../src/wire';
import {
  TUN6_FITS, TUN6_FRAGMENT_OUTER, TUN6_FRAG_NEEDED, TUN6_PACKET_TOO_BIG, completeChecksum6, encap4in6, encap6in6,
  segmentCount6, tcp6HeadersLen, tcp6WriteSegment, tunnel6MtuCheck, tunnel6ReportedMtu, udp6WriteSegment,
  writeIp6OuterHeader,
} from '../../src/xmit/tunnel6';
import { pkt6, refL4Ok } from '../fixtures/ipv6/builder6';
import { pkt } from '../support/builder';

const CIP = '2001:2::2';
const VIP_T = '2001:2:0:100::1';
const DIP_T = '2001:2:1::1';
const RIP_T = '2001:2:1::11';
const DIP = ipv6FromString(DIP_T) as Uint32Array;
const RIP = ipv6FromString(RIP_T) as Uint32Array;

test('6in6 in the headroom: outer header written in front, inner untouched, TC and flow label copied', () => {
  const inner = pkt6({ src: CIP, dst: VIP_T, tc: 0xb9, flow: 0xfedcb, hopLimit: 33 }).tcp({ sport: 40000, dport: 80 })
    .payload('data').build();
  const buf = Buffer.alloc(100 + inner.length, 0xa5);
  inner.copy(buf, 100);
  const len = encap6in6(buf, 60, buf, 100, inner.length, DIP, 0, RIP, 0);
  assert.equal(len, 40 + inner.length);
  assert.equal(buf[59], 0xa5, 'nothing before the outer header');
  const o = buf.subarray(60, 60 + len);
  assert.equal(o[0] >>> 4, 6);
  assert.equal(((o[0] & 15) << 4) | (o[1] >>> 4), 0xb9);
  assert.equal(((o[1] & 15) << 16) | (o[2] << 8) | o[3], 0xfedcb);
  assert.equal(o.readUInt16BE(4), inner.length);
  assert.equal(o[6], 41);
  assert.equal(o[7], 64);
  assert.equal(formatIpv6Bytes(o, 8), DIP_T);
  assert.equal(formatIpv6Bytes(o, 24), RIP_T);
  assert.deepEqual(o.subarray(40), inner);
  // The tunnel packet is itself a valid IPv6 packet whose upper layer is IPv6.
  const info = new Ipv6Info();
  assert.equal(ipv6Classify(o, 0, o.length, info, false), WIRE_OK);
  assert.equal(info.proto, 41);
  assert.equal(ipv6Classify(o, 40, o.length - 40, info, false), WIRE_OK);
});

test('6in6 into another buffer, and a copy that overlaps in the same buffer', () => {
  const inner = pkt6({ src: CIP, dst: VIP_T, flow: 5 }).udp({ sport: 1, dport: 2 }).payload('x'.repeat(31)).build();
  const out = Buffer.alloc(200, 0xa5);
  const len = encap6in6(out, 7, inner, 0, inner.length, DIP, 0, RIP, 0, 17);
  assert.equal(out[6], 0xa5);
  assert.equal(out[7 + len], 0xa5);
  assert.equal(out[7 + 7], 17, 'hop limit as given');
  assert.deepEqual(out.subarray(47, 47 + inner.length), inner);
  const same = Buffer.alloc(300, 0);
  inner.copy(same, 20);
  encap6in6(same, 0, same, 20, inner.length, DIP, 0, RIP, 0); // inner moves up by 20
  assert.deepEqual(same.subarray(40, 40 + inner.length), inner);
});

test('4in6: next header 4, traffic class from the TOS, flow label as given', () => {
  const inner = pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1', tos: 0x28, df: true })
    .tcp({ sport: 40000, dport: 80, flags: 'S' }).build();
  const buf = Buffer.alloc(40 + inner.length, 0xa5);
  inner.copy(buf, 40);
  const len = encap4in6(buf, 0, buf, 40, inner.length, DIP, 0, RIP, 0, 64, 0x11111);
  assert.equal(len, 40 + inner.length);
  assert.equal(buf[6], 4);
  assert.equal(((buf[0] & 15) << 4) | (buf[1] >>> 4), 0x28);
  assert.equal(((buf[1] & 15) << 16) | (buf[2] << 8) | buf[3], 0x11111);
  assert.equal(ipv4Check(buf.subarray(40), 0, inner.length), WIRE_OK, 'inner untouched');
});

test('outer header writer fills all 40 bytes', () => {
  const out = Buffer.alloc(42, 0xa5);
  writeIp6OuterHeader(out, 1, DIP, 0, RIP, 0, 1000, 41, 0, 0);
  assert.equal(out[0], 0xa5);
  assert.equal(out[41], 0xa5);
  assert.deepEqual(out.subarray(1, 5), Buffer.from([0x60, 0, 0, 0]));
  assert.equal(out.readUInt16BE(5), 1000);
});

test('path MTU (RFC 2473 §7.1): fits, packet too big, fragmentation needed, outer fragmentation', () => {
  assert.equal(tunnel6MtuCheck(true, 1460, true, 1500), TUN6_FITS);
  assert.equal(tunnel6MtuCheck(true, 1461, true, 1500), TUN6_PACKET_TOO_BIG);
  assert.equal(tunnel6ReportedMtu(1500), 1460);
  assert.equal(tunnel6MtuCheck(true, 1280, true, 1300), TUN6_FRAGMENT_OUTER, 'a 1280-byte packet must pass');
  assert.equal(tunnel6MtuCheck(true, 1281, true, 1300), TUN6_PACKET_TOO_BIG);
  assert.equal(tunnel6ReportedMtu(1300), 1280, 'never below 1280');
  assert.equal(tunnel6MtuCheck(false, 1460, true, 1500), TUN6_FITS);
  assert.equal(tunnel6MtuCheck(false, 1461, true, 1500), TUN6_FRAG_NEEDED);
  assert.equal(tunnel6MtuCheck(false, 1461, false, 1500), TUN6_FRAGMENT_OUTER);
});

test('completeChecksum6: a NEEDS_CSUM field completed in place', () => {
  for (const proto of [6, 17]) {
    const b = pkt6({ src: CIP, dst: VIP_T }).dest();
    const p = (proto === 6 ? b.tcp({ sport: 1, dport: 2, csum: 'partial' }) : b.udp({ sport: 1, dport: 2, csum: 'partial' }))
      .payload(Buffer.alloc(777, 0x5c)).build();
    assert.equal(refL4Ok(p, 48, proto), false);
    completeChecksum6(p, 0, p.length, 48, proto === 6 ? 16 : 6, proto);
    assert.ok(refL4Ok(p, 48, proto));
  }
});

test('TSO6: segments with headers and extension headers copied, sequence, flags, complete checksums', () => {
  const data = Buffer.alloc(4000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  const sp = pkt6({ src: CIP, dst: VIP_T }).dest().tcp({ sport: 40000, dport: 80, flags: 0x80 | 0x10 | 0x08 | 0x01, seq: 0xfffff000, csum: 'partial' })
    .payload(data).build();
  const l4 = 48;
  assert.equal(tcp6HeadersLen(sp, 0, l4), 68);
  const n = segmentCount6(sp.length, 68, 1400);
  assert.equal(n, 3);
  const got: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    const out = Buffer.alloc(1600, 0xa5);
    const len = tcp6WriteSegment(sp, 0, l4, sp.length, 1400, k, out, 10);
    const seg = out.subarray(10, 10 + len);
    assert.equal(out[10 + len], 0xa5);
    assert.equal(seg.readUInt16BE(4), len - 40);
    assert.equal(seg.readUInt32BE(l4 + 4), (0xfffff000 + k * 1400) >>> 0, 'sequence wraps');
    const flags = seg[l4 + 13];
    assert.equal((flags & 0x80) !== 0, k === 0, 'CWR only first');
    assert.equal((flags & 0x09) !== 0, k === n - 1, 'FIN/PSH only last');
    assert.ok(refL4Ok(seg, l4, 6), `segment ${k} checksum`);
    const info = new Ipv6Info();
    assert.equal(ipv6Classify(seg, 0, seg.length, info, false), WIRE_OK);
    got.push(Buffer.from(seg.subarray(68)));
  }
  assert.deepEqual(Buffer.concat(got), data);
  assert.equal(got[2].length, 1200);
});

test('USO over IPv6: each segment its own datagram with its length and checksum', () => {
  const data = Buffer.alloc(3001, 0x42);
  const sp = pkt6({ src: CIP, dst: VIP_T }).udp({ sport: 4433, dport: 443, csum: 'partial' }).payload(data).build();
  const n = segmentCount6(sp.length, 48, 1200);
  assert.equal(n, 3);
  let total = 0;
  for (let k = 0; k < n; k++) {
    const out = Buffer.alloc(1300);
    const len = udp6WriteSegment(sp, 0, 40, sp.length, 1200, k, out, 0);
    const seg = out.subarray(0, len);
    assert.equal(seg.readUInt16BE(44), len - 40);
    assert.equal(seg.readUInt16BE(4), len - 40);
    assert.ok(refL4Ok(seg, 40, 17));
    const info = new Ipv6Info();
    assert.equal(ipv6Classify(seg, 0, seg.length, info, false), WIRE_OK);
    total += len - 48;
  }
  assert.equal(total, 3001);
});
