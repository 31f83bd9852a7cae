/**
 * Persistence, thresholds, one-packet scheduling and the sysctl knobs, driven through the
 * real datapath (MemoryDevice + packet builder), as test/ipvs/pipeline.test.ts does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { DROP_NAMES } from '../../src/ipvs/pipeline';
import { F_TEMPLATE } from '../../src/ipvs/conn';
import type { Command, ConnInfo, ServiceKey } from '../../src/ipvs/command';
import { ipv4Dst, tcpDstPort, udpDstPort } from '../../src/wire/index';
import { pkt, addr } from '../support/builder';

const VIP = '198.18.100.1';
const RIP1 = '198.19.0.11';
const RIP2 = '198.19.0.12';
const RIP3 = '198.19.0.13';

function setup(opts: { maxConns?: number } = {}) {
  let now = 1000;
  const dev = new MemoryDevice({ batch: 64, scratchSlots: 4, vnetHdr: false });
  const dir = new Director(dev, { clock: () => now, seed: 3, maxConns: opts.maxConns });
  return {
    dev, dir,
    advance(ms: number) { now += ms; dir.pipeline.expire(now); },
    now: () => now,
  };
}
type Env = ReturnType<typeof setup>;

function svcKey(port = 80, proto: 'tcp' | 'udp' = 'tcp'): ServiceKey {
  return { proto, addr: VIP, port };
}

function configure(e: Env, extra: Partial<Extract<Command, { op: 'add-service' }>['service']> = {}, rips = [RIP1, RIP2, RIP3], port = 80) {
  const key = svcKey(port, extra.proto ?? 'tcp');
  const cmds: Command[] = [{ op: 'add-service', service: { ...key, scheduler: 'rr', ...extra } }];
  for (const r of rips) cmds.push({ op: 'add-server', service: key, dest: { addr: r, port: port === 0 ? 0 : 80, fwd: 'masq' } });
  e.dir.handle(cmds);
}

function run(e: Env, packets: Buffer[]) {
  for (const p of packets) e.dev.inject(p);
  e.dev.written = [];
  e.dir.pipeline.drain(e.now());
  return e.dev.takeWritten();
}

/** Sends a SYN; returns the real server address it went to ('' if dropped). */
function syn(e: Env, src: string, sport: number, dport = 80): string {
  const out = run(e, [pkt().ip({ src, dst: VIP }).tcp({ sport, dport, flags: 'S' }).build()]);
  if (out.length === 0) return '';
  const d = ipv4Dst(out[0].packet, 0);
  return `${d >>> 24}.${(d >>> 16) & 255}.${(d >>> 8) & 255}.${d & 255}`;
}

function conns(e: Env): ConnInfo[] {
  const r = e.dir.handle([{ op: 'list-conns' }]);
  assert.equal(r.kind, 'conns');
  return (r as Extract<typeof r, { kind: 'conns' }>).conns;
}

function templates(e: Env): ConnInfo[] {
  return conns(e).filter((c) => c.cport === 0);
}

function destInfo(e: Env, rip: string, key = svcKey()) {
  const d = e.dir.services.info(key)[0].dests.find((x) => x.addr === rip);
  assert.ok(d, rip);
  return d;
}

function drop(e: Env, name: string): number {
  return e.dir.pipeline.drops[DROP_NAMES.indexOf(name)];
}

test('persistence: every connection of one client goes to one server; a template is made', () => {
  const e = setup();
  configure(e, { persistent: 300 });
  const first = syn(e, '198.18.0.2', 40000);
  assert.equal(first, RIP1);
  for (let i = 1; i < 20; i++) assert.equal(syn(e, '198.18.0.2', 40000 + i), RIP1);
  // another client is scheduled by rr afresh: next after RIP1
  assert.equal(syn(e, '198.18.0.3', 40000), RIP2);
  const t = templates(e);
  assert.equal(t.length, 2);
  const t1 = t.find((c) => c.caddr === '198.18.0.2');
  assert.ok(t1);
  assert.deepEqual([t1.proto, t1.state, t1.cport, t1.vaddr, t1.vport, t1.daddr, t1.dport], ['tcp', 'NONE', 0, VIP, 80, RIP1, 80]);
  assert.equal(t1.expires, 300);
  assert.equal(destInfo(e, RIP1).persistConns, 1);
  assert.equal(destInfo(e, RIP1).inactiveConns, 20, 'templates are not counted as connections');
  assert.equal(destInfo(e, RIP2).persistConns, 1);
  assert.equal(e.dir.services.info()[0].stats.conns, 21, 'templates are not counted in the service stats');
});

