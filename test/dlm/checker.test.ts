import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrantEvent, RegisterEvent, checkGrants, checkRegister } from '../../src/dlm/checker';

function w(seq: number, client: string, token: number, value: number, accepted = true): RegisterEvent {
  return { seq, client, op: 'write', key: 'k', token: String(token), value, accepted };
}
function r(seq: number, client: string, token: number, value: number): RegisterEvent {
  return { seq, client, op: 'read', key: 'k', token: String(token), value, accepted: true };
}

test('a clean fenced history passes', () => {
  const h = [r(1, 'a', 1, 0), w(2, 'a', 1, 1), r(3, 'b', 2, 1), w(4, 'b', 2, 2), r(5, 'c', 5, 2), w(6, 'c', 5, 3)];
  const rep = checkRegister(h);
  assert.deepEqual(rep.violations, []);
  assert.equal(rep.acceptedWrites, 3);
  assert.equal(rep.reads, 3);
  assert.deepEqual(rep.finals, { k: 3 });
});

test('a paused holder overwriting a newer one is a lost update and a token-order violation', () => {
  // a reads 0 with token 1, pauses; b (token 2) reads 0 and writes 1; a wakes and writes 1.
  const h = [r(1, 'a', 1, 0), r(2, 'b', 2, 0), w(3, 'b', 2, 1), w(4, 'a', 1, 1)];
  const kinds = checkRegister(h).violations.map((v) => v.kind).sort();
  assert.deepEqual(kinds, ['lost-update', 'token-order']);
});

test('rejected writes are ignored; order is by seq, not by array position', () => {
  const h = [w(4, 'b', 3, 2), w(2, 'a', 1, 1), w(3, 'x', 2, 1, false)];
  const rep = checkRegister(h);
  assert.deepEqual(rep.violations, []);
  assert.equal(rep.rejectedWrites, 1);
});

test('lost update with increasing tokens is still found (fencing of reads missing)', () => {
  const h = [w(1, 'a', 1, 1), w(2, 'b', 2, 1)];
  assert.deepEqual(checkRegister(h).violations.map((v) => v.kind), ['lost-update']);
});

test('keys are independent', () => {
  const h: RegisterEvent[] = [
    { seq: 1, client: 'a', op: 'write', key: 'x', token: '1', value: 1, accepted: true },
    { seq: 2, client: 'a', op: 'write', key: 'y', token: '2', value: 1, accepted: true },
  ];
  assert.deepEqual(checkRegister(h).violations, []);
});

test('grants: duplicates and real-time order violations are found; overlapping requests are not', () => {
  const g = (client: string, token: string, invokeTime: number, okTime: number, lock = 'L'): GrantEvent => ({ client, lock, token, invokeTime, okTime });
  assert.deepEqual(checkGrants([g('a', '1', 0, 1), g('b', '2', 2, 3), g('c', '9', 2.5, 10)]), []);
  // Concurrent requests may be granted in either order.
  assert.deepEqual(checkGrants([g('a', '5', 0, 10), g('b', '4', 1, 11)]), []);
  assert.deepEqual(checkGrants([g('a', '3', 0, 1), g('b', '3', 2, 3)]).map((v) => v.kind).includes('duplicate-token'), true);
  assert.deepEqual(checkGrants([g('a', '7', 0, 1), g('b', '6', 2, 3)]).map((v) => v.kind), ['token-realtime']);
  // Large u64 tokens compare as integers, not as strings or doubles.
  const big = (1n << 44n) + 1n;
  assert.deepEqual(checkGrants([g('a', String(big), 0, 1), g('b', String(big + 1n), 2, 3)]), []);
  assert.deepEqual(checkGrants([g('a', String(big + 1n), 0, 1), g('b', String(big), 2, 3)]).map((v) => v.kind), ['token-realtime']);
  // Different locks are independent.
  assert.deepEqual(checkGrants([g('a', '7', 0, 1, 'x'), g('b', '6', 2, 3, 'y')]), []);
});
