/**
 * Golden packets for ICMP relaying (src/ipvs/icmp.ts) through the real pipeline on a
 * MemoryDevice: errors from the client side and from NAT real servers, and the drops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { DROP_NAMES } from '../../src/ipvs/pipeline';
import { icmpErrorAllowed } from '../../src/ipvs/icmp';
import { TunnelXmit } from '../../src/xmit/tunnel';
import { csumPartial, ipv4ChecksumOk, ipv4Dst, ipv4Src } from '../../src/wire/index';
import { addr, pkt } from '../support/builder';

const CIP = '198.18.0.2';
const ROUTER = '198.18.0.254';
const VIP = '198.18.100.1';
const RIP = '198.19.0.11';
const DIP = '198.19.0.1';

function setup(fwd: 'masq' | 'tunnel' = 'masq') {
  const dev = new MemoryDevice({ batch: 8, scratchSlots: 2, maxPacket: 4096 });
  const dir = new Director(dev, { clock: () => 1000, seed: 3 });
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: 'rr' } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 },
      dest: { addr: RIP, port: fwd === 'masq' ? 8080 : 80, fwd } },
  ]);
  const tunnel = new TunnelXmit();
  tunnel.setRoute(addr(RIP), addr(DIP), 1500);
  dir.pipeline.tunnel = tunnel;
  const run = (p: Buffer) => {
    dev.inject(p);
    dir.pipeline.drain(1000);
    return dev.takeWritten().map((f) => f.packet);
  };
  const drop = (name: string) => {
    const i = DROP_NAMES.indexOf(name);
    assert.ok(i > 0, `drop reason ${name} exists`);
    return dir.pipeline.drops[i];
  };
  // Open a connection CIP:40000 -> VIP:80.
  const out = run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40000, dport: 80, flags: 'S', seq: 1 }).build());
  assert.equal(out.length, 1);
  return { dev, dir, run, drop };
}

/** What the client was sent (the reply after NAT): VIP:80 -> CIP:40000. */
function replyToClient(): Buffer {
  return pkt().ip({ src: VIP, dst: CIP, id: 77, df: true }).tcp({ sport: 80, dport: 40000, flags: 'SA', seq: 9, ack: 2 })
    .payload('0123456789').build();
}

/** What the real server got from the client (after NAT): CIP:40000 -> RIP:8080. */
function requestToServer(): Buffer {
  return pkt().ip({ src: CIP, dst: RIP, id: 5 }).tcp({ sport: 40000, dport: 8080, flags: 'A', seq: 2, ack: 10 }).build();
}

function icmpOk(p: Buffer): boolean {
  return csumPartial(p, 20, p.length - 20) === 0xffff;
}

test('client-side frag-needed reaches the NAT real server: outer dst, quoted src addr+port rewritten', () => {
  const d = setup();
  const quote = replyToClient();
  const err = pkt().ip({ src: ROUTER, dst: VIP }).icmp({ type: 3, code: 4, mtu: 1400 }).quote(quote, 28).build();
  const out = d.run(err);
  assert.equal(out.length, 1);
  const p = out[0];
  assert.equal(ipv4Src(p, 0), addr(ROUTER));
  assert.equal(ipv4Dst(p, 0), addr(RIP));
  assert.ok(ipv4ChecksumOk(p, 0), 'outer IP checksum');
  assert.equal(p[20], 3);
  assert.equal(p[21], 4);
  assert.equal(p.readUInt16BE(26), 1400, 'next-hop MTU untouched');
  assert.ok(icmpOk(p), 'ICMP checksum');
  const q = 28;
  assert.equal(ipv4Src(p, q), addr(RIP), 'quoted source is the real server');
  assert.equal(ipv4Dst(p, q), addr(CIP));
  assert.ok(ipv4ChecksumOk(p, q), 'quoted IP checksum');
  assert.equal(p.readUInt16BE(q + 20), 8080, 'quoted source port is the real port');
  assert.equal(p.readUInt16BE(q + 22), 40000);
  assert.equal(p.readUInt32BE(q + 24), 9, 'quoted sequence number kept');
  assert.equal(d.dir.services.info()[0].stats.inpkts, 2, 'the error counts as an inbound packet');
});

test('an error from a NAT real server reaches the client from the VIP with the virtual port', () => {
  const d = setup();
  const quote = requestToServer();
  const err = pkt().ip({ src: RIP, dst: CIP }).icmp({ type: 3, code: 3 }).quote(quote).build();
  const out = d.run(err);
  assert.equal(out.length, 1);
  const p = out[0];
  assert.equal(ipv4Src(p, 0), addr(VIP));
  assert.equal(ipv4Dst(p, 0), addr(CIP));
  assert.ok(ipv4ChecksumOk(p, 0));
  assert.ok(icmpOk(p));
  const q = 28;
  assert.equal(ipv4Src(p, q), addr(CIP));
  assert.equal(ipv4Dst(p, q), addr(VIP), 'quoted destination is the VIP');
  assert.ok(ipv4ChecksumOk(p, q));
  assert.equal(p.readUInt16BE(q + 20), 40000);
  assert.equal(p.readUInt16BE(q + 22), 80, 'quoted destination port is the virtual port');
  // The quoted TCP checksum is not recomputed (ip_vs_nat_icmp): same bytes as quoted.
  assert.equal(p.readUInt16BE(q + 36), quote.readUInt16BE(36));
  assert.equal(d.dir.services.info()[0].stats.outpkts, 1);
});

