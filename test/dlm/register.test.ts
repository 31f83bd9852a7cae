import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegisterState, applyLine } from '../../src/dlm/testing/register';

const fresh = (fencing: boolean): RegisterState => ({ fencing, values: new Map(), highest: new Map(), log: [] });

test('fenced register rejects reads and writes with a token below the highest seen', () => {
  const st = fresh(true);
  assert.equal(applyLine(st, 'R k 5 a'), 'OK 0');
  assert.equal(applyLine(st, 'R k 7 b'), 'OK 0');
  // a read with 5, b read with 7: a's write is now stale.
  assert.equal(applyLine(st, 'W k 5 1 a'), 'REJ 7');
  assert.equal(applyLine(st, 'W k 7 1 b'), 'OK');
  assert.equal(applyLine(st, 'R k 6 c'), 'REJ 7');
  assert.equal(applyLine(st, 'R other 1 c'), 'OK 0');
  assert.deepEqual(st.log.map((e) => [e.seq, e.op, e.accepted]), [
    [1, 'read', true], [2, 'read', true], [3, 'write', false], [4, 'write', true], [5, 'read', false], [6, 'read', true],
  ]);
});

test('unfenced register accepts everything; malformed lines are errors and not logged', () => {
  const st = fresh(false);
  assert.equal(applyLine(st, 'W k 9 1 a'), 'OK');
  assert.equal(applyLine(st, 'W k 3 1 b'), 'OK');
  assert.equal(applyLine(st, 'W k x 1 b'), 'ERR');
  assert.equal(applyLine(st, 'nonsense'), 'ERR');
  assert.equal(st.log.length, 2);
  assert.equal(st.values.get('k'), 1);
});