test('persistence: -M 255.255.255.0 groups a /24', () => {
  const e = setup();
  configure(e, { persistent: 300, netmask: '255.255.255.0' });
  const got = new Set<string>();
  for (let h = 2; h < 12; h++) for (let p = 0; p < 5; p++) got.add(syn(e, `198.18.0.${h}`, 41000 + p));
  assert.deepEqual([...got], [RIP1]);
  assert.equal(syn(e, '198.18.1.2', 41000), RIP2, 'another /24 gets its own template');
  const t = templates(e);
  assert.deepEqual(t.map((c) => c.caddr).sort(), ['198.18.0.0', '198.18.1.0']);
});

test('persistence: the template outlives its timeout while it controls connections, then expires', () => {
  const e = setup();
  configure(e, { persistent: 3 });
  assert.equal(syn(e, '198.18.0.2', 40000), RIP1);
  // the controlled connection lives 60 s in SYN_RECV; the template is re-armed meanwhile
  e.advance(10_000);
  assert.equal(templates(e).length, 1);
  assert.equal(syn(e, '198.18.0.2', 40001), RIP1);
  e.advance(59_000);
  assert.equal(conns(e).filter((c) => c.cport !== 0).length, 1, 'first connection expired, second alive');
  assert.equal(templates(e).length, 1);
  // the second connection expires at about 70 s; the template within 3 s (+ tick) after
  e.advance(2_000);
  assert.equal(conns(e).filter((c) => c.cport !== 0).length, 0);
  e.advance(5_000);
  assert.equal(templates(e).length, 0);
  assert.equal(destInfo(e, RIP1).persistConns, 0);
  // the next connection is scheduled afresh: rr moves on
  assert.equal(syn(e, '198.18.0.2', 40002), RIP2);
});

test('persistence: quiescent server keeps its templates unless expire_quiescent_template', () => {
  const e = setup();
  configure(e, { persistent: 300 });
  assert.equal(syn(e, '198.18.0.2', 40000), RIP1);
  e.dir.handle([{ op: 'edit-server', service: svcKey(), dest: { addr: RIP1, port: 80, weight: 0 } }]);
  assert.equal(syn(e, '198.18.0.2', 40001), RIP1, 'quiescent: template still used');
  e.dir.handle([{ op: 'set-sysctl', name: 'expire_quiescent_template', value: 1 }]);
  assert.equal(syn(e, '198.18.0.2', 40002), RIP2);
  assert.equal(syn(e, '198.18.0.2', 40003), RIP2, 'the new template sticks');
  // the old template is dead but stays until its controlled connections are gone
  assert.equal(templates(e).length, 2);
});

test('persistence: a removed server invalidates its templates', () => {
  const e = setup();
  configure(e, { persistent: 300 });
  assert.equal(syn(e, '198.18.0.2', 40000), RIP1);
  e.dir.handle([{ op: 'delete-server', service: svcKey(), dest: { addr: RIP1, port: 80 } }]);
  assert.equal(syn(e, '198.18.0.2', 40001), RIP2);
});

test('persistence: a port-0 service takes every port of the VIP with one template per client', () => {
  const e = setup();
  configure(e, { persistent: 60 }, [RIP1, RIP2], 0);
  const out22 = run(e, [pkt().ip({ src: '198.18.0.2', dst: VIP }).tcp({ sport: 40000, dport: 22, flags: 'S' }).build()]);
  const out443 = run(e, [pkt().ip({ src: '198.18.0.2', dst: VIP }).tcp({ sport: 40001, dport: 443, flags: 'S' }).build()]);
  assert.equal(out22.length, 1);
  assert.equal(out443.length, 1);
  assert.equal(ipv4Dst(out22[0].packet, 0), addr(RIP1));
  assert.equal(ipv4Dst(out443[0].packet, 0), addr(RIP1));
  assert.equal(tcpDstPort(out22[0].packet, 20), 22, 'the destination port is kept');
  assert.equal(tcpDstPort(out443[0].packet, 20), 443);
  const t = templates(e);
  assert.equal(t.length, 1);
  assert.equal(t[0].vport, 0);
  // an exact service is preferred to the port-0 one
  e.dir.handle([
    { op: 'add-service', service: { ...svcKey(8080), scheduler: 'rr' } },
    { op: 'add-server', service: svcKey(8080), dest: { addr: RIP3, port: 8080, fwd: 'masq' } },
  ]);
  assert.equal(syn(e, '198.18.0.2', 40002, 8080), RIP3);
  // deleting the exact service must not touch the port-0 one
  e.dir.handle([{ op: 'delete-service', service: svcKey(8080) }]);
  assert.equal(e.dir.services.info().length, 1);
  assert.equal(syn(e, '198.18.0.2', 40003, 8080), RIP1);
});