test('unknown connection, truncated quote, bad checksum, echo and errors about ICMP are dropped by name', () => {
  const d = setup();
  const other = pkt().ip({ src: VIP, dst: CIP }).tcp({ sport: 80, dport: 40001, flags: 'SA' }).build();
  assert.deepEqual(d.run(pkt().ip({ src: ROUTER, dst: VIP }).icmp({ type: 3, code: 4, mtu: 1400 }).quote(other).build()), []);
  assert.equal(d.drop('icmp-no-conn'), 1);

  const quote = replyToClient();
  assert.deepEqual(d.run(pkt().ip({ src: ROUTER, dst: VIP }).icmp({ type: 11 }).quote(quote, 24).build()), []);
  assert.equal(d.drop('icmp-quote-short'), 1, '4 bytes of L4 header are not enough');
  assert.deepEqual(d.run(pkt().ip({ src: ROUTER, dst: VIP }).icmp({ type: 11 }).quote(quote, 12).build()), []);
  assert.equal(d.drop('icmp-quote-short'), 2, 'a quote without a whole IP header');

  assert.deepEqual(d.run(pkt().ip({ src: ROUTER, dst: VIP }).icmp({ type: 3, code: 4, csum: 'bad' }).quote(quote).build()), []);
  assert.equal(d.drop('icmp-csum'), 1);

  assert.deepEqual(d.run(pkt().ip({ src: CIP, dst: VIP }).icmp({ type: 8, id: 1, seq: 1 }).build()), []);
  assert.equal(d.drop('icmp-unhandled'), 1);

  const echo = pkt().ip({ src: VIP, dst: CIP }).icmp({ type: 0, id: 1, seq: 1 }).build();
  assert.deepEqual(d.run(pkt().ip({ src: ROUTER, dst: VIP }).icmp({ type: 3, code: 1 }).quote(echo).build()), []);
  assert.equal(d.drop('icmp-about-icmp'), 1);

  const frag = pkt().ip({ src: VIP, dst: CIP, fragOffset: 1480 }).tcp({ sport: 80, dport: 40000 }).build();
  assert.deepEqual(d.run(pkt().ip({ src: ROUTER, dst: VIP }).icmp({ type: 3, code: 1 }).quote(frag).build()), []);
  assert.equal(d.drop('icmp-quote-fragment'), 1);
  assert.equal(d.dir.pipeline.counters[6], 0, 'no ICMP error was generated about any of them');
});

test('a client-side error about a tunnel connection is encapsulated to the real server unchanged', () => {
  const d = setup('tunnel');
  const err = pkt().ip({ src: ROUTER, dst: VIP }).icmp({ type: 3, code: 4, mtu: 1400 }).quote(replyToClient()).build();
  const out = d.run(err);
  assert.equal(out.length, 1);
  const p = out[0];
  assert.equal(p[9], 4, 'IPIP');
  assert.equal(ipv4Src(p, 0), addr(DIP));
  assert.equal(ipv4Dst(p, 0), addr(RIP));
  assert.deepEqual(p.subarray(20), err, 'the inner packet is the error as received');
});

test('frag-needed about our IPIP packet becomes frag-needed for the client with MTU-20', () => {
  const d = setup('tunnel');
  const inner = pkt().ip({ src: CIP, dst: VIP, df: true }).tcp({ sport: 40000, dport: 80, flags: 'A', seq: 2 })
    .payload(Buffer.alloc(100, 1)).build();
  const ipip = Buffer.concat([
    pkt().ip({ src: DIP, dst: RIP, proto: 4, df: true, totalLen: 20 + inner.length }).build(), inner,
  ]);
  const err = pkt().ip({ src: '198.19.0.254', dst: DIP }).icmp({ type: 3, code: 4, mtu: 1400 }).quote(ipip, 20 + 48)
    .build();
  const out = d.run(err);
  assert.equal(out.length, 1);
  const p = out[0];
  assert.equal(ipv4Src(p, 0), addr(VIP));
  assert.equal(ipv4Dst(p, 0), addr(CIP));
  assert.equal(p[20], 3);
  assert.equal(p[21], 4);
  assert.equal(p.readUInt16BE(26), 1380);
  assert.ok(icmpOk(p));
  assert.deepEqual(p.subarray(28), inner.subarray(0, 48), 'quotes the client packet, not the IPIP header');
  assert.equal(d.drop('icmp-tunnel-pmtu'), 1);
  assert.equal((d.dir.pipeline.tunnel as TunnelXmit).route(addr(RIP))?.mtu, 1500, 'route MTU owned by lvsd (onMtu)');
});

test('icmpErrorAllowed: never about ICMP errors, non-first fragments, broadcast or multicast', () => {
  const ok = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 2 }).build();
  assert.equal(icmpErrorAllowed(ok, 0, ok.length), true);
  const err = pkt().ip({ src: CIP, dst: VIP }).icmp({ type: 11 }).quote(ok).build();
  assert.equal(icmpErrorAllowed(err, 0, err.length), false);
  const echo = pkt().ip({ src: CIP, dst: VIP }).icmp({ type: 8 }).build();
  assert.equal(icmpErrorAllowed(echo, 0, echo.length), true);
  const frag = pkt().ip({ src: CIP, dst: VIP, fragOffset: 8 }).payload(Buffer.alloc(8)).build();
  assert.equal(icmpErrorAllowed(frag, 0, frag.length), false);
  const bcast = pkt().ip({ src: CIP, dst: '255.255.255.255' }).udp({ sport: 1, dport: 2 }).build();
  assert.equal(icmpErrorAllowed(bcast, 0, bcast.length), false);
  const mcast = pkt().ip({ src: '224.0.0.1', dst: VIP }).udp({ sport: 1, dport: 2 }).build();
  assert.equal(icmpErrorAllowed(mcast, 0, mcast.length), false);
});
