import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnTable, F_NOOUTPUT, F_TEMPLATE } from '../../src/ipvs/conn';
import { IPPROTO_TCP, IPPROTO_UDP, FWD_MASQ, FWD_TUNNEL } from '../../src/ipvs/types';
import { prng } from '../support/prng';

const C = 0xc6120001; // 198.18.0.1 client
const V = 0xc6120101; // 198.18.1.1 VIP
const D = 0xc6130002; // 198.19.0.2 real server


test('insert, then lookup from both directions; every key field matters', () => {
  const t = new ConnTable({ seed: 42 });
  const id = t.insert(IPPROTO_TCP, C, 40000, V, 80, D, 8080, FWD_MASQ, 0, 3, 9, 1, 900, 0);
  assert.ok(id >= 0);
  assert.equal(t.size, 1);
  assert.equal(t.lookupIn(IPPROTO_TCP, C, 40000, V, 80), id);
  assert.equal(t.lookupOut(IPPROTO_TCP, D, 8080, C, 40000), id);
  // Each field of the in-key changed alone misses.
  assert.equal(t.lookupIn(IPPROTO_UDP, C, 40000, V, 80), -1);
  assert.equal(t.lookupIn(IPPROTO_TCP, C + 1, 40000, V, 80), -1);
  assert.equal(t.lookupIn(IPPROTO_TCP, C, 40001, V, 80), -1);
  assert.equal(t.lookupIn(IPPROTO_TCP, C, 40000, V + 1, 80), -1);
  assert.equal(t.lookupIn(IPPROTO_TCP, C, 40000, V, 81), -1);
  // The out-key is the real server's endpoint, not the VIP.
  assert.equal(t.lookupOut(IPPROTO_TCP, V, 80, C, 40000), -1);
  assert.equal(t.lookupOut(IPPROTO_TCP, D, 8081, C, 40000), -1);
  assert.equal(t.lookupOut(IPPROTO_TCP, D, 8080, C, 40001), -1);
  assert.equal(t.lookupOut(IPPROTO_UDP, D, 8080, C, 40000), -1);
  // Fields read back.
  assert.deepEqual(
    [t.proto(id), t.caddr(id), t.cport(id), t.vaddr(id), t.vport(id), t.daddr(id), t.dport(id),
      t.fwd(id), t.flags(id), t.destId(id), t.svcId(id), t.state(id)],
    [IPPROTO_TCP, C, 40000, V, 80, D, 8080, FWD_MASQ, 0, 3, 9, 1]);
  // Addresses ≥ 2^31 survive as unsigned, also when passed as signed int32.
  const id2 = t.insert(IPPROTO_UDP, 0xfffffffe, 1, 0x80000000, 53, 0xc0000001, 53, FWD_TUNNEL, F_NOOUTPUT, 0, 0, 0, 300, 0);
  assert.equal(t.caddr(id2), 0xfffffffe);
  assert.equal(t.lookupIn(IPPROTO_UDP, 0xfffffffe | 0, 1, 0x80000000 | 0, 53), id2);
  assert.equal(t.lookupOut(IPPROTO_UDP, 0xc0000001, 53, 0xfffffffe, 1), id2);
  t.setState(id, 5);
  assert.equal(t.state(id), 5);
});

