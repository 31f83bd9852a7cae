import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DROP6_EXT_CHAIN, DROP6_EXT_REPEAT, DROP6_EXT_TRUNCATED, DROP6_FRAG_CHAIN, DROP6_FRAG_LEN, DROP6_HBH_POSITION,
  DROP6_ICMP_CSUM, DROP6_ICMP_SHORT, DROP6_MLD, DROP6_NDP, DROP6_PAYLOAD_LEN, DROP6_RH0, DROP6_RH_SEGLEFT,
  DROP6_SHORT, DROP6_SRC_MULTICAST, DROP6_TCP_DOFF, DROP6_TCP_SHORT, DROP6_UDP_LEN, DROP6_UDP_SHORT,
  DROP6_UDP_ZERO_CSUM, DROP6_VERSION, FRAG6_FIRST, FRAG6_LATER, FRAG6_NONE, IPV6_DROP_COUNT, IPV6_DROP_NAMES,
  IPV6_MAX_EXT_HDRS, Ipv6Info, WIRE_DROP_NAMES, WIRE_OK, addr6Table, csumAddr6Delta, csumApplyDelta,
  csumPartialApplyDelta, emitIpv6Header, formatIpv6Bytes, ipv6Check, ipv6Classify, ipv6DecHopLimit, ipv6FlowLabel,
  ipv6HopLimit, ipv6IsExtHeader, ipv6NextHeader, ipv6PayloadLen, ipv6TotalLen, ipv6TrafficClass, ipv6Version,
  ipv6Walk, l4Checksum6, parseIpv6, pseudoHeaderSum6,
} from '../../src/wire';
import { a6, pkt6, refPseudo, refSum } from '../fixtures/ipv6/builder6';
import { prng } from '../support/prng';

const CIP = '2001:2::2';
const VIP = '2001:2:0:100::1';

function classify(p: Buffer, partial = false): { rc: number; info: Ipv6Info } {
  const info = new Ipv6Info();
  return { rc: ipv6Classify(p, 0, p.length, info, partial), info };
}

function name(rc: number): string {
  return IPV6_DROP_NAMES[rc];
}

test('header view: every field of a fixed packet', () => {
  const p = pkt6({ src: CIP, dst: VIP, tc: 0xb8, flow: 0xabcde, hopLimit: 57 })
    .tcp({ sport: 40000, dport: 80 }).payload('hi').build();
  assert.equal(ipv6Version(p, 0), 6);
  assert.equal(ipv6TrafficClass(p, 0), 0xb8);
  assert.equal(ipv6FlowLabel(p, 0), 0xabcde);
  assert.equal(ipv6PayloadLen(p, 0), 22);
  assert.equal(ipv6TotalLen(p, 0), 62);
  assert.equal(ipv6NextHeader(p, 0), 6);
  assert.equal(ipv6HopLimit(p, 0), 57);
  assert.equal(formatIpv6Bytes(p, 8), CIP);
  assert.equal(formatIpv6Bytes(p, 24), VIP);
  assert.equal(ipv6DecHopLimit(p, 0), 56);
  assert.equal(p[7], 56);
});

test('emit: every byte written into a poisoned buffer, same bytes as the builder', () => {
  const ref = pkt6({ src: CIP, dst: VIP, tc: 0x2e, flow: 0x12345, hopLimit: 9 }).udp({ sport: 1, dport: 2 }).build();
  const out = Buffer.alloc(50, 0xa5);
  const t = addr6Table(2);
  parseIpv6(CIP, t, 0);
  parseIpv6(VIP, t, 4);
  assert.equal(emitIpv6Header(out, 5, { src: t, srcO: 0, dst: t, dstO: 4, nextHeader: 17, hopLimit: 9, payloadLen: 8,
    trafficClass: 0x2e, flowLabel: 0x12345 }), 40);
  assert.deepEqual(out.subarray(5, 45), ref.subarray(0, 40));
  assert.equal(out[4], 0xa5);
  assert.equal(out[45], 0xa5);
});

