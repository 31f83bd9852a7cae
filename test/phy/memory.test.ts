import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { MemoryDevice, slotSizeFor } from '../../src/phy/memory';
import { VNET_HDR_LEN, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4 } from '../../src/phy/device';

const POISON = 0xa5;

/** A recognisable fake "packet": byte k is (seed + k) & 0xff. */
function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let k = 0; k < len; k++) b[k] = (seed + k) & 0xff;
  return b;
}

test('layout: slots hold headroom + vnet header + 65535 bytes, rounded up to 64', () => {
  const d = new MemoryDevice();
  // 64 + 10 + 65535 = 65609 -> 1026 cache lines of 64 bytes.
  assert.equal(d.slotSize, 65664);
  assert.equal(d.readSlots, 64);
  assert.equal(d.slotCount, 80);
  assert.equal(d.headroom, 64);
  assert.equal(d.vnetHdrLen, 10);
  assert.equal(d.buf.length, 80 * 65664);
  assert.equal(d.len.length, 80);

  const plain = new MemoryDevice({ vnetHdr: false, batch: 2, scratchSlots: 0 });
  // 64 + 65535 = 65599 -> 1025 * 64.
  assert.equal(plain.slotSize, 65600);
  assert.equal(plain.vnetHdrLen, 0);
  assert.equal(plain.slotCount, 2);
  assert.equal(slotSizeFor(32, 10, 1500), 1600); // 1542 -> 25 * 64
});

test('layout: headroom below 32 and empty batches are refused', () => {
  assert.throws(() => new MemoryDevice({ headroom: 16 }), RangeError);
  assert.throws(() => new MemoryDevice({ batch: 0 }), RangeError);
  assert.throws(() => new MemoryDevice({ scratchSlots: -1 }), RangeError);
  assert.throws(() => new MemoryDevice({ maxPacket: 70000 }), RangeError);
});

test('read places packets at i*slotSize + headroom + vnetHdrLen with a zeroed default header', () => {
  const d = new MemoryDevice({ batch: 4, scratchSlots: 1, maxPacket: 2048 });
  d.buf.fill(POISON);
  const p0 = pattern(60, 1);
  const p1 = pattern(1500, 7);
  const vnet = Buffer.from([VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, 54, 0, 0xa8, 0x05, 34, 0, 16, 0]);
  d.inject(p0);
  d.inject(p1, vnet);
  p0.fill(0); // inject copies: later changes by the caller are not seen
  assert.equal(d.pending, 2);

  assert.equal(d.read(), 2);
  assert.equal(d.pending, 0);
  assert.equal(d.len[0], 60);
  assert.equal(d.len[1], 1500);

  const h0 = 0 * d.slotSize + d.headroom;
  assert.deepEqual(d.buf.subarray(h0, h0 + VNET_HDR_LEN), Buffer.alloc(VNET_HDR_LEN));
  assert.deepEqual(d.buf.subarray(h0 + VNET_HDR_LEN, h0 + VNET_HDR_LEN + 60), pattern(60, 1));
  // Headroom is left alone.
  assert.equal(d.buf[h0 - 1], POISON);

  const h1 = 1 * d.slotSize + d.headroom;
  assert.deepEqual(d.buf.subarray(h1, h1 + VNET_HDR_LEN), vnet);
  assert.deepEqual(d.buf.subarray(h1 + VNET_HDR_LEN, h1 + VNET_HDR_LEN + 1500), p1);
  // Nothing written past the packet.
  assert.equal(d.buf[h1 + VNET_HDR_LEN + 1500], POISON);

  assert.equal(d.read(), 0);
});

test('without vnet headers the packet starts right after the headroom', () => {
  const d = new MemoryDevice({ vnetHdr: false, batch: 2, headroom: 32, maxPacket: 256 });
  d.buf.fill(POISON);
  d.inject(pattern(20, 3));
  assert.equal(d.read(), 1);
  assert.equal(d.len[0], 20);
  assert.deepEqual(d.buf.subarray(32, 52), pattern(20, 3));
  assert.equal(d.buf[31], POISON);
  assert.throws(() => d.inject(pattern(20, 3), Buffer.alloc(10)), /no vnet header/);
});

test('inject validates sizes', () => {
  const d = new MemoryDevice({ batch: 1, maxPacket: 100 });
  assert.throws(() => d.inject(Buffer.alloc(101)), RangeError);
  assert.throws(() => d.inject(Buffer.alloc(0)), RangeError);
  assert.throws(() => d.inject(Buffer.alloc(20), Buffer.alloc(9)), RangeError);
});