test('collisions: 4 buckets, 3000 entries, lookups and removals stay exact', () => {
  const t = new ConnTable({ seed: 7, buckets: 4, maxLoadFactor: Infinity, initialCapacity: 64 });
  assert.equal(t.bucketCount, 4);
  const ids: number[] = [];
  for (let i = 0; i < 3000; i++) {
    ids.push(t.insert(IPPROTO_TCP, C + (i % 7), 1024 + i, V, 80, D + (i % 5), 8000 + (i % 3), FWD_MASQ, 0, 0, 0, 1, 900, 0));
  }
  assert.equal(t.bucketCount, 4, 'no resize with maxLoadFactor Infinity');
  for (let i = 0; i < 3000; i++) {
    assert.equal(t.lookupIn(IPPROTO_TCP, C + (i % 7), 1024 + i, V, 80), ids[i]);
    assert.equal(t.lookupOut(IPPROTO_TCP, D + (i % 5), 8000 + (i % 3), C + (i % 7), 1024 + i), ids[i]);
  }
  for (let i = 0; i < 3000; i += 2) t.remove(ids[i]);
  assert.equal(t.size, 1500);
  for (let i = 0; i < 3000; i++) {
    const want = i % 2 ? ids[i] : -1;
    assert.equal(t.lookupIn(IPPROTO_TCP, C + (i % 7), 1024 + i, V, 80), want);
    assert.equal(t.lookupOut(IPPROTO_TCP, D + (i % 5), 8000 + (i % 3), C + (i % 7), 1024 + i), want);
  }
});

test('remove frees the id for reuse; double remove is a no-op', () => {
  const t = new ConnTable({ seed: 1 });
  const a = t.insert(IPPROTO_TCP, C, 1, V, 80, D, 80, FWD_MASQ, 0, 0, 0, 1, 900, 0);
  const b = t.insert(IPPROTO_TCP, C, 2, V, 80, D, 80, FWD_MASQ, 0, 0, 0, 1, 900, 0);
  t.remove(a);
  t.remove(a);
  assert.equal(t.size, 1);
  assert.equal(t.has(a), false);
  assert.equal(t.lookupIn(IPPROTO_TCP, C, 1, V, 80), -1);
  const c = t.insert(IPPROTO_UDP, C, 3, V, 53, D, 53, FWD_MASQ, 0, 0, 0, 0, 300, 0);
  assert.equal(c, a, 'the freed id is reused');
  assert.equal(t.lookupIn(IPPROTO_UDP, C, 3, V, 53), c);
  assert.equal(t.lookupIn(IPPROTO_TCP, C, 2, V, 80), b);
  assert.equal(t.proto(c), IPPROTO_UDP);
  // The reused id's old timer is gone: only the new timeout applies.
  assert.equal(t.remaining(c, 0), 300);
  let n = 0;
  assert.equal(t.expire(299_000, () => n++), 0);
  assert.equal(n, 0);
});

test('maxConns bounds the table', () => {
  const t = new ConnTable({ seed: 1, maxConns: 10, initialCapacity: 4 });
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(t.insert(IPPROTO_TCP, C, i, V, 80, D, 80, FWD_MASQ, 0, 0, 0, 1, 900, 0));
  assert.ok(ids.every((x) => x >= 0));
  assert.equal(t.capacity, 10);
  assert.equal(t.insert(IPPROTO_TCP, C, 99, V, 80, D, 80, FWD_MASQ, 0, 0, 0, 1, 900, 0), -1);
  t.remove(ids[3]);
  assert.equal(t.insert(IPPROTO_TCP, C, 99, V, 80, D, 80, FWD_MASQ, 0, 0, 0, 1, 900, 0), ids[3]);
});

test('expiry: never before the expiry time, at most one tick (plus the polling step) late', () => {
  const tick = 1000;
  const step = 50;
  // 16 slots of 1 s: timeouts up to 100 s need several rounds of the wheel.
  const t = new ConnTable({ seed: 5, tickMs: tick, wheelSlots: 16 });
  const t0 = 123_457; // not tick-aligned
  const rnd = prng(99);
  const due = new Map<number, number>();
  for (let i = 0; i < 300; i++) {
    const timeout = 1 + Math.floor(rnd() * 100);
    const start = t0 + Math.floor(rnd() * 900);
    const id = t.insert(IPPROTO_TCP, C, i, V, 80, D, 80, FWD_MASQ, 0, 0, 0, 1, timeout, start);
    due.set(id, start + timeout * 1000);
  }
  // Polling starts after the last insert time.
  let removed = 0;
  for (let now = t0 + 900; now <= t0 + 103_000; now += step) {
    removed += t.expire(now, (id) => {
      const d = due.get(id)!;
      assert.ok(now >= d, `id ${id} expired ${d - now} ms early`);
      assert.ok(now < d + tick + step, `id ${id} expired ${now - d} ms late`);
      due.delete(id);
    });
  }
  assert.equal(removed, 300);
  assert.equal(due.size, 0);
  assert.equal(t.size, 0);
});

