import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFo } from '../../src/sched/fo';
import { createOvf } from '../../src/sched/ovf';
import { createTwos } from '../../src/sched/twos';
import { label, PKT, prng, service } from './helpers';

type Case = { name: string; specs: Parameters<typeof service>[0]; want: string };

const FO: Case[] = [
  { name: 'highest weight', specs: [1, 3, 2], want: 'B' },
  { name: 'tie to the earlier', specs: [1, 3, 3], want: 'B' },
  { name: 'load does not matter', specs: [{ weight: 5, active: 1000 }, 4], want: 'A' },
  { name: 'overloaded highest skipped', specs: [1, { weight: 3, overloaded: true }, 2], want: 'C' },
  { name: 'weight 0 never', specs: [0, 0], want: '-' },
  { name: 'empty', specs: [], want: '-' },
];

const OVF: Case[] = [
  { name: 'highest weight while active ≤ weight', specs: [{ weight: 2, active: 2 }, 1], want: 'A' },
  { name: 'overflows when active > weight', specs: [{ weight: 2, active: 3 }, 1], want: 'B' },
  { name: 'tie to the earlier', specs: [2, 2], want: 'A' },
  { name: 'inactive does not count', specs: [{ weight: 1, inactive: 50 }, 1], want: 'A' },
  { name: 'overloaded skipped', specs: [{ weight: 3, overloaded: true }, 1], want: 'B' },
  { name: 'weight 0 never', specs: [{ weight: 0 }], want: '-' },
  { name: 'all overflowing', specs: [{ weight: 1, active: 2 }, { weight: 2, active: 3 }], want: '-' },
];

for (const c of FO) test(`fo: ${c.name}`, () => assert.equal(label(createFo().schedule(service(c.specs), PKT)), c.want));
for (const c of OVF) test(`ovf: ${c.name}`, () => assert.equal(label(createOvf().schedule(service(c.specs), PKT)), c.want));

test('ovf: fills A up to its weight, then B', () => {
  const s = createOvf();
  const svc = service([3, 2]);
  let seq = '';
  for (let i = 0; i < 7; i++) {
    const d = s.schedule(svc, PKT);
    if (d) d.activeConns++;
    seq += label(d);
  }
  // A takes picks while active ≤ 3 (0..3 → 4 picks), then B while ≤ 2 (3 picks)
  assert.equal(seq, 'AAAABBB');
});

/** A random source replaying fixed draws. */
function draws(...v: number[]): (n: number) => number {
  let i = 0;
  return (n) => {
    const x = v[i++ % v.length];
    assert.ok(x < n, `draw ${x} within [0, ${n})`);
    return x;
  };
}

// Weights 1,1 (total 2, draws in [0, 2]): r=0 → A, r=1 → A, r=2 → B.
const TWOS: { name: string; specs: Parameters<typeof service>[0]; r: [number, number]; want: string }[] = [
  { name: 'both draws A', specs: [1, 1], r: [0, 1], want: 'A' },
  { name: 'A and B, B less loaded', specs: [{ weight: 1, active: 1 }, 1], r: [0, 2], want: 'B' },
  { name: 'A and B, A less loaded', specs: [1, { weight: 1, inactive: 1 }], r: [0, 2], want: 'A' },
  { name: 'equal load: first draw wins', specs: [1, 1], r: [2, 0], want: 'B' },
  // weights 1,0,3: total 4; r=2 → skip A (2-1=1), C (1-3 ≤ 0)
  { name: 'weight 0 never drawn', specs: [1, 0, 3], r: [2, 2], want: 'C' },
  { name: 'overloaded never drawn', specs: [{ weight: 1, overloaded: true }, 1], r: [0, 1], want: 'B' },
  // r1=0 → A, r2=4 → C; A 256/1 vs idle C 0/3 → C
  { name: 'load compared per weight', specs: [{ weight: 1, active: 1 }, 0, 3], r: [0, 4], want: 'C' },
];

for (const c of TWOS) {
  test(`twos: ${c.name}`, () => {
    assert.equal(label(createTwos(draws(...c.r)).schedule(service(c.specs), PKT)), c.want);
  });
}

test('twos: none usable', () => {
  assert.equal(label(createTwos().schedule(service([0, { overloaded: true }]), PKT)), '-');
  assert.equal(createTwos().name, 'twos');
});

test('twos: idle servers are drawn about in proportion to weight', () => {
  const rnd = prng(5);
  const s = createTwos((n) => Math.floor(rnd() * n));
  const svc = service([1, 3]);
  const n = 20000;
  let b = 0;
  for (let i = 0; i < n; i++) if (label(s.schedule(svc, PKT)) === 'B') b++;
  // With equal (zero) load the first draw wins: P(B) = P(r ∈ [2, 4]) = 3/5.
  assert.ok(Math.abs(b / n - 0.6) < 0.02, `B share ${b / n}`);
});