test('drop names: dense, unique, distinct from IPv4 names', () => {
  assert.equal(IPV6_DROP_NAMES.length, IPV6_DROP_COUNT);
  assert.equal(new Set(IPV6_DROP_NAMES).size, IPV6_DROP_COUNT);
  for (const n of IPV6_DROP_NAMES.slice(1)) assert.ok(!WIRE_DROP_NAMES.includes(n), n);
});

test('ipv6Check: short, version, payload length beyond the buffer; padding allowed', () => {
  const p = pkt6({ src: CIP, dst: VIP }).udp({ sport: 1, dport: 2 }).build();
  assert.equal(ipv6Check(p, 0, p.length), WIRE_OK);
  assert.equal(ipv6Check(p, 0, 39), DROP6_SHORT);
  assert.equal(ipv6Check(pkt6({ src: CIP, dst: VIP, version: 4 }).udp({ sport: 1, dport: 2 }).build(), 0, 48), DROP6_VERSION);
  assert.equal(ipv6Check(p, 0, p.length - 1), DROP6_PAYLOAD_LEN);
  const long = pkt6({ src: CIP, dst: VIP, payloadLen: 9 }).udp({ sport: 1, dport: 2 }).build();
  assert.equal(ipv6Check(long, 0, long.length), DROP6_PAYLOAD_LEN);
  const padded = Buffer.concat([p, Buffer.alloc(6)]);
  assert.equal(ipv6Check(padded, 0, padded.length), WIRE_OK);
  const { info } = classify(padded);
  assert.equal(info.end, 48, 'the packet ends at its payload length, not at the buffer');
  assert.equal(info.l4Len, 8);
});

test('walk: each extension header to the upper layer, offsets and lengths', () => {
  const p = pkt6({ src: CIP, dst: VIP }).hbh(1).dest().routing(4, 0, 2).auth(4).dest(2)
    .tcp({ sport: 40000, dport: 80 }).payload('abc').build();
  const { rc, info } = classify(p);
  assert.equal(name(rc), 'ok');
  assert.equal(info.proto, 6);
  assert.equal(info.extHdrs, 5);
  // hbh 16, dest 8, routing 8+32, AH 24, dest 24
  assert.equal(info.l4Off, 40 + 16 + 8 + 40 + 24 + 24);
  assert.equal(info.l4Len, 23);
  assert.equal(info.routingOff, 40 + 16 + 8);
  assert.equal(info.frag, FRAG6_NONE);
  for (const nh of [0, 43, 44, 51, 60, 135, 139, 140]) assert.equal(ipv6IsExtHeader(nh), true, String(nh));
  for (const nh of [6, 17, 58, 50, 59, 41, 4]) assert.equal(ipv6IsExtHeader(nh), false, String(nh));
});

test('walk: ESP and no-next-header end the walk as upper layers', () => {
  const esp = pkt6({ src: CIP, dst: VIP }).dest().nextHeader(50).payload(Buffer.alloc(16)).build();
  const a = classify(esp);
  assert.equal(a.rc, WIRE_OK);
  assert.equal(a.info.proto, 50);
  assert.equal(a.info.l4Off, 48);
  const none = pkt6({ src: CIP, dst: VIP }).build();
  const b = classify(none);
  assert.equal(b.rc, WIRE_OK);
  assert.equal(b.info.proto, 59);
  assert.equal(b.info.l4Len, 0);
});

