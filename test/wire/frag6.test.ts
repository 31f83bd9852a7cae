import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DROP6_FRAG_FULL, DROP6_FRAG_UNMATCHED, Frag6Flow, Frag6Tracker, Ipv6Info, WIRE_OK, ipv6Classify,
} from '../../src/wire';
import { pkt6 } from '../fixtures/ipv6/builder6';
import { prng } from '../support/prng';

const CIP = '2001:2::2';
const VIP = '2001:2:0:100::1';

function first(id: number, sport: number, src = CIP, dst = VIP, data = 1224): Buffer {
  return pkt6({ src, dst }).frag({ offset: 0, more: true, id }).udp({ sport, dport: 53, len: data + 800 })
    .payload(Buffer.alloc(data - 8)).build();
}

function later(id: number, offset: number, more: boolean, len: number, src = CIP, dst = VIP): Buffer {
  return pkt6({ src, dst }).frag({ offset, more, id }).nextHeader(17).payload(Buffer.alloc(len)).build();
}

const info = new Ipv6Info();
function track(t: Frag6Tracker, p: Buffer, now: number, out = new Frag6Flow()): number {
  assert.equal(ipv6Classify(p, 0, p.length, info, false), WIRE_OK);
  return t.track(p, 0, info, now, out);
}

test('later fragments follow their first fragment\'s flow; the flow ends with the payload', () => {
  const t = new Frag6Tracker({ budget: 8, seed: 1 });
  const out = new Frag6Flow();
  assert.equal(track(t, first(0x1001, 40000), 0, out), WIRE_OK);
  assert.deepEqual([out.proto, out.sport, out.dport], [17, 40000, 53]);
  assert.equal(t.size, 1);
  const o2 = new Frag6Flow();
  // Out of order after the first: the last, then the middle.
  assert.equal(track(t, later(0x1001, 1224 + 400, false, 400), 10, o2), WIRE_OK);
  assert.deepEqual([o2.proto, o2.sport, o2.dport], [17, 40000, 53]);
  assert.equal(t.size, 1);
  assert.equal(track(t, later(0x1001, 1224, true, 400), 20, o2), WIRE_OK);
  assert.equal(t.size, 0, 'complete: removed');
  assert.equal(t.completed, 1);
  assert.equal(track(t, later(0x1001, 1224, true, 400), 30, o2), DROP6_FRAG_UNMATCHED);
  assert.equal(t.firsts, 1);
  assert.equal(t.followed, 2);
  assert.equal(t.unmatched, 1);
});

test('the key is (source, destination, identification)', () => {
  const t = new Frag6Tracker({ budget: 8 });
  assert.equal(track(t, first(7, 1000), 0), WIRE_OK);
  assert.equal(track(t, later(8, 1224, true, 8), 0), DROP6_FRAG_UNMATCHED);
  assert.equal(track(t, later(7, 1224, true, 8, '2001:2::3'), 0), DROP6_FRAG_UNMATCHED);
  assert.equal(track(t, later(7, 1224, true, 8, CIP, '2001:2:0:100::2'), 0), DROP6_FRAG_UNMATCHED);
  const out = new Frag6Flow();
  assert.equal(track(t, later(7, 1224, true, 8), 0, out), WIRE_OK);
  assert.equal(out.sport, 1000);
  // A repeated first fragment refreshes the flow instead of taking a second entry.
  assert.equal(track(t, first(7, 1001), 0), WIRE_OK);
  assert.equal(t.size, 1);
  assert.equal(track(t, later(7, 1224, true, 8), 0, out), WIRE_OK);
  assert.equal(out.sport, 1001);
});

test('budget: a first fragment beyond it is refused until flows expire', () => {
  const t = new Frag6Tracker({ budget: 4, expiryMs: 1000 });
  for (let i = 0; i < 4; i++) assert.equal(track(t, first(i, 2000 + i), 0), WIRE_OK);
  assert.equal(track(t, first(99, 1), 500), DROP6_FRAG_FULL);
  assert.equal(t.full, 1);
  assert.equal(t.size, 4);
  // Expired flows are swept to make room.
  assert.equal(track(t, first(99, 1), 1000), WIRE_OK);
  assert.equal(t.size, 1);
  assert.equal(t.expired, 4);
});

