/**
 * Golden-packet tests of the pipeline: packets built with the test builder go through the
 * real datapath on a MemoryDevice; the frames it writes are checked field by field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { DROP_NAMES } from '../../src/ipvs/pipeline';
import {
  ipv4Src, ipv4Dst, ipv4ChecksumOk, ipv4HeaderLen, ipv4TotalLen, ipv4Proto, tcpSrcPort, tcpDstPort,
  l4Checksum, tcpChecksum, icmpType, icmpCode, csumPartial, udpDstPort, udpSrcPort,
} from '../../src/wire/index';
import { pkt, addr } from '../support/builder';

const CIP = '198.18.0.2';
const VIP = '198.18.100.1';
const RIP1 = '198.19.0.11';
const RIP2 = '198.19.0.12';

function setup(vnetHdr = true) {
  let now = 1000;
  const dev = new MemoryDevice({ batch: 8, scratchSlots: 2, vnetHdr });
  const dir = new Director(dev, { clock: () => now, seed: 1 });
  const advance = (ms: number) => { now += ms; };
  return { dev, dir, advance, now: () => now };
}

function configure(dir: Director, sched = 'rr', rport = 80) {
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: sched } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: RIP1, port: rport, fwd: 'masq' } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: RIP2, port: rport, fwd: 'masq' } },
  ]);
}

function run(d: ReturnType<typeof setup>, packets: Buffer[]) {
  for (const p of packets) d.dev.inject(p);
  d.dev.written = [];
  d.dir.pipeline.drain(d.now());
  return d.dev.takeWritten();
}

function tcpOk(p: Buffer): boolean {
  const hl = ipv4HeaderLen(p, 0);
  const l4len = ipv4TotalLen(p, 0) - hl;
  return l4Checksum(p, hl, l4len, ipv4Src(p, 0), ipv4Dst(p, 0), 6) === tcpChecksum(p, hl);
}

function drop(d: ReturnType<typeof setup>, name: string): number {
  const i = DROP_NAMES.indexOf(name);
  assert.ok(i >= 0, `drop reason ${name} exists`);
  return d.dir.pipeline.drops[i];
}

test('SYN to the VIP is scheduled, rewritten to the real server, checksums valid', () => {
  const d = setup();
  configure(d.dir);
  const syn = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40000, dport: 80, flags: 'S', seq: 7 }).build();
  const out = run(d, [syn]);
  assert.equal(out.length, 1);
  const p = out[0].packet;
  assert.equal(ipv4Src(p, 0), addr(CIP));
  assert.equal(ipv4Dst(p, 0), addr(RIP1));
  assert.equal(tcpSrcPort(p, 20), 40000);
  assert.equal(tcpDstPort(p, 20), 80);
  assert.ok(ipv4ChecksumOk(p, 0));
  assert.ok(tcpOk(p));
  const info = d.dir.services.info()[0];
  assert.equal(info.stats.conns, 1);
  assert.equal(info.dests[0].inactiveConns, 1);
  assert.equal(info.dests[0].activeConns, 0);
});

test('the reply from the real server is rewritten back to VIP:vport, handshake reaches ESTABLISHED', () => {
  const d = setup();
  configure(d.dir, 'rr', 8080);
  const syn = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40001, dport: 80, flags: 'S' }).build();
  const [fwd] = run(d, [syn]);
  assert.equal(tcpDstPort(fwd.packet, 20), 8080, 'port mapping 80 -> 8080');
  const synack = pkt().ip({ src: RIP1, dst: CIP }).tcp({ sport: 8080, dport: 40001, flags: 'SA' }).build();
  const [back] = run(d, [synack]);
  assert.equal(ipv4Src(back.packet, 0), addr(VIP));
  assert.equal(tcpSrcPort(back.packet, 20), 80);
  assert.equal(ipv4Dst(back.packet, 0), addr(CIP));
  assert.ok(ipv4ChecksumOk(back.packet, 0));
  assert.ok(tcpOk(back.packet));
  const ack = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40001, dport: 80, flags: 'A' }).build();
  run(d, [ack]);
  const conns = d.dir.connInfo();
  assert.equal(conns.length, 1);
  assert.equal(conns[0].state, 'ESTABLISHED');
  assert.equal(conns[0].daddr, RIP1);
  assert.equal(conns[0].dport, 8080);
  const dest = d.dir.services.info()[0].dests.find((x) => x.addr === RIP1)!;
  assert.equal(dest.activeConns, 1);
  assert.equal(dest.inactiveConns, 0);
  assert.equal(dest.stats.inpkts, 2);
  assert.equal(dest.stats.outpkts, 1);
});

test('partial (NEEDS_CSUM) checksums are adjusted for addresses only, uncomplemented', () => {
  const d = setup();
  configure(d.dir);
  const payload = Buffer.alloc(100, 7);
  const p = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40002, dport: 80, flags: 'S', csum: 'partial' }).payload(payload).build();
  const vnet = Buffer.alloc(10);
  vnet[0] = 1; // NEEDS_CSUM
  vnet.writeUInt16LE(20, 6);
  vnet.writeUInt16LE(16, 8);
  d.dev.inject(p, vnet);
  d.dir.pipeline.drain(d.now());
  const [w] = d.dev.takeWritten();
  assert.equal(w.vnet[0], 1, 'vnet header passed through');
  const q = w.packet;
  // Completing the sum as the kernel would must give the correct checksum.
  const l4len = ipv4TotalLen(q, 0) - 20;
  const completed = (~csumPartial(q, 20, l4len)) & 0xffff;
  const c = Buffer.from(q);
  c.writeUInt16BE(completed, 36);
  assert.ok(tcpOk(c));
  assert.equal(ipv4Dst(q, 0), addr(RIP1));
});

test('rr spreads new connections evenly; existing connections stay on their server', () => {
  const d = setup();
  configure(d.dir);
  const counts = new Map<number, number>();
  for (let i = 0; i < 30; i++) {
    const [w] = run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 41000 + i, dport: 80, flags: 'S' }).build()]);
    const dst = ipv4Dst(w.packet, 0);
    counts.set(dst, (counts.get(dst) ?? 0) + 1);
  }
  assert.deepEqual([...counts.values()], [15, 15]);
  for (let i = 0; i < 30; i++) {
    const [w] = run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 41000 + i, dport: 80, flags: 'A' }).build()]);
    assert.equal(ipv4Dst(w.packet, 0), addr(i % 2 === 0 ? RIP1 : RIP2));
  }
});

test('no usable server: ICMP port unreachable from the VIP, packet counted as no_dest', () => {
  const d = setup();
  d.dir.handle([{ op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: 'wlc' } }]);
  const syn = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40003, dport: 80, flags: 'S' }).build();
  const out = run(d, [syn]);
  assert.equal(out.length, 1);
  const p = out[0].packet;
  assert.equal(ipv4Proto(p, 0), 1);
  assert.equal(ipv4Src(p, 0), addr(VIP));
  assert.equal(ipv4Dst(p, 0), addr(CIP));
  assert.equal(icmpType(p, 20), 3);
  assert.equal(icmpCode(p, 20), 3);
  assert.equal(csumPartial(p, 20, ipv4TotalLen(p, 0) - 20), 0xffff, 'ICMP checksum');
  assert.equal(drop(d, 'no-dest'), 1);
});

test('weight 0 keeps existing connections, new ones go elsewhere', () => {
  const d = setup();
  configure(d.dir);
  run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 42000, dport: 80, flags: 'S' }).build()]);
  d.dir.handle([{ op: 'edit-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: RIP1, port: 80, weight: 0 } }]);
  const [old] = run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 42000, dport: 80, flags: 'A' }).build()]);
  assert.equal(ipv4Dst(old.packet, 0), addr(RIP1));
  for (let i = 1; i <= 4; i++) {
    const [w] = run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 42000 + i, dport: 80, flags: 'S' }).build()]);
    assert.equal(ipv4Dst(w.packet, 0), addr(RIP2));
  }
});

test('a removed server: its connection packets are dropped, not rescheduled', () => {
  const d = setup();
  configure(d.dir);
  run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43000, dport: 80, flags: 'S' }).build()]);
  d.dir.handle([{ op: 'delete-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: RIP1, port: 80 } }]);
  const out = run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43000, dport: 80, flags: 'A' }).build()]);
  assert.equal(out.length, 0);
  assert.equal(drop(d, 'dest-unavailable'), 1);
});

test('a removed server added back while its entries live: its connections go on (the trash)', () => {
  const d = setup();
  configure(d.dir);
  const svc = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const [first] = run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43100, dport: 80, flags: 'S' }).build()]);
  const rip = ipv4Dst(first.packet, 0) === addr(RIP1) ? RIP1 : RIP2;
  d.dir.handle([{ op: 'delete-server', service: svc, dest: { addr: rip, port: 80 } }]);
  const ack = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43100, dport: 80, flags: 'A' }).build();
  assert.equal(run(d, [ack]).length, 0, 'dropped while the server is out');
  // ipvsadm -a again (another weight, as a health checker or an operator would): the same
  // destination comes back with its entry, which is forwarded to it again, unscheduled.
  d.dir.handle([{ op: 'add-server', service: svc, dest: { addr: rip, port: 80, fwd: 'masq', weight: 3 } }]);
  const [again] = run(d, [ack]);
  assert.ok(again, 'forwarded after the server came back');
  assert.equal(ipv4Dst(again.packet, 0), addr(rip));
  assert.equal(drop(d, 'dest-unavailable'), 1);
  const back = d.dir.services.info()[0].dests.find((x) => x.addr === rip)!;
  assert.equal(back.weight, 3);
  assert.equal(back.inactiveConns + back.activeConns, 1, 'the entry counts on the revived server');
  // Once the last entry is gone, a removed server is forgotten: adding it again makes a fresh one.
  d.dir.handle([{ op: 'delete-server', service: svc, dest: { addr: rip, port: 80 } }]);
  d.advance(1_000_000); // ESTABLISHED: 900 s
  d.dir.pipeline.expire(d.now());
  assert.equal(d.dir.conns.size, 0);
  d.dir.handle([{ op: 'add-server', service: svc, dest: { addr: rip, port: 80, fwd: 'masq' } }]);
  const fresh = d.dir.services.info()[0].dests.find((x) => x.addr === rip)!;
  assert.equal(fresh.inactiveConns + fresh.activeConns, 0);
  assert.equal(fresh.stats.conns, 0, 'a fresh destination, not the trashed one');
});

test('UDP is balanced and replies are rewritten; entries expire after the UDP timeout', () => {
  const d = setup();
  d.dir.handle([
    { op: 'add-service', service: { proto: 'udp', addr: VIP, port: 53, scheduler: 'rr' } },
    { op: 'add-server', service: { proto: 'udp', addr: VIP, port: 53 }, dest: { addr: RIP1, port: 5353, fwd: 'masq' } },
    { op: 'set-timeout', tcp: 0, tcpfin: 0, udp: 5 },
  ]);
  const [q] = run(d, [pkt().ip({ src: CIP, dst: VIP }).udp({ sport: 5000, dport: 53 }).payload('hello').build()]);
  assert.equal(ipv4Dst(q.packet, 0), addr(RIP1));
  assert.equal(udpDstPort(q.packet, 20), 5353);
  const [r] = run(d, [pkt().ip({ src: RIP1, dst: CIP }).udp({ sport: 5353, dport: 5000 }).payload('world').build()]);
  assert.equal(ipv4Src(r.packet, 0), addr(VIP));
  assert.equal(udpSrcPort(r.packet, 20), 53);
  assert.equal(d.dir.conns.size, 1);
  d.advance(3000);
  d.dir.pipeline.expire(d.now());
  assert.equal(d.dir.conns.size, 1, 'not before its time');
  d.advance(4000);
  d.dir.pipeline.expire(d.now());
  assert.equal(d.dir.conns.size, 0);
  assert.equal(d.dir.services.info()[0].dests[0].inactiveConns, 0);
});

test('a SYN on a TIME_WAIT entry starts a new connection (conn_reuse_mode)', () => {
  const d = setup();
  configure(d.dir);
  const c = (flags: string) => pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 44000, dport: 80, flags }).build();
  const s = (flags: string) => pkt().ip({ src: RIP1, dst: CIP }).tcp({ sport: 80, dport: 44000, flags }).build();
  run(d, [c('S')]);
  run(d, [s('SA')]);
  run(d, [c('A')]);
  run(d, [s('FA')]);
  run(d, [c('FA')]);
  run(d, [s('A')]);
  assert.equal(d.dir.connInfo()[0].state, 'TIME_WAIT');
  const [w] = run(d, [c('S')]);
  assert.equal(ipv4Dst(w.packet, 0), addr(RIP2), 'rescheduled by rr');
  assert.equal(d.dir.conns.size, 1);
  const info = d.dir.services.info()[0];
  assert.equal(info.stats.conns, 2);
  assert.equal(info.dests[0].activeConns + info.dests[0].inactiveConns, 0);
});

test('non-SYN without an entry and packets for no service are dropped by name', () => {
  const d = setup();
  configure(d.dir);
  assert.equal(run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 45000, dport: 80, flags: 'A' }).build()]).length, 0);
  assert.equal(drop(d, 'no-conn'), 1);
  assert.equal(run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 45000, dport: 81, flags: 'S' }).build()]).length, 0);
  assert.equal(drop(d, 'no-service'), 1);
});

test('without a virtio header the datapath behaves the same', () => {
  const d = setup(false);
  configure(d.dir);
  const [w] = run(d, [pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 46000, dport: 80, flags: 'S' }).build()]);
  assert.equal(w.vnet.length, 0);
  assert.equal(ipv4Dst(w.packet, 0), addr(RIP1));
  assert.ok(tcpOk(w.packet));
});
