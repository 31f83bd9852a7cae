import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLc } from '../../src/sched/lc';
import { label, PKT, service } from './helpers';

test('lc: name', () => {
  assert.equal(createLc().name, 'lc');
});

// Overheads are active·256 + inactive.
const CASES: { name: string; specs: Parameters<typeof service>[0]; want: string }[] = [
  // 256, 300, 266
  { name: 'one active outweighs fewer than 256 inactive', specs: [{ active: 1 }, { inactive: 300 }, { active: 1, inactive: 10 }], want: 'A' },
  // 256, 255
  { name: '255 inactive beat one active', specs: [{ active: 1 }, { inactive: 255 }], want: 'B' },
  // 5, 3, 3
  { name: 'tie goes to the earlier dest', specs: [{ inactive: 5 }, { inactive: 3 }, { inactive: 3 }], want: 'B' },
  { name: 'all equal: first', specs: [{ active: 2 }, { active: 2 }, { active: 2 }], want: 'A' },
  // weights other than 0 are ignored: 100 vs 200
  { name: 'weight plays no part', specs: [{ weight: 1, inactive: 100 }, { weight: 100, inactive: 200 }], want: 'A' },
  { name: 'skips weight 0 and overloaded', specs: [{ weight: 0 }, { overloaded: true }, { active: 5 }], want: 'C' },
  { name: 'none usable', specs: [{ weight: 0 }, { overloaded: true }], want: '-' },
  { name: 'no dests', specs: [], want: '-' },
];

for (const c of CASES) {
  test(`lc: ${c.name}`, () => {
    assert.equal(label(createLc().schedule(service(c.specs), PKT)), c.want);
  });
}

test('lc: picks that add an active connection each cycle through the dests in order', () => {
  const s = createLc();
  const svc = service([1, 5, 1]);
  let seq = '';
  for (let i = 0; i < 7; i++) {
    const d = s.schedule(svc, PKT);
    assert.ok(d);
    d.activeConns++;
    seq += label(d);
  }
  assert.equal(seq, 'ABCABCA');
});
