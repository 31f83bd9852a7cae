/**
 * Growth of the connection table without a stop-the-world pass: the indexes double
 * incrementally (lookups, removals and expiry stay exact while old buckets remain), and
 * storage grows in place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnTable, F_DEAD, F_TEMPLATE } from '../../src/ipvs/conn';
import { FWD_MASQ, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipvs/types';

const C = 0xc6120000, V = 0xc6130001, D = 0xc6130100;

function add(t: ConnTable, k: number, now = 0): number {
  return t.insert(IPPROTO_TCP, C + k, 1000 + (k & 7), V, 80, D + (k & 3), 8080, FWD_MASQ, 0, 1, 1, 1, 100, now);
}
function findIn(t: ConnTable, k: number): number {
  return t.lookupIn(IPPROTO_TCP, C + k, 1000 + (k & 7), V, 80);
}
function findOut(t: ConnTable, k: number): number {
  return t.lookupOut(IPPROTO_TCP, D + (k & 3), 8080, C + k, 1000 + (k & 7));
}

test('doubling is spread over later inserts; every entry stays reachable from both sides', () => {
  const t = new ConnTable({ seed: 5, buckets: 64, initialCapacity: 16 });
  const ids = new Map<number, number>();
  let sawRehash = 0;
  for (let k = 0; k < 5000; k++) {
    ids.set(k, add(t, k));
    if (t.rehashing) {
      sawRehash++;
      // mid-move: everything inserted so far is found, in and out
      if (k % 97 === 0) {
        for (const [kk, id] of ids) {
          assert.equal(findIn(t, kk), id);
          assert.equal(findOut(t, kk), id);
        }
      }
    }
  }
  assert.ok(sawRehash > 0, 'a move was observed in progress');
  assert.ok(t.bucketCount >= 4096);
  for (const [k, id] of ids) {
    assert.equal(findIn(t, k), id);
    assert.equal(findOut(t, k), id);
  }
});

test('removals and expiry during a move leave no stale chain links', () => {
  const t = new ConnTable({ seed: 6, buckets: 32, initialCapacity: 8, tickMs: 100 });
  const live = new Map<number, number>();
  let k = 0;
  // grow until a move starts
  while (!t.rehashing) live.set(k, add(t, k++));
  // remove every other entry while the move is under way, including not yet moved ones
  for (const [kk, id] of [...live]) {
    if (kk % 2 === 0) {
      t.remove(id);
      live.delete(kk);
    }
  }
  for (const [kk, id] of live) assert.equal(findIn(t, kk), id);
  for (let j = 0; j < k; j += 2) {
    assert.equal(findIn(t, j), -1);
    assert.equal(findOut(t, j), -1);
  }
  // ids are reused by new inserts; the table still answers exactly
  for (let j = 0; j < 200; j++) live.set(100000 + j, add(t, 100000 + j));
  for (const [kk, id] of live) {
    assert.equal(findIn(t, kk), id);
    assert.equal(findOut(t, kk), id);
  }
  assert.equal(t.size, live.size);
  const n = t.expire(1_000_000, () => {});
  assert.equal(n, live.size);
  assert.equal(t.size, 0);
  for (const kk of live.keys()) assert.equal(findIn(t, kk), -1);
});

test('a move still pending when the next doubling is due is finished first', () => {
  const t = new ConnTable({ seed: 7, buckets: 4, initialCapacity: 4, maxLoadFactor: 1 });
  for (let k = 0; k < 2000; k++) add(t, k);
  for (let k = 0; k < 2000; k++) assert.ok(findIn(t, k) >= 0, `${k}`);
  assert.ok(t.bucketCount >= 1024);
});

test('lookupTemplate finds live templates only', () => {
  const t = new ConnTable({ seed: 8 });
  const conn = t.insert(IPPROTO_UDP, C, 0, V, 53, D, 53, FWD_MASQ, 0, 1, 1, 0, 10, 0);
  assert.equal(t.lookupTemplate(IPPROTO_UDP, C, 0, V, 53), -1, 'a connection is not a template');
  const tpl = t.insert(IPPROTO_UDP, C, 0, V, 53, D, 53, FWD_MASQ, F_TEMPLATE, 1, 1, 0, 10, 0);
  assert.equal(t.lookupTemplate(IPPROTO_UDP, C, 0, V, 53), tpl);
  t.setFlags(tpl, F_TEMPLATE | F_DEAD);
  assert.equal(t.lookupTemplate(IPPROTO_UDP, C, 0, V, 53), -1, 'a dead template is not found');
  assert.equal(t.control(conn), -1);
  t.setControl(conn, tpl);
  assert.equal(t.control(conn), tpl);
});

test('storage grows in place up to maxConns', () => {
  const t = new ConnTable({ seed: 9, initialCapacity: 4, maxConns: 100 });
  for (let k = 0; k < 100; k++) assert.ok(add(t, k) >= 0);
  assert.equal(t.capacity, 100);
  assert.equal(add(t, 100), -1);
  for (let k = 0; k < 100; k++) assert.ok(findIn(t, k) >= 0);
});