test('walk: the chain bound, hop-by-hop position, repeats, routing type 0 and segments left', () => {
  let ok = pkt6({ src: CIP, dst: VIP });
  ok = ok.hbh().dest().routing(4, 0).frag({ offset: 0, more: false, id: 1 }).auth().dest().ext(135).ext(139);
  const full = ok.udp({ sport: 1, dport: 2 }).build();
  const r = classify(full);
  assert.equal(name(r.rc), 'ok', 'a legal chain of eight headers');
  assert.equal(r.info.extHdrs, IPV6_MAX_EXT_HDRS);
  const nine = pkt6({ src: CIP, dst: VIP }).hbh().dest().routing(4, 0).frag({ offset: 0, more: false, id: 1 }).auth()
    .dest().ext(135).ext(139).ext(140).udp({ sport: 1, dport: 2 }).build();
  assert.equal(name(classify(nine).rc), name(DROP6_EXT_CHAIN));
  let many = pkt6({ src: CIP, dst: VIP });
  for (let i = 0; i < 40; i++) many = many.ext(135);
  assert.equal(classify(many.udp({ sport: 1, dport: 2 }).build()).rc, DROP6_EXT_CHAIN);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).dest().hbh().udp({ sport: 1, dport: 2 }).build()).rc, DROP6_HBH_POSITION);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).hbh().hbh().udp({ sport: 1, dport: 2 }).build()).rc, DROP6_HBH_POSITION);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).dest().dest().dest().udp({ sport: 1, dport: 2 }).build()).rc, DROP6_EXT_REPEAT);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).routing(4, 0).routing(4, 0).udp({ sport: 1, dport: 2 }).build()).rc, DROP6_EXT_REPEAT);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).auth().auth().udp({ sport: 1, dport: 2 }).build()).rc, DROP6_EXT_REPEAT);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).frag({ offset: 0, more: false, id: 1 })
    .frag({ offset: 0, more: false, id: 2 }).udp({ sport: 1, dport: 2 }).build()).rc, DROP6_EXT_REPEAT);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).routing(0, 0).udp({ sport: 1, dport: 2 }).build()).rc, DROP6_RH0);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).routing(0, 1).udp({ sport: 1, dport: 2 }).build()).rc, DROP6_RH0);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).routing(4, 1).udp({ sport: 1, dport: 2 }).build()).rc, DROP6_RH_SEGLEFT);
});

