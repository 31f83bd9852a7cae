/**
 * Golden packets for IP tunneling (src/xmit/tunnel.ts) and software segmentation
 * (src/xmit/gso.ts) through the pipeline on a MemoryDevice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { DROP_NAMES } from '../../src/ipvs/pipeline';
import { TunnelXmit, writeIpipHeader } from '../../src/xmit/tunnel';
import { RouteXmit } from '../../src/xmit/dr';
import { csumPartial, ipv4ChecksumOk, ipv4Dst, ipv4HeaderChecksum, ipv4Src, l4Checksum } from '../../src/wire/index';
import { addr, pkt } from '../support/builder';
import { RecordingSink, vnet } from '../support/frames';
import { prng } from '../support/prng';

const CIP = '198.18.0.2';
const VIP = '198.18.100.1';
const RIP = '198.19.0.11';
const DIP = '198.19.0.1';

function setup(mtu = 1500) {
  const dev = new MemoryDevice({ batch: 8, scratchSlots: 2 });
  const dir = new Director(dev, { clock: () => 1000, seed: 3 });
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: 'rr' } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: RIP, port: 80, fwd: 'tunnel' } },
  ]);
  const tunnel = new TunnelXmit();
  tunnel.setRoute(addr(RIP), addr(DIP), mtu);
  dir.pipeline.tunnel = tunnel;
  const run = (p: Buffer, v?: Buffer) => {
    dev.inject(p, v);
    dir.pipeline.drain(1000);
    return dev.takeWritten();
  };
  const drop = (name: string) => dir.pipeline.drops[DROP_NAMES.indexOf(name)];
  return { dev, dir, run, drop, tunnel };
}

function tcpOk(p: Buffer, ipOff: number): boolean {
  const hl = (p[ipOff] & 15) * 4;
  const len = p.readUInt16BE(ipOff + 2) - hl;
  return l4Checksum(p, ipOff + hl, len, ipv4Src(p, ipOff), ipv4Dst(p, ipOff), 6) === p.readUInt16BE(ipOff + hl + 16);
}

test('a SYN leaves untouched behind an outer IPv4 header DIP -> RIP, protocol 4', () => {
  const d = setup();
  const syn = pkt().ip({ src: CIP, dst: VIP, df: true, tos: 0x10, ttl: 63 }).tcp({ sport: 40000, dport: 80, flags: 'S' })
    .build();
  const out = d.run(syn);
  assert.equal(out.length, 1);
  assert.deepEqual(out[0].vnet, Buffer.alloc(10), 'no offload metadata');
  const p = out[0].packet;
  assert.equal(p.length, 20 + syn.length);
  assert.equal(p[0], 0x45);
  assert.equal(p[1], 0x10, 'TOS copied');
  assert.equal(p.readUInt16BE(2), 20 + syn.length);
  assert.equal(p.readUInt16BE(6), 0x4000, 'DF copied, no fragment offset');
  assert.equal(p[8], 64);
  assert.equal(p[9], 4);
  assert.equal(ipv4Src(p, 0), addr(DIP));
  assert.equal(ipv4Dst(p, 0), addr(RIP));
  assert.ok(ipv4ChecksumOk(p, 0));
  assert.deepEqual(p.subarray(20), syn, 'inner packet unchanged');
  const id1 = p.readUInt16BE(4);
  const again = d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40000, dport: 80, flags: 'A' }).build());
  assert.equal(again[0].packet.readUInt16BE(4), (id1 + 1) & 0xffff, 'fresh ID per outer packet');
  assert.equal(again[0].packet.readUInt16BE(6), 0, 'no DF when the inner packet has none');
});

test('tunnel connections use the input-only state table: SYN, ACK -> ESTABLISHED without replies', () => {
  const d = setup();
  d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40001, dport: 80, flags: 'S' }).build());
  assert.equal(d.dir.connInfo()[0].state, 'SYN_RECV');
  d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40001, dport: 80, flags: 'A' }).build());
  assert.equal(d.dir.connInfo()[0].state, 'ESTABLISHED');
  assert.equal(d.dir.services.info()[0].dests[0].activeConns, 1);
  d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40001, dport: 80, flags: 'FA' }).build());
  assert.equal(d.dir.connInfo()[0].state, 'FIN_WAIT');
  assert.equal(d.dir.services.info()[0].stats.outpkts, 0);
});

test('a 1500-byte DF packet gets frag-needed with MTU 1480 from the VIP; without DF it is encapsulated', () => {
  const d = setup(1500);
  d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40002, dport: 80, flags: 'S' }).build());
  const big = pkt().ip({ src: CIP, dst: VIP, df: true }).tcp({ sport: 40002, dport: 80, flags: 'A' })
    .payload(Buffer.alloc(1460, 7)).build();
  assert.equal(big.length, 1500);
  const out = d.run(big);
  assert.equal(out.length, 1);
  const p = out[0].packet;
  assert.equal(p[9], 1, 'ICMP');
  assert.equal(ipv4Src(p, 0), addr(VIP));
  assert.equal(ipv4Dst(p, 0), addr(CIP));
  assert.equal(p[20], 3);
  assert.equal(p[21], 4);
  assert.equal(p.readUInt16BE(26), 1480);
  assert.equal(csumPartial(p, 20, p.length - 20), 0xffff);
  assert.deepEqual(p.subarray(28, 48), big.subarray(0, 20), 'quotes the client packet');
  assert.equal(d.drop('tunnel-frag-needed'), 1);
  const noDf = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40002, dport: 80, flags: 'A' }).payload(Buffer.alloc(1460))
    .build();
  const out2 = d.run(noDf);
  assert.equal(out2[0].packet.length, 1520, 'left to the kernel to fragment');
});

test('NEEDS_CSUM packets leave with a complete inner checksum', () => {
  const d = setup();
  const p0 = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40003, dport: 80, flags: 'S', csum: 'partial' })
    .payload('abcdefg').build();
  const out = d.run(p0, vnet(1, 0, 0, 0, 20, 16));
  assert.equal(out.length, 1);
  assert.deepEqual(out[0].vnet, Buffer.alloc(10));
  assert.ok(tcpOk(out[0].packet, 20), 'inner TCP checksum complete');
});

test('a TCP super-packet is cut into MSS segments, each encapsulated with complete checksums', () => {
  const d = setup();
  d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40004, dport: 80, flags: 'S' }).build());
  const payload = Buffer.alloc(3500);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const gso = pkt().ip({ src: CIP, dst: VIP, df: true, id: 100 })
    .tcp({ sport: 40004, dport: 80, flags: 'FPA', seq: 1000, ack: 5, csum: 'partial' }).payload(payload).build();
  const out = d.run(gso, vnet(1, 1, 40, 1000, 20, 16));
  assert.equal(out.length, 4, '3500 bytes at MSS 1000');
  const sizes = [1000, 1000, 1000, 500];
  out.forEach((f, k) => {
    const p = f.packet;
    assert.deepEqual(f.vnet, Buffer.alloc(10));
    assert.equal(p[9], 4);
    assert.equal(p.readUInt16BE(2), 20 + 40 + sizes[k]);
    assert.ok(ipv4ChecksumOk(p, 0));
    const inner = 20;
    assert.equal(p.readUInt16BE(inner + 2), 40 + sizes[k]);
    assert.equal(p.readUInt16BE(inner + 4), 100 + k, 'inner IP ID advances');
    assert.equal(p.readUInt16BE(inner + 6), 0x4000);
    assert.ok(ipv4ChecksumOk(p, inner));
    assert.equal(p.readUInt32BE(inner + 24), 1000 + k * 1000, 'sequence number advances');
    assert.equal(p[inner + 33], k === 3 ? 0x19 : 0x10, 'FIN and PSH only on the last segment');
    assert.ok(tcpOk(p, inner), `segment ${k} TCP checksum`);
    assert.deepEqual(p.subarray(inner + 40), payload.subarray(k * 1000, k * 1000 + sizes[k]));
  });
});

test('a super-packet whose segments no longer fit after 20 bytes gets frag-needed (DF)', () => {
  const d = setup(1500);
  d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40005, dport: 80, flags: 'S' }).build());
  const gso = pkt().ip({ src: CIP, dst: VIP, df: true }).tcp({ sport: 40005, dport: 80, flags: 'A', csum: 'partial' })
    .payload(Buffer.alloc(2920)).build();
  const out = d.run(gso, vnet(1, 1, 40, 1460, 20, 16));
  assert.equal(out.length, 1);
  assert.equal(out[0].packet[20], 3);
  assert.equal(out[0].packet.readUInt16BE(26), 1480);
});

test('no director address towards the real server: dropped and counted', () => {
  const d = setup();
  d.tunnel.deleteRoute(addr(RIP));
  assert.deepEqual(d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40006, dport: 80, flags: 'S' }).build()), []);
  assert.equal(d.drop('tunnel-no-source'), 1);
});

test('the real server port must equal the virtual port for tunneling', () => {
  const d = setup();
  assert.throws(() => d.dir.handle([{ op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 },
    dest: { addr: '198.19.0.12', port: 8080, fwd: 'tunnel' } }]));
});

const RS_MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x11]);
const BR_MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x01]);

/** setup() with the direct-routing transmitter as the tunnel's AF_PACKET output. */
function setupDirect(vnetHdr: boolean, resolved = true) {
  const d = setup();
  const sink = new RecordingSink(vnetHdr, 'br0', BR_MAC);
  const route = new RouteXmit();
  route.addSink(sink);
  if (resolved) route.setNeighbour(addr(RIP), 'br0', RS_MAC);
  d.tunnel.direct = route;
  d.dir.pipeline.route = route;
  return { ...d, sink };
}

