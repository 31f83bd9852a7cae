/**
 * Property test of the whole pipeline: 120,000 random and mutated packets (truncated
 * headers, bad IHL, bad lengths, fragments, options, bad checksums, garbage) go through the
 * director on a MemoryDevice. No exception may escape, and every packet read must be either
 * written back or counted under exactly one named drop reason:
 *
 *   rx_packets == (tx_packets - icmp_sent) + sum(drops)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { DROP_NAMES } from '../../src/ipvs/pipeline';
import { ipv4Check, WIRE_OK } from '../../src/wire/index';
import { pkt } from '../support/builder';
import { prng } from '../support/prng';


const VIP = '198.18.100.1';
const RIPS = ['198.19.0.11', '198.19.0.12'];

function templates(r: () => number): Buffer[] {
  const sport = 1024 + Math.floor(r() * 60000);
  const client = `198.18.0.${2 + Math.floor(r() * 200)}`;
  const rip = RIPS[Math.floor(r() * 2)];
  const payload = Buffer.alloc(Math.floor(r() * 64), 0x5a);
  return [
    pkt().ip({ src: client, dst: VIP }).tcp({ sport, dport: 80, flags: 'S' }).build(),
    pkt().ip({ src: client, dst: VIP }).tcp({ sport, dport: 80, flags: 'A' }).payload(payload).build(),
    pkt().ip({ src: client, dst: VIP, df: true }).tcp({ sport, dport: 80, flags: 'FA' }).build(),
    pkt().ip({ src: rip, dst: client }).tcp({ sport: 8080, dport: sport, flags: 'SA' }).build(),
    pkt().ip({ src: client, dst: VIP }).udp({ sport, dport: 53 }).payload(payload).build(),
    pkt().ip({ src: rip, dst: client }).udp({ sport: 53, dport: sport }).payload(payload).build(),
    pkt().ip({ src: client, dst: VIP }).tcp({ sport, dport: 81, flags: 'S' }).build(),
    pkt().ip({ src: client, dst: VIP }).icmp({ type: 8, id: sport, seq: 1 }).payload(payload).build(),
    pkt().ip({ src: client, dst: VIP, options: Buffer.from([1, 1, 1, 0]) }).tcp({ sport, dport: 80, flags: 'S' }).build(),
    pkt().ip({ src: client, dst: VIP, mf: true }).udp({ sport, dport: 53 }).payload(payload).build(),
  ];
}

function mutate(p: Buffer, r: () => number): Buffer {
  const q = Buffer.from(p);
  switch (Math.floor(r() * 10)) {
    case 0: return q.subarray(0, 1 + Math.floor(r() * q.length)); // truncated
    case 1: q[0] = (q[0] & 0xf0) | Math.floor(r() * 16); return q; // IHL
    case 2: q[0] = (Math.floor(r() * 16) << 4) | (q[0] & 0x0f); return q; // version
    case 3: q.writeUInt16BE(Math.floor(r() * 65536), 2); return q; // total length
    case 4: q.writeUInt16BE(Math.floor(r() * 65536), 6); return q; // flags + fragment offset
    case 5: q[10] ^= 1 + Math.floor(r() * 255); return q; // header checksum
    case 6: { // random bytes anywhere
      for (let i = 0, n = 1 + Math.floor(r() * 8); i < n; i++) q[Math.floor(r() * q.length)] = Math.floor(r() * 256);
      return q;
    }
    case 7: { // L4 header bytes (ports, data offset, UDP length)
      const hl = (q[0] & 0x0f) * 4;
      if (hl + 14 <= q.length) q[hl + Math.floor(r() * 14)] = Math.floor(r() * 256);
      return q;
    }
    case 8: { // garbage of random length
      const g = Buffer.alloc(1 + Math.floor(r() * 120));
      for (let i = 0; i < g.length; i++) g[i] = Math.floor(r() * 256);
      return g;
    }
    default: return q; // valid packet
  }
}

test('120,000 random and mutated packets: nothing escapes, everything is forwarded or a named drop', () => {
  const r = prng(0xc0ffee);
  let now = 1;
  const dev = new MemoryDevice({ batch: 64, scratchSlots: 8 });
  const dir = new Director(dev, { clock: () => now, seed: 7, maxConns: 5000 });
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: 'wlc' } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: RIPS[0], port: 8080, fwd: 'masq' } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: RIPS[1], port: 8080, fwd: 'masq', weight: 2 } },
    { op: 'add-service', service: { proto: 'udp', addr: VIP, port: 53, scheduler: 'rr' } },
    { op: 'add-server', service: { proto: 'udp', addr: VIP, port: 53 }, dest: { addr: RIPS[0], port: 53, fwd: 'masq' } },
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 81, scheduler: 'rr' } },
  ]);
  const total = 120_000;
  let forwarded = 0;
  let sent = 0;
  while (sent < total) {
    const burst = 1 + Math.floor(r() * 100);
    for (let i = 0; i < burst && sent < total; i++, sent++) {
      const t = templates(r);
      dev.inject(mutate(t[Math.floor(r() * t.length)], r));
    }
    assert.doesNotThrow(() => dir.pipeline.drain(now));
    for (const w of dev.takeWritten()) {
      assert.equal(ipv4Check(w.packet, 0, w.packet.length), WIRE_OK, 'every written packet is valid IPv4');
      forwarded++;
    }
    now += Math.floor(r() * 400);
    if (r() < 0.05) dir.pipeline.expire(now);
  }
  const c = dir.pipeline.counterValues();
  const drops = dir.pipeline.dropCounts();
  const dropped = Object.values(drops).reduce((a, b) => a + b, 0);
  assert.equal(c.rx_packets, total, 'every packet was read');
  assert.equal(forwarded, c.tx_packets);
  assert.equal(c.rx_packets, c.tx_packets - c.icmp_sent + dropped, JSON.stringify({ c, drops }));
  for (const name of Object.keys(drops)) assert.ok(DROP_NAMES.includes(name));
  // The mutations must actually exercise the checks: each family of drops occurred.
  for (const name of ['ip-short', 'ip-version', 'ip-ihl', 'ip-total-len', 'ip-hdr-csum', 'ip-fragment', 'no-service', 'no-conn']) {
    assert.ok(drops[name] > 0, `drop ${name} was exercised: ${JSON.stringify(drops)}`);
  }
  assert.ok(c.tx_packets > 2_000, `plenty of valid packets were forwarded: ${c.tx_packets}`);
});
