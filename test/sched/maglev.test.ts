import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maglevTable, maglevTurns, MH_TAB_SIZE, MaglevServer } from '../../src/sched/maglev';
import { createMh } from '../../src/sched/mh';
import { label, prng, service } from './helpers';

function servers(weights: number[], seed: number, size = MH_TAB_SIZE): MaglevServer[] {
  const r = prng(seed);
  return weights.map((weight) => ({
    offset: Math.floor(r() * size),
    skip: 1 + Math.floor(r() * (size - 1)),
    weight,
  }));
}

function shares(table: Int32Array, n: number): number[] {
  const c = new Array(n).fill(0);
  for (const i of table) c[i]++;
  return c.map((x) => x / table.length);
}

test('maglev: every slot is filled by a weighted server', () => {
  for (const [seed, weights] of [[1, [1]], [2, [1, 1, 1]], [3, [1, 0, 2]], [4, [5, 3, 1, 1, 7, 2]]] as const) {
    const t = maglevTable(servers([...weights], seed));
    assert.equal(t.length, MH_TAB_SIZE);
    for (const i of t) {
      assert.ok(i >= 0 && i < weights.length);
      assert.ok(weights[i] > 0, 'weight 0 takes no slot');
    }
  }
});

test('maglev: no weighted server leaves every slot empty', () => {
  assert.ok(maglevTable(servers([0, 0], 9)).every((i) => i === -1));
  assert.ok(maglevTable([]).every((i) => i === -1));
});

test('maglev: shares in proportion to weight within 1%', () => {
  for (const [seed, weights] of [[11, [1, 1, 1, 1]], [12, [1, 2, 3]], [13, [4, 1]], [14, [10, 20, 30, 40]], [15, [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]]]) {
    const s = shares(maglevTable(servers(weights as number[], seed as number)), (weights as number[]).length);
    const total = (weights as number[]).reduce((a, b) => a + b, 0);
    (weights as number[]).forEach((w, i) => {
      assert.ok(Math.abs(s[i] - w / total) <= 0.01, `weights ${weights}: server ${i} share ${s[i]} vs ${w / total}`);
    });
  }
});

test('maglev: removing one of N servers moves about 1/N of the slots', () => {
  for (const n of [5, 10, 20]) {
    const all = servers(new Array(n).fill(1), 100 + n);
    const before = maglevTable(all);
    const gone = 2;
    const rest = all.filter((_, i) => i !== gone);
    const after = maglevTable(rest);
    // map indices in `rest` back to `all`
    let moved = 0;
    for (let k = 0; k < before.length; k++) {
      const was = before[k];
      const now = after[k] >= gone ? after[k] + 1 : after[k];
      if (was !== now) moved++;
    }
    const frac = moved / before.length;
    // the removed server's 1/N must move; Maglev moves a little more, far from a reshuffle.
    assert.ok(frac >= 1 / n - 0.01, `n=${n} moved ${frac}`);
    assert.ok(frac <= 1.6 / n, `n=${n} moved ${frac}`);
  }
});

test('maglev: turns are weight/gcd, shifted to stay below 2^5, at least 1', () => {
  assert.deepEqual(maglevTurns([2, 4, 6]), [1, 2, 3]);
  assert.deepEqual(maglevTurns([0, 3]), [0, 1]);
  // 64/1 needs 7 bits; shift 2: 64>>2 = 16, 1>>2 = 0 → 1
  assert.deepEqual(maglevTurns([64, 1]), [16, 1]);
  assert.deepEqual(maglevTurns([0, 0]), [0, 0]);
});

test('maglev: the table is a pure function of its input', () => {
  const s = servers([3, 1, 2], 42);
  assert.deepEqual(maglevTable(s), maglevTable(s.map((x) => ({ ...x }))));
});

function pkt(saddr: number, sport = 5000) {
  return { saddr, sport, daddr: 0xc6120101, dport: 80 };
}

test('mh: a client always lands on the same server; clients spread by weight', () => {
  const svc = service([1, 1, 2]);
  const s = createMh();
  s.update?.(svc);
  const t: Record<string, number> = {};
  for (let i = 0; i < 8000; i++) {
    const a = 0xc6120000 + i;
    const d = label(s.schedule(svc, pkt(a)));
    assert.equal(label(s.schedule(svc, pkt(a, 7))), d, 'port ignored without mh-port');
    t[d] = (t[d] ?? 0) + 1;
  }
  assert.ok(Math.abs(t.C / 8000 - 0.5) < 0.03, JSON.stringify(t));
  assert.ok(Math.abs(t.A / 8000 - 0.25) < 0.03, JSON.stringify(t));
});

test('mh: quiescing a server keeps everyone else in place; mh-fallback moves its clients', () => {
  const svc = service([1, 1, 1]);
  const s = createMh();
  const f = createMh(['mh-fallback']);
  s.update?.(svc);
  f.update?.(svc);
  const before = new Map<number, string>();
  for (let i = 0; i < 3000; i++) before.set(i, label(s.schedule(svc, pkt(0x0a000000 + i))));
  svc.dests[1].weight = 0;
  s.update?.(svc);
  f.update?.(svc);
  let bClients = 0;
  for (let i = 0; i < 3000; i++) {
    const was = before.get(i);
    const now = label(s.schedule(svc, pkt(0x0a000000 + i)));
    const fb = label(f.schedule(svc, pkt(0x0a000000 + i)));
    if (was === 'B') {
      bClients++;
      assert.equal(now, '-');
      assert.ok(fb === 'A' || fb === 'C', fb);
    } else {
      assert.equal(now, was);
      assert.equal(fb, was);
    }
  }
  assert.ok(bClients > 800);
});

test('mh: mh-port spreads one client over servers', () => {
  const svc = service([1, 1, 1, 1]);
  const s = createMh(['mh-port']);
  const seen = new Set<string>();
  for (let p = 1000; p < 1100; p++) seen.add(label(s.schedule(svc, pkt(0x0a000001, p))));
  assert.equal(seen.size, 4);
  assert.equal(s.name, 'mh');
  assert.equal(label(createMh().schedule(service([]), pkt(1))), '-');
});