test('expiry: a later fragment after the lifetime is unmatched; each fragment extends it', () => {
  const t = new Frag6Tracker({ budget: 4, expiryMs: 1000 });
  assert.equal(track(t, first(1, 1), 0), WIRE_OK);
  assert.equal(track(t, later(1, 1224, true, 8), 900), WIRE_OK);
  assert.equal(track(t, later(1, 1232, true, 8), 1800), WIRE_OK, 'extended by the fragment at 900');
  assert.equal(track(t, later(1, 1240, true, 8), 2800), DROP6_FRAG_UNMATCHED);
  assert.equal(t.expired, 1);
  assert.equal(t.size, 0);
  assert.equal(track(t, first(2, 1), 0), WIRE_OK);
  assert.equal(t.expire(999, 100), 0);
  assert.equal(t.expire(1000, 100), 1);
  assert.equal(t.size, 0);
});

test('the sweep is bounded by maxSlots', () => {
  const t = new Frag6Tracker({ budget: 64, expiryMs: 10 });
  for (let i = 0; i < 64; i++) track(t, first(i, i), 0);
  let removed = 0;
  let calls = 0;
  while (t.size > 0) {
    const n = t.expire(100, 8);
    assert.ok(n <= 8);
    removed += n;
    calls++;
    assert.ok(calls < 100);
  }
  assert.equal(removed, 64);
  assert.ok(calls >= 8);
});

test('ICMPv6 echo fragments take the identifier; other protocols no ports', () => {
  const t = new Frag6Tracker({ budget: 4 });
  const echo = pkt6({ src: CIP, dst: VIP }).frag({ offset: 0, more: true, id: 3 }).icmp6({ type: 128, id: 4242, seq: 1 })
    .payload(Buffer.alloc(1224 - 8)).build();
  const out = new Frag6Flow();
  assert.equal(track(t, echo, 0, out), WIRE_OK);
  assert.deepEqual([out.proto, out.sport, out.dport], [58, 4242, 4242]);
  const esp = pkt6({ src: CIP, dst: VIP }).frag({ offset: 0, more: true, id: 4 }).nextHeader(50).payload(Buffer.alloc(64)).build();
  assert.equal(track(t, esp, 0, out), WIRE_OK);
  assert.deepEqual([out.proto, out.sport, out.dport], [50, -1, -1]);
});

test('property: the table agrees with a Map model through inserts, completions and refusals', () => {
  const r = prng(44);
  const budget = 16;
  const t = new Frag6Tracker({ budget, expiryMs: 1e12, seed: 5 });
  const model = new Map<number, { sport: number; seen: number; total: number }>();
  const out = new Frag6Flow();
  for (let step = 0; step < 6000; step++) {
    const id = (r() * 40) | 0;
    const m = model.get(id);
    if (r() < 0.4) {
      const sport = (r() * 65536) | 0;
      const rc = track(t, first(id, sport, CIP, VIP, 64), step, out);
      if (m) {
        assert.equal(rc, WIRE_OK);
        m.sport = sport;
        m.seen += 64;
      } else if (model.size >= budget) {
        assert.equal(rc, DROP6_FRAG_FULL, `step ${step}`);
        continue;
      } else {
        assert.equal(rc, WIRE_OK);
        model.set(id, { sport, seen: 64, total: -1 });
      }
    } else {
      const last = r() < 0.3;
      const offset = 64 + 8 * ((r() * 20) | 0);
      const rc = track(t, later(id, offset, !last, 64), step, out);
      if (!m) {
        assert.equal(rc, DROP6_FRAG_UNMATCHED, `step ${step}`);
        continue;
      }
      assert.equal(rc, WIRE_OK, `step ${step}`);
      assert.equal(out.sport, m.sport);
      m.seen += 64;
      if (last) m.total = offset + 64;
    }
    // Recompute completion exactly as the tracker defines it.
    const e = model.get(id);
    if (e && e.total >= 0 && e.seen >= e.total) model.delete(id);
    assert.equal(t.size, model.size, `step ${step}`);
  }
});
