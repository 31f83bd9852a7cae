import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLblc } from '../../src/sched/lblc';
import { createLblcr } from '../../src/sched/lblcr';
import { label, service } from './helpers';

function pkt(daddr: number) {
  return { saddr: 0x0a000001, sport: 1, daddr, dport: 80 };
}

test('lblc: first pick is wlc-style, then the destination sticks', () => {
  const svc = service([{ weight: 1, active: 1 }, { weight: 1 }]);
  const s = createLblc(() => 0);
  assert.equal(label(s.schedule(svc, pkt(1))), 'B');
  // now B is busier than A, yet destination 1 keeps B
  svc.dests[1].activeConns = 1;
  svc.dests[0].activeConns = 0;
  assert.equal(label(s.schedule(svc, pkt(1))), 'B');
  // a new destination gets the least loaded
  assert.equal(label(s.schedule(svc, pkt(2))), 'A');
});

const OVERLOAD: { name: string; specs: Parameters<typeof service>[0]; want: string }[] = [
  // B remembered; B active 3 > weight 2 and A has 0·2 < 1 → lblc-overloaded → wlc picks A
  { name: 'active > weight while another is under half → moves', specs: [{ weight: 1 }, { weight: 2, active: 3 }], want: 'A' },
  // B active 3 > 2 but A active 1: 2 < 1 false; B itself 6 < 2 false → stays
  { name: 'active > weight but nobody under half → stays', specs: [{ weight: 1, active: 1 }, { weight: 2, active: 3 }], want: 'B' },
  { name: 'weight 0 → moves', specs: [{ weight: 1, active: 5 }, { weight: 0 }], want: 'A' },
  { name: 'overload flag does not matter for the remembered one (lblc rule only)', specs: [{ weight: 1, active: 9 }, { weight: 2, overloaded: true }], want: 'B' },
];

for (const c of OVERLOAD) {
  test(`lblc: ${c.name}`, () => {
    const svc = service([1, 1]);
    const s = createLblc(() => 0);
    svc.dests[0].activeConns = 1; // the first pick goes to B
    assert.equal(label(s.schedule(svc, pkt(9))), 'B');
    const want = service(c.specs).dests;
    svc.dests.forEach((d, i) => {
      d.weight = want[i].weight;
      d.activeConns = want[i].activeConns;
      d.inactiveConns = want[i].inactiveConns;
      d.overloaded = want[i].overloaded;
    });
    assert.equal(label(s.schedule(svc, pkt(9))), c.want);
  });
}

test('lblc: remembered server moves when overloaded in lblc sense, weight 0 or removed', () => {
  const svc = service([{ weight: 1, active: 1 }, 2]);
  const s = createLblc(() => 0);
  assert.equal(label(s.schedule(svc, pkt(9))), 'B');
  const [a, b] = svc.dests;
  // B: 3 active > weight 2, A: 0·2 < 1 → move to A (256·0/1 < 768/2)
  a.activeConns = 0;
  b.activeConns = 3;
  assert.equal(label(s.schedule(svc, pkt(9))), 'A');
  // now A is remembered; A 2 active > 1, but B 3·2 < 2? no; A 4 < 1? no → stays A
  a.activeConns = 2;
  assert.equal(label(s.schedule(svc, pkt(9))), 'A');
  a.weight = 0;
  assert.equal(label(s.schedule(svc, pkt(9))), 'B');
  b.available = false;
  svc.dests.splice(1, 1);
  s.update?.(svc);
  a.weight = 1;
  assert.equal(label(s.schedule(svc, pkt(9))), 'A');
});

test('lblc: entries expire after expireMs of disuse', () => {
  let now = 0;
  const svc = service([{ weight: 1, active: 1 }, 1]);
  const s = createLblc(() => now, 1000);
  assert.equal(label(s.schedule(svc, pkt(3))), 'B');
  svc.dests[1].activeConns = 2;
  now = 900;
  assert.equal(label(s.schedule(svc, pkt(3))), 'B');
  now = 2000;
  assert.equal(label(s.schedule(svc, pkt(3))), 'A');
});

test('lblc: none usable', () => {
  assert.equal(label(createLblc().schedule(service([0, { overloaded: true }]), pkt(1))), '-');
  assert.equal(createLblc().name, 'lblc');
  assert.equal(createLblcr().name, 'lblcr');
});

test('lblcr: set grows when its least member is lblc-overloaded, then uses the least of the set', () => {
  const svc = service([{ weight: 1, active: 1 }, 2, 4]);
  const s = createLblcr(() => 0);
  // wlc: A 256/1, B 0/2 → B (C 0/4 ties B → earlier B)
  assert.equal(label(s.schedule(svc, pkt(5))), 'B');
  const [a, b, c] = svc.dests;
  b.activeConns = 3; // 3 > 2 while C 0 < 4/2 → overloaded → wlc over all: C
  assert.equal(label(s.schedule(svc, pkt(5))), 'C');
  // set {B, C}: least by overhead/weight is C (0) → C
  a.activeConns = 0;
  assert.equal(label(s.schedule(svc, pkt(5))), 'C');
  // C busier per weight than B → B from the set
  c.activeConns = 8;
  b.activeConns = 1;
  assert.equal(label(s.schedule(svc, pkt(5))), 'B');
});

test('lblcr: an old set drops its most loaded member', () => {
  let now = 0;
  const svc = service([{ weight: 1, active: 1 }, 1]);
  const s = createLblcr(() => now, 1000);
  assert.equal(label(s.schedule(svc, pkt(6))), 'B');
  svc.dests[1].activeConns = 2; // B 2 > 1, A 1·2 < 1? no → not overloaded; stays
  assert.equal(label(s.schedule(svc, pkt(6))), 'B');
  svc.dests[0].activeConns = 0; // now A under half → B overloaded → add A
  assert.equal(label(s.schedule(svc, pkt(6))), 'A');
  // set {B, A}; after expireMs the most loaded (B) is dropped
  now = 500;
  svc.dests[0].activeConns = 5;
  svc.dests[1].activeConns = 0;
  assert.equal(label(s.schedule(svc, pkt(6))), 'B', 'least of the set');
  now = 1600;
  svc.dests[1].activeConns = 9;
  svc.dests[0].activeConns = 1;
  // B dropped (most loaded: 9·256 vs 256), A remains and is used
  assert.equal(label(s.schedule(svc, pkt(6))), 'A');
});
