/**
 * Connection sync between two directors in-process: a connection established through the
 * master's datapath is sent, created on the backup, and the backup then forwards a mid-stream
 * segment of it (no SYN) to the same real server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { SyncEngine } from '../../src/ha/sync';
import { decodeSync, encodeSync, type SyncConn } from '../../src/wire/ipvs-sync';
import { ipv4Dst } from '../../src/wire/ipv4';
import { tcpDstPort } from '../../src/wire/tcp';
import { addr, pkt } from '../support/builder';

const CIP = '198.18.0.2';
const VIP = '198.18.100.1';
const RIPS = ['198.19.0.11', '198.19.0.12', '198.19.0.13'];

function director(clock: () => number): { dir: Director; dev: MemoryDevice } {
  const dev = new MemoryDevice({ batch: 8, scratchSlots: 2, vnetHdr: false });
  const dir = new Director(dev, { clock, seed: 1 });
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: 'rr' } },
    ...RIPS.map((a) => ({ op: 'add-server' as const, service: { proto: 'tcp' as const, addr: VIP, port: 80 }, dest: { addr: a, port: 8080, fwd: 'masq' as const } })),
  ]);
  return { dir, dev };
}

function pass(d: { dir: Director; dev: MemoryDevice }, p: Buffer, now: number): Buffer[] {
  d.dev.inject(p);
  d.dir.pipeline.drain(now);
  return d.dev.takeWritten().map((w) => w.packet);
}

test('established connections reach the backup and keep their real server there', () => {
  let now = 1000;
  const clock = () => now;
  const master = director(clock);
  const backup = director(clock);
  const engine = new SyncEngine(master.dir, 30_000);
  // Three connections: the handshake of the first two completes, the third stays half-open.
  const dst: string[] = [];
  for (let i = 0; i < 3; i++) {
    const sport = 41000 + i;
    const [f] = pass(master, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport, dport: 80, flags: 'S' }).build(), now);
    const rip = ipv4Dst(f, 0);
    dst.push(RIPS.find((r) => addr(r) === rip)!);
    if (i === 2) continue;
    const ripStr = dst[i];
    pass(master, pkt().ip({ src: ripStr, dst: CIP }).tcp({ sport: 8080, dport: sport, flags: 'SA' }).build(), now);
    pass(master, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport, dport: 80, flags: 'A' }).build(), now);
  }
  assert.deepEqual(dst, RIPS, 'rr spread them over the three servers');
  const due = engine.collect(now);
  assert.deepEqual(due.map((c) => [c.cport, c.state]), [[41000, 1], [41001, 1]], 'half-open entries wait');
  assert.deepEqual(engine.collect(now + 100), [], 'nothing changed: nothing to send');
  assert.equal(engine.collect(now + 30_000).length, 2, 'refresh period');

  const backupEngine = new SyncEngine(backup.dir);
  for (const m of encodeSync(3, due)) {
    decodeSync(m, 3, undefined, (c: SyncConn) => backupEngine.apply(c, now));
  }
  assert.equal(backupEngine.stats.applied, 2);
  const info = backup.dir.services.info()[0].dests;
  assert.deepEqual(info.map((d) => d.activeConns), [1, 1, 0]);
  const conns = backup.dir.connInfo().map((c) => `${c.cport}>${c.daddr}:${c.dport} ${c.state}`).sort();
  assert.deepEqual(conns, [`41000>${RIPS[0]}:8080 ESTABLISHED`, `41001>${RIPS[1]}:8080 ESTABLISHED`]);

  // After a takeover: a data segment of connection 41001 (no SYN) goes to rs2, unscheduled.
  now += 500;
  const data = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 41001, dport: 80, flags: 'PA' }).payload('hello').build();
  const [out] = pass(backup, data, now);
  assert.ok(out, 'forwarded');
  assert.equal(ipv4Dst(out, 0), addr(RIPS[1]));
  assert.equal(tcpDstPort(out, 20), 8080);

  // A FIN on the master is a state change: sent again; the backup's entry follows.
  pass(master, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 41000, dport: 80, flags: 'FA' }).build(), now);
  const next = engine.collect(now);
  assert.deepEqual(next.map((c) => c.cport), [41000]);
  for (const c of next) backupEngine.apply(c, now);
  // ip_vs_proto_tcp.c: INPUT FIN on ESTABLISHED -> CLOSE_WAIT, on both directors.
  assert.equal(master.dir.connInfo().find((c) => c.cport === 41000)?.state, 'CLOSE_WAIT');
  assert.equal(backup.dir.connInfo().find((c) => c.cport === 41000)?.state, 'CLOSE_WAIT');
  assert.deepEqual(backup.dir.services.info()[0].dests.map((d) => [d.activeConns, d.inactiveConns]), [[0, 1], [1, 0], [0, 0]]);
});

test('entries for a service or server the backup does not have are counted, not created', () => {
  const now = 1000;
  const backup = director(() => now);
  const e = new SyncEngine(backup.dir);
  const base: SyncConn = {
    protocol: 6, flags: 0, state: 1, cport: 1, vport: 80, dport: 8080, fwmark: 0, timeoutSec: 900,
    caddr: addr(CIP), vaddr: addr(VIP), daddr: addr(RIPS[0]),
  };
  assert.equal(e.apply({ ...base, vport: 81 }, now), false);
  assert.equal(e.apply({ ...base, daddr: addr('198.19.0.99') }, now), false);
  assert.equal(e.apply({ ...base, flags: 0x1000 }, now), false);
  assert.deepEqual([e.stats.noService, e.stats.noDest, e.stats.skipped], [1, 1, 1]);
  assert.equal(backup.dir.connInfo().length, 0);
});

test('a refresh carries the time an idle entry has left: alternating masters let it expire on time', () => {
  let now = 1000;
  const clock = () => now;
  const a = director(clock);
  const b = director(clock);
  const engines = [new SyncEngine(a.dir, 30_000), new SyncEngine(b.dir, 30_000)];
  const dirs = [a.dir, b.dir];
  // One connection through a, established at t = 1 s; then no packet at all (ESTABLISHED: 900 s).
  const [syn] = pass(a, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 42000, dport: 80, flags: 'S' }).build(), now);
  const rip = RIPS.find((r) => addr(r) === ipv4Dst(syn, 0))!;
  pass(a, pkt().ip({ src: rip, dst: CIP }).tcp({ sport: 8080, dport: 42000, flags: 'SA' }).build(), now);
  pass(a, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 42000, dport: 80, flags: 'A' }).build(), now);
  const idOf = (i: number): number => dirs[i].conns.lookupIn(6, addr(CIP), 42000, addr(VIP), 80);
  const lastPacket = now;
  // The master changes every 60 s, as a VRRP pair under a failover a minute; each master
  // scans every 250 ms and sends what is due to the other, which applies it.
  let master = 0;
  let refreshed = 0;
  for (; now < lastPacket + 890_000; now += 250) {
    if ((now - lastPacket) % 60_000 === 0 && now !== lastPacket) master = 1 - master;
    for (const m of engines[master].collect(now)) {
      assert.ok(m.timeoutSec <= Math.ceil((lastPacket + 900_000 - now) / 1000), `timeout ${m.timeoutSec} s at ${now} ms`);
      engines[1 - master].apply(m, now);
      refreshed++;
    }
  }
  // Only the director the connection passed through refreshes it: the other learnt it and does
  // not send it back (docs/SCALEOUT.md) until a packet of it passes there. One refresh per 30 s
  // of its 60 s turns as master: at least 14 in 890 s.
  assert.ok(refreshed >= 14, `refreshed ${refreshed} times`);
  // Neither copy outlives the connection's own 900 s (one timer-wheel tick of slack).
  for (const i of [0, 1]) {
    const id = idOf(i);
    assert.ok(id >= 0, `director ${i} still has the entry before its time`);
    assert.ok(dirs[i].conns.expiresAt(id) <= lastPacket + 900_000 + 1000, `director ${i} expires it at ${dirs[i].conns.expiresAt(id)}`);
  }
});

test('a director that was master and then followed by sync accepts the genuine RST after the next takeover', () => {
  let now = 1000;
  const clock = () => now;
  const a = director(clock);
  const b = director(clock);
  // a is master: the handshake and a first data segment (client seq 1000) pass through it.
  const syn = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43000, dport: 80, flags: 'S', seq: 999 }).build();
  const [f] = pass(a, syn, now);
  const rip = RIPS.find((r) => addr(r) === ipv4Dst(f, 0))!;
  pass(a, pkt().ip({ src: rip, dst: CIP }).tcp({ sport: 8080, dport: 43000, flags: 'SA', seq: 5000, ack: 1000 }).build(), now);
  pass(a, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43000, dport: 80, flags: 'PA', seq: 1000, ack: 5001 }).payload('x').build(), now);
  const ea = new SyncEngine(a.dir, 30_000);
  const eb = new SyncEngine(b.dir, 30_000);
  for (const m of ea.collect(now)) eb.apply(m, now);
  // b takes over; the stream goes on through b, 1 MB of it (one segment shown), which a does
  // not see; b's refresh reaches a.
  now += 30_000;
  pass(b, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43000, dport: 80, flags: 'PA', seq: 1001, ack: 5001 }).payload('y').build(), now);
  for (const m of eb.collect(now)) ea.apply(m, now);
  // a takes over again; the client aborts with the sequence number it has reached.
  now += 1000;
  const rst = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43000, dport: 80, flags: 'R', seq: 1001 + 1_000_000 }).build();
  const out = pass(a, rst, now);
  assert.equal(out.length, 1, 'the RST reaches the real server');
  assert.equal(a.dir.connInfo().find((c) => c.cport === 43000)?.state, 'CLOSE');
  // The window still guards the entry: once a segment taught it, a far RST is dropped.
  const c2 = pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43001, dport: 80, flags: 'S', seq: 1 }).build();
  pass(a, c2, now);
  pass(a, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43001, dport: 80, flags: 'A', seq: 2 }).build(), now);
  assert.equal(pass(a, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43001, dport: 80, flags: 'R', seq: 2 + 1_000_000 }).build(), now).length, 0);
});
