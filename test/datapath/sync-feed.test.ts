/**
 * The sync sender's feed from a worker (src/datapath/sync-feed.ts): entries created or moved
 * between states by the pipeline are reported in batches without scanning the table, and a
 * received entry inserted into a shard forwards mid-stream packets to its real server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { SyncFeed, insertSynced } from '../../src/datapath/sync-feed';
import type { SyncConn } from '../../src/wire/ipvs-sync';
import { ipv4Dst } from '../../src/wire/ipv4';
import { addr, pkt } from '../support/builder';

const CIP = '198.18.0.2';
const VIP = '198.18.100.1';
const RIPS = ['198.19.0.11', '198.19.0.12'];

function director(clock: () => number): { dir: Director; dev: MemoryDevice } {
  const dev = new MemoryDevice({ batch: 8, scratchSlots: 2, vnetHdr: false });
  const dir = new Director(dev, { clock, seed: 1 });
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: 'rr' } },
    ...RIPS.map((a) => ({ op: 'add-server' as const, service: { proto: 'tcp' as const, addr: VIP, port: 80 },
      dest: { addr: a, port: 80, fwd: 'masq' as const } })),
  ]);
  return { dir, dev };
}

function pass(d: { dir: Director; dev: MemoryDevice }, p: Buffer, now: number): Buffer[] {
  d.dev.inject(p);
  d.dir.pipeline.drain(now);
  return d.dev.takeWritten().map((w) => w.packet);
}

test('created and changed entries leave in batches; half-open ones wait; unchanged ones are not re-sent', () => {
  const now = 1000;
  const m = director(() => now);
  const batches: SyncConn[][] = [];
  const feed = new SyncFeed(m.dir, (c) => batches.push(c));
  feed.enable(true);
  const rips: string[] = [];
  for (let i = 0; i < 2; i++) {
    const sport = 42000 + i;
    const [f] = pass(m, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport, dport: 80, flags: 'S' }).build(), now);
    rips.push(RIPS.find((r) => addr(r) === ipv4Dst(f, 0))!);
  }
  feed.flush();
  assert.equal(batches.length, 0, 'SYN_RECV entries are not sent');
  pass(m, pkt().ip({ src: rips[0], dst: CIP }).tcp({ sport: 80, dport: 42000, flags: 'SA' }).build(), now);
  pass(m, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 42000, dport: 80, flags: 'A' }).build(), now);
  feed.flush();
  assert.equal(batches.length, 1);
  assert.deepEqual(batches[0].map((c) => [c.cport, c.state, c.daddr]), [[42000, 1, addr(rips[0])]]);
  // A data segment on the established entry changes nothing: nothing to send.
  pass(m, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 42000, dport: 80, flags: 'PA' }).payload('x').build(), now);
  feed.flush();
  assert.equal(batches.length, 1);
  // FIN: a state change, sent again.
  pass(m, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 42000, dport: 80, flags: 'FA' }).build(), now);
  feed.flush();
  assert.equal(batches.length, 2);
  assert.deepEqual(batches[1].map((c) => c.cport), [42000]);
  feed.enable(false);
});

test('a received entry is inserted into the shard and its mid-stream packets keep their real server', () => {
  let now = 1000;
  const b = director(() => now);
  const m: SyncConn = {
    protocol: 6, flags: 0, state: 1, cport: 43000, vport: 80, dport: 80, fwmark: 0, timeoutSec: 900,
    caddr: addr(CIP), vaddr: addr(VIP), daddr: addr(RIPS[1]),
  };
  assert.equal(insertSynced(b.dir, m, now), true);
  assert.equal(insertSynced(b.dir, { ...m, daddr: addr('198.19.0.99') }, now), false, 'unknown real server');
  assert.deepEqual(b.dir.services.info()[0].dests.map((d) => d.activeConns), [0, 1]);
  now += 10;
  const [out] = pass(b, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 43000, dport: 80, flags: 'PA' }).payload('y').build(), now);
  assert.ok(out, 'forwarded without a SYN');
  assert.equal(ipv4Dst(out, 0), addr(RIPS[1]));
});

test('learnt entries are not echoed: not on insertion, refresh or the refresh slices; a packet makes them ours', () => {
  let now = 1000;
  const b = director(() => now);
  const batches: SyncConn[][] = [];
  const feed = new SyncFeed(b.dir, (c) => batches.push(c));
  feed.enable(true);
  const m: SyncConn = {
    protocol: 6, flags: 0, state: 1, cport: 44000, vport: 80, dport: 80, fwmark: 0, timeoutSec: 900,
    caddr: addr(CIP), vaddr: addr(VIP), daddr: addr(RIPS[0]),
  };
  assert.equal(insertSynced(b.dir, m, now), true);
  // A state change from sync (FIN_WAIT) is a refresh, not news of ours.
  assert.equal(insertSynced(b.dir, { ...m, state: 4 }, now), true);
  // Every refresh slice of a whole period passes over the entry.
  for (let i = 0; i < 300; i++) feed.flush();
  assert.equal(batches.length, 0, 'nothing learnt was sent');
  // A packet of the connection reaches this director: from now on it sends the entry.
  now += 10;
  const [out] = pass(b, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 44000, dport: 80, flags: 'A' }).build(), now);
  assert.ok(out);
  for (let i = 0; i < 300 && batches.length === 0; i++) feed.flush();
  assert.deepEqual(batches.flat().map((c) => c.cport), [44000]);
  feed.enable(false);
});

test('the refresh re-sends an idle entry with the time it has left, not its full timeout', () => {
  let now = 1000;
  const m = director(() => now);
  const batches: SyncConn[][] = [];
  const feed = new SyncFeed(m.dir, (c) => batches.push(c));
  feed.enable(true);
  const [f] = pass(m, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 44000, dport: 80, flags: 'S' }).build(), now);
  const rip = RIPS.find((r) => addr(r) === ipv4Dst(f, 0))!;
  pass(m, pkt().ip({ src: rip, dst: CIP }).tcp({ sport: 80, dport: 44000, flags: 'SA' }).build(), now);
  pass(m, pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 44000, dport: 80, flags: 'A' }).build(), now);
  feed.flush();
  assert.deepEqual(batches.map((b) => b.map((c) => [c.cport, c.timeoutSec])), [[[44000, 900]]], 'new: the full 900 s');
  // 600 s without a packet; the refresh slices come round to the entry within one period.
  now += 600_000;
  batches.length = 0;
  for (let i = 0; i < 400 && batches.length === 0; i++) feed.flush();
  assert.deepEqual(batches.map((b) => b.map((c) => [c.cport, c.timeoutSec])), [[[44000, 300]]], 'refresh: 300 s left');
  // The backup's copy then expires when the master's does.
  const b = director(() => now);
  assert.equal(insertSynced(b.dir, batches[0][0], now), true);
  const id = b.dir.conns.lookupIn(6, addr(CIP), 44000, addr(VIP), 80);
  assert.equal(b.dir.conns.remaining(id, now), 300);
  feed.enable(false);
});