/** Checks the Ethernet header at off and returns the IPIP packet after it. */
function ipipAfterEth(f: Buffer, off: number): Buffer {
  assert.deepEqual(new Uint8Array(f.subarray(off, off + 6)), RS_MAC, 'to the real server');
  assert.deepEqual(new Uint8Array(f.subarray(off + 6, off + 12)), BR_MAC, 'from the interface');
  assert.equal(f.readUInt16BE(off + 12), 0x0800);
  return f.subarray(off + 14);
}

test('with AF_PACKET output the encapsulated packet leaves to the real server MAC, not the TUN', () => {
  for (const vnetHdr of [true, false]) {
    const d = setupDirect(vnetHdr);
    const syn = pkt().ip({ src: CIP, dst: VIP, df: true }).tcp({ sport: 40010, dport: 80, flags: 'S' }).build();
    assert.deepEqual(d.run(syn), [], 'nothing written to the TUN');
    const frames = d.sink.take();
    assert.equal(frames.length, 1);
    if (vnetHdr) assert.deepEqual(frames[0].subarray(0, 10), Buffer.alloc(10), 'no offload metadata');
    const p = ipipAfterEth(frames[0], vnetHdr ? 10 : 0);
    assert.equal(p[9], 4);
    assert.equal(ipv4Src(p, 0), addr(DIP));
    assert.equal(ipv4Dst(p, 0), addr(RIP));
    assert.ok(ipv4ChecksumOk(p, 0));
    assert.equal(p.readUInt16BE(2), 20 + syn.length);
    assert.deepEqual(p.subarray(20), syn, 'inner packet untouched');
    assert.equal(d.dir.pipeline.counterValues().tx_direct, 1);
  }
});