test('touch postpones and shortens; remaining() and expiresAt() follow', () => {
  const t = new ConnTable({ seed: 5 });
  const id = t.insert(IPPROTO_TCP, C, 1, V, 80, D, 80, FWD_MASQ, 0, 0, 0, 3, 60, 0);
  assert.equal(t.remaining(id, 0), 60);
  assert.equal(t.expiresAt(id), 60_000);
  assert.equal(t.expire(50_000, () => assert.fail('early')), 0);
  t.touch(id, 900, 50_000); // postpone
  assert.equal(t.remaining(id, 50_000), 900);
  assert.equal(t.expire(61_000, () => assert.fail('expired at the old time')), 0);
  assert.equal(t.expire(949_000, () => assert.fail('early')), 0);
  t.touch(id, 10, 949_000); // shorten (ESTABLISHED → CLOSE)
  assert.equal(t.remaining(id, 949_000), 10);
  assert.equal(t.expire(958_999, () => assert.fail('early')), 0);
  const seen: number[] = [];
  assert.equal(t.expire(960_000, (x) => seen.push(x)), 1);
  assert.deepEqual(seen, [id]);
  assert.equal(t.has(id), false);
});

test('touch to an earlier time than the slot the entry sits in takes effect at once', () => {
  const t = new ConnTable({ seed: 6 });
  const id = t.insert(IPPROTO_TCP, C, 1, V, 80, D, 80, FWD_MASQ, 0, 0, 0, 1, 900, 0);
  t.touch(id, 10, 1000); // ESTABLISHED → CLOSE right away: due at 11 s, not 900 s
  assert.equal(t.expire(10_999, () => assert.fail('early')), 0);
  assert.equal(t.expire(11_000, () => {}), 1);
  assert.equal(t.size, 0);
});

test('expiry callback: reads fields, removes others and itself, inserts, keeps alive', () => {
  const t = new ConnTable({ seed: 11 });
  const mk = (port: number, timeout: number, destId: number) =>
    t.insert(IPPROTO_TCP, C, port, V, 80, D, 80, FWD_MASQ, 0, destId, 0, 1, timeout, 0);
  const a = mk(1, 10, 100);
  const b = mk(2, 10, 101); // due with a
  const c = mk(3, 10, 102); // due with a; removes itself
  const d = mk(4, 500, 103); // later; removed from a's callback
  const e = mk(5, 10, 104); // due; kept alive by touch in its callback
  const seen: number[] = [];
  let inserted = -1;
  const n = t.expire(11_000, (id) => {
    seen.push(t.destId(id));
    assert.equal(t.has(id), true, 'fields are readable in the callback');
    if (id === a || id === b) {
      // Whichever of a/b fires first removes the other one.
      t.remove(id === a ? b : a);
      t.remove(d);
      inserted = t.insert(IPPROTO_UDP, C, 9, V, 53, D, 53, FWD_MASQ, 0, 0, 0, 0, 300, 11_000);
      assert.notEqual(inserted, id, 'the expiring id is not reused while its callback runs');
    }
    if (id === c) t.remove(c);
    if (id === e) t.touch(e, 30, 11_000);
  });
  // One of a/b fired and removed the other; c fired and removed itself; e stayed.
  assert.equal(seen.length, 3);
  assert.ok(seen.includes(100) !== seen.includes(101));
  assert.ok(seen.includes(102) && seen.includes(104));
  assert.equal(n, 2, 'a-or-b and c were removed; e was kept');
  // (ids are recycled, so check by key: the insert may have reused d's id)
  for (const port of [1, 2, 3, 4]) assert.equal(t.lookupIn(IPPROTO_TCP, C, port, V, 80), -1, `port ${port}`);
  assert.equal(t.lookupIn(IPPROTO_TCP, C, 5, V, 80), e);
  assert.equal(t.lookupIn(IPPROTO_UDP, C, 9, V, 53), inserted);
  assert.equal(t.size, 2);
  assert.equal(t.remaining(e, 11_000), 30);
  assert.equal(t.expire(40_999, () => assert.fail('e early')), 0);
  assert.equal(t.expire(41_000, () => {}), 1);
});

