/**
 * The sync message layer (src/ha/sync.ts SyncDaemon, src/ha/sync-seq.ts) and the validation
 * of received entries (SyncEngine.apply): forged datagrams, replays, sources, lost messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { SyncDaemon, SyncEngine } from '../../src/ha/sync';
import {
  type SyncConn, decodeSyncNack, encodeSync, encodeSyncNack, sealSync, SYNC_OK,
} from '../../src/wire/ipvs-sync';
import { createLog } from '../../src/log';
import { addr } from '../support/builder';

const CIP = '198.18.0.2';
const VIP = '198.18.100.1';
const RIP = '198.19.0.11';

function director(maxConns?: number): Director {
  const dev = new MemoryDevice({ batch: 8, scratchSlots: 2, vnetHdr: false });
  const dir = new Director(dev, { clock: () => 1000, seed: 1, maxConns });
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: 'rr' } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: RIP, port: 80, fwd: 'route' } },
  ]);
  return dir;
}

const base: SyncConn = {
  protocol: 6, flags: 0, state: 1, cport: 40000, vport: 80, dport: 80, fwmark: 0, timeoutSec: 900,
  caddr: addr(CIP), vaddr: addr(VIP), daddr: addr(RIP),
};

test('forged entries: an absurd timeout is clamped to the table, bad states and addresses are refused', () => {
  const dir = director();
  const e = new SyncEngine(dir);
  assert.equal(e.apply({ ...base, timeoutSec: 0xffffffff }, 1000), true);
  const id = dir.conns.lookupIn(6, addr(CIP), 40000, addr(VIP), 80);
  assert.ok(id >= 0);
  assert.ok(dir.conns.expiresAt(id) <= 1000 + 900 * 1000, 'ESTABLISHED: at most 15 minutes, not 136 years');
  assert.equal(e.stats.timeoutClamped, 1);
  assert.equal(e.apply({ ...base, cport: 1, state: 99 }, 1000), false);
  assert.equal(e.apply({ ...base, cport: 2, state: 6 /* CLOSE */ }, 1000), false);
  assert.equal(e.apply({ ...base, protocol: 17, cport: 3, state: 1 }, 1000), false);
  assert.equal(e.stats.badState, 3);
  for (const a of ['0.0.0.1', '127.0.0.1', '224.0.0.1', '255.255.255.255']) {
    assert.equal(e.apply({ ...base, caddr: addr(a) }, 1000), false, a);
  }
  assert.equal(e.apply({ ...base, cport: 0 }, 1000), false);
  assert.equal(e.stats.badAddress, 5);
  assert.equal(dir.conns.size, 1);
});

test('forged entries cannot fill --max-conns: sync creates at most half of it', () => {
  const dir = director(100);
  const e = new SyncEngine(dir);
  let made = 0;
  for (let i = 0; i < 1000; i++) if (e.apply({ ...base, cport: 1024 + i }, 1000)) made++;
  assert.equal(made, 50);
  assert.equal(e.stats.quotaFull, 950);
  assert.equal(dir.conns.size, 50, 'room is left for connections scheduled here');
  // Entries that expire give their quota back.
  dir.pipeline.expire(1000 + 901_000 + 2000);
  assert.equal(dir.conns.size, 0);
  assert.equal(e.apply({ ...base, cport: 9 }, 1000 + 903_000), true);
});

function daemon(dir: Director, extra: Partial<ConstructorParameters<typeof SyncDaemon>[2]> = {}): SyncDaemon {
  return new SyncDaemon(dir, createLog('test', 'silent'), { iface: 'lo', syncid: 5, ...extra });
}