test('read returns at most readSlots packets, in order', () => {
  const d = new MemoryDevice({ batch: 4, scratchSlots: 0, maxPacket: 128 });
  for (let k = 0; k < 6; k++) d.inject(pattern(10 + k, k));
  const at = (i: number) => i * d.slotSize + d.headroom + d.vnetHdrLen;

  assert.equal(d.read(), 4);
  for (let i = 0; i < 4; i++) {
    assert.equal(d.len[i], 10 + i);
    assert.deepEqual(d.buf.subarray(at(i), at(i) + 10 + i), pattern(10 + i, i));
  }
  assert.equal(d.read(), 2);
  assert.equal(d.len[0], 14);
  assert.deepEqual(d.buf.subarray(at(0), at(0) + 14), pattern(14, 4));
  assert.equal(d.len[1], 15);
  assert.equal(d.read(), 0);
});

test('write copies frames out split into vnet header and packet', () => {
  const d = new MemoryDevice({ batch: 2, scratchSlots: 1, maxPacket: 256 });
  d.buf.fill(POISON);
  // Frame 0: a packet in read slot 1 sent back as is.
  const s1 = 1 * d.slotSize + d.headroom;
  const hdr = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  hdr.copy(d.buf, s1);
  pattern(40, 9).copy(d.buf, s1 + VNET_HDR_LEN);
  // Frame 1: a 20-byte outer header prepended into the headroom of scratch slot 2, so the
  // frame starts 20 bytes before the slot's usual vnet header position.
  const s2 = 2 * d.slotSize + d.headroom - 20;
  const hdr2 = Buffer.from([VNET_F_NEEDS_CSUM, 0, 0, 0, 0, 0, 40, 0, 16, 0]);
  hdr2.copy(d.buf, s2);
  pattern(60, 33).copy(d.buf, s2 + VNET_HDR_LEN);

  const offs = Int32Array.from([s1, s2]);
  const lens = Int32Array.from([VNET_HDR_LEN + 40, VNET_HDR_LEN + 60]);
  assert.equal(d.write(offs, lens, 2), 2);
  d.buf.fill(0); // copies, not views

  assert.equal(d.written.length, 2);
  assert.deepEqual(d.written[0]!.vnet, hdr);
  assert.deepEqual(d.written[0]!.packet, pattern(40, 9));
  assert.deepEqual(d.written[1]!.vnet, hdr2);
  assert.deepEqual(d.written[1]!.packet, pattern(60, 33));

  const taken = d.takeWritten();
  assert.equal(taken.length, 2);
  assert.equal(d.written.length, 0);
});

test('write honours count and counts refused frames by reason', () => {
  const d = new MemoryDevice({ batch: 1, scratchSlots: 0, maxPacket: 64 });
  const base = d.headroom;
  const offs = Int32Array.from([base, -1, d.buf.length - 5, base, base]);
  const lens = Int32Array.from([VNET_HDR_LEN + 20, 30, 10, VNET_HDR_LEN, VNET_HDR_LEN + 1]);
  // Only the first four frames are part of the batch.
  assert.equal(d.write(offs, lens, 4), 1);
  assert.equal(d.written.length, 1);
  assert.equal(d.written[0]!.packet.length, 20);
  assert.deepEqual(d.writeErrors, { BOUNDS: 2, SHORT: 1 });

  const plain = new MemoryDevice({ vnetHdr: false, batch: 1, maxPacket: 64 });
  assert.equal(plain.write(Int32Array.from([plain.headroom]), Int32Array.from([1]), 1), 1);
  assert.equal(plain.written[0]!.vnet.length, 0);
  assert.equal(plain.written[0]!.packet.length, 1);
});

test('start notifies asynchronously after inject, coalescing bursts', async () => {
  const d = new MemoryDevice({ batch: 8, maxPacket: 64 });
  let calls = 0;
  let drained = 0;
  let resolveCall: () => void = () => {};
  d.start(() => {
    calls++;
    for (let n = d.read(); n > 0; n = d.read()) drained += n;
    resolveCall();
  });
  let called = new Promise<void>((r) => (resolveCall = r));
  d.inject(pattern(20, 0));
  d.inject(pattern(20, 1));
  d.inject(pattern(20, 2));
  assert.equal(calls, 0, 'no synchronous callback');
  await called;
  assert.equal(calls, 1);
  assert.equal(drained, 3);

  called = new Promise<void>((r) => (resolveCall = r));
  d.inject(pattern(20, 3));
  await called;
  assert.equal(calls, 2);
  assert.equal(drained, 4);
  assert.throws(() => d.start(() => {}), /already started/);
  d.close();
});

test('start with packets already queued notifies at once; close stops everything', async () => {
  const d = new MemoryDevice({ batch: 8, maxPacket: 64 });
  d.inject(pattern(20, 0));
  let calls = 0;
  await new Promise<void>((resolve) => {
    d.start(() => {
      calls++;
      resolve();
    });
  });
  assert.equal(calls, 1);
  d.inject(pattern(20, 1));
  d.close();
  d.close(); // idempotent
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 1, 'no callback after close');
  assert.equal(d.read(), 0);
  assert.equal(d.write(Int32Array.from([d.headroom]), Int32Array.from([30]), 1), 0);
  assert.throws(() => d.inject(pattern(20, 2)), /closed/);
});
