/**
 * Golden frames for direct routing (src/xmit/dr.ts) through the pipeline on a MemoryDevice,
 * with a recording FrameSink in place of the AF_PACKET socket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { DROP_NAMES } from '../../src/ipvs/pipeline';
import { RouteXmit } from '../../src/xmit/dr';
import { ipv4ChecksumOk, ipv4Dst, ipv4Src, l4Checksum } from '../../src/wire/index';
import { addr, pkt } from '../support/builder';
import { RecordingSink, vnet } from '../support/frames';

const CIP = '198.18.0.2';
const VIP = '198.18.100.1';
const RIP = '198.19.0.11';
const RS_MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x11]);
const BR_MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x01]);

function setup(vnetHdr: boolean) {
  const dev = new MemoryDevice({ batch: 8, scratchSlots: 2 });
  const dir = new Director(dev, { clock: () => 1000, seed: 3 });
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: 'rr' } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: RIP, port: 80, fwd: 'route' } },
  ]);
  const sink = new RecordingSink(vnetHdr, 'br0', BR_MAC);
  const route = new RouteXmit();
  route.addSink(sink);
  route.setNeighbour(addr(RIP), 'br0', RS_MAC);
  dir.pipeline.route = route;
  const run = (p: Buffer, v?: Buffer) => {
    dev.inject(p, v);
    dir.pipeline.drain(1000);
    assert.deepEqual(dev.takeWritten(), [], 'nothing goes back to the TUN');
    const f = sink.frames;
    sink.frames = [];
    return f;
  };
  const drop = (name: string) => dir.pipeline.drops[DROP_NAMES.indexOf(name)];
  return { dev, dir, run, drop, sink, route };
}

function ethOk(f: Buffer, off: number): void {
  assert.deepEqual(new Uint8Array(f.subarray(off, off + 6)), RS_MAC, 'destination: the real server');
  assert.deepEqual(new Uint8Array(f.subarray(off + 6, off + 12)), BR_MAC, 'source: the interface');
  assert.equal(f.readUInt16BE(off + 12), 0x0800);
}

test('with PACKET_VNET_HDR: vnet header, Ethernet header to the RS MAC, IP packet unchanged', () => {
  const d = setup(true);
  const syn = pkt().ip({ src: CIP, dst: VIP, ttl: 63 }).tcp({ sport: 40000, dport: 80, flags: 'S' }).build();
  const frames = d.run(syn);
  assert.equal(frames.length, 1);
  const f = frames[0];
  assert.deepEqual(f.subarray(0, 10), Buffer.alloc(10));
  ethOk(f, 10);
  assert.deepEqual(f.subarray(24), syn);
  assert.equal(d.dir.services.info()[0].dests[0].stats.inpkts, 1);
});

test('offload metadata is carried over with csum_start and hdr_len counting the Ethernet header', () => {
  const d = setup(true);
  const gso = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40001, dport: 80, flags: 'S', csum: 'partial' })
    .payload(Buffer.alloc(3000)).build();
  const frames = d.run(gso, vnet(1, 1, 40, 1448, 20, 16));
  assert.equal(frames.length, 1, 'the kernel segments it');
  const v = frames[0].subarray(0, 10);
  assert.deepEqual(v, vnet(1, 1, 54, 1448, 34, 16));
  assert.deepEqual(frames[0].subarray(24), gso);
});

test('without PACKET_VNET_HDR: super-packets are segmented and checksums completed', () => {
  const d = setup(false);
  const one = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40002, dport: 80, flags: 'S', csum: 'partial' }).build();
  const f1 = d.run(one, vnet(1, 0, 0, 0, 20, 16));
  assert.equal(f1.length, 1);
  ethOk(f1[0], 0);
  const ip = f1[0].subarray(14);
  assert.equal(l4Checksum(ip, 20, ip.length - 20, ipv4Src(ip, 0), ipv4Dst(ip, 0), 6), ip.readUInt16BE(36));
  const gso = pkt().ip({ src: CIP, dst: VIP, id: 9 }).tcp({ sport: 40002, dport: 80, flags: 'A', seq: 50, csum: 'partial' })
    .payload(Buffer.alloc(2500, 3)).build();
  const segs = d.run(gso, vnet(1, 1, 40, 1000, 20, 16));
  assert.equal(segs.length, 3);
  segs.forEach((s, k) => {
    ethOk(s, 0);
    const p = s.subarray(14);
    assert.equal(p.length, 40 + (k < 2 ? 1000 : 500));
    assert.ok(ipv4ChecksumOk(p, 0));
    assert.equal(p.readUInt32BE(24), 50 + 1000 * k);
    assert.equal(l4Checksum(p, 20, p.length - 20, ipv4Src(p, 0), ipv4Dst(p, 0), 6), p.readUInt16BE(36));
  });
});

test('unknown MAC and refused frames are counted by reason; no packets go back towards clients', () => {
  const d = setup(true);
  d.route.deleteNeighbour(addr(RIP));
  assert.deepEqual(d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40003, dport: 80, flags: 'S' }).build()), []);
  assert.equal(d.drop('dr-no-neigh'), 1);
  d.route.setNeighbour(addr(RIP), 'br0', RS_MAC);
  d.sink.refuse = true;
  assert.deepEqual(d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40004, dport: 80, flags: 'S' }).build()), []);
  assert.equal(d.drop('dr-send-failed'), 1);
  assert.equal(d.dir.services.info()[0].stats.outpkts, 0);
});

test('an ICMP error from the client side about a DR connection goes to the real server unchanged', () => {
  const d = setup(true);
  d.run(pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40005, dport: 80, flags: 'S' }).build());
  const quote = pkt().ip({ src: VIP, dst: CIP }).tcp({ sport: 80, dport: 40005, flags: 'SA' }).build();
  const err = pkt().ip({ src: '198.18.0.254', dst: VIP }).icmp({ type: 3, code: 4, mtu: 1400 }).quote(quote).build();
  const frames = d.run(err);
  assert.equal(frames.length, 1);
  ethOk(frames[0], 10);
  assert.deepEqual(frames[0].subarray(24), err);
});
