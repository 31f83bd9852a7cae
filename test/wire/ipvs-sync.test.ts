/** IPVS sync v1 messages: layout byte by byte, batching, HMAC, refusals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SYNC_CONN_V4_LEN, SYNC_ERR_AUTH, SYNC_ERR_SIZE, SYNC_ERR_SYNCID, SYNC_ERR_VERSION, SYNC_OK, SYNC_TRAILER_LEN,
  type SyncConn, decodeSync, decodeSyncNack, encodeSync, encodeSyncHeartbeat, encodeSyncNack, newSyncMeta, sealSync,
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
  const ms = encodeSync(1, many, 8 + 36 * 30);
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
  const m = sealSync(encodeSync(1, [conn])[0], { seq: 0x12345, boot: 0xdeadbeef, time: 1_700_000_000 }, key);
  assert.equal(m.length, 44 + SYNC_TRAILER_LEN);
  assert.equal(m.readUInt16BE(2), 44, 'size covers the IPVS part only');
  assert.equal(m.readUInt16BE(6), 0x2345, 'spare: low 16 bits of the sequence number');
  assert.equal(m.subarray(44, 48).toString('latin1'), 'LVS1');
  const meta = newSyncMeta();
  assert.equal(decodeSync(m, 1, key, () => undefined, meta), SYNC_OK);
  assert.deepEqual(meta, { seq16: 0x2345, keyed: true, boot: 0xdeadbeef, seq: 0x12345, time: 1_700_000_000 });
  assert.equal(decodeSync(m, 1, Buffer.from('other'), () => undefined), SYNC_ERR_AUTH);
  const [plain] = encodeSync(1, [conn]);
  assert.equal(decodeSync(plain, 1, key, () => undefined), SYNC_ERR_AUTH);
  for (const at of [30, 6, 44 + 8, m.length - 1]) {
    const t = Buffer.from(m);
    t[at] ^= 1;
    assert.equal(decodeSync(t, 1, key, () => undefined), SYNC_ERR_AUTH, `byte ${at} is covered`);
  }
  assert.equal(decodeSync(m.subarray(0, m.length - 1), 1, key, () => undefined), SYNC_ERR_AUTH, 'truncated trailer');
});

test('keyless seal: only spare changes, the datagram stays size bytes (kernel IPVS receivers)', () => {
  const [m] = encodeSync(1, [conn]);
  const b = sealSync(m, { seq: 7, boot: 1, time: 1 });
  assert.equal(b.length, 44);
  assert.equal(b.readUInt16BE(6), 7);
  const meta = newSyncMeta();
  assert.equal(decodeSync(b, 1, undefined, () => undefined, meta), SYNC_OK);
  assert.equal(meta.seq16, 7);
  assert.equal(meta.keyed, false);
});

test('NACK: layout, HMAC, refused by an IPVS receiver, boot must match', () => {
  const key = Buffer.from('k');
  const n = encodeSyncNack(3, 0xabcdef01, [5, 6, 9], key);
  assert.equal(n[0], 0xff);
  assert.equal(decodeSync(n, 0, undefined, () => undefined), SYNC_ERR_VERSION, 'not a sync message');
  const got: number[] = [];
  assert.equal(decodeSyncNack(n, 3, 0xabcdef01, key, (s) => got.push(s)), SYNC_OK);
  assert.deepEqual(got, [5, 6, 9]);
  assert.equal(decodeSyncNack(n, 3, 0xabcdef02, key, () => undefined), SYNC_ERR_SYNCID);
  assert.equal(decodeSyncNack(n, 3, 0xabcdef01, Buffer.from('x'), () => undefined), SYNC_ERR_AUTH);
  assert.equal(decodeSyncNack(n.subarray(0, 20), 3, 0xabcdef01, key, () => undefined), SYNC_ERR_SIZE);
  const empty = encodeSyncHeartbeat(3);
  let k = 0;
  assert.equal(decodeSync(empty, 3, undefined, () => k++), SYNC_OK);
  assert.equal(k, 0);
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
