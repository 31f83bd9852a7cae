import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDh } from '../../src/sched/dh';
import { createSh, SH_TAB_SIZE } from '../../src/sched/sh';
import { SchedPacket } from '../../src/ipvs/types';
import { label, service } from './helpers';

/** hash_32(v, 8) computed independently with BigInt: top 8 bits of the 32-bit product. */
function hash32Ref(v: number): number {
  return Number(((BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn) >> 24n);
}

/** dh bucket: low byte of addr · 2654435761. */
function dhRef(addr: number): number {
  return Number((BigInt(addr >>> 0) * 2654435761n) & 0xffn);
}

function pkt(saddr: number, sport = 1234, daddr = 0xc6120101): SchedPacket {
  return { saddr, sport, daddr, dport: 80 };
}

/** Bucket owner for sh weights: buckets dealt `weight` (≥1) at a time in list order. */
function shOwner(weights: number[], bucket: number): string {
  const cycle: number[] = [];
  weights.forEach((w, i) => { for (let k = 0; k < Math.max(1, w); k++) cycle.push(i); });
  return String.fromCharCode(65 + cycle[bucket % cycle.length]);
}

const ADDRS = [0, 1, 0xc6120001, 0xc6120002, 0xc612ff07, 0x0a000001, 0xffffffff, 0x7f000001];

test('sh: bucket of an address is hash_32(addr, 8); table dealt by weight', () => {
  for (const weights of [[1, 1], [2, 1], [1, 3, 2], [5]]) {
    const svc = service(weights);
    const s = createSh();
    s.update?.(svc);
    for (const a of ADDRS) {
      assert.equal(label(s.schedule(svc, pkt(a))), shOwner(weights, hash32Ref(a)), `${weights} ${a}`);
    }
  }
});

test('sh: the source port is ignored without sh-port and hashed with it', () => {
  const svc = service([1, 1, 1, 1]);
  const plain = createSh();
  const port = createSh(['sh-port']);
  const a = 0xc6120005;
  const seen = new Set<string>();
  for (let p = 1000; p < 1064; p++) {
    assert.equal(label(plain.schedule(svc, pkt(a, p))), shOwner([1, 1, 1, 1], hash32Ref(a)));
    const got = label(port.schedule(svc, pkt(a, p)));
    assert.equal(got, shOwner([1, 1, 1, 1], hash32Ref((a + p) >>> 0)));
    seen.add(got);
  }
  assert.equal(seen.size, 4);
});

test('sh: shares follow weights over many clients', () => {
  const svc = service([1, 3]);
  const s = createSh();
  const t: Record<string, number> = {};
  for (let i = 0; i < 4096; i++) {
    const k = label(s.schedule(svc, pkt(0xc6120000 + i * 7919)));
    t[k] = (t[k] ?? 0) + 1;
  }
  // 64 A-buckets, 192 B-buckets of 256
  assert.ok(Math.abs(t.A / 4096 - 0.25) < 0.04, JSON.stringify(t));
});

test('sh: weight 0 / overloaded bucket owner yields no server; sh-fallback probes on', () => {
  const svc = service([1, 1]);
  const a = ADDRS.find((x) => hash32Ref(x) % 2 === 0) as number; // owned by A
  const s = createSh();
  const f = createSh(['sh-fallback']);
  assert.equal(label(s.schedule(svc, pkt(a))), 'A');
  svc.dests[0].weight = 0;
  s.update?.(svc);
  f.update?.(svc);
  // weight 0 still owns one bucket in turn: deal is A,B,A,B,...
  assert.equal(label(s.schedule(svc, pkt(a))), '-');
  assert.equal(label(f.schedule(svc, pkt(a))), 'B');
  svc.dests[0].weight = 1;
  svc.dests[0].overloaded = true;
  s.update?.(svc);
  f.update?.(svc);
  assert.equal(label(s.schedule(svc, pkt(a))), '-');
  assert.equal(label(f.schedule(svc, pkt(a))), 'B');
  svc.dests[1].overloaded = true;
  assert.equal(label(f.schedule(svc, pkt(a))), '-');
});

test('sh: no dests', () => {
  assert.equal(label(createSh().schedule(service([]), pkt(1))), '-');
  assert.equal(SH_TAB_SIZE, 256);
});

test('dh: bucket is the low byte of daddr·2654435761, dealt one per server', () => {
  for (const n of [1, 2, 3, 5]) {
    const svc = service(new Array(n).fill(7));
    const s = createDh();
    for (const d of ADDRS) {
      const want = String.fromCharCode(65 + (dhRef(d) % n));
      assert.equal(label(s.schedule(svc, pkt(0xc6120001, 1, d))), want);
      // the client does not matter
      assert.equal(label(s.schedule(svc, pkt(0x0a0a0a0a, 9, d))), want);
    }
  }
});

test('dh: unavailable owner yields no server', () => {
  const svc = service([1, 1]);
  const d = ADDRS.find((x) => dhRef(x) % 2 === 1) as number;
  const s = createDh();
  assert.equal(label(s.schedule(svc, pkt(1, 1, d))), 'B');
  svc.dests[1].weight = 0;
  assert.equal(label(s.schedule(svc, pkt(1, 1, d))), '-');
  svc.dests[1].weight = 1;
  svc.dests[1].overloaded = true;
  assert.equal(label(s.schedule(svc, pkt(1, 1, d))), '-');
});
