/** The VRRP state machine (RFC 5798 §6.4) on a fake clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VrrpMachine, type VrrpConfig, type VrrpTimers } from '../../src/ha/vrrp';
import type { VrrpAdvert } from '../../src/wire/vrrp';

class FakeClock implements VrrpTimers {
  t = 0;
  private q: Array<{ at: number; fn: () => void; id: number }> = [];
  private n = 0;
  now(): number { return this.t; }
  set(fn: () => void, ms: number): unknown { const id = ++this.n; this.q.push({ at: this.t + ms, fn, id }); return id; }
  clear(h: unknown): void { this.q = this.q.filter((e) => e.id !== h); }
  /** Runs every timer due up to t + ms, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.q.sort((a, b) => a.at - b.at);
      const e = this.q[0];
      if (!e || e.at > end) break;
      this.q.shift();
      this.t = e.at;
      e.fn();
    }
    this.t = end;
  }
}

function machine(over: Partial<VrrpConfig> = {}, local = 10) {
  const clock = new FakeClock();
  const sent: Array<{ t: number; prio: number }> = [];
  const log: string[] = [];
  let vips = false;
  const m = new VrrpMachine({
    name: 'VI', vrid: 51, priority: 100, advertIntMs: 1000, version: 3, preempt: true, preemptDelayMs: 0,
    addrs: [1], ...over,
  }, local, {
    send: (a) => sent.push({ t: clock.t, prio: a.priority }),
    setVips: (own) => { vips = own; },
    transition: (from, to) => log.push(`${from}->${to}@${clock.t}`),
  }, clock);
  return { m, clock, sent, log, vips: () => vips };
}

const adv = (priority: number): VrrpAdvert => ({ version: 3, vrid: 51, priority, intervalCs: 100, addrs: [1] });

test('backup becomes master after Master_Down_Interval = 3·advert + skew without adverts', () => {
  const { m, clock, log, sent, vips } = machine({ priority: 100 });
  m.start();
  // Skew = (256 - 100) · 1000 / 256 = 609.375 ms → down interval 3609.375 ms.
  assert.equal(m.masterDownMs(), 3609.375);
  clock.advance(3609);
  assert.equal(m.state, 'BACKUP');
  clock.advance(1);
  assert.equal(m.state, 'MASTER');
  assert.deepEqual(log, ['INIT->BACKUP@0', 'BACKUP->MASTER@3609.375']);
  assert.equal(vips(), true);
  clock.advance(3000);
  assert.deepEqual(sent.map((s) => s.t), [3609.375, 4609.375, 5609.375, 6609.375]);
});

test('adverts from a higher-priority master keep a backup down; the master yields to it', () => {
  const b = machine({ priority: 100 });
  b.m.start();
  for (let i = 0; i < 10; i++) {
    b.clock.advance(1000);
    b.m.receive(adv(200), 99);
  }
  assert.equal(b.m.state, 'BACKUP');
  const a = machine({ priority: 100 }, 10);
  a.m.start();
  a.clock.advance(4000);
  assert.equal(a.m.state, 'MASTER');
  a.m.receive(adv(100), 9);
  assert.equal(a.m.state, 'MASTER', 'equal priority from a lower address: keep mastership');
  a.m.receive(adv(100), 11);
  assert.equal(a.m.state, 'BACKUP', 'equal priority from a higher address wins');
  assert.equal(a.vips(), false);
});

test('preemption: a lower-priority master is overthrown unless nopreempt or within preempt_delay', () => {
  const p = machine({ priority: 200 });
  p.m.start();
  for (let t = 0; t < 5000; t += 1000) {
    p.clock.advance(1000);
    if (p.m.state === 'BACKUP') p.m.receive(adv(100), 99);
  }
  assert.equal(p.m.state, 'MASTER');
  assert.equal(p.log[1], 'BACKUP->MASTER@3218.75', '3·1000 + (256-200)·1000/256');
  const n = machine({ priority: 200, preempt: false });
  n.m.start();
  for (let i = 0; i < 10; i++) { n.clock.advance(1000); n.m.receive(adv(100), 99); }
  assert.equal(n.m.state, 'BACKUP');
  const d = machine({ priority: 200, preemptDelayMs: 6000 });
  d.m.start();
  for (let i = 0; i < 5; i++) { d.clock.advance(1000); d.m.receive(adv(100), 99); }
  assert.equal(d.m.state, 'BACKUP', 'inside preempt_delay');
  for (let i = 0; i < 5; i++) { d.clock.advance(1000); if (d.m.state === 'BACKUP') d.m.receive(adv(100), 99); }
  assert.equal(d.m.state, 'MASTER', 'after preempt_delay');
});

test('a master that stops sends priority 0; the backup takes over after Skew_Time', () => {
  const a = machine({ priority: 200 });
  a.m.start();
  a.clock.advance(4000);
  a.m.stop();
  assert.deepEqual(a.sent.at(-1)?.prio, 0);
  assert.equal(a.vips(), false);
  const b = machine({ priority: 100 });
  b.m.start();
  b.clock.advance(500);
  b.m.receive(adv(0), 99);
  b.clock.advance(609);
  assert.equal(b.m.state, 'BACKUP');
  b.clock.advance(1);
  assert.equal(b.m.state, 'MASTER');
});

test('priority 255 owns the address: master at once', () => {
  const o = machine({ priority: 255 });
  o.m.start();
  assert.equal(o.m.state, 'MASTER');
  assert.deepEqual(o.sent, [{ t: 0, prio: 255 }]);
});

test('sync group: follow() moves a member to the group state; no-op when already there', () => {
  const a = machine({ priority: 100 });
  a.m.start();
  a.m.follow('MASTER', 'group');
  assert.equal(a.m.state, 'MASTER');
  assert.equal(a.vips(), true);
  a.m.follow('MASTER', 'group');
  assert.equal(a.log.length, 2);
  a.m.follow('BACKUP', 'group');
  assert.equal(a.m.state, 'BACKUP');
  assert.equal(a.vips(), false);
  // As a backup it takes over again only after Master_Down_Interval without adverts.
  a.clock.advance(3609);
  assert.equal(a.m.state, 'BACKUP');
  a.clock.advance(1);
  assert.equal(a.m.state, 'MASTER');
});

test('a master that hears a lower-priority master announces its addresses again, at most once per advert_int', () => {
  const clock = new FakeClock();
  let re = 0;
  const m = new VrrpMachine({
    name: 'VI', vrid: 51, priority: 150, advertIntMs: 1000, version: 3, preempt: true, preemptDelayMs: 0, addrs: [1],
  }, 10, { send: () => undefined, setVips: () => undefined, transition: () => undefined, reannounce: () => { re++; } }, clock);
  m.start();
  clock.advance(4000);
  assert.equal(m.state, 'MASTER');
  m.receive(adv(100), 99);
  m.receive(adv(100), 99);
  assert.equal(re, 1);
  clock.advance(1000);
  m.receive(adv(100), 99);
  assert.equal(re, 2);
  assert.equal(m.state, 'MASTER');
});

test('FAULT: a master whose link goes down releases the addresses and goes silent; back up it runs the election', () => {
  const { m, clock, log, sent, vips } = machine({ priority: 150 });
  m.start();
  clock.advance(4000);
  assert.equal(m.state, 'MASTER');
  assert.equal(vips(), true);
  m.fault('interface cli0 down');
  assert.equal(m.state, 'FAULT');
  assert.equal(vips(), false, 'addresses withdrawn');
  const n = sent.length;
  clock.advance(10_000);
  assert.equal(sent.length, n, 'no adverts while in FAULT');
  m.receive(adv(200), 99);
  assert.equal(m.state, 'FAULT', 'adverts are not heard');
  m.recover('interfaces up');
  assert.equal(m.state, 'BACKUP');
  // The other router took over meanwhile and advertises 100: we preempt (150) only after Master_Down.
  m.receive(adv(100), 99);
  assert.equal(m.state, 'BACKUP');
  clock.advance(m.masterDownMs() + 1);
  assert.equal(m.state, 'MASTER');
  assert.deepEqual(log.slice(-3).map((l) => l.replace(/@.*/, '')), ['MASTER->FAULT', 'FAULT->BACKUP', 'BACKUP->MASTER']);
});