test('fragments: first, later, atomic; length rules (RFC 8200 §4.5) and the whole chain in the first (RFC 7112)', () => {
  const first = pkt6({ src: CIP, dst: VIP }).frag({ offset: 0, more: true, id: 0x89abcdef })
    .udp({ sport: 5353, dport: 53, len: 1324 }).payload(Buffer.alloc(1216)).build();
  const a = classify(first);
  assert.equal(name(a.rc), 'ok');
  assert.equal(a.info.frag, FRAG6_FIRST);
  assert.equal(a.info.fragId, 0x89abcdef);
  assert.equal(a.info.fragOffset, 0);
  assert.equal(a.info.fragMore, true);
  assert.equal(a.info.fragHdrOff, 40);
  assert.equal(a.info.proto, 17);
  assert.equal(a.info.l4Off, 48);
  const later = pkt6({ src: CIP, dst: VIP }).frag({ offset: 1224, more: false, id: 0x89abcdef }).nextHeader(17)
    .payload(Buffer.alloc(100, 7)).build();
  const b = classify(later);
  assert.equal(b.rc, WIRE_OK);
  assert.equal(b.info.frag, FRAG6_LATER);
  assert.equal(b.info.fragOffset, 1224);
  assert.equal(b.info.proto, 17);
  assert.equal(b.info.l4Off, 48);
  assert.equal(b.info.l4Len, 100);
  // A later fragment's data is not parsed as headers, whatever it holds.
  const laterJunk = pkt6({ src: CIP, dst: VIP }).frag({ offset: 8, more: true, id: 1 }).nextHeader(0)
    .payload(Buffer.alloc(16, 0xff)).build();
  assert.equal(classify(laterJunk).rc, WIRE_OK);
  const atomic = pkt6({ src: CIP, dst: VIP }).frag({ offset: 0, more: false, id: 5 }).tcp({ sport: 1, dport: 2 }).build();
  const c = classify(atomic);
  assert.equal(c.rc, WIRE_OK);
  assert.equal(c.info.frag, FRAG6_NONE);
  assert.equal(c.info.atomic, true);
  assert.equal(c.info.l4Off, 48);
  // M set and a length that is not a multiple of 8.
  const odd = pkt6({ src: CIP, dst: VIP }).frag({ offset: 0, more: true, id: 1 }).udp({ sport: 1, dport: 2, len: 100 })
    .payload(Buffer.alloc(5)).build();
  assert.equal(classify(odd).rc, DROP6_FRAG_LEN);
  // Ends beyond 65535 bytes of reassembled payload.
  const beyond = pkt6({ src: CIP, dst: VIP }).frag({ offset: 65528, more: false, id: 1 }).nextHeader(17)
    .payload(Buffer.alloc(16)).build();
  assert.equal(classify(beyond).rc, DROP6_FRAG_LEN);
  const edge = pkt6({ src: CIP, dst: VIP }).frag({ offset: 65528, more: false, id: 1 }).nextHeader(17)
    .payload(Buffer.alloc(7)).build();
  assert.equal(classify(edge).rc, WIRE_OK);
  // The headers before the fragment header count in the reassembled payload.
  const edgeAfterDest = pkt6({ src: CIP, dst: VIP }).dest().frag({ offset: 65528, more: false, id: 1 }).nextHeader(17)
    .payload(Buffer.alloc(7)).build();
  assert.equal(classify(edgeAfterDest).rc, DROP6_FRAG_LEN);
  // First fragment whose TCP header is cut, or whose chain continues past it.
  const cutTcp = pkt6({ src: CIP, dst: VIP }).frag({ offset: 0, more: true, id: 1 }).nextHeader(6).payload(Buffer.alloc(16)).build();
  assert.equal(classify(cutTcp).rc, DROP6_FRAG_CHAIN);
  const cutChain = pkt6({ src: CIP, dst: VIP }).frag({ offset: 0, more: true, id: 1 }).nextHeader(60)
    .payload(Buffer.from([6, 3, 0, 0, 0, 0, 0, 0])).build();
  assert.equal(classify(cutChain).rc, DROP6_FRAG_CHAIN);
  const cutUdp = pkt6({ src: CIP, dst: VIP }).frag({ offset: 0, more: true, id: 1 }).nextHeader(17).payload(Buffer.alloc(0)).build();
  assert.equal(classify(cutUdp).rc, DROP6_FRAG_CHAIN);
  // A first fragment's UDP length must claim more than the fragment carries.
  const udpShortLen = pkt6({ src: CIP, dst: VIP }).frag({ offset: 0, more: true, id: 1 }).udp({ sport: 1, dport: 2, len: 16 })
    .payload(Buffer.alloc(8)).build();
  assert.equal(classify(udpShortLen).rc, DROP6_UDP_LEN);
});

test('truncation at every byte of a long chain is dropped by name, never read past the payload', () => {
  const p = pkt6({ src: CIP, dst: VIP }).hbh(1).dest().routing(4, 0, 2).frag({ offset: 0, more: false, id: 3 }).auth(4)
    .tcp({ sport: 40000, dport: 80 }).build();
  const l4 = 40 + 16 + 8 + 40 + 8 + 24;
  for (let cut = 40; cut < p.length; cut++) {
    // A packet whose payload length says it ends at `cut`, in a buffer poisoned after it.
    const q = Buffer.concat([p.subarray(0, cut), Buffer.alloc(64, 0xff)]);
    q.writeUInt16BE(cut - 40, 4);
    const { rc } = classify(q);
    const expect = cut < l4 ? DROP6_EXT_TRUNCATED : DROP6_TCP_SHORT;
    assert.equal(name(rc), name(expect), `cut at ${cut}`);
  }
  assert.equal(classify(p).rc, WIRE_OK);
});

