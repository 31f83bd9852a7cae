import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LockTable, Waiter } from '../../src/dlm/locktable';
import { LockMode, StatusName } from '../../src/dlm/protocol';

interface Rec extends Waiter {
  token: bigint | null;
  failure: StatusName | null;
}

function setup(limits = { maxLocks: 100, maxWaiters: 100 }) {
  let next = 0n;
  const order: string[] = [];
  const table = new LockTable(limits, () => ++next);
  const w = (owner: string, mode: LockMode, name = 'L'): Rec => {
    const rec: Rec = {
      owner,
      mode,
      name,
      token: null,
      failure: null,
      granted(t) {
        rec.token = t;
        order.push(owner);
      },
      failed(s) {
        rec.failure = s;
      },
    };
    return rec;
  };
  const acq = (r: Rec, wait = true) => {
    const res = table.acquire(r, wait);
    if (res.kind === 'granted' && !res.again) {
      r.token = res.token;
      order.push(r.owner);
    }
    return res;
  };
  return { table, w, acq, order };
}

test('exclusive excludes everyone; shared admits shared', () => {
  const { w, acq } = setup();
  assert.equal(acq(w('a', 'shared')).kind, 'granted');
  assert.equal(acq(w('b', 'shared')).kind, 'granted');
  assert.equal(acq(w('c', 'exclusive')).kind, 'queued');
  const { w: w2, acq: acq2 } = setup();
  assert.equal(acq2(w2('a', 'exclusive')).kind, 'granted');
  assert.equal(acq2(w2('b', 'shared')).kind, 'queued');
  assert.equal(acq2(w2('c', 'exclusive')).kind, 'queued');
});

test('FIFO: waiters are granted in arrival order', () => {
  const { table, w, acq, order } = setup();
  acq(w('a', 'exclusive'));
  for (const o of ['b', 'c', 'd', 'e']) assert.equal(acq(w(o, 'exclusive')).kind, 'queued');
  for (const o of ['a', 'b', 'c', 'd']) assert.equal(table.release('L', o, null), 'OK');
  assert.deepEqual(order, ['a', 'b', 'c', 'd', 'e']);
});

test('a waiting writer blocks later readers (no writer starvation); readers behind it are granted together', () => {
  const { table, w, acq, order } = setup();
  acq(w('r1', 'shared'));
  const wr = w('w', 'exclusive');
  assert.equal(acq(wr).kind, 'queued');
  // A reader arriving after the writer must wait although only readers hold the lock.
  assert.equal(acq(w('r2', 'shared')).kind, 'queued');
  assert.equal(acq(w('r3', 'shared')).kind, 'queued');
  assert.equal(acq(w('w2', 'exclusive')).kind, 'queued');
  table.release('L', 'r1', null);
  assert.deepEqual(order, ['r1', 'w']);
  table.release('L', 'w', null);
  // r2 and r3 together, w2 still waits for both.
  assert.deepEqual(order, ['r1', 'w', 'r2', 'r3']);
  assert.deepEqual(table.holders('L').map((h) => h.owner).sort(), ['r2', 'r3']);
  table.release('L', 'r2', null);
  assert.deepEqual(order, ['r1', 'w', 'r2', 'r3']);
  table.release('L', 'r3', null);
  assert.deepEqual(order, ['r1', 'w', 'r2', 'r3', 'w2']);
});

test('try-lock never queues and does not barge past waiters', () => {
  const { table, w, acq } = setup();
  acq(w('a', 'shared'));
  assert.deepEqual(acq(w('b', 'exclusive'), false), { kind: 'error', status: 'BUSY' });
  assert.equal(table.waiters, 0);
  acq(w('c', 'exclusive'));
  // Compatible with the shared holder, but a writer waits: BUSY.
  assert.deepEqual(acq(w('d', 'shared'), false), { kind: 'error', status: 'BUSY' });
  assert.equal(acq(w('e', 'shared', 'other'), false).kind, 'granted');
});

test('cancelling a waiting writer unblocks the readers behind it', () => {
  const { table, w, acq, order } = setup();
  acq(w('r1', 'shared'));
  const wr = w('w', 'exclusive');
  acq(wr);
  acq(w('r2', 'shared'));
  assert.equal(table.cancel(wr), true);
  assert.deepEqual(order, ['r1', 'r2']);
  assert.equal(table.cancel(wr), false);
});