test('backup: wrong source, syncid, missing or wrong MAC, and replays are dropped under their counters', () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  const dir = director();
  let wall = 1_800_000_000;
  const d = daemon(dir, { key, wallClock: () => wall });
  const st = d.engine.stats;
  const msg = (cport: number, seq: number, boot = 1, k: Buffer | null = key, syncid = 5) =>
    sealSync(encodeSync(syncid, [{ ...base, cport }])[0], { seq, boot, time: wall }, k ?? undefined);
  d.receive(msg(1000, 1), '198.51.100.7', 8848);
  assert.equal(st.source, 1, 'not on the interface subnet');
  d.receive(msg(1001, 1, 1, key, 6), '127.0.0.2', 8848);
  assert.equal(st.syncid, 1);
  d.receive(msg(1002, 1, 1, null), '127.0.0.2', 8848);
  d.receive(msg(1003, 1, 1, Buffer.from('wrong key wrong key wrong key!!')), '127.0.0.2', 8848);
  assert.equal(st.auth, 2);
  assert.equal(dir.conns.size, 0, 'nothing forged was created');
  const good = msg(1004, 1);
  d.receive(good, '127.0.0.2', 8848);
  assert.equal(st.applied, 1);
  d.receive(good, '127.0.0.2', 8848);
  assert.equal(st.replay, 1, 'the same datagram again is a replay');
  // A recorded message of an earlier sender start, replayed later, is stale.
  const old = msg(1005, 1, 2);
  wall += 3600;
  d.receive(old, '127.0.0.2', 8848);
  assert.equal(st.replay, 2);
  assert.equal(st.applied, 1);
  assert.equal(st.badMessages, 6);
  d.close();
});

function udp(address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => s.bind(0, address, () => resolve(s)));
}

test('master: a lost message is resent at once on NACK; an idle master sends heartbeats', async () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  const peer = await udp('127.0.0.2');
  const port = peer.address().port;
  const dir = director();
  const d = daemon(dir, { key, peer: '127.0.0.2', port, scanMs: 3_600_000, idleMs: 0 });
  const got: Buffer[] = [];
  const from: dgram.RemoteInfo[] = [];
  peer.on('message', (m, r) => { got.push(m); from.push(r); });
  try {
    await d.start('master');
    d.flush([{ ...base, cport: 1 }]);
    d.flush([{ ...base, cport: 2 }]);
    d.flush([]);
    const until = async (n: number) => { for (let i = 0; i < 200 && got.length < n; i++) await new Promise((r) => setTimeout(r, 10)); };
    await until(3);
    assert.equal(got.length, 3);
    assert.equal(d.engine.stats.heartbeats, 1, 'idle: an empty message keeps the sequence visible');
    // The backup lost message 1: it asks with the master's boot and the sequence number.
    peer.send(encodeSyncNack(5, d.boot, [1], key), from[0].port, '127.0.0.1');
    await until(4);
    assert.equal(got.length, 4);
    assert.deepEqual(got[3], got[0], 'the same datagram again');
    assert.equal(d.engine.stats.resent, 1);
    // A NACK without the key asks for nothing.
    peer.send(encodeSyncNack(5, d.boot, [2]), from[0].port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got.length, 4);
  } finally {
    d.close();
    peer.close();
  }
});

test('backup: a gap in the sequence numbers is NACKed to the sender at once', async () => {
  const peer = await udp('127.0.0.2');
  const dir = director();
  const d = daemon(dir, { peer: '127.0.0.2', port: 0 });
  const nacks: number[][] = [];
  peer.on('message', (m) => {
    const seqs: number[] = [];
    if (decodeSyncNack(m, 5, 0, undefined, (s) => seqs.push(s)) === SYNC_OK) nacks.push(seqs);
  });
  try {
    await d.start('backup');
    const msg = (cport: number, seq: number) => sealSync(encodeSync(5, [{ ...base, cport }])[0], { seq, boot: 0, time: 0 });
    d.receive(msg(1, 1), '127.0.0.2', peer.address().port);
    d.receive(msg(4, 4), '127.0.0.2', peer.address().port);
    for (let i = 0; i < 100 && nacks.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(nacks, [[2, 3]]);
    assert.equal(d.engine.stats.lost, 2);
    d.receive(msg(2, 2), '127.0.0.2', peer.address().port);
    assert.equal(d.engine.stats.applied, 3, 'the resent message is applied');
  } finally {
    d.close();
    peer.close();
  }
});