test('a throwing expiry callback loses no entry', () => {
  const t = new ConnTable({ seed: 12 });
  for (let i = 0; i < 20; i++) t.insert(IPPROTO_TCP, C, i, V, 80, D, 80, FWD_MASQ, 0, i, 0, 1, 5 + (i % 4), 0);
  let calls = 0;
  assert.throws(() => t.expire(10_000, () => { if (++calls === 3) throw new Error('boom'); }), /boom/);
  assert.equal(t.size, 17, 'the entry whose callback threw is removed too');
  const rest: number[] = [];
  assert.equal(t.expire(10_000, (id) => rest.push(id)), 17, 'the others expire at the next call');
  assert.equal(t.size, 0);
});

test('a long pause in expire() catches up without missing or early removals', () => {
  const t = new ConnTable({ seed: 3, wheelSlots: 8 });
  const ids = [5, 7, 20, 100, 1000].map((to, i) =>
    t.insert(IPPROTO_TCP, C, i, V, 80, D, 80, FWD_MASQ, 0, to, 0, 1, to, 0));
  const out: number[] = [];
  t.expire(50_000, (id) => out.push(t.destId(id)));
  assert.deepEqual(out.sort((x, y) => x - y), [5, 7, 20]);
  t.expire(999_999, (id) => out.push(t.destId(id)));
  assert.deepEqual(out, [5, 7, 20, 100]);
  t.expire(1_000_000, (id) => out.push(t.destId(id)));
  assert.deepEqual(out, [5, 7, 20, 100, 1000]);
  assert.equal(t.size, 0);
  void ids;
});

test('growth past the initial capacity keeps every entry, lookup and timer', () => {
  const t = new ConnTable({ seed: 8, initialCapacity: 16, buckets: 16 });
  const n = 5000;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(t.insert(IPPROTO_TCP, C + i, 1000 + (i & 1023), V, 443, D + (i & 15), 443, FWD_MASQ, i & 1 ? F_TEMPLATE : 0, i, i >> 4, 1, 100 + (i % 3), 0));
  }
  assert.equal(t.size, n);
  assert.ok(t.capacity >= n && t.capacity <= 2 * n);
  assert.ok(t.bucketCount >= n, `indexes grew: ${t.bucketCount}`);
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    assert.equal(t.lookupIn(IPPROTO_TCP, C + i, 1000 + (i & 1023), V, 443), id);
    assert.equal(t.lookupOut(IPPROTO_TCP, D + (i & 15), 443, C + i, 1000 + (i & 1023)), id);
    assert.equal(t.destId(id), i);
    assert.equal(t.svcId(id), i >> 4);
    assert.equal(t.flags(id), i & 1 ? F_TEMPLATE : 0);
  }
  let count = 0;
  t.forEach(() => count++);
  assert.equal(count, n);
  const expired = new Set<number>();
  t.expire(100_500, (id) => expired.add(t.destId(id))); // the 100 s ones, not 101 s
  assert.equal(expired.size, Math.ceil(n / 3));
  for (const i of expired) assert.equal(i % 3, 0);
});

