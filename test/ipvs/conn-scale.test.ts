import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnTable } from '../../src/ipvs/conn';
import { IPPROTO_TCP, FWD_MASQ } from '../../src/ipvs/types';

export interface ConnBenchResult {
  entries: number;
  insertsPerSec: number;
  lookupsInPerSec: number;
  lookupsOutPerSec: number;
  touchesPerSec: number;
  expiresPerSec: number;
  bytesPerEntry: number;
  buckets: number;
}

/**
 * Micro-benchmark: n inserts (from an empty table with default options, so growth and
 * rehashing are included), n in- and n out-lookups of random live keys, n touches, then
 * expiry of every entry. Keys: 65,536 client addresses × 16 ports toward 4 services.
 */
export function benchConnTable(n: number): ConnBenchResult {
  const t = new ConnTable({ maxConns: n });
  const C = 0xc6120000, V = 0xc6130000, D = 0xc6130100;
  const key = (i: number) => i; // client = C + (i >>> 4), port = 1024 + (i & 15)
  let now = 1000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const k = key(i);
    t.insert(IPPROTO_TCP, C + (k >>> 4), 1024 + (k & 15), V + (k & 3), 80, D + (k & 3), 8080, FWD_MASQ, 0, k & 3, k & 3, 1, 900, now);
  }
  const t1 = performance.now();
  // Visit keys in a scrambled order (multiplication by an odd constant mod 2^k is a permutation).
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = Math.imul(i, 0x9e3779b1) >>> 0;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const k = order[i] % n;
    if (t.lookupIn(IPPROTO_TCP, C + (k >>> 4), 1024 + (k & 15), V + (k & 3), 80) >= 0) hits++;
  }
  const t2 = performance.now();
  for (let i = 0; i < n; i++) {
    const k = order[i] % n;
    if (t.lookupOut(IPPROTO_TCP, D + (k & 3), 8080, C + (k >>> 4), 1024 + (k & 15)) >= 0) hits++;
  }
  const t3 = performance.now();
  now += 1000;
  for (let i = 0; i < n; i++) t.touch(order[i] % n, 900, now);
  const t4 = performance.now();
  let expired = 0;
  expired += t.expire(now + 900_000, () => {});
  const t5 = performance.now();
  assert.equal(hits, 2 * n);
  assert.equal(expired, n);
  const rate = (ms: number) => Math.round(n / (ms / 1000));
  return {
    entries: n,
    insertsPerSec: rate(t1 - t0),
    lookupsInPerSec: rate(t2 - t1),
    lookupsOutPerSec: rate(t3 - t2),
    touchesPerSec: rate(t4 - t3),
    expiresPerSec: rate(t5 - t4),
    bytesPerEntry: t.byteLength / t.capacity,
    buckets: t.bucketCount,
  };
}

test('1M connections: insert, lookup both ways, touch, expire all', (tc) => {
  const start = performance.now();
  const r = benchConnTable(1 << 20);
  const ms = performance.now() - start;
  tc.diagnostic(JSON.stringify(r));
  tc.diagnostic(`total ${ms.toFixed(0)} ms`);
  assert.ok(r.bytesPerEntry <= 128, `${r.bytesPerEntry} bytes/entry`);
});
