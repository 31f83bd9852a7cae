import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Estimator } from '../../src/ipvs/estimator';
import { zeroCounters, zeroRates } from '../../src/ipvs/types';

test('estimator: traffic before the first sample counts from zero', () => {
  const e = new Estimator();
  const s = zeroCounters();
  const r = zeroRates();
  s.conns = 10;
  s.inpkts = 200;
  e.update(s, r, 2000);
  // 200 packets in 2 s = 100/s, smoothed by 1/4
  assert.equal(r.inpps, 25);
  assert.equal(r.cps, 1.25);
});

test('estimator: EWMA of weight 1/4 per 2 s period; idle periods decay', () => {
  const e = new Estimator();
  const s = zeroCounters();
  const r = zeroRates();
  s.inbytes = 8000; // 4000 B/s
  e.update(s, r, 2000);
  assert.equal(r.inbps, 1000);
  s.inbytes += 8000;
  e.update(s, r, 2000);
  assert.equal(r.inbps, 1750); // 1000 + (4000 - 1000)/4
  e.update(s, r, 2000);
  assert.equal(r.inbps, 1312.5); // 1750 + (0 - 1750)/4
});

test('estimator: zeroed counters (-Z) restart from the new base', () => {
  const e = new Estimator();
  const s = zeroCounters();
  const r = zeroRates();
  s.outpkts = 400;
  e.update(s, r, 2000);
  assert.equal(r.outpps, 50);
  s.outpkts = 0;
  e.update(s, r, 2000);
  assert.equal(r.outpps, 37.5);
  s.outpkts = 80;
  e.update(s, r, 2000);
  assert.equal(r.outpps, 37.5 + (40 - 37.5) / 4);
});