test('the seed changes the bucket distribution; the same seed reproduces it', () => {
  const mk = (seed: number) => new ConnTable({ seed, buckets: 1024, maxLoadFactor: Infinity });
  const a = mk(1), a2 = mk(1), b = mk(2);
  let same = 0, sameAddr = 0;
  const load = new Uint32Array(1024);
  for (let i = 0; i < 10_000; i++) {
    const cport = 1024 + i;
    const ba = a.bucketOf(IPPROTO_TCP, C, cport);
    assert.equal(ba, a2.bucketOf(IPPROTO_TCP, C, cport));
    if (ba === b.bucketOf(IPPROTO_TCP, C, cport)) same++;
    // Clients of one port: the address alone spreads them too.
    if (a.bucketOf(IPPROTO_TCP, (D + i) >>> 0, 80) === b.bucketOf(IPPROTO_TCP, (D + i) >>> 0, 80)) sameAddr++;
    load[ba]++;
  }
  // Independent buckets agree with probability 1/1024: about 10 of 10,000.
  assert.ok(same < 40, `seeds 1 and 2 agree on ${same} buckets`);
  assert.ok(sameAddr < 40, `by client address: ${sameAddr}`);
  // Sequential client ports from one client spread evenly (mean 9.8 per bucket).
  assert.ok(Math.max(...load) < 30, `max bucket load ${Math.max(...load)}`);
});

test('randomized model test against a Map: 20,000 operations', () => {
  const rnd = prng(2024);
  const tick = 1000;
  const t = new ConnTable({ seed: 77, initialCapacity: 8, buckets: 2, wheelSlots: 32, tickMs: tick });
  type Rec = { id: number; proto: number; c: number; cp: number; v: number; vp: number; d: number; dp: number; exp: number; dest: number };
  const model = new Map<string, Rec>(); // in-key → record
  const byId = new Map<number, Rec>();
  const inKey = (p: number, c: number, cp: number, v: number, vp: number) => `${p}/${c}/${cp}/${v}/${vp}`;
  let now = 5_000_000; // tick-aligned: with whole-second timeouts expiry is exact
  let ops = 0, inserts = 0, expiries = 0;
  const randKey = () => {
    const proto = rnd() < 0.7 ? IPPROTO_TCP : IPPROTO_UDP;
    const c = C + Math.floor(rnd() * 20);
    const cp = 1000 + Math.floor(rnd() * 40);
    const vi = Math.floor(rnd() * 3), vpi = Math.floor(rnd() * 2);
    // The real server is a function of the service so that the out-key identifies an entry.
    return { proto, c, cp, v: V + vi, vp: 80 + vpi, d: D + vi * 2 + vpi, dp: 8000 + vpi };
  };
  for (; ops < 20_000; ops++) {
    const r = rnd();
    if (r < 0.35) {
      const k = randKey();
      const got = t.lookupIn(k.proto, k.c, k.cp, k.v, k.vp);
      const m = model.get(inKey(k.proto, k.c, k.cp, k.v, k.vp));
      assert.equal(got, m ? m.id : -1, `op ${ops}: lookupIn`);
      if (got === -1) {
        const timeout = 1 + Math.floor(rnd() * 60);
        const dest = Math.floor(rnd() * 1000);
        const id = t.insert(k.proto, k.c, k.cp, k.v, k.vp, k.d, k.dp, FWD_MASQ, 0, dest, 0, 1, timeout, now);
        assert.ok(id >= 0);
        assert.equal(byId.has(id), false, 'a live id is never handed out twice');
        const rec = { id, proto: k.proto, c: k.c, cp: k.cp, v: k.v, vp: k.vp, d: k.d, dp: k.dp, exp: now + timeout * 1000, dest };
        model.set(inKey(k.proto, k.c, k.cp, k.v, k.vp), rec);
        byId.set(id, rec);
        inserts++;
      } else if (rnd() < 0.5) {
        const timeout = 1 + Math.floor(rnd() * 60);
        t.touch(got, timeout, now);
        m!.exp = now + timeout * 1000;
      }
    } else if (r < 0.55) {
      const k = randKey();
      const got = t.lookupOut(k.proto, k.d, k.dp, k.c, k.cp);
      const m = model.get(inKey(k.proto, k.c, k.cp, k.v, k.vp));
      assert.equal(got, m ? m.id : -1, `op ${ops}: lookupOut`);
    } else if (r < 0.7) {
      if (byId.size === 0) continue;
      const recs = [...byId.values()];
      const m = recs[Math.floor(rnd() * recs.length)];
      t.remove(m.id);
      byId.delete(m.id);
      model.delete(inKey(m.proto, m.c, m.cp, m.v, m.vp));
    } else {
      now += tick * Math.floor(1 + rnd() * 8);
      const fired: number[] = [];
      t.expire(now, (id) => {
        const m = byId.get(id);
        assert.ok(m, `op ${ops}: expired id ${id} is not live in the model`);
        assert.equal(t.destId(id), m!.dest);
        fired.push(id);
      });
      const want = [...byId.values()].filter((m) => m.exp <= now).map((m) => m.id).sort((x, y) => x - y);
      assert.deepEqual(fired.sort((x, y) => x - y), want, `op ${ops}: expired set at ${now}`);
      for (const id of fired) {
        const m = byId.get(id)!;
        byId.delete(id);
        model.delete(inKey(m.proto, m.c, m.cp, m.v, m.vp));
        expiries++;
      }
    }
    assert.equal(t.size, byId.size);
  }
  let live = 0;
  t.forEach((id) => { assert.ok(byId.has(id)); live++; });
  assert.equal(live, byId.size);
  assert.ok(inserts > 3000 && expiries > 1000, `inserts ${inserts}, expiries ${expiries}`);
});