test('thresholds: -x stops new connections at the upper bound; they resume below 3/4 of it', () => {
  const e = setup();
  e.dir.handle([
    { op: 'add-service', service: { ...svcKey(), scheduler: 'fo' } },
    { op: 'add-server', service: svcKey(), dest: { addr: RIP1, port: 80, fwd: 'masq', weight: 100, upper: 4 } },
    { op: 'add-server', service: svcKey(), dest: { addr: RIP2, port: 80, fwd: 'masq', weight: 1 } },
  ]);
  // fo: RIP1 (weight 100) wins until it holds 4 connections (overloaded), then RIP2
  const got = [];
  for (let i = 0; i < 6; i++) got.push(syn(e, '198.18.0.2', 40000 + i));
  assert.deepEqual(got, [RIP1, RIP1, RIP1, RIP1, RIP2, RIP2]);
  const r = e.dir.services.info()[0];
  assert.equal(r.dests[0].upper, 4);
  assert.equal(r.dests[0].inactiveConns, 4);
  // lower = 0: overload clears when total < 3/4 · 4 = 3, i.e. after 2 of the 4 end
  const ids: number[] = [];
  e.dir.conns.forEach((id) => { if (e.dir.conns.daddr(id) === addr(RIP1)) ids.push(id); });
  e.dir.pipeline.expireConn(ids[0]);
  e.dir.conns.remove(ids[0]);
  assert.equal(syn(e, '198.18.0.2', 40010), RIP2, '3 is not below 3');
  e.dir.pipeline.expireConn(ids[1]);
  e.dir.conns.remove(ids[1]);
  assert.equal(syn(e, '198.18.0.2', 40011), RIP1);
});

test('thresholds: -y sets the resume point', () => {
  const e = setup();
  e.dir.handle([
    { op: 'add-service', service: { ...svcKey(), scheduler: 'fo' } },
    { op: 'add-server', service: svcKey(), dest: { addr: RIP1, port: 80, fwd: 'masq', weight: 2, upper: 3, lower: 1 } },
    { op: 'add-server', service: svcKey(), dest: { addr: RIP2, port: 80, fwd: 'masq', weight: 1 } },
  ]);
  for (let i = 0; i < 3; i++) assert.equal(syn(e, '198.18.0.2', 40000 + i), RIP1);
  assert.equal(syn(e, '198.18.0.2', 40003), RIP2);
  const ids: number[] = [];
  e.dir.conns.forEach((id) => { if (e.dir.conns.daddr(id) === addr(RIP1)) ids.push(id); });
  for (let k = 0; k < 2; k++) {
    e.dir.pipeline.expireConn(ids[k]);
    e.dir.conns.remove(ids[k]);
    assert.equal(syn(e, '198.18.0.2', 40010 + k), RIP2, 'total 2, then 1: not below 1');
  }
  e.dir.pipeline.expireConn(ids[2]);
  e.dir.conns.remove(ids[2]);
  assert.equal(syn(e, '198.18.0.2', 40020), RIP1, 'total 0 < 1');
});