test('TCP and UDP checks', () => {
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 2, doff: 4 }).build()).rc, DROP6_TCP_DOFF);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 2, doff: 6 }).build()).rc, DROP6_TCP_DOFF);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 2, doff: 6 }).payload(Buffer.alloc(4)).build()).rc, WIRE_OK);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).nextHeader(6).payload(Buffer.alloc(19)).build()).rc, DROP6_TCP_SHORT);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).nextHeader(17).payload(Buffer.alloc(7)).build()).rc, DROP6_UDP_SHORT);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).udp({ sport: 1, dport: 2, len: 7 }).build()).rc, DROP6_UDP_LEN);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).udp({ sport: 1, dport: 2, len: 9 }).build()).rc, DROP6_UDP_LEN);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).udp({ sport: 1, dport: 2, len: 8 }).payload('xy').build()).rc, WIRE_OK);
  const zero = pkt6({ src: CIP, dst: VIP }).udp({ sport: 1, dport: 2, csum: 'none' }).build();
  assert.equal(classify(zero).rc, DROP6_UDP_ZERO_CSUM);
  assert.equal(classify(zero, true).rc, WIRE_OK, 'a NEEDS_CSUM field is a sum, not "no checksum"');
  assert.equal(classify(pkt6({ src: 'ff02::1', dst: VIP }).udp({ sport: 1, dport: 2 }).build()).rc, DROP6_SRC_MULTICAST);
});

test('ICMPv6: checksum with the pseudo-header, short, NDP and MLD never forwarded', () => {
  const echo = pkt6({ src: CIP, dst: VIP }).icmp6({ type: 128, id: 7, seq: 1 }).payload('ping').build();
  assert.equal(classify(echo).rc, WIRE_OK);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).icmp6({ type: 128, csum: 'bad' }).build()).rc, DROP6_ICMP_CSUM);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).icmp6({ type: 128, csum: 'partial' }).build(), true).rc, WIRE_OK);
  // The same message towards another destination fails: the pseudo-header is covered.
  const moved = Buffer.from(echo);
  moved[39] ^= 1;
  assert.equal(classify(moved).rc, DROP6_ICMP_CSUM);
  assert.equal(classify(pkt6({ src: CIP, dst: VIP }).nextHeader(58).payload(Buffer.from([128, 0, 0, 0])).build()).rc, DROP6_ICMP_SHORT);
  for (const type of [133, 134, 135, 136, 137]) {
    assert.equal(classify(pkt6({ src: 'fe80::1', dst: 'ff02::1:ff00:1', hopLimit: 255 }).icmp6({ type }).payload(Buffer.alloc(16)).build()).rc,
      DROP6_NDP, String(type));
  }
  for (const type of [130, 131, 132, 143]) {
    assert.equal(classify(pkt6({ src: 'fe80::1', dst: 'ff02::16', hopLimit: 1 }).hbh().icmp6({ type }).payload(Buffer.alloc(16)).build()).rc,
      DROP6_MLD, String(type));
  }
  // Even with a bad checksum, NDP is counted as NDP.
  assert.equal(classify(pkt6({ src: 'fe80::1', dst: VIP }).icmp6({ type: 135, csum: 'bad' }).payload(Buffer.alloc(16)).build()).rc, DROP6_NDP);
});

test('checksum: pseudoHeaderSum6 and l4Checksum6 against the reference on random packets', () => {
  const r = prng(8);
  for (let n = 0; n < 300; n++) {
    const proto = [6, 17, 58][n % 3];
    const len = proto === 6 ? 20 + ((r() * 1500) | 0) : 8 + ((r() * 1500) | 0);
    const p = Buffer.alloc(40 + len);
    for (let i = 0; i < p.length; i++) p[i] = (r() * 256) | 0;
    p.writeUInt16BE(len, 4);
    p[6] = proto;
    assert.equal(pseudoHeaderSum6(p, 0, proto, len), refPseudo(p.subarray(8, 24), p.subarray(24, 40), proto, len));
    const co = proto === 6 ? 16 : proto === 17 ? 6 : 2;
    const c = l4Checksum6(p, 0, 40, len, proto);
    p.writeUInt16BE(c, 40 + co);
    assert.equal(refSum(p.subarray(40), refPseudo(p.subarray(8, 24), p.subarray(24, 40), proto, len)), 0xffff);
  }
});

