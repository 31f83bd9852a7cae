import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { WireConn } from '../../src/dlm/conn';
import { LockHandle } from '../../src/dlm/client';
import { DlmError, Op, Reader, STATUS, nameField, u32, u8 } from '../../src/dlm/protocol';
import { SECRET, client, sleep, startServer, until } from './util';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    assert.ok(e instanceof DlmError, String(e));
    return e.code;
  }
}

test('exclusive lock: second client waits until the first unlocks; tokens increase', async () => {
  const s = await startServer();
  const a = client(s.addr), b = client(s.addr);
  try {
    const ha = await a.lock('res');
    let bGot: LockHandle | null = null;
    const pb = b.lock('res').then((h) => (bGot = h));
    await sleep(100);
    assert.equal(bGot, null);
    await ha.unlock();
    await pb;
    assert.ok(bGot!.token > ha.token);
    await bGot!.unlock();
  } finally {
    await a.close();
    await b.close();
    await s.stop();
  }
});

test('shared locks coexist; a waiting writer blocks a later reader (over the wire)', async () => {
  const s = await startServer();
  const cs = [0, 1, 2, 3].map(() => client(s.addr));
  try {
    const r1 = await cs[0].lock('db', { mode: 'shared' });
    const r2 = await cs[1].lock('db', { mode: 'shared' });
    const order: string[] = [];
    const pw = cs[2].lock('db', { mode: 'exclusive' }).then((h) => (order.push('w'), h));
    await sleep(50);
    const pr3 = cs[3].lock('db', { mode: 'shared' }).then((h) => (order.push('r3'), h));
    await sleep(100);
    assert.deepEqual(order, []);
    await r1.unlock();
    await sleep(50);
    assert.deepEqual(order, []);
    await r2.unlock();
    const w = await pw;
    await sleep(50);
    assert.deepEqual(order, ['w']);
    await w.unlock();
    const r3 = await pr3;
    assert.deepEqual(order, ['w', 'r3']);
    assert.ok(r3.token > w.token && w.token > r2.token && r2.token > r1.token);
  } finally {
    for (const c of cs) await c.close();
    await s.stop();
  }
});

test('FIFO over the wire: five waiters are granted in request order', async () => {
  const s = await startServer();
  const cs = [0, 1, 2, 3, 4, 5].map(() => client(s.addr));
  try {
    const h0 = await cs[0].lock('q');
    const order: number[] = [];
    const ps: Promise<void>[] = [];
    for (let i = 1; i <= 5; i++) {
      ps.push(cs[i].withLock('q', {}, async () => {
        order.push(i);
        await sleep(5);
      }));
      await sleep(30); // make arrival order unambiguous
    }
    await h0.unlock();
    await Promise.all(ps);
    assert.deepEqual(order, [1, 2, 3, 4, 5]);
  } finally {
    for (const c of cs) await c.close();
    await s.stop();
  }
});

test('try-lock gets BUSY; acquire with timeout gets TIMEOUT after about the timeout', async () => {
  const s = await startServer();
  const a = client(s.addr), b = client(s.addr);
  try {
    const h = await a.lock('t');
    assert.equal(await code(b.tryLock('t')), 'BUSY');
    const t0 = performance.now();
    assert.equal(await code(b.lock('t', { timeoutMs: 200 })), 'TIMEOUT');
    const dt = performance.now() - t0;
    assert.ok(dt >= 190 && dt < 1000, `waited ${dt} ms`);
    // The timed-out waiter is gone: after unlock a try-lock succeeds at once.
    await h.unlock();
    // unlock() is pipelined; a round trip on a's stream shows the server has handled it.
    await (await a.tryLock('barrier')).unlock();
    const h2 = await b.tryLock('t');
    assert.ok(h2.token > h.token);
  } finally {
    await a.close();
    await b.close();
    await s.stop();
  }
});

test('a holder that stops renewing loses the lock after its lease (300 ms), not before', async () => {
  const s = await startServer({ minLeaseMs: 50 });
  const b = client(s.addr);
  const wc = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
  try {
    const open = await wc.request(Op.SESSION_OPEN, u32(300));
    assert.equal(open.status, 0);
    const rr = new Reader(open.payload);
    rr.bytes(16);
    assert.equal(rr.u32(), 300);
    // Taken before the request that renews the lease: expiry cannot come before t0 + 300.
    const t0 = performance.now();
    const lk = await wc.request(Op.LOCK, u8(1), u32(0), nameField('lease'));
    assert.equal(lk.status, 0);
    // The connection stays open but sends nothing more (a paused process).
    const h = await b.lock('lease', { timeoutMs: 3000 });
    const dt = performance.now() - t0;
    assert.ok(dt >= 299 && dt < 1500, `granted after ${dt} ms`);
    assert.ok(h.token > new Reader(lk.payload).u64());
    assert.equal(s.server.counters.expiredSessions, 1);
  } finally {
    wc.close();
    await b.close();
    await s.stop();
  }
});

test('a disconnect keeps the holds until the lease ends; SESSION_CLOSE frees at once', async () => {
  const s = await startServer({ minLeaseMs: 50 });
  const b = client(s.addr);
  try {
    const wc = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    await wc.request(Op.SESSION_OPEN, u32(400));
    const t0 = performance.now();
    assert.equal((await wc.request(Op.LOCK, u8(1), u32(0), nameField('d'))).status, 0);
    wc.close();
    await b.lock('d', { timeoutMs: 3000 });
    const dt = performance.now() - t0;
    assert.ok(dt >= 399, `freed after ${dt} ms: a disconnect must not end the lease early`);

    const wc2 = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    await wc2.request(Op.SESSION_OPEN, u32(5000));
    assert.equal((await wc2.request(Op.LOCK, u8(1), u32(0), nameField('e'))).status, 0);
    assert.equal((await wc2.request(Op.SESSION_CLOSE)).status, 0);
    const t1 = performance.now();
    await b.lock('e', { timeoutMs: 3000 });
    assert.ok(performance.now() - t1 < 200);
    wc2.close();
  } finally {
    await b.close();
    await s.stop();
  }
});

