/**
 * Golden IPv6 packets built by scapy (test/fixtures/ipv6/gen.py -> packets.json) through the
 * classifier and the quote parser; then, where scapy is installed (always under CI), the
 * fixture regenerated and compared, and every kind of packet the IPv6 code writes (NAT66
 * rewrites, ICMPv6 builders, tunnel encapsulation, segmentation) dissected by scapy, whose
 * recomputed checksums must equal those written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FRAG6_FIRST, FRAG6_LATER, FRAG6_NONE, IPV6_DROP_NAMES, Icmp6Quote, Ipv6Info, WIRE_OK, buildDestUnreach6,
  buildEchoReply6, buildPacketTooBig, formatIpv6Bytes, ipv6Classify, ipv6FromString, l4Checksum6, parseIcmp6Quote,
} from '../../src/wire';
import { nat66Reply, nat66Request } from '../../src/xmit/nat66';
import {
  completeChecksum6, encap4in6, encap6in6, segmentCount6, tcp6WriteSegment, udp6WriteSegment,
} from '../../src/xmit/tunnel6';
import { pkt } from '../support/builder';
import { pkt6 } from '../fixtures/ipv6/builder6';
import { FIXTURE_DIR, needScapy, runPy, scapyPython } from '../fixtures/ipv6/python';

interface Case {
  name: string;
  hex: string;
  verdict: string;
  proto?: number;
  l4Off?: number;
  frag?: 'none' | 'first' | 'later';
  sport?: number;
  dport?: number;
  fragId?: number;
  fragOffset?: number;
  quote?: { src: string; dst: string; proto: number; sport: number; dport: number };
}

const FIXTURE = join(FIXTURE_DIR, 'packets.json');
const cases = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Case[];
const FRAG: Record<string, number> = { none: FRAG6_NONE, first: FRAG6_FIRST, later: FRAG6_LATER };

test(`golden: ${cases.length} scapy packets classified as expected`, () => {
  assert.ok(cases.length >= 40);
  const info = new Ipv6Info();
  const q = new Icmp6Quote();
  for (const c of cases) {
    const p = Buffer.from(c.hex, 'hex');
    const rc = ipv6Classify(p, 0, p.length, info, false);
    assert.equal(IPV6_DROP_NAMES[rc], c.verdict, c.name);
    if (rc !== WIRE_OK) continue;
    assert.equal(info.proto, c.proto, `${c.name} proto`);
    assert.equal(info.l4Off, c.l4Off, `${c.name} l4Off`);
    assert.equal(info.frag, FRAG[c.frag as string], `${c.name} frag`);
    if (c.fragId !== undefined) assert.equal(info.fragId, c.fragId, c.name);
    if (c.fragOffset !== undefined) assert.equal(info.fragOffset, c.fragOffset, c.name);
    if (c.sport !== undefined) {
      const at = info.proto === 58 ? 4 : 0;
      assert.equal(p.readUInt16BE(info.l4Off + at), c.sport, `${c.name} sport`);
      assert.equal(p.readUInt16BE(info.l4Off + (info.proto === 58 ? 4 : 2)), c.dport, `${c.name} dport`);
    }
    if (info.frag === FRAG6_NONE && [6, 17, 58].includes(info.proto)) {
      const co = info.proto === 6 ? 16 : info.proto === 17 ? 6 : 2;
      assert.equal(l4Checksum6(p, 0, info.l4Off, info.l4Len, info.proto), p.readUInt16BE(info.l4Off + co), `${c.name}: scapy's checksum`);
    }
    if (c.quote) {
      assert.equal(parseIcmp6Quote(p, info.l4Off, info.l4Len, q), WIRE_OK, c.name);
      assert.equal(formatIpv6Bytes(p, q.ipOff + 8), c.quote.src);
      assert.equal(formatIpv6Bytes(p, q.ipOff + 24), c.quote.dst);
      assert.deepEqual([q.proto, q.sport, q.dport], [c.quote.proto, c.quote.sport, c.quote.dport], c.name);
    }
  }
});

test('scapy: the fixture is what gen.py builds', { skip: needScapy() }, () => {
  const py = scapyPython() as string;
  const fresh = execFileSync(py, [join(FIXTURE_DIR, 'gen.py')], { maxBuffer: 16 << 20, timeout: 120_000 }).toString();
  assert.deepEqual(JSON.parse(fresh), cases);
});

interface Layer {
  layer: string;
  found?: number;
  expected?: number;
  [k: string]: unknown;
}

const VIP_T = '2001:2:0:100::1';
const RIP_T = '2001:2:1::11';
const DIP_T = '2001:2:1::1';
const VIP = ipv6FromString(VIP_T) as Uint32Array;
const RIP = ipv6FromString(RIP_T) as Uint32Array;
const DIP = ipv6FromString(DIP_T) as Uint32Array;

function golden(name: string): Buffer {
  const c = cases.find((x) => x.name === name);
  assert.ok(c, name);
  return Buffer.from(c.hex, 'hex');
}

test('scapy: every kind of packet written here has the checksums scapy computes', { skip: needScapy() }, () => {
  const out: { name: string; hex: string }[] = [];
  const info = new Ipv6Info();
  const keep = (name: string, b: Uint8Array) => out.push({ name, hex: Buffer.from(b).toString('hex') });

  // NAT66 on scapy's packets, both directions, with extension headers.
  for (const name of ['tcp-syn', 'tcp-data', 'tcp-options', 'udp-dns', 'udp-odd', 'echo-request', 'hbh-dest-tcp', 'atomic-fragment']) {
    const p = golden(name);
    assert.equal(ipv6Classify(p, 0, p.length, info, false), WIRE_OK);
    nat66Request(p, 0, info.l4Off, info.proto, RIP, 0, 8080, false);
    keep(`dnat ${name}`, p);
    nat66Reply(p, 0, info.l4Off, info.proto, VIP, 0, 80, false);
    keep(`snat ${name}`, p);
  }
  // A NEEDS_CSUM packet rewritten, then completed as the kernel would.
  const partial = pkt6({ src: '2001:2::2', dst: VIP_T }).tcp({ sport: 1, dport: 80, csum: 'partial' }).payload('p'.repeat(101)).build();
  nat66Request(partial, 0, 40, 6, RIP, 0, 8080, true);
  completeChecksum6(partial, 0, partial.length, 40, 16, 6);
  keep('partial completed', partial);

  // ICMPv6 builders.
  const big = golden('tcp-data');
  const e = Buffer.alloc(1280);
  keep('packet too big', e.subarray(0, buildPacketTooBig(e, 0, big, 0, big.length, VIP, 0, 1400)));
  const e2 = Buffer.alloc(1280);
  keep('port unreachable', e2.subarray(0, buildDestUnreach6(e2, 0, 4, golden('udp-dns'), 0, golden('udp-dns').length, VIP, 0)));
  const req = golden('echo-request');
  assert.equal(ipv6Classify(req, 0, req.length, info, false), WIRE_OK);
  const e3 = Buffer.alloc(200);
  keep('echo reply', e3.subarray(0, buildEchoReply6(e3, 0, req, 0, info.l4Off, info.l4Len)));

  // Tunnels.
  const inner = golden('tcp-data');
  const t = Buffer.alloc(40 + inner.length);
  encap6in6(t, 0, inner, 0, inner.length, DIP, 0, RIP, 0);
  keep('6in6', t);
  const v4 = pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1', tos: 0x10, df: true }).tcp({ sport: 1, dport: 80, flags: 'S' }).build();
  const t4 = Buffer.alloc(40 + v4.length);
  encap4in6(t4, 0, v4, 0, v4.length, DIP, 0, RIP, 0);
  keep('4in6', t4);

  // Segmentation of super-packets.
  const tso = pkt6({ src: '2001:2::2', dst: VIP_T }).dest().tcp({ sport: 40000, dport: 80, flags: 0x18, csum: 'partial' })
    .payload(Buffer.alloc(3500, 0x61)).build();
  for (let k = 0; k < segmentCount6(tso.length, 68, 1220); k++) {
    const s = Buffer.alloc(1400);
    keep(`tso6 segment ${k}`, s.subarray(0, tcp6WriteSegment(tso, 0, 48, tso.length, 1220, k, s, 0)));
  }
  const uso = pkt6({ src: '2001:2::2', dst: VIP_T }).udp({ sport: 4433, dport: 443, csum: 'partial' }).payload(Buffer.alloc(2500, 0x62)).build();
  for (let k = 0; k < segmentCount6(uso.length, 48, 1200); k++) {
    const s = Buffer.alloc(1400);
    keep(`uso segment ${k}`, s.subarray(0, udp6WriteSegment(uso, 0, 40, uso.length, 1200, k, s, 0)));
  }

  const res = runPy('check.py', out) as { name: string; layers: Layer[] }[];
  assert.equal(res.length, out.length);
  for (const r of res) {
    let checked = 0;
    for (const l of r.layers) {
      if (l.expected === undefined) continue;
      assert.equal(l.found, l.expected, `${r.name}: ${l.layer} checksum`);
      checked++;
    }
    assert.ok(checked >= 1, `${r.name}: scapy found a checksum to check`);
  }
  const by = (n: string) => (res.find((r) => r.name === n) as { layers: Layer[] }).layers;
  assert.equal(by('dnat tcp-syn')[0].dst, RIP_T);
  assert.equal(by('dnat tcp-syn')[1].dport, 8080);
  assert.equal(by('snat tcp-syn')[0].src, VIP_T);
  assert.equal(by('snat tcp-syn')[1].sport, 80);
  assert.deepEqual(by('6in6').map((l) => l.layer), ['IPv6', 'IPv6', 'TCP', 'Raw']);
  assert.equal(by('6in6')[0].nh, 41);
  assert.deepEqual(by('4in6').map((l) => l.layer), ['IPv6', 'IP', 'TCP']);
  assert.equal(by('4in6')[0].tc, 0x10);
  assert.equal(by('packet too big')[1].layer, 'ICMPv6PacketTooBig');
  assert.equal(by('echo reply')[1].layer, 'ICMPv6EchoReply');
});
