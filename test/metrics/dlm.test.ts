/** lvs-dlm's registry over a real lock manager on loopback: locks held and waiters as clients see them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDlmRegistry } from '../../src/metrics/dlm';
import { MetricsServer } from '../../src/metrics/server';
import { client, sleep, startServer, until } from '../dlm/util';

function value(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} in\n${text}`);
  return Number(m[1]);
}

test('lvsd_dlm_locks_held and lvsd_dlm_waiters follow lock, wait and unlock; served on /metrics', async () => {
  const s = await startServer();
  const http = new MetricsServer({ listen: { host: '127.0.0.1', port: 0 }, registry: createDlmRegistry(s.server) });
  await http.listen();
  const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
  const a = client(s.addr), b = client(s.addr);
  try {
    let t = await scrape();
    assert.equal(value(t, 'lvsd_dlm_locks_held'), 0);
    assert.equal(value(t, 'lvsd_dlm_primary'), 1);
    const ha = await a.lock('res');
    const pb = b.lock('res');
    assert.ok(await until(() => s.server.waiterCount === 1, 2000));
    t = await scrape();
    assert.equal(value(t, 'lvsd_dlm_locks_held'), 1);
    assert.equal(value(t, 'lvsd_dlm_waiters'), 1);
    assert.equal(value(t, 'lvsd_dlm_sessions'), 2);
    assert.equal(value(t, 'lvsd_dlm_grants_total'), 1);
    await ha.unlock();
    const hb = await pb;
    await hb.unlock();
    await sleep(20);
    t = await scrape();
    assert.equal(value(t, 'lvsd_dlm_locks_held'), 0);
    assert.equal(value(t, 'lvsd_dlm_waiters'), 0);
    assert.equal(value(t, 'lvsd_dlm_grants_total'), 2);
    assert.equal((await fetch(`http://127.0.0.1:${http.port}/`)).status, 404, 'no page on lvs-dlm');
  } finally {
    await a.close();
    await b.close();
    await http.close();
    await s.stop();
  }
});
