import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { LockHandle } from '../../src/dlm/client';
import { DlmError } from '../../src/dlm/protocol';
import { tokenEpoch } from '../../src/dlm/store';
import { client, startServer, until } from './util';

const FAST = { maxLeaseMs: 400, minLeaseMs: 50, heartbeatMs: 50, failoverMs: 300, graceMarginMs: 100 };

test('standby: NOT_PRIMARY before takeover; after the primary dies it waits a full lease, then grants higher tokens', async () => {
  const p = await startServer(FAST);
  const sb = await startServer({ ...FAST, standbyOf: { host: '127.0.0.1', port: p.port } });
  const a = client([p.addr, sb.addr], { leaseMs: 400, connectTimeoutMs: 200 });
  const b = client([sb.addr, p.addr], { leaseMs: 400, connectTimeoutMs: 200 });
  try {
    assert.equal(sb.server.role, 'standby');
    const ha = await a.lock('shared-data');
    // b tries the standby first: it is refused there and lands on the primary.
    assert.equal(await b.tryLock('shared-data').catch((e: DlmError) => e.code), 'BUSY');
    assert.equal(b.server, p.addr);
    assert.ok(await until(() => sb.server.epoch === 0 && (sb.server as unknown as { synced: boolean }).synced, 2000));

    const lost: LockHandle[] = [];
    a.on('lease-lost', (h: LockHandle) => lost.push(h));
    let takeoverAt = 0;
    sb.server.once('takeover', () => (takeoverAt = performance.now()));
    const killedAt = performance.now();
    await p.server.close(); // the primary dies
    const hb = await b.lock('shared-data', { timeoutMs: 5000 });
    const grantedAt = performance.now();
    assert.equal(sb.server.role, 'primary');
    // The last heartbeat may predate the kill by up to one heartbeat period.
    assert.ok(takeoverAt - killedAt >= FAST.failoverMs - FAST.heartbeatMs - 10, 'takeover only after the failover timeout');
    // Nothing is granted before every lease the primary handed out has ended.
    assert.ok(grantedAt - takeoverAt >= FAST.maxLeaseMs, `granted ${grantedAt - takeoverAt} ms after takeover`);
    assert.ok(hb.token > ha.token, `${hb.token} > ${ha.token}`);
    assert.equal(tokenEpoch(hb.token), tokenEpoch(ha.token) + 1);
    assert.equal(b.server, sb.addr);
    // The old holder was told before the new grant.
    assert.equal(lost.length, 1);
    assert.equal(lost[0], ha);
    // a fails over too.
    await hb.unlock();
    const ha2 = await a.lock('shared-data', { timeoutMs: 3000 });
    assert.ok(ha2.token > hb.token);
  } finally {
    await a.close();
    await b.close();
    await sb.stop();
    await p.stop();
  }
});

test('a standby that never reached its primary never takes over', async () => {
  const sb = await startServer({ ...FAST, standbyOf: { host: '127.0.0.1', port: 1 } });
  try {
    await new Promise((r) => setTimeout(r, FAST.failoverMs * 2));
    assert.equal(sb.server.role, 'standby');
    const c = client(sb.addr, { connectTimeoutMs: 200 });
    assert.equal(await c.connect(300).catch((e: DlmError) => e.code), 'NOT_PRIMARY');
    await c.close();
  } finally {
    await sb.stop();
  }
});

test('a standby restarted without --standby-of waits a full lease and never issues a token already issued', async () => {
  const p = await startServer(FAST);
  let sb = await startServer({ ...FAST, standbyOf: { host: '127.0.0.1', port: p.port } });
  const dir = sb.dir;
  const a = client(p.addr, { leaseMs: 400, connectTimeoutMs: 200 });
  try {
    const ha = await a.lock('fenced');
    assert.ok(await until(() => (sb.server as unknown as { synced: boolean }).synced, 2000));
    await sb.server.close(); // keep its data dir
    sb = await startServer(FAST, dir); // restarted as a primary: the operator forgot --standby-of
    const b = client(sb.addr, { leaseMs: 400, connectTimeoutMs: 200 });
    try {
      const t0 = performance.now();
      const hb = await b.lock('fenced', { timeoutMs: 5000 });
      assert.ok(performance.now() - t0 >= FAST.maxLeaseMs, 'grace period of the longest lease before the first grant');
      assert.ok(hb.token > ha.token, `${hb.token} > ${ha.token}`);
      assert.equal(tokenEpoch(hb.token), tokenEpoch(ha.token) + 1);
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
    await sb.stop();
    await p.stop();
  }
});