test('with AF_PACKET output a super-packet leaves as encapsulated segments, each to the real server MAC', () => {
  const d = setupDirect(true);
  d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40011, dport: 80, flags: 'S' }).build());
  d.sink.take();
  const payload = Buffer.alloc(2500, 9);
  const gso = pkt().ip({ src: CIP, dst: VIP, df: true }).tcp({ sport: 40011, dport: 80, flags: 'A', seq: 7, csum: 'partial' })
    .payload(payload).build();
  assert.deepEqual(d.run(gso, vnet(1, 1, 40, 1000, 20, 16)), []);
  const frames = d.sink.take();
  assert.equal(frames.length, 3, '2500 bytes at MSS 1000');
  frames.forEach((f, k) => {
    const p = ipipAfterEth(f, 10);
    assert.ok(ipv4ChecksumOk(p, 0));
    assert.equal(p.readUInt16BE(2), 20 + 40 + (k === 2 ? 500 : 1000));
    assert.equal(p.readUInt32BE(20 + 24), 7 + k * 1000, 'sequence number advances');
    assert.ok(tcpOk(p, 20), `segment ${k} TCP checksum`);
  });
  assert.equal(d.dir.pipeline.counterValues().tx_direct, 4);
});

test('with AF_PACKET output a real server whose MAC is unknown is reached through the TUN', () => {
  const d = setupDirect(true, false);
  const syn = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40012, dport: 80, flags: 'S' }).build();
  const out = d.run(syn);
  assert.equal(out.length, 1, 'written to the TUN');
  assert.deepEqual(out[0].packet.subarray(20), syn);
  assert.deepEqual(d.sink.take(), []);
  assert.equal(d.dir.pipeline.counterValues().tx_direct, 0);
  assert.equal(d.drop('dr-no-neigh'), 0, 'not a drop');
});

test('with AF_PACKET output a packet without DF that exceeds the MTU once encapsulated goes to the TUN', () => {
  const d = setupDirect(true);
  const big = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40013, dport: 80, flags: 'S' }).payload(Buffer.alloc(1460)).build();
  assert.equal(big.length, 1500);
  const out = d.run(big);
  assert.equal(out.length, 1, 'the kernel fragments it after the TUN');
  assert.equal(out[0].packet.readUInt16BE(2), 1520);
  assert.deepEqual(d.sink.take(), []);
});

