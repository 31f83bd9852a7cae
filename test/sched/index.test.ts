import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalSchedFlags, createScheduler, SCHEDULERS, schedulerNames, UnknownSchedulerError } from '../../src/sched/index';
import { picks, service } from './helpers';

test('registry: the LVS paper schedulers are registered under their ipvsadm names', () => {
  const names = schedulerNames();
  for (const n of ['rr', 'wrr', 'lc', 'wlc']) assert.ok(names.includes(n), n);
  assert.deepEqual(names, Object.keys(SCHEDULERS));
});

test('registry: each factory builds a scheduler of its own name', () => {
  for (const n of schedulerNames()) {
    assert.equal(createScheduler(n).name, n);
    assert.equal(SCHEDULERS[n]([]).name, n);
  }
});

test('registry: flags are accepted by schedulers that ignore them', () => {
  assert.equal(createScheduler('rr', ['sh-port']).name, 'rr');
});

test('registry: each call makes a fresh instance with its own state', () => {
  const svc = service([1, 1, 1]);
  const a = createScheduler('rr');
  const b = createScheduler('rr');
  assert.notEqual(a, b);
  assert.equal(picks(a, svc, 2), 'AB');
  assert.equal(picks(b, svc, 1), 'A');
});

for (const bad of ['nope', 'WLC', '', 'toString', '__proto__', 'constructor']) {
  test(`registry: unknown name ${JSON.stringify(bad)} throws UnknownSchedulerError`, () => {
    assert.throws(() => createScheduler(bad), (e: unknown) => {
      assert.ok(e instanceof UnknownSchedulerError);
      assert.ok(e instanceof Error);
      assert.equal(e.code, 'ESCHED');
      assert.equal(e.scheduler, bad);
      assert.equal(e.name, 'UnknownSchedulerError');
      return true;
    });
  });
}

test('registry: every mainline IPVS scheduler is registered', () => {
  for (const n of ['sed', 'nq', 'sh', 'dh', 'mh', 'lblc', 'lblcr', 'fo', 'ovf', 'twos']) {
    assert.equal(createScheduler(n).name, n);
  }
});

test('registry: -b flags are kept in kernel bit order, once each', () => {
  assert.deepEqual(canonicalSchedFlags(['sh-port', 'sh-fallback', 'sh-port']), ['sh-fallback', 'sh-port']);
  assert.deepEqual(canonicalSchedFlags(['mh-port', 'mh-fallback']), ['mh-fallback', 'mh-port']);
  assert.deepEqual(canonicalSchedFlags([]), []);
});