test('property: an address delta keeps full and partial checksums equal to a recomputation', () => {
  const r = prng(9);
  const na = new Uint32Array(4);
  for (let n = 0; n < 500; n++) {
    const len = 20 + ((r() * 200) | 0);
    const p = Buffer.alloc(40 + len);
    for (let i = 0; i < p.length; i++) p[i] = (r() * 256) | 0;
    p.writeUInt16BE(len, 4);
    p[6] = 6;
    for (let k = 0; k < 4; k++) na[k] = r() < 0.2 ? 0 : (r() * 2 ** 32) >>> 0;
    const field = n & 1 ? 8 : 24;
    const full = l4Checksum6(p, 0, 40, len, 6);
    const partial = pseudoHeaderSum6(p, 0, 6, len);
    const d = csumAddr6Delta(p, field, na, 0);
    for (let k = 0; k < 4; k++) p.writeUInt32BE(na[k], field + 4 * k);
    const fullAfter = csumApplyDelta(full, d);
    const expect = l4Checksum6(p, 0, 40, len, 6);
    // One's complement has two zeros; both verify.
    assert.ok(fullAfter === expect || (fullAfter ^ expect) === 0xffff && (expect === 0 || expect === 0xffff), `${n}`);
    assert.equal(csumPartialApplyDelta(partial, d), pseudoHeaderSum6(p, 0, 6, len));
  }
});

test('property: 20000 seeded mutations of valid packets never throw; accepted offsets stay inside the packet', () => {
  const r = prng(12);
  const bases = [
    pkt6({ src: CIP, dst: VIP }).hbh().dest().routing(4, 0).frag({ offset: 0, more: true, id: 9 }).tcp({ sport: 1, dport: 2 })
      .payload(Buffer.alloc(16)).build(),
    pkt6({ src: CIP, dst: VIP }).auth().udp({ sport: 1, dport: 2 }).payload('abc').build(),
    pkt6({ src: CIP, dst: VIP }).frag({ offset: 64, more: true, id: 9 }).nextHeader(6).payload(Buffer.alloc(16)).build(),
    pkt6({ src: CIP, dst: VIP }).icmp6({ type: 128, id: 1 }).payload('x').build(),
  ];
  const info = new Ipv6Info();
  const seen = new Set<number>();
  for (let n = 0; n < 20000; n++) {
    const p = Buffer.from(bases[n % bases.length]);
    const edits = 1 + ((r() * 4) | 0);
    for (let e = 0; e < edits; e++) {
      const at = (r() * p.length) | 0;
      // Mostly the bytes that steer the walk: next headers, lengths, the payload length.
      p[r() < 0.5 ? at : [4, 5, 6, 40, 41, 48, 49, 50, 51, 56, 57][(r() * 11) | 0] % p.length] = (r() * 256) | 0;
    }
    const avail = r() < 0.2 ? (r() * p.length) | 0 : p.length;
    const rc = ipv6Classify(p, 0, avail, info, r() < 0.3);
    assert.ok(rc >= 0 && rc < IPV6_DROP_COUNT);
    seen.add(rc);
    if (rc !== WIRE_OK) continue;
    assert.ok(info.end <= avail && info.l4Off >= 40 && info.l4Off + info.l4Len === info.end, `case ${n}`);
    assert.ok(info.extHdrs <= IPV6_MAX_EXT_HDRS);
  }
  assert.ok(seen.size >= 12, `${seen.size} distinct verdicts`);
});

test('walk on a buffer offset: offsets are absolute', () => {
  const p = pkt6({ src: CIP, dst: VIP }).dest().udp({ sport: 1, dport: 2 }).build();
  const b = Buffer.concat([Buffer.alloc(13, 0xa5), p, Buffer.alloc(5, 0xa5)]);
  const info = new Ipv6Info();
  assert.equal(ipv6Walk(b, 13, b.length - 13, info), WIRE_OK);
  assert.equal(info.l4Off, 13 + 48);
  assert.equal(info.end, 13 + p.length);
  assert.equal(ipv6Classify(b, 13, b.length - 13, info, false), WIRE_OK);
  assert.deepEqual(a6(VIP), b.subarray(13 + 24, 13 + 40));
});