test('learnt path MTU: raised to min_pmtu, used for DF packets, forgotten after mtu_expires', () => {
  let now = 5000;
  const tunnel = new TunnelXmit({ minPmtu: 552, expiresMs: 600_000 }, () => now);
  tunnel.setRoute(addr(RIP), addr(DIP), 1500);
  assert.equal(tunnel.learnMtu(addr(RIP), 68), 552, 'a forged frag-needed of 68 cannot go below min_pmtu');
  assert.equal(tunnel.pathMtu(addr(RIP)), 552);
  assert.equal(tunnel.route(addr(RIP))?.mtu, 1500, 'the route MTU itself is unchanged');
  now += 599_999;
  assert.equal(tunnel.pathMtu(addr(RIP)), 552);
  now += 1;
  assert.equal(tunnel.pathMtu(addr(RIP)), 1500, 'expired after mtu_expires');
  assert.equal(tunnel.learnMtu(addr(RIP), 1400), 1400);
  assert.equal(tunnel.learnMtu(addr(RIP), 1600), 1400, 'a report above the route MTU changes nothing');
  assert.equal(tunnel.learnMtu(addr('198.19.0.99'), 600), undefined, 'no route, nothing learnt');
  tunnel.deleteRoute(addr(RIP));
  tunnel.setRoute(addr(RIP), addr(DIP), 1500);
  assert.equal(tunnel.pathMtu(addr(RIP)), 1500, 'deleteRoute forgets the learnt MTU');
});

test('a DF packet above the learnt (clamped) MTU is answered with frag-needed at min_pmtu - 20', () => {
  const d = setup();
  let now = 0;
  const tunnel = new TunnelXmit({ minPmtu: 552, expiresMs: 1000 }, () => now);
  tunnel.setRoute(addr(RIP), addr(DIP), 1500);
  d.dir.pipeline.tunnel = tunnel;
  tunnel.learnMtu(addr(RIP), 68);
  const syn = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40001, dport: 80, flags: 'S' }).build();
  assert.equal(d.run(syn).length, 1);
  const big = pkt().ip({ src: CIP, dst: VIP, df: true }).tcp({ sport: 40001, dport: 80, flags: 'A' })
    .payload(Buffer.alloc(1000, 7)).build();
  const err = d.run(big);
  assert.equal(err.length, 1);
  assert.equal(err[0].packet[20], 3, 'ICMP destination unreachable');
  assert.equal(err[0].packet.readUInt16BE(26), 532, 'next-hop MTU = 552 - 20, never 68 - 20');
  now = 1000;
  const out = d.run(big);
  assert.equal(out.length, 1);
  assert.equal(out[0].packet[9], 4, 'after expiry the 1500-byte route MTU applies: encapsulated');
});

test('writeIpipHeader: the checksum summed from the fields verifies for any addresses, lengths, ids, TOS and DF', () => {
  const rnd = prng(11);
  const buf = Buffer.alloc(64);
  const cases: Array<[number, number, number, number, boolean, number]> = [
    [0, 0, 20, 0, false, 0], [0xffffffff, 0xffffffff, 0xffff, 0xffff, true, 0xff],
    [0x80000000, 0x7fffffff, 1500, 1, true, 0x10], [-1, -0x80000000, 40, 0x8000, false, 0xfc],
  ];
  for (let k = 0; k < 2000; k++) {
    cases.push([(rnd() * 2 ** 32) >>> 0, (rnd() * 2 ** 32) | 0, 20 + ((rnd() * 65516) | 0), (rnd() * 65536) | 0,
      rnd() < 0.5, (rnd() * 256) | 0]);
  }
  for (const [src, dst, len, id, df, tos] of cases) {
    buf.fill(0xa5);
    writeIpipHeader(buf, 7, src, dst, len, id, df, tos);
    assert.equal(csumPartial(buf, 7, 20), 0xffff, `src ${src} dst ${dst} len ${len} id ${id} df ${df} tos ${tos}`);
    assert.equal(buf.readUInt16BE(7 + 10), ipv4HeaderChecksum(Buffer.from(buf.subarray(7, 27)).fill(0, 10, 12), 0, 20));
    assert.equal(ipv4Src(buf, 7), src >>> 0);
    assert.equal(ipv4Dst(buf, 7), dst >>> 0);
  }
});
