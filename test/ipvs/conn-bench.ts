/**
 * Connection-table micro-benchmark (not part of the test suite; run with
 * `node --expose-gc dist/test/ipvs/conn-bench.js [entries]`, default 1,048,576).
 *
 * Fills a ConnTable of default options (grown from its initial 4096 entries, so storage
 * growth and the incremental index doubling are included) with distinct TCP keys, then
 * measures lookups from both directions, timer re-arms and expiry of every entry. Memory is
 * what the process grew by (RSS and ArrayBuffer bytes, after a GC where --expose-gc allows
 * it) divided by the entries; the kernel's budget is about 128 bytes per connection. The
 * longest pause is the slowest batch of 1024 inserts. Prints one JSON object; exits 1 when
 * bytes per entry by RSS exceed 128.
 */
import { ConnTable } from '../../src/ipvs/conn';
import { FWD_MASQ, IPPROTO_TCP } from '../../src/ipvs/types';

const BUDGET = 128;
const BATCH = 1024;

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
}

export interface ConnBench {
  entries: number;
  rssBytesPerEntry: number;
  arrayBufferBytesPerEntry: number;
  tableBytesPerEntry: number;
  insertsPerSec: number;
  lookupsInPerSec: number;
  lookupsOutPerSec: number;
  touchesPerSec: number;
  expiriesPerSec: number;
  longestInsertBatchMs: number;
  buckets: number;
}

export function runConnBench(n: number): ConnBench {
  const C = 0xc6120000, V = 0xc6130000, D = 0xc6130100;
  gc();
  const m0 = process.memoryUsage();
  const t = new ConnTable({ maxConns: n });
  let now = 1000;
  let longest = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    const b0 = performance.now();
    const end = Math.min(n, i + BATCH);
    for (let k = i; k < end; k++) {
      t.insert(IPPROTO_TCP, C + (k >>> 4), 1024 + (k & 15), V + (k & 3), 80, D + (k & 3), 8080,
        FWD_MASQ, 0, k & 3, k & 3, 1, 900, now);
    }
    const dt = performance.now() - b0;
    if (dt > longest) longest = dt;
  }
  const t1 = performance.now();
  gc();
  const m1 = process.memoryUsage();
  if (t.size !== n) throw new Error(`inserted ${t.size} of ${n}`);
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const k = (Math.imul(i, 0x9e3779b1) >>> 0) % n;
    if (t.lookupIn(IPPROTO_TCP, C + (k >>> 4), 1024 + (k & 15), V + (k & 3), 80) >= 0) hits++;
  }
  const t2 = performance.now();
  for (let i = 0; i < n; i++) {
    const k = (Math.imul(i, 0x9e3779b1) >>> 0) % n;
    if (t.lookupOut(IPPROTO_TCP, D + (k & 3), 8080, C + (k >>> 4), 1024 + (k & 15)) >= 0) hits++;
  }
  const t3 = performance.now();
  if (hits !== 2 * n) throw new Error(`lookups found ${hits} of ${2 * n}`);
  now += 1000;
  for (let i = 0; i < n; i++) t.touch(i, 900, now);
  const t4 = performance.now();
  const expired = t.expire(now + 901_000, () => {});
  const t5 = performance.now();
  if (expired !== n) throw new Error(`expired ${expired} of ${n}`);
  const rate = (ms: number): number => Math.round(n / (ms / 1000));
  return {
    entries: n,
    rssBytesPerEntry: +((m1.rss - m0.rss) / n).toFixed(1),
    arrayBufferBytesPerEntry: +((m1.arrayBuffers - m0.arrayBuffers) / n).toFixed(1),
    tableBytesPerEntry: +(t.byteLength / n).toFixed(1),
    insertsPerSec: rate(t1 - t0),
    lookupsInPerSec: rate(t2 - t1),
    lookupsOutPerSec: rate(t3 - t2),
    touchesPerSec: rate(t4 - t3),
    expiriesPerSec: rate(t5 - t4),
    longestInsertBatchMs: +longest.toFixed(2),
    buckets: t.bucketCount,
  };
}

if (require.main === module) {
  const n = Number(process.argv[2] ?? 1 << 20);
  const r = runConnBench(n);
  process.stdout.write(JSON.stringify(r) + '\n');
  process.stdout.write(`${r.entries} entries: ${r.rssBytesPerEntry} bytes/entry (RSS growth; budget ${BUDGET}), ` +
    `inserts ${r.insertsPerSec}/s, lookups ${r.lookupsInPerSec}/s in ${r.lookupsOutPerSec}/s out, ` +
    `expiry ${r.expiriesPerSec}/s, longest pause ${r.longestInsertBatchMs} ms per ${BATCH} inserts\n`);
  if (r.rssBytesPerEntry > BUDGET) process.exitCode = 1;
}
