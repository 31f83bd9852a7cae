import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRr } from '../../src/sched/rr';
import { dest, picks, service } from './helpers';

test('rr: name', () => {
  assert.equal(createRr().name, 'rr');
});

const SEQUENCES: { name: string; specs: Parameters<typeof service>[0]; n: number; want: string }[] = [
  { name: 'three equal dests', specs: [1, 1, 1], n: 7, want: 'ABCABCA' },
  { name: 'weights do not matter beyond zero', specs: [5, 1, 100], n: 6, want: 'ABCABC' },
  { name: 'skips weight 0 and overloaded', specs: [1, 0, { overloaded: true }, 1], n: 5, want: 'ADADA' },
  { name: 'only the last is usable', specs: [0, 0, 3], n: 3, want: 'CCC' },
  { name: 'none usable', specs: [0, { overloaded: true }], n: 2, want: '--' },
  { name: 'no dests', specs: [], n: 2, want: '--' },
];

for (const c of SEQUENCES) {
  test(`rr: ${c.name}`, () => {
    assert.equal(picks(createRr(), service(c.specs), c.n), c.want);
  });
}

test('rr: a dest that becomes usable is reached in its turn', () => {
  const s = createRr();
  const svc = service([1, 0, { overloaded: true }, 1]);
  assert.equal(picks(s, svc, 4), 'ADAD');
  svc.dests[2].overloaded = false;
  assert.equal(picks(s, svc, 3), 'ACD');
  svc.dests[1].weight = 2;
  assert.equal(picks(s, svc, 4), 'ABCD');
});

test('rr: null when all unusable, then resumes after the last chosen', () => {
  const s = createRr();
  const svc = service([1, 1, 1]);
  assert.equal(picks(s, svc, 2), 'AB');
  for (const d of svc.dests) d.overloaded = true;
  assert.equal(picks(s, svc, 2), '--');
  for (const d of svc.dests) d.overloaded = false;
  assert.equal(picks(s, svc, 3), 'CAB');
});

test('rr: adding a dest mid-stream keeps the cursor', () => {
  const s = createRr();
  const svc = service([1, 1, 1]);
  assert.equal(picks(s, svc, 2), 'AB');
  svc.dests.push(dest(3, 1));
  s.update?.(svc);
  assert.equal(picks(s, svc, 6), 'CDABCD');
});

test('rr: removing the last chosen dest continues with its successor', () => {
  const s = createRr();
  const svc = service([1, 1, 1, 1]);
  assert.equal(picks(s, svc, 2), 'AB');
  svc.dests.splice(1, 1);
  s.update?.(svc);
  assert.equal(picks(s, svc, 4), 'CDAC');
});

test('rr: removing the last chosen dest at the end of the list wraps', () => {
  const s = createRr();
  const svc = service([1, 1, 1]);
  assert.equal(picks(s, svc, 3), 'ABC');
  svc.dests.pop();
  s.update?.(svc);
  assert.equal(picks(s, svc, 3), 'ABA');
});

test('rr: removing an earlier dest does not move the cursor', () => {
  const s = createRr();
  const svc = service([1, 1, 1, 1]);
  assert.equal(picks(s, svc, 3), 'ABC');
  svc.dests.splice(0, 1);
  s.update?.(svc);
  assert.equal(picks(s, svc, 4), 'DBCD');
});

test('rr: list changed without update still continues sanely', () => {
  const s = createRr();
  const svc = service([1, 1, 1, 1]);
  assert.equal(picks(s, svc, 3), 'ABC');
  svc.dests.splice(0, 2);
  assert.equal(picks(s, svc, 3), 'DCD');
});

test('rr: independent instances keep independent cursors', () => {
  const a = createRr();
  const b = createRr();
  const svc = service([1, 1, 1]);
  assert.equal(picks(a, svc, 2), 'AB');
  assert.equal(picks(b, svc, 1), 'A');
  assert.equal(picks(a, svc, 1), 'C');
});