test('a session resumed on a new connection keeps its lock and token', async () => {
  const s = await startServer();
  const b = client(s.addr);
  try {
    const wc = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    const open = await wc.request(Op.SESSION_OPEN, u32(1000));
    const id = Buffer.from(open.payload.subarray(0, 16));
    const lk = await wc.request(Op.LOCK, u8(1), u32(0), nameField('r'));
    wc.close();
    await sleep(50);
    const wc2 = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    assert.equal((await wc2.request(Op.SESSION_RESUME, id)).status, 0);
    // Same name, same mode: the existing grant, same token.
    const again = await wc2.request(Op.LOCK, u8(1), u32(0), nameField('r'));
    assert.equal(again.status, 0);
    assert.equal(new Reader(again.payload).u64(), new Reader(lk.payload).u64());
    assert.equal(await code(b.tryLock('r')), 'BUSY');
    const bogus = await wc2.request(Op.SESSION_RESUME, Buffer.alloc(16));
    assert.equal(bogus.status, STATUS.SESSION_EXISTS.code);
    const wc3 = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    assert.equal((await wc3.request(Op.SESSION_RESUME, Buffer.alloc(16))).status, STATUS.SESSION_UNKNOWN.code);
    wc2.close();
    wc3.close();
  } finally {
    await b.close();
    await s.stop();
  }
});

test('client emits lease-lost when the server is gone for longer than the lease', async () => {
  const s = await startServer({ minLeaseMs: 50 });
  const a = client(s.addr, { leaseMs: 300, connectTimeoutMs: 100 });
  try {
    const h = await a.lock('x');
    const lost: LockHandle[] = [];
    a.on('lease-lost', (lh: LockHandle) => lost.push(lh));
    const t0 = performance.now();
    await s.server.close();
    assert.ok(await until(() => lost.length === 1, 2000));
    const dt = performance.now() - t0;
    // The last renewal was sent before the server went away, so the client trusts the lease
    // for at most 0.9 × 300 = 270 ms after t0; the event follows within a tick (30 ms) plus
    // timer jitter.
    assert.ok(dt >= 150 && dt <= 370, `lost after ${dt} ms`);
    assert.equal(lost[0], h);
    assert.equal(h.state, 'lost');
    assert.equal(h.valid, false);
  } finally {
    await a.close();
    await s.stop();
  }
});

test('tokens keep increasing across a restart on the same data dir (after the restart grace)', async () => {
  const s1 = await startServer({ maxLeaseMs: 300, graceMarginMs: 50 });
  const dir = s1.dir;
  const a = client(s1.addr, { leaseMs: 300 });
  let last = 0n;
  for (let i = 0; i < 10; i++) {
    const h = await a.lock(`k${i % 2}`);
    assert.ok(h.token > last);
    last = h.token;
    await h.unlock();
  }
  await a.close();
  await s1.server.close();
  const s2 = await startServer({ maxLeaseMs: 300, graceMarginMs: 50 }, dir);
  const b = client(s2.addr, { leaseMs: 300 });
  try {
    assert.equal(s2.server.granting, false, 'a restarted server waits out the old leases');
    assert.equal(await code(b.tryLock('k0')), 'GRACE');
    const t0 = performance.now();
    const h = await b.lock('k0', { timeoutMs: 3000 });
    assert.ok(performance.now() - t0 >= 250);
    assert.ok(h.token > last, `${h.token} > ${last}`);
  } finally {
    await b.close();
    await s2.stop();
  }
});

test('unlock is pipelined: the server handles it before the same client\'s next request', async () => {
  const srv = await startServer();
  const a = client(srv.addr);
  const b = client(srv.addr);
  try {
    await a.connect();
    await b.connect();
    for (let i = 0; i < 200; i++) {
      const h = await a.lock('p');
      await h.unlock();
      // Ordered stream: a's next request is answered only after its UNLOCK was handled, so
      // b can take the lock at once, every time.
      await (await a.tryLock('q')).unlock();
      const hb = await b.tryLock('p');
      assert.ok(hb.token > h.token);
      await hb.unlock();
      await (await b.tryLock('q')).unlock();
    }
  } finally {
    await a.close();
    await b.close();
    await srv.stop();
  }
});

test('a LOCK timeout beyond 2^31 ms waits (no timer overflow), and is granted on unlock', async () => {
  const s = await startServer();
  const a = client(s.addr), b = client(s.addr);
  const warnings: string[] = [];
  const onWarning = (w: Error): void => { warnings.push(w.name); };
  process.on('warning', onWarning);
  try {
    const h = await a.lock('long');
    let outcome = 'waiting';
    const pb = b.lock('long', { timeoutMs: 0xfffffffe }).then((g) => { outcome = 'granted'; return g; },
      (e: unknown) => { outcome = e instanceof DlmError ? e.code : String(e); throw e; });
    await sleep(300);
    assert.equal(outcome, 'waiting', 'a 49-day timeout has not fired after 300 ms');
    await h.unlock();
    const g = await pb;
    assert.equal(outcome, 'granted');
    assert.ok(g.token > h.token);
    await g.unlock();
    assert.deepEqual(warnings.filter((n) => n === 'TimeoutOverflowWarning'), []);
  } finally {
    process.off('warning', onWarning);
    await a.close();
    await b.close();
    await s.stop();
  }
});
