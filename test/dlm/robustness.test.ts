/** Limits, authentication and malformed input: each has its status code, none crashes the server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { clientMac } from '../../src/dlm/auth';
import { WireConn } from '../../src/dlm/conn';
import { DlmError, FrameDecoder, MAX_FRAME, Op, Reader, STATUS, encodeFrame, nameField, u32, u8 } from '../../src/dlm/protocol';
import { SECRET, client, rawConnect, startServer, until } from './util';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    assert.ok(e instanceof DlmError, String(e));
    return e.code;
  }
}

/** Status of the REPLY frames a raw connection received (after HELLO). */
function replies(data: Buffer): number[] {
  return new FrameDecoder()
    .push(data)
    .filter((f) => f.op === Op.REPLY)
    .map((f) => new Reader(f.payload).u16());
}

async function stillServes(addr: string): Promise<void> {
  const c = client(addr);
  try {
    const h = await c.lock(`alive-${Math.random()}`, { timeoutMs: 1000 });
    await h.unlock();
  } finally {
    await c.close();
  }
}

test('wrong secret: AUTH_FAILED, no session, no lock', async () => {
  const s = await startServer();
  try {
    const bad = client(s.addr, { secret: Buffer.from('another-secret-of-enough-length') });
    assert.equal(await code(bad.lock('x', { timeoutMs: 500 })), 'AUTH_FAILED');
    await bad.close();
    assert.equal(s.server.counters.authFailures >= 1, true);
    assert.equal(s.server.sessionCount, 0);
    await stillServes(s.addr);
  } finally {
    await s.stop();
  }
});

test('requests before AUTH get NOT_AUTHENTICATED and the connection is closed; no lock is taken', async () => {
  const s = await startServer();
  try {
    const r = await rawConnect(s.port);
    r.sock.write(encodeFrame(Op.SESSION_OPEN, 1, u32(1000)));
    r.sock.write(encodeFrame(Op.LOCK, 2, u8(1), u32(0), nameField('victim')));
    await r.closed();
    assert.deepEqual(replies(r.data()), [STATUS.NOT_AUTHENTICATED.code]);
    assert.equal(s.server.sessionCount, 0);
    assert.equal(s.server.lockCount, 0);
    // A replayed MAC for another nonce fails too.
    const r2 = await rawConnect(s.port);
    const cn = randomBytes(32);
    r2.sock.write(encodeFrame(Op.AUTH, 1, cn, clientMac(SECRET, randomBytes(32), cn)));
    await r2.closed();
    assert.deepEqual(replies(r2.data()), [STATUS.AUTH_FAILED.code]);
    const c = client(s.addr);
    const h = await c.tryLock('victim');
    assert.ok(h.token > 0n);
    await c.close();
  } finally {
    await s.stop();
  }
});

test('malformed frames: oversized, garbage, truncated, bad payload, unknown op; the server keeps serving', async () => {
  const s = await startServer({ authTimeoutMs: 300 });
  try {
    const big = Buffer.alloc(8);
    big.writeUInt32BE(MAX_FRAME + 1, 0);
    const cases: Buffer[] = [
      big,
      randomBytes(64),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
      encodeFrame(Op.AUTH, 1, randomBytes(10)), // short AUTH payload
    ];
    for (const c of cases) {
      const r = await rawConnect(s.port);
      r.sock.write(c);
      await r.closed();
      const st = replies(r.data());
      assert.ok(st.length <= 1);
      if (st.length) assert.ok(([STATUS.BAD_FRAME.code, STATUS.NOT_AUTHENTICATED.code] as number[]).includes(st[0]), `status ${st[0]}`);
    }
    // Truncated frame then silence: dropped by the auth timeout, not kept forever.
    const r = await rawConnect(s.port);
    r.sock.write(encodeFrame(Op.AUTH, 1, randomBytes(64)).subarray(0, 20));
    await r.closed();
    // Authenticated peers that send nonsense.
    const wc = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    await wc.request(Op.SESSION_OPEN, u32(1000));
    const unknown = await wc.request(0x77).catch(() => ({ status: -1 }));
    assert.equal(unknown.status, STATUS.BAD_REQUEST.code);
    const wc2 = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    await wc2.request(Op.SESSION_OPEN, u32(1000));
    const trailing = await wc2.request(Op.LOCK, u8(1), u32(0), nameField('x'), Buffer.from([1])).catch(() => ({ status: -1 }));
    assert.equal(trailing.status, STATUS.BAD_FRAME.code);
    const wc3 = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    await wc3.request(Op.SESSION_OPEN, u32(1000));
    assert.equal((await wc3.request(Op.LOCK, u8(9), u32(0), nameField('x'))).status, STATUS.BAD_REQUEST.code);
    wc3.close();
    assert.ok(s.server.counters.badFrames >= 5);
    await stillServes(s.addr);
  } finally {
    await s.stop();
  }
});