test('clear calls back for every entry and empties the table', () => {
  const t = new ConnTable({ seed: 4 });
  for (let i = 0; i < 100; i++) t.insert(IPPROTO_TCP, C, i, V, 80, D, 80, FWD_MASQ, 0, i, 0, 1, 10, 0);
  let sum = 0;
  t.clear((id) => { sum += t.destId(id); });
  assert.equal(sum, 4950);
  assert.equal(t.size, 0);
  assert.equal(t.lookupIn(IPPROTO_TCP, C, 5, V, 80), -1);
  assert.equal(t.expire(20_000, () => assert.fail('cleared entries must not fire')), 0);
  const id = t.insert(IPPROTO_TCP, C, 5, V, 80, D, 80, FWD_MASQ, 0, 0, 0, 1, 10, 30_000);
  assert.equal(t.lookupIn(IPPROTO_TCP, C, 5, V, 80), id);
  assert.equal(t.remaining(id, 30_000), 10);
});

test('memory: bytes per entry from the typed arrays', (tc) => {
  const t = new ConnTable({ seed: 9, initialCapacity: 1 << 16 });
  for (let i = 0; i < 1 << 16; i++) t.insert(IPPROTO_TCP, C + (i >> 10), i & 1023, V, 80, D, 80, FWD_MASQ, 0, 0, 0, 1, 900, 0);
  assert.equal(t.capacity, 1 << 16);
  const perEntry = t.byteLength / t.capacity;
  tc.diagnostic(`bytes/entry at 65536 entries: ${perEntry.toFixed(1)} (fixed ${ConnTable.BYTES_PER_ENTRY} + indexes and wheel heads); buckets ${t.bucketCount}`);
  assert.ok(perEntry <= 128, `${perEntry} bytes per entry`);
  assert.ok(perEntry >= ConnTable.BYTES_PER_ENTRY);
});

