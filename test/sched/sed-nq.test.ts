import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNq } from '../../src/sched/nq';
import { createSed } from '../../src/sched/sed';
import { label, PKT, service } from './helpers';

type Case = { name: string; specs: Parameters<typeof service>[0]; want: string };

// sed: least (active+1)/weight; inactive ignored; earlier wins ties.
const SED: Case[] = [
  // 1/1 vs 1/2
  { name: 'idle, heavier wins', specs: [1, 2], want: 'B' },
  // 1/2 vs 1/2
  { name: 'tie to the earlier', specs: [2, 2], want: 'A' },
  // (2+1)/3 = 1 vs (0+1)/1 = 1: tie
  { name: 'tie by cross-multiplication', specs: [{ weight: 3, active: 2 }, { weight: 1 }], want: 'A' },
  // 4/3 vs 1/1
  { name: 'one more active tips it', specs: [{ weight: 3, active: 3 }, { weight: 1 }], want: 'B' },
  // inactive counts nothing: 1/1 vs 1/1 → A although A has 1000 inactive
  { name: 'inactive ignored', specs: [{ weight: 1, inactive: 1000 }, { weight: 1 }], want: 'A' },
  { name: 'weight 0 skipped', specs: [{ weight: 0 }, { weight: 1, active: 7 }], want: 'B' },
  { name: 'weight 0 later never chosen', specs: [{ weight: 1, active: 7 }, { weight: 0 }], want: 'A' },
  { name: 'overloaded skipped', specs: [{ weight: 1, overloaded: true }, { weight: 1, active: 3 }], want: 'B' },
  { name: 'none usable', specs: [{ weight: 0 }, { overloaded: true }], want: '-' },
  { name: 'empty', specs: [], want: '-' },
];

// nq: first idle usable server at once; else as sed.
const NQ: Case[] = [
  { name: 'first idle wins regardless of weight', specs: [1, 100], want: 'A' },
  { name: 'idle later server beats busy heavy one', specs: [{ weight: 100, active: 5 }, { weight: 1 }], want: 'B' },
  // all busy: (1+1)/1 = 2 vs (2+1)/3 = 1
  { name: 'all busy: sed rule', specs: [{ weight: 1, active: 1 }, { weight: 3, active: 2 }], want: 'B' },
  // all busy tie: 2/1 vs 4/2
  { name: 'all busy tie to the earlier', specs: [{ weight: 1, active: 1 }, { weight: 2, active: 3 }], want: 'A' },
  { name: 'idle but weight 0 is not taken', specs: [{ weight: 1, active: 4 }, { weight: 0 }], want: 'A' },
  { name: 'idle but overloaded is not taken', specs: [{ weight: 1, active: 4 }, { overloaded: true }], want: 'A' },
  { name: 'none usable', specs: [{ weight: 0 }], want: '-' },
];

for (const c of SED) test(`sed: ${c.name}`, () => assert.equal(label(createSed().schedule(service(c.specs), PKT)), c.want));
for (const c of NQ) test(`nq: ${c.name}`, () => assert.equal(label(createNq().schedule(service(c.specs), PKT)), c.want));

test('sed: names', () => {
  assert.equal(createSed().name, 'sed');
  assert.equal(createNq().name, 'nq');
});

test('sed: 3:1 from idle, each pick adding an active connection, shares 3:1', () => {
  const s = createSed();
  const svc = service([3, 1]);
  let seq = '';
  for (let i = 0; i < 8; i++) {
    const d = s.schedule(svc, PKT);
    assert.ok(d);
    d.activeConns++;
    seq += label(d);
  }
  // A(1/3 vs 1) A(2/3 vs 1) A(3/3 vs 1: tie→A) B(4/3 vs 1) A(4/3 vs 2/1) A(5/3 vs 2) A(6/3 tie) B
  assert.equal(seq, 'AAABAAAB');
});

test('nq: idle servers are filled first in list order, then sed', () => {
  const s = createNq();
  const svc = service([1, 1, 4]);
  let seq = '';
  for (let i = 0; i < 6; i++) {
    const d = s.schedule(svc, PKT);
    assert.ok(d);
    d.activeConns++;
    seq += label(d);
  }
  // A,B,C idle in turn; then A 2/1, B 2/1, C 2/4 → C; C 3/4 → C; C 4/4 vs 2/1 → C
  assert.equal(seq, 'ABCCCC');
});
