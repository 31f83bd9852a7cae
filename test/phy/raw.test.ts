/**
 * RawIpSocket against the kernel: datagrams of an otherwise unused IP protocol (253, RFC 3692
 * experimentation) sent to 127.0.0.1 through the raw-socket package arrive, IPv4 header
 * included, one per slot of a batch. Needs root and the built addon; skipped without them,
 * except under CI=true where that is a failure.
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';

import { RawIpSocket } from '../../src/phy/raw';
import { kernelPrereqs } from '../support/prereqs';

const PROTO = 253;
const SLOT = 2048;
const HEADROOM = 32;

function prereqs(t: TestContext): boolean {
  return kernelPrereqs(t, 'raw socket test');
}

interface Sender {
  send(buf: Buffer, off: number, len: number, addr: string, cb: (err?: Error) => void): void;
  close(): void;
}

test('RawIpSocket reads pending datagrams in one batch, each with its IPv4 header', async (t) => {
  if (!prereqs(t)) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sender = (require('raw-socket') as { createSocket(o: { protocol: number }): Sender }).createSocket({ protocol: PROTO });
  const sock = RawIpSocket.open(PROTO, 1 << 20);
  // raw-socket's watcher does not hold the event loop open while a send is queued.
  const keep = setInterval(() => undefined, 1000);
  try {
    const payloads = [Buffer.from('first datagram'), Buffer.from('second'), Buffer.alloc(1200, 7)];
    for (const p of payloads) {
      await new Promise<void>((resolve, reject) => sender.send(p, 0, p.length, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    }
    const buf = Buffer.alloc(SLOT * 8);
    const lens = new Int32Array(8);
    let n = 0;
    const deadline = Date.now() + 3000;
    while (n < payloads.length && Date.now() < deadline) {
      n += sock.read(buf.subarray(n * SLOT), SLOT, HEADROOM, 8 - n, lens.subarray(n));
      if (n < payloads.length) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(n, payloads.length);
    payloads.forEach((p, i) => {
      const o = i * SLOT + HEADROOM;
      const ihl = (buf[o] & 0x0f) * 4;
      assert.equal(buf[o] >>> 4, 4, 'IPv4 header first');
      assert.equal(buf[o + 9], PROTO);
      assert.equal(lens[i], ihl + p.length);
      assert.equal(buf.readUInt16BE(o + 2), lens[i], 'total length = bytes read');
      assert.deepEqual(buf.subarray(o + ihl, o + lens[i]), p);
    });
    assert.equal(sock.read(buf, SLOT, HEADROOM, 8, lens), 0, 'nothing left');
    assert.ok(sock.stats().rxPackets >= payloads.length);
  } finally {
    clearInterval(keep);
    sock.close();
    sender.close();
  }
  assert.equal(sock.fd, -1);
  assert.equal(sock.read(Buffer.alloc(SLOT), SLOT, HEADROOM, 1, new Int32Array(1)), 0, 'read after close');
});

test('RawIpSocket.open rejects a protocol outside 1..255', (t) => {
  if (!prereqs(t)) return;
  assert.throws(() => RawIpSocket.open(0), /protocol must be 1..255/);
  assert.throws(() => RawIpSocket.open(256), /protocol must be 1..255/);
});
