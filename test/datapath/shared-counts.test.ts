/**
 * Real-server counts shared by packet workers (src/datapath/shared-counts.ts): the pipeline's
 * plain `dest.activeConns++` on two replicas of one real server adds up, also from two threads
 * running at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { SharedCounts, createCountsBuffer } from '../../src/datapath/shared-counts';
import { FWD_MASQ, makeDest } from '../../src/ipvs/types';
import { updateOverload } from '../../src/ipvs/service';

test('replicas of one real server see each other\'s increments and decrements', () => {
  const counts = new SharedCounts(createCountsBuffer());
  const a = makeDest(7, 1, 80, 1, FWD_MASQ);
  const b = makeDest(7, 1, 80, 1, FWD_MASQ);
  counts.install(a, 7);
  counts.install(b, 7);
  a.inactiveConns++;
  b.inactiveConns++;
  a.inactiveConns--;
  a.activeConns++;
  b.persistConns++;
  assert.deepEqual([b.activeConns, b.inactiveConns, b.persistConns], [1, 1, 1]);
  assert.deepEqual([a.activeConns, a.inactiveConns, a.persistConns], [1, 1, 1]);
  // Thresholds follow the total: -x 2 overloads either replica once both hold one each.
  b.upperThreshold = 2;
  updateOverload(b);
  assert.equal(b.overloaded, true);
  counts.reset(7);
  assert.equal(a.activeConns + a.inactiveConns, 0);
  const other = makeDest(8, 2, 80, 1, FWD_MASQ);
  counts.install(other, 8);
  other.activeConns++;
  assert.equal(a.activeConns, 0, 'another slot is another server');
});

test('two threads incrementing and decrementing at once lose nothing', async () => {
  const counts = new SharedCounts(createCountsBuffer());
  const mod = join(__dirname, '../../src/datapath/shared-counts.js');
  const types = join(__dirname, '../../src/ipvs/types.js');
  const body = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { SharedCounts } = require(workerData.mod);
    const { makeDest } = require(workerData.types);
    const d = makeDest(3, 1, 80, 1, 0);
    new SharedCounts(workerData.buf).install(d, 3);
    for (let i = 0; i < 200000; i++) { d.inactiveConns++; d.inactiveConns--; d.activeConns++; }
    parentPort.postMessage('done');`;
  await Promise.all([0, 1].map(() => new Promise<void>((resolve, reject) => {
    const w = new Worker(body, { eval: true, workerData: { mod, types, buf: counts.buffer } });
    w.once('message', () => resolve());
    w.once('error', reject);
  })));
  assert.equal(counts.read(3, 0), 400000, 'active');
  assert.equal(counts.read(3, 1), 0, 'inactive');
});