test('addresses at 2^31 and 2^32-1: keys in either form find the entry; accessors give uint32 and int32', () => {
  const t = new ConnTable({ seed: 5 });
  const C = 0xffffffff, V = 0x80000000, D = 0x7fffffff;
  const id = t.insert(IPPROTO_TCP, C, 1, V, 80, D, 8080, FWD_MASQ, 0, 1, 1, 0, 60, 0);
  assert.equal(t.lookupIn(IPPROTO_TCP, C, 1, V, 80), id);
  assert.equal(t.lookupIn(IPPROTO_TCP, C | 0, 1, V | 0, 80), id);
  assert.equal(t.lookupOut(IPPROTO_TCP, D, 8080, C, 1), id);
  assert.equal(t.lookupOut(IPPROTO_TCP, D | 0, 8080, C | 0, 1), id);
  assert.deepEqual([t.caddr(id), t.vaddr(id), t.daddr(id)], [C, V, D]);
  assert.deepEqual([t.caddrI32(id), t.vaddrI32(id), t.daddrI32(id)], [-1, -0x80000000, 0x7fffffff]);
  assert.equal(t.bucketOf(IPPROTO_TCP, C, 1), t.bucketOf(IPPROTO_TCP, C | 0, 1));
});

test('address filters: lookups by an address no live entry has miss, and follow inserts and removals', () => {
  const t = new ConnTable({ seed: 9, buckets: 16 });
  const V = 0xc6126401, D = 0xc613000b;
  assert.equal(t.lookupIn(IPPROTO_TCP, 1, 1, V, 80), -1);
  const ids: number[] = [];
  for (let k = 0; k < 200; k++) ids.push(t.insert(IPPROTO_TCP, 0xc6120000 + k, 1000 + k, V, 80, D + (k & 1), 80, FWD_MASQ, 0, 1, 1, 0, 60, 0));
  for (let k = 0; k < 200; k++) {
    assert.equal(t.lookupIn(IPPROTO_TCP, 0xc6120000 + k, 1000 + k, V, 80), ids[k]);
    assert.equal(t.lookupOut(IPPROTO_TCP, D + (k & 1), 80, 0xc6120000 + k, 1000 + k), ids[k]);
  }
  // A reply's destination (the client) is no virtual address; a client's source no real server.
  assert.equal(t.lookupIn(IPPROTO_TCP, D, 80, 0xc6120000, 1000), -1);
  assert.equal(t.lookupOut(IPPROTO_TCP, 0xc6120000, 1000, V, 80), -1);
  for (let k = 0; k < 200; k += 2) t.remove(ids[k]);
  for (let k = 0; k < 200; k++) {
    const want = k % 2 === 0 ? -1 : ids[k];
    assert.equal(t.lookupIn(IPPROTO_TCP, 0xc6120000 + k, 1000 + k, V, 80), want);
    assert.equal(t.lookupOut(IPPROTO_TCP, D + (k & 1), 80, 0xc6120000 + k, 1000 + k), want);
  }
  // After the last entry of real server D goes, entries of D+1 are still found (grown through a rehash).
  for (let k = 1; k < 200; k += 2) assert.equal(t.lookupOut(IPPROTO_TCP, D + 1, 80, 0xc6120000 + k, 1000 + k), ids[k]);
  t.clear();
  assert.equal(t.lookupIn(IPPROTO_TCP, 0xc6120001, 1001, V, 80), -1);
  const again = t.insert(IPPROTO_TCP, 0xc6120001, 1001, V, 80, D, 80, FWD_MASQ, 0, 1, 1, 0, 60, 0);
  assert.equal(t.lookupIn(IPPROTO_TCP, 0xc6120001, 1001, V, 80), again, 'filters reset by clear');
  assert.equal(t.lookupOut(IPPROTO_TCP, D, 80, 0xc6120001, 1001), again);
});

