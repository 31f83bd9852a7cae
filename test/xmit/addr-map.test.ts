import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddrMap } from '../../src/xmit/addr-map';
import { prng } from '../support/prng';

test('AddrMap: a uint32 address and its int32 bits are one key', () => {
  const m = new AddrMap<string>();
  m.set(0xffffffff, 'top');
  m.set(0x80000000, 'mid');
  m.set(0x7fffffff, 'low');
  assert.equal(m.get(-1), 'top');
  assert.equal(m.get(0xffffffff), 'top');
  assert.equal(m.get(-0x80000000), 'mid');
  assert.equal(m.get(0x7fffffff), 'low');
  assert.equal(m.size, 3);
  m.set(-1, 'top2');
  assert.equal(m.size, 3, 'the int32 form replaces the uint32 entry');
  assert.equal(m.get(0xffffffff), 'top2');
  assert.ok(m.has(0x80000000) && m.has(-0x80000000));
  assert.ok(m.delete(0x80000000));
  assert.ok(!m.has(-0x80000000));
  assert.deepEqual([...m.keys()].map((k) => k >>> 0).sort(), [0x7fffffff, 0xffffffff]);
});

test('AddrMap: get agrees with a plain Map over random sets, deletes and clears (index growth, deletion in runs)', () => {
  const rnd = prng(21);
  const m = new AddrMap<number>();
  const ref = new Map<number, number>();
  // A small key space (collisions, long runs) mixed with boundary addresses.
  const space = [0, 1, -1, 0x7fffffff, 0x80000000, 0xffffffff, 0xc6120001, 0xc6130000];
  for (let k = 0; k < 300; k++) space.push((rnd() * 2 ** 32) >>> 0);
  for (let step = 0; step < 20000; step++) {
    const key = space[(rnd() * space.length) | 0];
    const form = rnd() < 0.5 ? key >>> 0 : key | 0;
    const r = rnd();
    if (r < 0.5) {
      m.set(form, step);
      ref.set(key | 0, step);
    } else if (r < 0.95) {
      assert.equal(m.delete(form), ref.delete(key | 0));
    } else if (r < 0.951) {
      m.clear();
      ref.clear();
    }
    if (step % 97 === 0) {
      for (const q of space) assert.equal(m.get(q), ref.get(q | 0), `step ${step} key ${q}`);
    }
    assert.equal(m.size, ref.size);
  }
  for (const q of space) {
    assert.equal(m.get(q >>> 0), ref.get(q | 0));
    assert.equal(m.has(q), ref.has(q | 0));
  }
});
