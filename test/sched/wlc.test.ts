import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../src/ipvs/types';
import { createLc } from '../../src/sched/lc';
import { createWlc } from '../../src/sched/wlc';
import { label, PKT, prng, service } from './helpers';

test('wlc: name', () => {
  assert.equal(createWlc().name, 'wlc');
});

// Load = (active·256 + inactive) / weight; equal loads go to the earlier dest.
const CASES: { name: string; specs: Parameters<typeof service>[0]; want: string }[] = [
  // 512/3 ≈ 171 vs 256/1
  { name: '3:1, A 2 active, B 1 active', specs: [{ weight: 3, active: 2 }, { weight: 1, active: 1 }], want: 'A' },
  // 768/3 = 256 vs 256/1: tie
  { name: '3:1, A 3 active, B 1 active (tie)', specs: [{ weight: 3, active: 3 }, { weight: 1, active: 1 }], want: 'A' },
  // 1024/3 ≈ 341 vs 256
  { name: '3:1, A 4 active, B 1 active', specs: [{ weight: 3, active: 4 }, { weight: 1, active: 1 }], want: 'B' },
  // 769/3 ≈ 256.3 vs 256
  { name: '3:1, one inactive tips it', specs: [{ weight: 3, active: 3, inactive: 1 }, { weight: 1, active: 1 }], want: 'B' },
  // 1:3 order reversed: 256/1 vs 768/3: tie to A
  { name: '1:3 tie to the earlier', specs: [{ weight: 1, active: 1 }, { weight: 3, active: 3 }], want: 'A' },
  // 10/2 = 5, 9/1 = 9, 15/3 = 5
  { name: 'tie among three', specs: [{ weight: 2, inactive: 10 }, { weight: 1, inactive: 9 }, { weight: 3, inactive: 15 }], want: 'A' },
  // 0/1 vs 0/5: tie, earlier wins even with the smaller weight
  { name: 'all idle: first', specs: [1, 5], want: 'A' },
  { name: 'first usable is not first in list', specs: [{ weight: 0 }, { overloaded: true }, { weight: 1, active: 9 }], want: 'C' },
  // weight 0 is never chosen even when idle
  { name: 'weight 0 later in the list never chosen', specs: [{ weight: 1, active: 50 }, { weight: 0 }], want: 'A' },
  // 2560/1 vs 0/1 but B overloaded
  { name: 'overloaded skipped', specs: [{ weight: 1, active: 10 }, { weight: 1, overloaded: true }], want: 'A' },
  { name: 'none usable', specs: [{ weight: 0 }, { weight: 2, overloaded: true }], want: '-' },
  { name: 'no dests', specs: [], want: '-' },
  // large counts stay exact: 65535·(100000·256) vs 65534·(100000·256)... C has the lower load
  { name: 'large counts compare exactly', specs: [{ weight: 65535, active: 100000 }, { weight: 65535, active: 100000, inactive: 1 }, { weight: 65535, active: 99999, inactive: 255 }], want: 'C' },
];

for (const c of CASES) {
  test(`wlc: ${c.name}`, () => {
    assert.equal(label(createWlc().schedule(service(c.specs), PKT)), c.want);
  });
}

test('wlc: 3:1 from idle, each pick adding an active connection', () => {
  const s = createWlc();
  const svc = service([3, 1]);
  let seq = '';
  for (let i = 0; i < 10; i++) {
    const d = s.schedule(svc, PKT);
    assert.ok(d);
    d.activeConns++;
    seq += label(d);
  }
  // A:0 B:0 tie→A; A:1 vs B:0 → B; then A until 3·(B active) is passed, ties to A.
  assert.equal(seq, 'ABAAABAAAB');
});

/**
 * Arrivals one per step, each picked connection becomes active; every active connection ends
 * with probability pEnd per step (same holding time everywhere). Returns pick shares.
 */
function simulate(s: Scheduler, weights: number[], steps: number, pEnd: number, seed: number): number[] {
  const svc = service(weights);
  const rnd = prng(seed);
  const picked = weights.map(() => 0);
  for (let t = 0; t < steps; t++) {
    const d = s.schedule(svc, PKT);
    assert.ok(d);
    d.activeConns++;
    picked[d.id]++;
    for (const x of svc.dests) {
      let ended = 0;
      for (let k = 0; k < x.activeConns; k++) if (rnd() < pEnd) ended++;
      x.activeConns -= ended;
    }
  }
  return picked.map((c) => c / steps);
}

function assertShares(got: number[], want: number[], tol: number): void {
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= tol, `share ${i}: got ${got[i].toFixed(4)}, want ${want[i]} ± ${tol} (all: ${got.map((g) => g.toFixed(3)).join(' ')})`);
  }
}

test('wlc: long run with departures, shares track weights 1:2:3:4', () => {
  const shares = simulate(createWlc(), [1, 2, 3, 4], 20000, 0.02, 0x5eed);
  assertShares(shares, [0.1, 0.2, 0.3, 0.4], 0.02);
});

test('wlc: long run with departures, shares track weights 3:1', () => {
  const shares = simulate(createWlc(), [3, 1], 20000, 0.02, 0xbeef);
  assertShares(shares, [0.75, 0.25], 0.02);
});

test('lc: the same long run ignores weights 1:2:3:4', () => {
  const shares = simulate(createLc(), [1, 2, 3, 4], 20000, 0.02, 0x5eed);
  assertShares(shares, [0.25, 0.25, 0.25, 0.25], 0.02);
});
