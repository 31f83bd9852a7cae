/**
 * Scale-out sync (src/ha/sync.ts, docs/SCALEOUT.md): no echo of learnt entries, origin, and
 * the bulk resync (request, paced dump, rate limits) against a peer made of plain sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { rowToSync, SyncDaemon, SyncEngine } from '../../src/ha/sync';
import {
  type SyncConn, type SyncDumpMeta, decodeSyncDump, decodeSyncRequest, encodeSync, encodeSyncDump, encodeSyncRequest,
  SYNC_OK,
} from '../../src/wire/ipvs-sync';
import { createLog } from '../../src/log';
import { addr } from '../support/builder';
import { ipFromString } from '../../src/ipvs/types';

const CIP = '198.18.0.2';
const VIP = '198.18.100.1';
const RIP = '198.19.0.11';

function director(clock: () => number = () => 1000): Director {
  const dev = new MemoryDevice({ batch: 8, scratchSlots: 2, vnetHdr: false });
  const dir = new Director(dev, { clock, seed: 1 });
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

test('a learnt entry is not sent back; once a packet touched it here, it is this director\'s to send', () => {
  const dir = director();
  const e = new SyncEngine(dir);
  assert.equal(e.apply({ ...base }, 1000), true);
  assert.deepEqual(e.collect(1000), [], 'learnt only: no echo');
  assert.deepEqual(e.collect(1000 + 31_000), [], 'not even at the refresh');
  // A packet of this connection reaches this director (ECMP moved it): the expiry is re-armed.
  const id = dir.conns.lookupIn(6, addr(CIP), 40000, addr(VIP), 80);
  dir.conns.touch(id, 900, 5000);
  const sent = e.collect(5000);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].cport, 40000);
  // A sync refresh from the other director makes it learnt again.
  assert.equal(e.apply({ ...base }, 6000), true);
  assert.deepEqual(e.collect(6000 + 31_000), []);
});

test('the master and backup daemons of one director share what was learnt', () => {
  const dir = director();
  const backup = new SyncEngine(dir);
  const master = new SyncEngine(dir);
  backup.apply({ ...base }, 1000);
  assert.deepEqual(master.collect(1000), []);
});

test('an entry whose origin is this director is an echo: refused and counted', () => {
  const dir = director();
  const e = new SyncEngine(dir);
  e.self = ipFromString('198.19.0.2');
  assert.equal(e.apply({ ...base, origin: ipFromString('198.19.0.2') }, 1000), false);
  assert.equal(e.stats.echo, 1);
  assert.equal(dir.conns.size, 0);
  assert.equal(e.apply({ ...base, origin: ipFromString('198.19.0.3') }, 1000), true);
});

test('listing rows become dump entries; templates, half-open TCP and other states are left out', () => {
  const row = { proto: 'tcp' as const, expires: 800, state: 'ESTABLISHED', caddr: CIP, cport: 1, vaddr: VIP, vport: 80, daddr: RIP, dport: 80 };
  assert.deepEqual(rowToSync(row, ipFromString), { ...base, cport: 1, timeoutSec: 800 });
  assert.equal(rowToSync({ ...row, state: 'SYN_RECV' }, ipFromString), undefined);
  assert.equal(rowToSync({ ...row, state: 'NONE' }, ipFromString), undefined);
  assert.equal(rowToSync({ ...row, proto: 'ip' }, ipFromString), undefined);
  assert.equal(rowToSync({ ...row, proto: 'udp', state: 'NONE' }, ipFromString), undefined);
  assert.equal(rowToSync({ ...row, proto: 'udp', state: 'UDP' }, ipFromString)?.state, 0);
});

function udp(address: string, port = 0): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => s.bind(port, address, () => resolve(s)));
}

async function freePort(): Promise<number> {
  const s = await udp('127.0.0.1');
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  for (let i = 0; i < ms / 10 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
};

test('requesting side: the request reaches the peer; its dump creates the entries and completes the resync', async () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  const port = await freePort();
  const peer = await udp('127.0.0.2', port);
  const dir = director();
  const d = new SyncDaemon(dir, createLog('test', 'silent'), { iface: 'lo', syncid: 5, peer: '127.0.0.2', port, key, resyncTimeoutMs: 5000 });
  const reqs: Array<{ nonce: number; from: dgram.RemoteInfo }> = [];
  peer.on('message', (m, r) => {
    const q = { nonce: 0, time: 0 };
    if (decodeSyncRequest(m, 5, key, q) === SYNC_OK) reqs.push({ nonce: q.nonce, from: r });
  });
  try {
    await d.start('backup');
    await until(() => reqs.length > 0);
    assert.equal(reqs.length, 1, 'one request (resent only while nobody answers)');
    const { nonce, from } = reqs[0];
    const send = (b: Buffer) => peer.send(b, from.port, from.address);
    // A dump for another request (a replay) and one without the key are refused.
    send(encodeSyncDump(5, nonce ^ 1, 0, true, encodeSync(5, [{ ...base, cport: 9 }])[0], key));
    send(encodeSyncDump(5, nonce, 0, true, encodeSync(5, [{ ...base, cport: 9 }])[0]));
    // The real dump: 3 messages, the second lost.
    send(encodeSyncDump(5, nonce, 0, false, encodeSync(5, [{ ...base, cport: 1 }, { ...base, cport: 2 }])[0], key));
    send(encodeSyncDump(5, nonce, 2, true, encodeSync(5, [{ ...base, cport: 3 }])[0], key));
    const r = await d.resync();
    assert.equal(r.reason, 'complete');
    assert.equal(r.entries, 3);
    assert.equal(r.lost, 1);
    assert.equal(r.from, '127.0.0.2');
    assert.equal(dir.conns.size, 3);
    const st = d.engine.stats;
    assert.equal(st.replay, 1);
    assert.equal(st.size, 1, 'the keyless dump: wrong length for a keyed reader');
    assert.equal(st.resyncLost, 1);
  } finally {
    d.close();
    peer.close();
  }
});

test('requesting side: no peer answers, the resync ends after its timeout', async () => {
  const dir = director();
  const d = new SyncDaemon(dir, createLog('test', 'silent'), { iface: 'lo', syncid: 5, peer: '127.0.0.2', port: await freePort(), resyncTimeoutMs: 150 });
  try {
    const t0 = Date.now();
    await d.start('backup');
    const r = await d.resync();
    assert.equal(r.reason, 'no peer answered');
    assert.ok(Date.now() - t0 >= 140);
  } finally {
    d.close();
  }
});

test('answering side: the whole table in paced dump messages; a request flood starts one dump', async () => {
  const port = await freePort();
  let now = 1000;
  const dir = director(() => now);
  const N = 300;
  const e = new SyncEngine(dir);
  for (let i = 0; i < N; i++) e.apply({ ...base, cport: 1024 + i }, now);
  // A half-open entry is not dumped.
  e.apply({ ...base, cport: 7, state: 3 }, now);
  const d = new SyncDaemon(dir, createLog('test', 'silent'), {
    iface: 'lo', syncid: 5, peer: '127.0.0.2', port, resyncTimeoutMs: 50, dumpRate: 2000,
  });
  const asker = await udp('127.0.0.2');
  const got: number[] = [];
  const metas: SyncDumpMeta[] = [];
  asker.on('message', (m) => {
    const meta = { nonce: 0, index: 0, last: false };
    if (decodeSyncDump(m, 5, undefined, meta, (c) => got.push(c.cport)) === SYNC_OK) metas.push(meta);
  });
  try {
    await d.start('backup');
    assert.equal((await d.resync()).reason, 'no peer answered');
    const t0 = Date.now();
    for (let i = 0; i < 50; i++) asker.send(encodeSyncRequest(5, 42, 0), port, '127.0.0.1');
    await until(() => metas.some((m) => m.last), 5000);
    const took = Date.now() - t0;
    const st = d.engine.stats;
    assert.equal(st.resyncRequests, 50);
    assert.equal(st.resyncDumps, 1);
    assert.equal(st.resyncRefused, 49);
    assert.deepEqual(got.sort((a, b) => a - b), Array.from({ length: N }, (_, i) => 1024 + i));
    assert.deepEqual(metas.map((m) => m.index), metas.map((_, i) => i), 'numbered from 0');
    assert.ok(metas.every((m) => m.nonce === 42));
    // 2000 entries/s: 300 entries take at least ~100 ms (the first tick goes at once).
    assert.ok(took >= 90, `dump took ${took} ms`);
    assert.equal(st.dumpEntries, N);
    // Another request from the same source within 5 s is refused too.
    asker.send(encodeSyncRequest(5, 43, 0), port, '127.0.0.1');
    await until(() => st.resyncRequests === 51);
    assert.equal(st.resyncRefused, 50);
  } finally {
    d.close();
    asker.close();
  }
});

test('answering side: a director still resyncing does not answer; a request with a wrong syncid is counted', async () => {
  const port = await freePort();
  const dir = director();
  const d = new SyncDaemon(dir, createLog('test', 'silent'), { iface: 'lo', syncid: 5, peer: '127.0.0.2', port, resyncTimeoutMs: 10_000 });
  const asker = await udp('127.0.0.2');
  let answers = 0;
  asker.on('message', () => { answers++; });
  try {
    await d.start('backup');
    asker.send(encodeSyncRequest(5, 1, 0), port, '127.0.0.1');
    asker.send(encodeSyncRequest(6, 2, 0), port, '127.0.0.1');
    await until(() => d.engine.stats.resyncRefused === 1 && d.engine.stats.syncid === 1);
    assert.equal(d.engine.stats.resyncRefused, 1);
    assert.equal(d.engine.stats.syncid, 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(answers, 0);
  } finally {
    d.close();
    asker.close();
  }
});
