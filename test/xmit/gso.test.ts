/** Software offloads (src/xmit/gso.ts) against the builder's independently computed checksums. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completeChecksum, tcpSegmentCount, tcpWriteSegment } from '../../src/xmit/gso';
import { pkt } from '../support/builder';

/** Deterministic pseudo-random bytes (LCG) so a failure reproduces. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

test('completeChecksum turns a pseudo-header sum into the full TCP/UDP checksum (odd and even sizes)', () => {
  for (let n = 0; n < 60; n += 7) {
    const data = bytes(n, n + 1);
    const ip = { src: '198.18.0.2', dst: '198.18.100.1' };
    const fullT = pkt().ip(ip).tcp({ sport: 1000 + n, dport: 80, seq: n }).payload(data).build();
    const partT = pkt().ip(ip).tcp({ sport: 1000 + n, dport: 80, seq: n, csum: 'partial' }).payload(data).build();
    completeChecksum(partT, 0, partT.length, 20, 16);
    assert.deepEqual(partT, fullT, `TCP payload ${n}`);
    const fullU = pkt().ip(ip).udp({ sport: 53, dport: 2000 + n }).payload(data).build();
    const partU = pkt().ip(ip).udp({ sport: 53, dport: 2000 + n, csum: 'partial' }).payload(data).build();
    completeChecksum(partU, 0, partU.length, 20, 6);
    assert.deepEqual(partU, fullU, `UDP payload ${n}`);
  }
});

test('tcpWriteSegment: segments equal packets built whole for each slice', () => {
  const payload = bytes(2500, 9);
  const opts = Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]); // NOP NOP timestamps
  const src = pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1', id: 0xfffe, df: true })
    .tcp({ sport: 4, dport: 80, flags: 'PA', seq: 0xffffff00, ack: 3, options: opts, csum: 'partial' })
    .payload(payload).build();
  assert.equal(tcpSegmentCount(src, 0, src.length, 1000), 3);
  const out = Buffer.alloc(2000);
  for (let k = 0; k < 3; k++) {
    const len = tcpWriteSegment(src, 0, src.length, 1000, k, out, 0);
    const want = pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1', id: (0xfffe + k) & 0xffff, df: true })
      .tcp({ sport: 4, dport: 80, flags: k === 2 ? 'PA' : 'A', seq: (0xffffff00 + 1000 * k) >>> 0, ack: 3, options: opts })
      .payload(payload.subarray(1000 * k, 1000 * k + 1000)).build();
    assert.equal(len, want.length);
    assert.deepEqual(out.subarray(0, len), want, `segment ${k}`);
  }
});