test('one-packet scheduling: every datagram of one client port is scheduled on its own', () => {
  const e = setup();
  configure(e, { proto: 'udp', ops: true }, [RIP1, RIP2], 53);
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [w] = run(e, [pkt().ip({ src: '198.18.0.2', dst: VIP }).udp({ sport: 5000, dport: 53 }).payload('q').build()]);
    seen.push(ipv4Dst(w.packet, 0));
    assert.equal(udpDstPort(w.packet, 20), 80);
  }
  assert.deepEqual(seen, [addr(RIP1), addr(RIP2), addr(RIP1), addr(RIP2)]);
  const info = e.dir.services.info()[0];
  assert.equal(info.stats.conns, 4, 'each datagram is a connection');
  assert.ok(conns(e).length <= 1, 'at most the last entry is kept');
  e.advance(2000);
  assert.equal(conns(e).length, 0, 'kept with a 0 s timeout');
  assert.equal(info.ops, true);
  const after = e.dir.services.info()[0];
  assert.equal(after.dests[0].inactiveConns + after.dests[1].inactiveConns, 0);
});

test('sloppy_tcp: a non-SYN segment creates an entry only with the knob on; RST never', () => {
  const e = setup();
  configure(e);
  const ack = () => pkt().ip({ src: '198.18.0.2', dst: VIP }).tcp({ sport: 40000, dport: 80, flags: 'A' }).build();
  assert.equal(run(e, [ack()]).length, 0);
  assert.equal(drop(e, 'no-conn'), 1);
  e.dir.handle([{ op: 'set-sysctl', name: 'sloppy_tcp', value: 1 }]);
  assert.equal(run(e, [pkt().ip({ src: '198.18.0.2', dst: VIP }).tcp({ sport: 40001, dport: 80, flags: 'R' }).build()]).length, 0);
  assert.equal(drop(e, 'no-conn'), 2);
  const out = run(e, [ack()]);
  assert.equal(out.length, 1);
  assert.equal(conns(e).length, 1);
});

test('expire_nodest_conn: the entry of a removed server goes with its next packet', () => {
  const e = setup();
  configure(e, {}, [RIP1, RIP2]);
  assert.equal(syn(e, '198.18.0.2', 40000), RIP1);
  e.dir.handle([{ op: 'delete-server', service: svcKey(), dest: { addr: RIP1, port: 80 } }]);
  const data = () => pkt().ip({ src: '198.18.0.2', dst: VIP }).tcp({ sport: 40000, dport: 80, flags: 'A' }).build();
  assert.equal(run(e, [data()]).length, 0);
  assert.equal(conns(e).length, 1, 'off: the entry stays');
  e.dir.handle([{ op: 'set-sysctl', name: 'expire_nodest_conn', value: 1 }]);
  assert.equal(run(e, [data()]).length, 0);
  assert.equal(conns(e).length, 0, 'on: expired at once');
  // a retransmitted SYN is scheduled afresh
  assert.equal(syn(e, '198.18.0.2', 40000), RIP2);
});

test('conn_reuse_mode 0: a SYN on a TIME_WAIT entry stays with it', () => {
  const e = setup();
  e.dir.handle([{ op: 'set-sysctl', name: 'conn_reuse_mode', value: 0 }]);
  assert.equal(e.dir.pipeline.connReuse, false);
  e.dir.handle([{ op: 'set-sysctl', name: 'conn_reuse_mode', value: 1 }]);
  assert.equal(e.dir.pipeline.connReuse, true);
});

test('sysctl: listing, validation, all-or-nothing', () => {
  const e = setup();
  const r = e.dir.handle([{ op: 'get-sysctl' }]);
  assert.deepEqual(r, {
    kind: 'sysctl',
    values: { expire_nodest_conn: 0, expire_quiescent_template: 0, conn_reuse_mode: 1, sloppy_tcp: 0, max_half_open: 65536 },
  });
  assert.throws(() => e.dir.handle([{ op: 'set-sysctl', name: 'nope', value: 1 }]), /Unknown sysctl/);
  assert.throws(() => e.dir.handle([
    { op: 'set-sysctl', name: 'sloppy_tcp', value: 1 },
    { op: 'set-sysctl', name: 'sloppy_tcp', value: 2 },
  ]), /Illegal value/);
  assert.equal(e.dir.pipeline.knobs.sloppy_tcp, 0);
  const d = new Director(new MemoryDevice({ batch: 4 }), { knobs: { sloppy_tcp: 1, conn_reuse_mode: 0 } });
  assert.equal(d.pipeline.knobs.sloppy_tcp, 1);
  assert.equal(d.pipeline.connReuse, false);
});

