/** Sequence windows and the resend ring of sync messages (src/ha/sync-seq.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SEQ_NEW, SEQ_REPLAY, SentRing, SeqWindow, unwrap16 } from '../../src/ha/sync-seq';

test('sequence window: new, duplicate, too old; gaps reported; 16-bit unwrap', () => {
  const w = new SeqWindow();
  const miss: number[] = [];
  assert.equal(w.accept(10, miss, 63), SEQ_NEW);
  assert.equal(w.accept(13, miss, 63), SEQ_NEW);
  assert.deepEqual(miss, [11, 12]);
  assert.equal(w.accept(13, miss, 63), SEQ_REPLAY);
  assert.equal(w.accept(12, miss, 63), SEQ_NEW, 'a resent message fills its gap');
  assert.equal(w.accept(12, miss, 63), SEQ_REPLAY);
  miss.length = 0;
  assert.equal(w.accept(200, miss, 63), SEQ_NEW);
  assert.deepEqual(miss, [], 'a gap wider than the master keeps is not asked for');
  assert.equal(w.accept(100, miss, 63), SEQ_REPLAY, 'older than the window');
  assert.equal(unwrap16(2, 65535), 65538);
  assert.equal(unwrap16(65535, 65538), 65535);
});

test('resend ring: the last 64 datagrams by sequence number, exact or by their low 16 bits', () => {
  const r = new SentRing();
  for (let s = 1; s <= 100; s++) r.put(s, Buffer.from([s]));
  assert.equal(r.get(36), undefined, 'overwritten');
  assert.deepEqual(r.get(37), Buffer.from([37]));
  assert.deepEqual(r.get(100), Buffer.from([100]));
  const big = new SentRing();
  big.put(65536 + 5, Buffer.from('x'));
  assert.equal(big.get(5), undefined);
  assert.deepEqual(big.get(5, 0xffff), Buffer.from('x'), 'a keyless backup knows the low 16 bits');
});
