import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddrMap } from '../../src/xmit/addr-map';

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
