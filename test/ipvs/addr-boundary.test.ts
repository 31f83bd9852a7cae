/**
 * Addresses at the int32/uint32 boundary through the datapath: the packet path carries
 * addresses as int32 bits (src/wire/ipv4.ts), the control plane as uint32, so 127.255.255.255
 * (2^31-1), 128.0.0.0 (2^31), 198.18.x and 255.255.255.255 (2^32-1) must come out the same
 * through NAT (both directions, full and partial checksums, AF_PACKET output), direct routing,
 * tunneling and the connection listing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { TCP_S_ESTABLISHED } from '../../src/ipvs/proto/tcp';
import type { ConnInfo } from '../../src/ipvs/command';
import { RouteXmit } from '../../src/xmit/dr';
import { TunnelXmit } from '../../src/xmit/tunnel';
import {
  ipv4ChecksumOk, ipv4Dst, ipv4Src, l4Checksum, pseudoHeaderSum, tcpChecksum,
} from '../../src/wire/index';
import { addr, pkt } from '../support/builder';
import { RecordingSink, vnet } from '../support/frames';

const LOW = '127.255.255.255';
const MID = '128.0.0.0';
const TOP = '255.255.255.255';
const CIP = '198.18.0.2';
const BR_MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x01]);

function setup(fwd: 'masq' | 'route' | 'tunnel', vip: string, rips: string[]) {
  const dev = new MemoryDevice({ batch: 8, scratchSlots: 2 });
  const dir = new Director(dev, { clock: () => 1000, seed: 7 });
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: vip, port: 80, scheduler: 'rr' } },
    ...rips.map((r) => ({
      op: 'add-server' as const, service: { proto: 'tcp' as const, addr: vip, port: 80 }, dest: { addr: r, port: 80, fwd },
    })),
  ]);
  const run = (p: Buffer, v?: Buffer) => {
    dev.inject(p, v);
    dir.pipeline.drain(1000);
    return dev.takeWritten();
  };
  const list = (): ConnInfo[] => {
    const r = dir.handle([{ op: 'list-conns' }]);
    assert.equal(r.kind, 'conns');
    return (r as { conns: ConnInfo[] }).conns;
  };
  return { dev, dir, run, list };
}

function tcpOk(p: Buffer, ipOff = 0): boolean {
  const hl = (p[ipOff] & 15) * 4;
  const len = p.readUInt16BE(ipOff + 2) - hl;
  return l4Checksum(p, ipOff + hl, len, ipv4Src(p, ipOff), ipv4Dst(p, ipOff), 6) === tcpChecksum(p, ipOff + hl);
}

const NAT_CASES: Array<[string, string, string]> = [
  [MID, CIP.replace('.2', '.9'), TOP],
  [TOP, MID, LOW],
  [LOW, TOP, MID],
  [CIP, '198.18.100.1', '198.19.0.11'],
];

for (const [cip, vip, rip] of NAT_CASES) {
  test(`NAT client ${cip}, VIP ${vip}, real server ${rip}: both directions, checksums, listing`, () => {
    const d = setup('masq', vip, [rip]);
    const syn = pkt().ip({ src: cip, dst: vip }).tcp({ sport: 40000, dport: 80, flags: 'S', seq: 1 }).build();
    const [fwd] = d.run(syn);
    assert.ok(fwd, 'SYN forwarded');
    assert.equal(ipv4Src(fwd.packet, 0), addr(cip));
    assert.equal(ipv4Dst(fwd.packet, 0), addr(rip));
    assert.ok(ipv4ChecksumOk(fwd.packet, 0));
    assert.ok(tcpOk(fwd.packet));

    const synAck = pkt().ip({ src: rip, dst: cip }).tcp({ sport: 80, dport: 40000, flags: 'SA', seq: 9, ack: 2 }).build();
    const [back] = d.run(synAck);
    assert.ok(back, 'reply forwarded');
    assert.equal(ipv4Src(back.packet, 0), addr(vip));
    assert.equal(ipv4Dst(back.packet, 0), addr(cip));
    assert.ok(ipv4ChecksumOk(back.packet, 0));
    assert.ok(tcpOk(back.packet));

    const ack = pkt().ip({ src: cip, dst: vip }).tcp({ sport: 40000, dport: 80, flags: 'A', seq: 2, ack: 10 }).build();
    assert.equal(d.run(ack).length, 1);
    const conns = d.dir.conns;
    const id = conns.lookupIn(6, addr(cip), 40000, addr(vip), 80);
    assert.ok(id >= 0, 'found by the uint32 key');
    assert.equal(conns.lookupIn(6, addr(cip) | 0, 40000, addr(vip) | 0, 80), id, 'and by the int32 bits');
    assert.equal(conns.state(id), TCP_S_ESTABLISHED);
    assert.equal(conns.caddr(id), addr(cip), 'accessors give uint32');
    assert.equal(conns.vaddr(id), addr(vip));
    assert.equal(conns.daddr(id), addr(rip));
    assert.equal(conns.daddrI32(id), addr(rip) | 0);
    const [c] = d.list();
    assert.deepEqual([c.caddr, c.vaddr, c.daddr, c.state], [cip, vip, rip, 'ESTABLISHED']);
    const svc = d.dir.services.info()[0];
    assert.equal(svc.addr, vip);
    assert.equal(svc.dests[0].addr, rip);
    assert.equal(svc.dests[0].activeConns, 1);
    assert.equal(svc.stats.inpkts, 2);
    assert.equal(svc.stats.outpkts, 1);
  });
}

test('NAT with partial (NEEDS_CSUM) checksums at 128.0.0.0 and 255.255.255.255: the pseudo-header sum follows', () => {
  const d = setup('masq', TOP, [MID]);
  const syn = pkt().ip({ src: LOW, dst: TOP }).tcp({ sport: 40001, dport: 80, flags: 'S', csum: 'partial' }).build();
  const [fwd] = d.run(syn, vnet(1, 0, 0, 0, 20, 16));
  assert.ok(fwd);
  assert.equal(ipv4Dst(fwd.packet, 0), addr(MID));
  assert.ok(ipv4ChecksumOk(fwd.packet, 0));
  assert.equal(tcpChecksum(fwd.packet, 20), pseudoHeaderSum(addr(LOW), addr(MID), 6, fwd.packet.length - 20));
});

test('NAT through AF_PACKET: next hops 128.0.0.0 and 255.255.255.255 are found from the packet path', () => {
  const d = setup('masq', '198.18.100.1', [MID]);
  const sink = new RecordingSink(true, 'br0', BR_MAC);
  const route = new RouteXmit();
  route.addSink(sink);
  route.setNeighbour(addr(MID), 'br0', Uint8Array.from([2, 0, 0, 0, 0, 0x80]));
  route.setNeighbour(addr(TOP), 'br0', Uint8Array.from([2, 0, 0, 0, 0, 0xff]));
  d.dir.pipeline.route = route;
  d.dir.pipeline.natDirect = true;
  const syn = pkt().ip({ src: TOP, dst: '198.18.100.1' }).tcp({ sport: 40002, dport: 80, flags: 'S' }).build();
  assert.deepEqual(d.run(syn), [], 'not through the TUN');
  const reply = pkt().ip({ src: MID, dst: TOP }).tcp({ sport: 80, dport: 40002, flags: 'SA', ack: 1 }).build();
  assert.deepEqual(d.run(reply), []);
  const [toRs, toClient] = sink.take();
  assert.equal(toRs[10 + 5], 0x80, 'to the real server MAC');
  assert.equal(ipv4Dst(toRs, 24), addr(MID));
  assert.equal(toClient[10 + 5], 0xff, 'to the client MAC');
  assert.equal(ipv4Src(toClient, 24), addr('198.18.100.1'));
  assert.equal(ipv4Dst(toClient, 24), addr(TOP));
  assert.ok(tcpOk(toClient, 24));
  assert.deepEqual(route.neighbour(addr(TOP) | 0)?.mac, Uint8Array.from([2, 0, 0, 0, 0, 0xff]), 'either form finds it');
});

test('direct routing to 128.0.0.0 and 255.255.255.255: each frame to its real server MAC', () => {
  const d = setup('route', '198.18.100.1', [MID, TOP]);
  const sink = new RecordingSink(true, 'br0', BR_MAC);
  const route = new RouteXmit();
  route.addSink(sink);
  route.setNeighbour(addr(MID), 'br0', Uint8Array.from([2, 0, 0, 0, 0, 0x80]));
  route.setNeighbour(addr(TOP), 'br0', Uint8Array.from([2, 0, 0, 0, 0, 0xff]));
  d.dir.pipeline.route = route;
  for (const port of [40010, 40011]) {
    const syn = pkt().ip({ src: CIP, dst: '198.18.100.1' }).tcp({ sport: port, dport: 80, flags: 'S' }).build();
    assert.deepEqual(d.run(syn), []);
  }
  const frames = sink.take();
  assert.deepEqual(frames.map((f) => f[10 + 5]), [0x80, 0xff], 'rr: 128.0.0.0, then 255.255.255.255');
  assert.deepEqual(d.list().map((c) => c.daddr), [MID, TOP]);
  route.deleteNeighbour(addr(TOP) | 0);
  assert.equal(route.neighbour(addr(TOP)), undefined, 'deleted by the int32 bits');
});

test('tunneling to 128.0.0.0 and 255.255.255.255: outer header from its route source, checksum valid', () => {
  const d = setup('tunnel', MID, [MID, TOP]);
  const tunnel = new TunnelXmit();
  tunnel.setRoute(addr(MID), addr('255.255.255.254'));
  tunnel.setRoute(addr(TOP), addr(LOW));
  d.dir.pipeline.tunnel = tunnel;
  const outs = [40020, 40021].map((port) => {
    const syn = pkt().ip({ src: TOP, dst: MID, df: true }).tcp({ sport: port, dport: 80, flags: 'S' }).build();
    const [o] = d.run(syn);
    assert.ok(o);
    return o.packet;
  });
  assert.deepEqual(outs.map((p) => [ipv4Src(p, 0), ipv4Dst(p, 0)]),
    [[addr('255.255.255.254'), addr(MID)], [addr(LOW), addr(TOP)]]);
  for (const p of outs) {
    assert.equal(p[9], 4);
    assert.ok(ipv4ChecksumOk(p, 0), 'outer checksum');
    assert.equal(ipv4Src(p, 20), addr(TOP), 'inner packet untouched');
    assert.ok(tcpOk(p, 20));
  }
  assert.deepEqual(tunnel.route(addr(TOP) | 0), { src: addr(LOW), mtu: 1500 }, 'route listing in uint32');
});
