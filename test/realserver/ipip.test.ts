import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { locateInner } from '../../src/realserver/ipip';
import { IPPROTO_IPIP } from '../../src/ipvs/types';
import { pkt } from '../support/builder';

const SLOT = 2048;
const HEADROOM = 64;
const DIP = '198.19.0.1';
const RIP = '198.19.0.11';

function inner(sport: number, body = 'x'): Buffer {
  return pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1', id: sport }).tcp({ sport, dport: 80, flags: 'A' })
    .payload(body).build();
}

function ipip(payload: Uint8Array, opts: { ihl?: number; options?: Uint8Array; totalLen?: number } = {}): Buffer {
  return pkt().ip({ src: DIP, dst: RIP, proto: IPPROTO_IPIP, ...opts }).payload(payload).build();
}

/** Datagrams as readBatch leaves them: one per slot, lens[i] = bytes read. */
function slots(datagrams: Uint8Array[]): { buf: Buffer; lens: Int32Array } {
  const buf = Buffer.alloc(SLOT * datagrams.length);
  const lens = new Int32Array(datagrams.length);
  datagrams.forEach((d, i) => {
    buf.set(d, i * SLOT + HEADROOM);
    lens[i] = d.length;
  });
  return { buf, lens };
}

function run(datagrams: Uint8Array[]): Buffer[] {
  const { buf, lens } = slots(datagrams);
  const offs = new Int32Array(datagrams.length);
  const outLens = new Int32Array(datagrams.length);
  const k = locateInner(buf, SLOT, HEADROOM, lens, datagrams.length, offs, outLens);
  return Array.from({ length: k }, (_, j) => buf.subarray(offs[j], offs[j] + outLens[j]));
}

test('locateInner yields each inner packet byte for byte, in place', () => {
  const a = inner(40001, 'first');
  const b = inner(40002, 'second packet');
  const { buf, lens } = slots([ipip(a), ipip(b)]);
  const offs = new Int32Array(2);
  const outLens = new Int32Array(2);
  assert.equal(locateInner(buf, SLOT, HEADROOM, lens, 2, offs, outLens), 2);
  assert.deepEqual([offs[0], offs[1]], [HEADROOM + 20, SLOT + HEADROOM + 20]);
  assert.deepEqual(buf.subarray(offs[0], offs[0] + outLens[0]), a);
  assert.deepEqual(buf.subarray(offs[1], offs[1] + outLens[1]), b);
});

test('locateInner skips outer options and ignores bytes after the outer total length', () => {
  const a = inner(40003);
  const withOptions = ipip(a, { options: Uint8Array.of(1, 1, 1, 0) });
  const padded = Buffer.concat([ipip(a), Buffer.alloc(6)]);
  assert.deepEqual(run([withOptions, padded]), [a, a]);
});

test('locateInner drops malformed datagrams and keeps the valid ones in order', () => {
  const good1 = inner(40010);
  const good2 = inner(40011);
  const innerV6 = Buffer.from(inner(40012));
  innerV6[0] = 0x65;
  const innerShortIhl = Buffer.from(inner(40013));
  innerShortIhl[0] = 0x44;
  const outerV6 = Buffer.from(ipip(inner(40014)));
  outerV6[0] = 0x65;
  const cases = [
    ipip(good1),
    outerV6, // outer version 6
    ipip(inner(40015), { totalLen: 2000 }), // outer longer than what was read
    ipip(inner(40016)).subarray(0, 30), // truncated: no room for an inner header
    ipip(innerV6), // inner version 6
    ipip(innerShortIhl), // inner ihl 4
    ipip(inner(40017)).subarray(0, 50), // inner total length beyond the outer payload (outer length kept)
    ipip(good2),
  ];
  // The truncated-inner case: an outer header whose total length covers only 50 bytes.
  const t = Buffer.from(cases[6]);
  t.writeUInt16BE(50, 2);
  cases[6] = t;
  assert.deepEqual(run(cases), [good1, good2]);
});
