/**
 * The IPv6 packet-path functions allocate nothing: a million rounds of classification, NAT66,
 * an ICMPv6 error and its quote, an echo reply, 6in6 in one buffer, segmentation in one buffer
 * and fragment tracking run without a single minor garbage collection. (One object of 16 bytes
 * per round would be 16 MB, many scavenges of a 1-16 MB young generation.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import {
  Frag6Flow, Frag6Tracker, Icmp6Quote, Ipv6Info, WIRE_OK, buildEchoReply6, buildPacketTooBig, ipv6Classify,
  ipv6FromString, parseIcmp6Quote,
} from '../../src/wire';
import { nat66Reply, nat66Request } from '../../src/xmit/nat66';
import { encap6in6, tcp6WriteSegment } from '../../src/xmit/tunnel6';
import { pkt6 } from '../fixtures/ipv6/builder6';

test('no allocation on the IPv6 packet path (no minor GC in 10^6 rounds)', { timeout: 120_000 }, async () => {
  const CIP = '2001:2::2';
  const VIP_T = '2001:2:0:100::1';
  const p = pkt6({ src: CIP, dst: VIP_T }).hbh().dest().tcp({ sport: 40000, dport: 80 }).payload(Buffer.alloc(100)).build();
  const frag = pkt6({ src: CIP, dst: VIP_T }).frag({ offset: 0, more: true, id: 5 }).udp({ sport: 4, dport: 53, len: 2000 })
    .payload(Buffer.alloc(1216)).build();
  const echo = pkt6({ src: CIP, dst: VIP_T }).icmp6({ type: 128, id: 1, seq: 1 }).payload('ping').build();
  const tso = pkt6({ src: CIP, dst: VIP_T }).tcp({ sport: 1, dport: 80, csum: 'partial' }).payload(Buffer.alloc(3000)).build();
  // One device-like buffer: packets at the front, scratch space behind.
  const buf = Buffer.alloc(16384);
  p.copy(buf, 64);
  frag.copy(buf, 512);
  echo.copy(buf, 2048);
  tso.copy(buf, 4096);
  const info = new Ipv6Info();
  const err = new Ipv6Info();
  const q = new Icmp6Quote();
  const flow = new Frag6Flow();
  const tracker = new Frag6Tracker({ budget: 64 });
  const rip = ipv6FromString('2001:2:1::11') as Uint32Array;
  const vip = ipv6FromString(VIP_T) as Uint32Array;
  let ok = 0;
  const round = (i: number): void => {
    if (ipv6Classify(buf, 64, p.length, info, false) === WIRE_OK) ok++;
    nat66Request(buf, 64, info.l4Off, 6, rip, 0, 8080, false);
    nat66Reply(buf, 64, info.l4Off, 6, vip, 0, 80, false);
    const n = buildPacketTooBig(buf, 8192, buf, 64, p.length, vip, 0, 1400);
    ipv6Classify(buf, 8192, n, err, false);
    parseIcmp6Quote(buf, err.l4Off, err.l4Len, q);
    encap6in6(buf, 10000, buf, 64, p.length, vip, 0, rip, 0);
    ipv6Classify(buf, 2048, echo.length, info, false);
    buildEchoReply6(buf, 12000, buf, 2048, info.l4Off, info.l4Len);
    ipv6Classify(buf, 4096, tso.length, info, true);
    tcp6WriteSegment(buf, 4096, 4136, tso.length, 1400, i % 3, buf, 13000);
    ipv6Classify(buf, 512, frag.length, info, false);
    tracker.track(buf, 512, info, i, flow);
  };
  for (let i = 0; i < 100_000; i++) round(i);
  let minor = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < 1_000_000; i++) round(i);
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  assert.equal(ok, 1_100_000);
  assert.equal(minor, 0, `${minor} minor garbage collections`);
});