test('FAULT before start: addresses a predecessor left are released, no election until the link is up', () => {
  const { m, clock, vips, sent } = machine();
  m.fault('interface cli0 absent');
  assert.equal(m.state, 'FAULT');
  assert.equal(vips(), false);
  clock.advance(10_000);
  assert.equal(sent.length, 0);
  m.recover('up');
  assert.equal(m.state, 'BACKUP');
});

test('effective priority (tracking): a master lowered below its peer yields to it; a backup raised above the master takes over', () => {
  // Master at 150 lowered to 90: the peer (100) preempts; the old master hears 100 > 90 and yields.
  const a = machine({ priority: 150 });
  a.m.start();
  a.clock.advance(4000);
  assert.equal(a.m.state, 'MASTER');
  a.m.setPriority(90);
  a.clock.advance(1000);
  assert.equal(a.sent[a.sent.length - 1].prio, 90, 'adverts carry the effective priority');
  a.m.receive(adv(100), 99);
  assert.equal(a.m.state, 'BACKUP');
  // Backup at 100 raised to 160 above a master at 150: the master's adverts no longer hold it.
  const b = machine({ priority: 100 });
  b.m.start();
  b.m.receive(adv(150), 99);
  b.m.setPriority(160);
  for (let i = 0; i < 4; i++) {
    b.clock.advance(1000);
    b.m.receive(adv(150), 99);
  }
  assert.equal(b.m.state, 'MASTER');
  // An address owner's 255 never changes.
  const c = machine({ priority: 255 });
  c.m.setPriority(10);
  assert.equal(c.m.cfg.priority, 255);
});

test('a master that hears a lower-priority master answers at once with an advert (keepalived: "forcing new election"), not in strict mode', () => {
  const a = machine({ priority: 150 });
  a.m.start();
  a.clock.advance(4000);
  const n = a.sent.length;
  a.m.receive(adv(100), 99);
  assert.equal(a.sent.length, n + 1);
  assert.equal(a.sent[n].t, a.clock.t);
  const s = machine({ priority: 150, strict: true });
  s.m.start();
  s.clock.advance(4000);
  const k = s.sent.length;
  s.m.receive(adv(100), 99);
  assert.equal(s.sent.length, k, 'vrrp_strict: lower_prio_no_advert');
});