test('tokens strictly increase over grants of one lock', () => {
  const { table, w, acq } = setup();
  const recs: Rec[] = [];
  for (let i = 0; i < 20; i++) {
    const r = w(`o${i}`, i % 3 === 0 ? 'exclusive' : 'shared');
    recs.push(r);
    acq(r);
  }
  for (let i = 0; i < 20; i++) table.release('L', `o${i}`, null);
  const toks = recs.map((r) => r.token!);
  for (let i = 1; i < toks.length; i++) assert.ok(toks[i] > toks[i - 1], `token ${i}`);
});

test('same owner: same mode returns the existing grant, other mode ALREADY_HELD, double wait ALREADY_WAITING', () => {
  const { w, acq } = setup();
  const first = acq(w('a', 'exclusive'));
  assert.equal(first.kind, 'granted');
  const again = acq(w('a', 'exclusive'));
  assert.deepEqual(again, { kind: 'granted', token: (first as { token: bigint }).token, again: true });
  assert.deepEqual(acq(w('a', 'shared')), { kind: 'error', status: 'ALREADY_HELD' });
  acq(w('b', 'exclusive'));
  assert.deepEqual(acq(w('b', 'exclusive')), { kind: 'error', status: 'ALREADY_WAITING' });
});

test('release checks owner and token', () => {
  const { table, w, acq } = setup();
  const r = w('a', 'exclusive');
  acq(r);
  assert.equal(table.release('L', 'b', null), 'NOT_HELD');
  assert.equal(table.release('L', 'a', r.token! + 1n), 'NOT_HELD');
  assert.equal(table.release('nope', 'a', null), 'NOT_HELD');
  assert.equal(table.release('L', 'a', r.token!), 'OK');
  assert.equal(table.lockCount, 0);
});

test('limits: TOO_MANY_LOCKS and TOO_MANY_WAITERS', () => {
  const { table, w, acq } = setup({ maxLocks: 2, maxWaiters: 1 });
  acq(w('a', 'exclusive', 'x'));
  acq(w('a', 'exclusive', 'y'));
  assert.deepEqual(acq(w('a', 'exclusive', 'z')), { kind: 'error', status: 'TOO_MANY_LOCKS' });
  assert.equal(acq(w('b', 'exclusive', 'x')).kind, 'queued');
  assert.deepEqual(acq(w('c', 'exclusive', 'y')), { kind: 'error', status: 'TOO_MANY_WAITERS' });
  assert.equal(table.release('x', 'a', null), 'OK');
  assert.equal(table.release('y', 'a', null), 'OK');
  assert.equal(table.waiters, 0);
  assert.deepEqual(table.holders('x').map((h) => h.owner), ['b']);
  assert.equal(acq(w('c', 'exclusive', 'z')).kind, 'granted');
});

test('granting off (grace): requests queue, try-lock gets GRACE, enabling grants in order', () => {
  const { table, w, acq, order } = setup();
  table.setGranting(false);
  assert.deepEqual(acq(w('t', 'exclusive'), false), { kind: 'error', status: 'GRACE' });
  assert.equal(acq(w('a', 'shared')).kind, 'queued');
  assert.equal(acq(w('b', 'shared')).kind, 'queued');
  assert.equal(acq(w('c', 'exclusive')).kind, 'queued');
  assert.deepEqual(order, []);
  table.setGranting(true);
  assert.deepEqual(order, ['a', 'b']);
});

test('a failing token source fails the grant instead of granting without a token', () => {
  let fail = false;
  const table = new LockTable({ maxLocks: 10, maxWaiters: 10 }, () => {
    if (fail) throw new Error('disk');
    return 1n;
  });
  const mk = (owner: string): Waiter & { f?: StatusName } => {
    const x: Waiter & { f?: StatusName } = { owner, mode: 'exclusive', name: 'L', granted() {}, failed(s) { x.f = s; } };
    return x;
  };
  assert.equal(table.acquire(mk('a'), true).kind, 'granted');
  const b = mk('b');
  table.acquire(b, true);
  fail = true;
  table.release('L', 'a', null);
  assert.equal(b.f, 'STORAGE');
  assert.deepEqual(table.acquire(mk('c'), true), { kind: 'error', status: 'STORAGE' });
  assert.equal(table.lockCount, 0);
});