test('NAME_INVALID, NO_SESSION, SESSION_EXISTS, NOT_HELD', async () => {
  const s = await startServer();
  try {
    const wc = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    assert.equal((await wc.request(Op.LOCK, u8(1), u32(0), nameField('x'))).status, STATUS.NO_SESSION.code);
    await wc.request(Op.SESSION_OPEN, u32(1000));
    assert.equal((await wc.request(Op.SESSION_OPEN, u32(1000))).status, STATUS.SESSION_EXISTS.code);
    assert.equal((await wc.request(Op.LOCK, u8(1), u32(0), nameField('n'.repeat(256)))).status, STATUS.NAME_INVALID.code);
    assert.equal((await wc.request(Op.LOCK, u8(1), u32(0), Buffer.from([0, 0]))).status, STATUS.NAME_INVALID.code);
    const held = await wc.request(Op.LOCK, u8(1), u32(0), nameField('x'));
    const tok = new Reader(held.payload).u64();
    const tb = Buffer.alloc(8);
    tb.writeBigUInt64BE(tok + 1n);
    assert.equal((await wc.request(Op.UNLOCK, tb, nameField('x'))).status, STATUS.NOT_HELD.code);
    tb.writeBigUInt64BE(tok);
    assert.equal((await wc.request(Op.UNLOCK, tb, nameField('x'))).status, 0);
    assert.equal((await wc.request(Op.UNLOCK, tb, nameField('x'))).status, STATUS.NOT_HELD.code);
    wc.close();
    const c = client(s.addr);
    assert.equal(await code(c.lock('')), 'NAME_INVALID');
    await c.close();
  } finally {
    await s.stop();
  }
});

test('limits: TOO_MANY_SESSIONS, TOO_MANY_LOCKS, TOO_MANY_WAITERS, TOO_MANY_CONNECTIONS', async () => {
  const s = await startServer({ maxSessions: 2, maxLocks: 2, maxWaiters: 1, maxConnections: 4 });
  const cs = [client(s.addr), client(s.addr)];
  try {
    await cs[0].lock('a');
    await cs[0].lock('b');
    assert.equal(await code(cs[0].lock('c', { timeoutMs: 0 })), 'TOO_MANY_LOCKS');
    const w = cs[1].lock('a', { timeoutMs: 2000 });
    await new Promise((r) => setTimeout(r, 50));
    const third = client(s.addr, { connectTimeoutMs: 300 });
    assert.equal(await code(third.connect(300)), 'TOO_MANY_SESSIONS');
    await third.close();
    const wc = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    assert.equal((await wc.request(Op.SESSION_OPEN, u32(1000))).status, STATUS.TOO_MANY_SESSIONS.code);
    await cs[0].close();
    await w;
    const wc2 = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    assert.equal((await wc2.request(Op.SESSION_OPEN, u32(1000))).status, 0);
    // 'a' went to cs[1] when cs[0]'s session closed.
    assert.equal((await wc2.request(Op.LOCK, u8(1), u32(0), nameField('a'))).status, STATUS.BUSY.code);
    wc.close();
    wc2.close();
  } finally {
    for (const c of cs) await c.close();
    await s.stop();
  }
});

test('TOO_MANY_WAITERS and TOO_MANY_CONNECTIONS in isolation', async () => {
  const s = await startServer({ maxWaiters: 1, maxConnections: 3 });
  const a = client(s.addr), b = client(s.addr);
  try {
    await a.lock('w');
    const pending = b.lock('w', { timeoutMs: 3000 });
    await new Promise((r) => setTimeout(r, 50));
    const wc = await WireConn.open('127.0.0.1', s.port, SECRET, 1000);
    await wc.request(Op.SESSION_OPEN, u32(1000));
    assert.equal((await wc.request(Op.LOCK, u8(1), u32(1000), nameField('w'))).status, STATUS.TOO_MANY_WAITERS.code);
    // Three connections are open (a, b, wc): the fourth is refused with a status, then closed.
    assert.equal(await code(WireConn.open('127.0.0.1', s.port, SECRET, 1000)), 'TOO_MANY_CONNECTIONS');
    assert.equal(s.server.counters.refusedConnections, 1);
    wc.close();
    await a.close();
    const h = await pending;
    assert.ok(h.token > 0n);
  } finally {
    await a.close();
    await b.close();
    await s.stop();
  }
});

test('unauthenticated connections cannot hold every slot: oldest evicted, per-source cap, quick auth deadline', async () => {
  const s = await startServer({ maxConnections: 8, maxUnauthPerSource: 100, authTimeoutMs: 5000 });
  const idle: Array<Awaited<ReturnType<typeof rawConnect>>> = [];
  try {
    for (let i = 0; i < 8; i++) idle.push(await rawConnect(s.port));
    assert.ok(await until(() => s.server.connectionCount === 8, 2000));
    // Every slot is held by a silent peer: an honest client still gets a lock.
    const c = client(s.addr, { connectTimeoutMs: 1000 });
    const h = await c.tryLock('slots');
    assert.ok(h.token > 0n);
    assert.ok(s.server.counters.evictedUnauthenticated >= 1);
    await c.close();
  } finally {
    for (const r of idle) r.sock.destroy();
    await s.stop();
  }
  const p = await startServer({ maxUnauthPerSource: 2 });
  const mine: Array<Awaited<ReturnType<typeof rawConnect>>> = [];
  try {
    for (let i = 0; i < 3; i++) mine.push(await rawConnect(p.port));
    await mine[2].closed();
    assert.deepEqual(replies(mine[2].data()), [STATUS.TOO_MANY_CONNECTIONS.code]);
    assert.equal(p.server.counters.refusedPerSource, 1);
    // The default deadline closes the silent ones within about a second.
    const t0 = Date.now();
    await Promise.all([mine[0].closed(), mine[1].closed()]);
    assert.ok(Date.now() - t0 < 2500, `closed after ${Date.now() - t0} ms`);
    assert.equal(p.server.counters.authTimeouts, 2);
  } finally {
    for (const r of mine) r.sock.destroy();
    await p.stop();
  }
});
