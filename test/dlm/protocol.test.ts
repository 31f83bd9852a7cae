import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, FrameError, MAX_FRAME, Op, Reader, encodeFrame, nameField, parseHostPort, u32 } from '../../src/dlm/protocol';

test('frames split at every byte boundary decode to the same frames', () => {
  const a = encodeFrame(Op.LOCK, 7, Buffer.from([1]), u32(500), nameField('jobs'));
  const b = encodeFrame(Op.KEEPALIVE, 8);
  const all = Buffer.concat([a, b]);
  // Independent expectation: LOCK frame = 4 (len) + 1 (op) + 4 (id) + 1 + 4 + 2 + 4 bytes.
  assert.equal(a.length, 20);
  assert.equal(a.readUInt32BE(0), 16);
  for (let cut = 0; cut <= all.length; cut++) {
    const d = new FrameDecoder();
    const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
    assert.equal(frames.length, 2);
    assert.deepEqual([frames[0].op, frames[0].reqId, frames[1].op, frames[1].reqId], [Op.LOCK, 7, Op.KEEPALIVE, 8]);
    const r = new Reader(frames[0].payload);
    assert.deepEqual([r.u8(), r.u32(), r.name()], [1, 500, 'jobs']);
    r.end();
  }
});

test('length fields out of range are refused before buffering', () => {
  const big = Buffer.alloc(4);
  big.writeUInt32BE(MAX_FRAME + 1, 0);
  assert.throws(() => new FrameDecoder().push(big), FrameError);
  const small = Buffer.from([0, 0, 0, 4, 1, 0, 0, 0]);
  assert.throws(() => new FrameDecoder().push(small), FrameError);
});

test('reader: truncation, trailing bytes and bad names', () => {
  assert.throws(() => new Reader(Buffer.from([0, 1])).u32(), FrameError);
  const r = new Reader(Buffer.from([0, 0, 0, 1, 9]));
  r.u32();
  assert.throws(() => r.end(), FrameError);
  assert.equal(new Reader(nameField('')).name(), null);
  assert.equal(new Reader(nameField('x'.repeat(256))).name(), null);
  assert.equal(new Reader(nameField('x'.repeat(255))).name(), 'x'.repeat(255));
  assert.equal(new Reader(Buffer.from([0, 2, 0xc3, 0x28])).name(), null); // invalid UTF-8
  assert.equal(new Reader(nameField('verrou-é')).name(), 'verrou-é');
});

test('host:port parsing', () => {
  assert.deepEqual(parseHostPort('198.18.0.1:7400'), { host: '198.18.0.1', port: 7400 });
  assert.deepEqual(parseHostPort('[::1]:1'), { host: '::1', port: 1 });
  assert.throws(() => parseHostPort('198.18.0.1'));
  assert.throws(() => parseHostPort('h:70000'));
});