test('lookups agree with a reference model over random inserts, removals, expiry and growth (filters, rehash)', () => {
  const rnd = prng(77);
  const t = new ConnTable({ seed: 3, initialCapacity: 16, buckets: 4, maxConns: 5000 });
  type Key = { c: number; cp: number; v: number; vp: number; d: number; dp: number };
  const live = new Map<number, Key>();
  const pick = (xs: number[]) => xs[(rnd() * xs.length) | 0];
  const vips = [0xc6126401, 0x80000000, 0xffffffff];
  const rips = [0xc613000b, 0x7fffffff, 0x80000001];
  let now = 0;
  for (let step = 0; step < 20000; step++) {
    const r = rnd();
    if (r < 0.55 && t.size < 5000) {
      const k: Key = {
        c: (rnd() * 2 ** 32) >>> 0, cp: (rnd() * 65536) | 0, v: pick(vips), vp: pick([80, 443]),
        d: pick(rips), dp: pick([80, 8080]),
      };
      if (t.lookupIn(IPPROTO_TCP, k.c, k.cp, k.v, k.vp) >= 0 || t.lookupOut(IPPROTO_TCP, k.d, k.dp, k.c, k.cp) >= 0) continue;
      const id = t.insert(IPPROTO_TCP, k.c, k.cp, k.v, k.vp, k.d, k.dp, FWD_MASQ, 0, 1, 1, 0, 1 + ((rnd() * 5) | 0), now);
      live.set(id, k);
    } else if (r < 0.85 && live.size > 0) {
      const ids = [...live.keys()];
      const id = ids[(rnd() * ids.length) | 0];
      t.remove(id);
      live.delete(id);
    } else {
      now += 1000;
      t.expire(now, (id) => { live.delete(id); });
    }
    if (step % 200 === 0) {
      for (const [id, k] of live) {
        assert.equal(t.lookupIn(IPPROTO_TCP, k.c, k.cp, k.v, k.vp), id, `step ${step}: in`);
        assert.equal(t.lookupOut(IPPROTO_TCP, k.d | 0, k.dp, k.c | 0, k.cp), id, `step ${step}: out`);
      }
      assert.equal(t.size, live.size);
      // Replies are not found in the in-index, client packets without entries not in the out-index.
      for (const k of [...live.values()].slice(0, 20)) {
        assert.equal(t.lookupIn(IPPROTO_TCP, k.d, k.dp, k.c, k.cp), -1);
        assert.equal(t.lookupOut(IPPROTO_TCP, k.c, k.cp, k.v, k.vp), -1);
      }
    }
  }
});

test('one client endpoint on many services: one chain, each entry found from both directions, removals unlink the right one', () => {
  // ip_vs_conn_hashkey's layout: the index is keyed by the client endpoint only, so the entries
  // of one (caddr, cport) towards 64 services share a bucket and are told apart by the rest.
  const t = new ConnTable({ seed: 3, buckets: 64, maxLoadFactor: Infinity });
  const ids: number[] = [];
  for (let s = 0; s < 64; s++) {
    ids.push(t.insert(IPPROTO_TCP, C, 40000, V + s, 80, D + s, 8080, FWD_MASQ, 0, s, s, 1, 60, 0));
  }
  const b = t.bucketOf(IPPROTO_TCP, C, 40000);
  for (let s = 0; s < 64; s++) {
    assert.equal(t.lookupIn(IPPROTO_TCP, C, 40000, V + s, 80), ids[s]);
    assert.equal(t.lookupOut(IPPROTO_TCP, D + s, 8080, C, 40000), ids[s]);
    assert.equal(t.lookupIn(IPPROTO_UDP, C, 40000, V + s, 80), -1);
  }
  assert.equal(t.bucketOf(IPPROTO_TCP, C, 40000), b);
  for (let s = 0; s < 64; s += 2) t.remove(ids[s]);
  for (let s = 0; s < 64; s++) {
    const want = s % 2 === 0 ? -1 : ids[s];
    assert.equal(t.lookupIn(IPPROTO_TCP, C, 40000, V + s, 80), want, `in ${s}`);
    assert.equal(t.lookupOut(IPPROTO_TCP, D + s, 8080, C, 40000), want, `out ${s}`);
  }
  assert.equal(t.size, 32);
});
