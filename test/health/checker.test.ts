/** The checker loop (keepalived check_api.c semantics) driven step by step with scripted probes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Checker } from '../../src/health/checker';
import type { TcpCheck } from '../../src/control/checks';
import type { ProbeOutcome } from '../../src/health/probes';

const spec: TcpCheck = {
  kind: 'TCP_CHECK', connectTimeoutMs: 100, retry: 2, delayBeforeRetryMs: 300, delayLoopMs: 1000, warmupMs: 0,
};

function scripted(outcomes: ProbeOutcome[]) {
  const seen: string[] = [];
  let i = 0;
  const c = new Checker(spec, { addr: '198.18.0.9', port: 80 }, true, (x) => seen.push(x.state), {
    probe: async () => outcomes[i++], now: () => 0, random: () => 0,
  });
  return { c, seen };
}

const ok: ProbeOutcome = { ok: true, detail: 'ok' };
const bad: ProbeOutcome = { ok: false, detail: 'ECONNREFUSED' };

test('retry 2: down only on the third consecutive failure, retries paced by delay_before_retry', async () => {
  const { c, seen } = scripted([ok, bad, bad, bad, bad]);
  assert.equal(await c.step(), 1000);
  assert.equal(await c.step(), 300);
  assert.equal(await c.step(), 300);
  assert.deepEqual(seen, []);
  assert.equal(c.state, 'up');
  assert.equal(await c.step(), 1000);
  assert.deepEqual(seen, ['down']);
  assert.equal(c.state, 'down');
  // Further failures while down report nothing new.
  assert.equal(await c.step(), 300);
  assert.deepEqual(seen, ['down']);
});

test('a pass between failures resets the retry count; a pass after down brings it up', async () => {
  const { c, seen } = scripted([bad, bad, ok, bad, bad, bad, ok]);
  for (let i = 0; i < 3; i++) await c.step();
  assert.equal(c.retryIt, 0);
  assert.equal(c.state, 'up');
  for (let i = 0; i < 3; i++) await c.step();
  assert.equal(c.state, 'down');
  assert.equal(await c.step(), 1000);
  assert.deepEqual(seen, ['down', 'up']);
  assert.equal(c.probes, 7);
  assert.equal(c.failures, 5);
});

test('alpha: starts down, first pass brings it up; a first verdict of failure is reported', async () => {
  let n = 0;
  const seen: string[] = [];
  const mk = (o: ProbeOutcome) => new Checker({ ...spec, retry: 0 }, { addr: '198.18.0.9', port: 80 }, false,
    (x) => seen.push(x.state), { probe: async () => { n++; return o; }, now: () => 0, random: () => 0 });
  const a = mk(ok);
  assert.equal(a.state, 'down');
  await a.step();
  assert.equal(a.state, 'up');
  const b = mk(bad);
  await b.step();
  assert.equal(b.state, 'down');
  assert.deepEqual(seen, ['up', 'down']);
  assert.equal(n, 2);
});

test('misc_dynamic: a changed weight is reported while the checker stays up', async () => {
  const { c, seen } = scripted([{ ok: true, detail: 'exit 5', weight: 3 }, { ok: true, detail: 'exit 5', weight: 3 },
    { ok: true, detail: 'exit 0' }]);
  await c.step();
  assert.equal(c.dynamicWeight, 3);
  await c.step();
  await c.step();
  assert.equal(c.dynamicWeight, undefined);
  assert.deepEqual(seen, ['up', 'up']);
});

test('a stopped checker ignores the verdict of the probe in flight', async () => {
  let release!: (o: ProbeOutcome) => void;
  const seen: string[] = [];
  const c = new Checker({ ...spec, retry: 0 }, { addr: '198.18.0.9', port: 80 }, true, (x) => seen.push(x.state), {
    probe: () => new Promise((r) => { release = r; }), now: () => 0, random: () => 0,
  });
  const p = c.step();
  c.stop();
  release(bad);
  await p;
  assert.deepEqual(seen, []);
  assert.equal(c.state, 'up');
});
