/** IPVS sync v1 messages: layout byte by byte, batching, HMAC, refusals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SYNC_CONN_V4_LEN, SYNC_ERR_AUTH, SYNC_ERR_SIZE, SYNC_ERR_SYNCID, SYNC_ERR_VERSION, SYNC_OK, type SyncConn,
  decodeSync, encodeSync,
} from '../../src/wire/ipvs-sync';
import { ipFromString } from '../../src/ipvs/types';

const conn: SyncConn = {
  protocol: 6, flags: 0x0100, state: 1, cport: 40000, vport: 80, dport: 8080, fwmark: 0, timeoutSec: 900,
  caddr: ipFromString('198.18.0.2'), vaddr: ipFromString('198.18.100.1'), daddr: ipFromString('198.19.0.11'),
};

test('one entry: header and struct ip_vs_sync_v4 fields at their offsets', () => {
  const [m] = encodeSync(7, [conn]);
  assert.equal(m.length, 8 + 36);
  assert.deepEqual([...m.subarray(0, 8)], [0, 7, 0, 44, 1, 1, 0, 0]);
  assert.equal(m.subarray(8).toString('hex'),
    '00' + '06' + '0024' + '00000100' + '0001' + '9c40' + '0050' + '1f90' + '00000000' + '00000384'
    + 'c6120002' + 'c6126401' + 'c613000b');
  const got: SyncConn[] = [];
  assert.equal(decodeSync(m, 7, undefined, (c) => got.push({ ...c })), SYNC_OK);
  assert.deepEqual(got, [conn]);
  assert.equal(decodeSync(m, 0, undefined, () => undefined), SYNC_OK, 'syncid 0 accepts any');
  assert.equal(decodeSync(m, 8, undefined, () => undefined), SYNC_ERR_SYNCID);
});

test('batching: entries split over messages no longer than maxLen', () => {
  const many = Array.from({ length: 100 }, (_, i) => ({ ...conn, cport: 1000 + i }));
  const ms = encodeSync(1, many, undefined, 8 + 36 * 30);
  assert.deepEqual(ms.map((m) => m[4]), [30, 30, 30, 10]);
  const ports: number[] = [];
  for (const m of ms) {
    assert.ok(m.length <= 8 + 36 * 30);
    assert.equal(decodeSync(m, 1, undefined, (c) => ports.push(c.cport)), SYNC_OK);
  }
  assert.deepEqual(ports, many.map((c) => c.cport));
});

test('HMAC: a keyed message is accepted with the key only; a changed byte is refused', () => {
  const key = Buffer.from('s3cret');
  const [m] = encodeSync(1, [conn], key);
  assert.equal(m.length, 44 + 16);
  assert.equal(decodeSync(m, 1, key, () => undefined), SYNC_OK);
  assert.equal(decodeSync(m, 1, Buffer.from('other'), () => undefined), SYNC_ERR_AUTH);
  const [plain] = encodeSync(1, [conn]);
  assert.equal(decodeSync(plain, 1, key, () => undefined), SYNC_ERR_AUTH);
  const t = Buffer.from(m);
  t[30] ^= 1;
  assert.equal(decodeSync(t, 1, key, () => undefined), SYNC_ERR_AUTH);
});

test('refusals deliver nothing: version, size beyond the datagram, entry overrunning size', () => {
  const [m] = encodeSync(1, [conn, conn]);
  let n = 0;
  const v = Buffer.from(m);
  v[5] = 2;
  assert.equal(decodeSync(v, 0, undefined, () => n++), SYNC_ERR_VERSION);
  assert.equal(decodeSync(m.subarray(0, 50), 0, undefined, () => n++), SYNC_ERR_SIZE);
  const o = Buffer.from(m);
  o.writeUInt16BE(8 + SYNC_CONN_V4_LEN + 4, 2);
  assert.equal(decodeSync(o, 0, undefined, () => n++), SYNC_ERR_SIZE);
  assert.equal(n, 0);
});