test('flood: half-open entries are capped, the oldest evicted first; established ones stay', () => {
  const e = setup();
  configure(e, {}, [RIP1]);
  e.dir.handle([{ op: 'set-sysctl', name: 'max_half_open', value: 10 }]);
  // one established connection
  assert.equal(syn(e, '198.18.0.2', 40000), RIP1);
  run(e, [pkt().ip({ src: RIP1, dst: '198.18.0.2' }).tcp({ sport: 80, dport: 40000, flags: 'SA' }).build()]);
  run(e, [pkt().ip({ src: '198.18.0.2', dst: VIP }).tcp({ sport: 40000, dport: 80, flags: 'A' }).build()]);
  assert.equal(destInfo(e, RIP1).activeConns, 1);
  assert.equal(e.dir.pipeline.halfOpen.count, 0);
  for (let i = 0; i < 25; i++) assert.equal(syn(e, `198.19.${i >> 8}.${i & 255}`, 1000 + i), RIP1);
  assert.equal(e.dir.pipeline.halfOpen.count, 10);
  assert.equal(e.dir.pipeline.halfOpen.evicted, 15);
  const live = conns(e);
  assert.equal(live.length, 11);
  assert.ok(live.some((c) => c.state === 'ESTABLISHED' && c.cport === 40000));
  // the survivors are the 10 newest
  const ports = live.filter((c) => c.state === 'SYN_RECV').map((c) => c.cport).sort((a, b) => a - b);
  assert.deepEqual(ports, Array.from({ length: 10 }, (_, k) => 1015 + k));
  assert.equal(destInfo(e, RIP1).inactiveConns, 10);
});

test('flood: a full table evicts half-open entries, never established ones', () => {
  const e = setup({ maxConns: 4 });
  configure(e, {}, [RIP1]);
  const established = (sport: number) => {
    syn(e, '198.18.0.2', sport);
    run(e, [pkt().ip({ src: RIP1, dst: '198.18.0.2' }).tcp({ sport: 80, dport: sport, flags: 'SA' }).build()]);
    run(e, [pkt().ip({ src: '198.18.0.2', dst: VIP }).tcp({ sport, dport: 80, flags: 'A' }).build()]);
  };
  established(40000);
  established(40001);
  for (let i = 0; i < 5; i++) assert.equal(syn(e, `198.19.0.${i}`, 1000 + i), RIP1);
  assert.equal(e.dir.conns.size, 4);
  assert.equal(e.dir.pipeline.halfOpen.count, 2);
  established(40002);
  established(40003);
  assert.equal(e.dir.conns.size, 4);
  assert.equal(syn(e, '198.19.1.1', 2000), '', 'all established: refused');
  assert.equal(drop(e, 'conn-table-full'), 1);
  assert.equal(conns(e).filter((c) => c.state === 'ESTABLISHED').length, 4);
});

test('templates carry F_TEMPLATE and are not matched by a client packet with source port 0', () => {
  const e = setup();
  configure(e, { persistent: 300 });
  assert.equal(syn(e, '198.18.0.2', 40000), RIP1);
  let tid = -1;
  e.dir.conns.forEach((id) => { if (e.dir.conns.flags(id) & F_TEMPLATE) tid = id; });
  assert.ok(tid >= 0);
  assert.equal(e.dir.conns.control(tid), 1, 'n_control');
  // a SYN with source port 0 opens a connection rather than hitting the template
  assert.equal(syn(e, '198.18.0.2', 0), RIP1);
  assert.equal(e.dir.conns.control(tid), 2);
});

test('persistence: a UDP template is listed with state NONE, its datagrams with UDP', () => {
  const e = setup();
  configure(e, { proto: 'udp', persistent: 30 }, [RIP1, RIP2], 53);
  for (let p = 0; p < 3; p++) {
    const [w] = run(e, [pkt().ip({ src: '198.18.0.2', dst: VIP }).udp({ sport: 5000 + p, dport: 53 }).payload('q').build()]);
    assert.equal(ipv4Dst(w.packet, 0), addr(RIP1));
  }
  const c = conns(e);
  assert.deepEqual(c.filter((x) => x.cport === 0).map((x) => [x.proto, x.state, x.vport]), [['udp', 'NONE', 53]]);
  assert.equal(c.filter((x) => x.cport !== 0 && x.state === 'UDP').length, 3);
});
