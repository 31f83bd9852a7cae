import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWrr } from '../../src/sched/wrr';
import { dest, picks, service, tally } from './helpers';

test('wrr: name', () => {
  assert.equal(createWrr().name, 'wrr');
});

// Expected sequences follow the sweep rule by hand: cw runs mw, mw−di, ..., ≥ 1, and each
// sweep picks, in order, the dests whose weight ≥ cw.
const SEQUENCES: { name: string; specs: Parameters<typeof service>[0]; want: string }[] = [
  // cw 4: A | cw 3: A B | cw 2: A B C | cw 1: A B C
  { name: '4:3:2, two cycles', specs: [4, 3, 2], want: 'AABABCABC' + 'AABABCABC' },
  { name: '3:2:1', specs: [3, 2, 1], want: 'AABABC' + 'AABABC' },
  { name: 'equal weights are plain round robin', specs: [5, 5, 5], want: 'ABCABCABC' },
  // gcd 2, mw = 4 − 1 = 3: cw 3: A | cw 1: A B
  { name: '4:2 (gcd 2)', specs: [4, 2], want: 'AAB' + 'AAB' },
  // gcd 2, mw = 5: cw 5: A | cw 3: A B | cw 1: A B
  { name: '6:4 (gcd 2)', specs: [6, 4], want: 'AABAB' + 'AABAB' },
  // gcd 1, mw 2: cw 2: B | cw 1: B D
  { name: 'weight-0 dests never picked', specs: [0, 2, 0, 1], want: 'BBD' + 'BBD' },
  { name: 'all weights 0', specs: [0, 0, 0], want: '---' },
  { name: 'no dests', specs: [], want: '--' },
  // B overloaded: cw 4: A | cw 3: A | cw 2: A C | cw 1: A C
  { name: '4:3:2 with B overloaded', specs: [4, { weight: 3, overloaded: true }, 2], want: 'AAACAC' + 'AAACAC' },
  { name: 'all overloaded', specs: [{ weight: 2, overloaded: true }, { weight: 1, overloaded: true }], want: '--' },
];

for (const c of SEQUENCES) {
  test(`wrr: ${c.name}`, () => {
    assert.equal(picks(createWrr(), service(c.specs), c.want.length), c.want);
  });
}

test('wrr: 3:2:1 over 600 new connections gives exactly 300/200/100', () => {
  const s = createWrr();
  const svc = service([3, 2, 1]);
  assert.equal(picks(s, svc, 6), 'AABABC');
  assert.deepEqual(tally(s, svc, 594), { A: 297, B: 198, C: 99 });
});

test('wrr: 1:2:3:4 long run is exact per cycle of 10', () => {
  assert.deepEqual(tally(createWrr(), service([1, 2, 3, 4]), 1000), { A: 100, B: 200, C: 300, D: 400 });
});

test('wrr: after all were overloaded, picking restarts from the top weight', () => {
  const s = createWrr();
  const svc = service([4, 3, 2]);
  assert.equal(picks(s, svc, 2), 'AA');
  for (const d of svc.dests) d.overloaded = true;
  assert.equal(picks(s, svc, 3), '---');
  for (const d of svc.dests) d.overloaded = false;
  assert.equal(picks(s, svc, 9), 'AABABCABC');
});

test('wrr: overloaded dest among others with the cursor past the head still yields a pick', () => {
  const s = createWrr();
  const svc = service([4, 3, 2]);
  assert.equal(picks(s, svc, 3), 'AAB'); // cw 3, cursor at B
  svc.dests[0].overloaded = true;
  svc.dests[1].overloaded = true;
  // cw 3: C too light | cw 2: C | cw 1: C | cw 4 ...: only C can ever match.
  assert.equal(picks(s, svc, 3), 'CCC');
});

test('wrr: adding a dest mid-stream (update) rescans from the head at the current weight', () => {
  const s = createWrr();
  const svc = service([4, 3, 2]);
  assert.equal(picks(s, svc, 3), 'AAB'); // now cw 3
  svc.dests.push(dest(3, 4));
  s.update?.(svc);
  // cw 3: A B D | cw 2: A B C D | cw 1: A B C D | cw 4: A D | cw 3: A B D
  assert.equal(picks(s, svc, 16), 'ABD' + 'ABCD' + 'ABCD' + 'AD' + 'ABD');
});

test('wrr: quiescing a dest mid-stream (update) recomputes the max weight', () => {
  const s = createWrr();
  const svc = service([4, 3, 2]);
  assert.equal(picks(s, svc, 3), 'AAB'); // cw 3
  svc.dests[0].weight = 0;
  s.update?.(svc);
  // mw 3, cw 3: B | cw 2: B C | cw 1: B C | cw 3: B ...
  assert.equal(picks(s, svc, 10), 'BBCBC' + 'BBCBC');
});

test('wrr: update with a new gcd snaps cw onto the new grid', () => {
  const s = createWrr();
  const svc = service([4, 4]);
  // gcd 4, mw 1: every sweep at cw 1
  assert.equal(picks(s, svc, 4), 'ABAB');
  svc.dests[1].weight = 2;
  s.update?.(svc);
  // gcd 2, mw 3, cw stays 1 (1/2*2+1): cw 1: A B | cw 3: A | cw 1: A B | cw 3: A | cw 1: A B
  assert.equal(picks(s, svc, 8), 'AB' + 'A' + 'AB' + 'A' + 'AB');
});

test('wrr: weights set from all-zero become schedulable after update', () => {
  const s = createWrr();
  const svc = service([0, 0]);
  assert.equal(picks(s, svc, 2), '--');
  svc.dests[0].weight = 1;
  svc.dests[1].weight = 2;
  s.update?.(svc);
  // mw 2: cw 2: B | cw 1: A B
  assert.equal(picks(s, svc, 6), 'BAB' + 'BAB');
});

test('wrr: a service created empty and filled through update', () => {
  const s = createWrr();
  const svc = service([]);
  s.update?.(svc);
  assert.equal(picks(s, svc, 1), '-');
  svc.dests.push(dest(0, 2), dest(1, 1));
  s.update?.(svc);
  assert.equal(picks(s, svc, 6), 'AAB' + 'AAB');
});
