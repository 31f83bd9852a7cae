/** The live page's feed: per-second rates from counter differences, a bounded history, the snapshot. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { HISTORY_SAMPLES, PageFeed } from '../../src/metrics/feed';
import { directorSources } from '../../src/metrics/sources';

function setup() {
  const dir = new Director(new MemoryDevice({ batch: 4 }));
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: '198.18.100.1', port: 80 } },
    { op: 'add-server', service: { proto: 'tcp', addr: '198.18.100.1', port: 80 }, dest: { addr: '198.19.0.11', port: 80, fwd: 'masq', weight: 4 } },
  ]);
  let now = 10_000;
  const feed = new PageFeed(directorSources(dir), () => now);
  return { dir, feed, advance(ms: number) { now += ms; } };
}

test('samples: rates are counter differences over the elapsed time; a -Z counts as zero', () => {
  const e = setup();
  assert.equal(e.feed.tick(), undefined, 'the first tick only records the counters');
  const svc = e.dir.services.services()[0];
  svc.stats.conns += 30;
  svc.stats.inpkts += 300;
  svc.stats.outbytes += 6000;
  svc.dests[0].activeConns = 7;
  e.advance(2000);
  const s = e.feed.tick();
  assert.ok(s);
  assert.deepEqual([s.cps, s.inpps, s.outbps, s.active, s.drops], [15, 150, 3000, 7, 0]);
  e.dir.handle([{ op: 'zero' }]);
  e.advance(1000);
  assert.equal(e.feed.tick()?.inpps, 0);
});

test('history keeps the last ten minutes; the snapshot names services and real servers as ipvsadm does', () => {
  const e = setup();
  for (let i = 0; i <= HISTORY_SAMPLES + 5; i++) {
    e.advance(1000);
    e.feed.tick();
  }
  assert.equal(e.feed.history().length, HISTORY_SAMPLES);
  const snap = e.feed.snapshot();
  assert.equal(snap.services[0].name, 'TCP 198.18.100.1:80');
  assert.deepEqual({ ...snap.services[0].dests[0], stats: undefined, rates: undefined },
    { addr: '198.19.0.11', port: 80, fwd: 'Masq', weight: 4, active: 0, inactive: 0, persistent: 0, health: '', stats: undefined, rates: undefined });
});
