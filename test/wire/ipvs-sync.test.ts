/** IPVS sync v1 messages: layout byte by byte, batching, HMAC, refusals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SYNC_CONN_V4_LEN, SYNC_ERR_AUTH, SYNC_ERR_SIZE, SYNC_ERR_SYNCID, SYNC_ERR_VERSION, SYNC_OK, SYNC_TRAILER_LEN,
  type SyncConn, decodeSync, decodeSyncNack, encodeSync, encodeSyncHeartbeat, encodeSyncNack, newSyncMeta, sealSync,
  decodeSyncDump, decodeSyncRequest, encodeSyncDump, encodeSyncRequest, isSyncRequest, SYNC_ERR_SHORT,
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

test('origin: an optional parameter (0x50, IPVS_OPT_F_PARAM set) after the entry, padded to 44 bytes', () => {
  const origin = ipFromString('198.19.0.2');
  const [m] = encodeSync(7, [conn, { ...conn, cport: 40001 }], undefined, origin);
  assert.equal(m.length, 8 + 2 * 44);
  assert.equal(m.readUInt16BE(8 + 2) & 0x0fff, 44);
  assert.deepEqual([...m.subarray(8 + 36, 8 + 44)], [0x50, 6, 198, 19, 0, 2, 0, 0]);
  const got: SyncConn[] = [];
  assert.equal(decodeSync(m, 7, undefined, (c) => got.push({ ...c })), SYNC_OK);
  assert.deepEqual(got, [{ ...conn, origin }, { ...conn, cport: 40001, origin }]);
  // Without origin the entry stays 36 bytes and decodes without the field.
  const [plain] = encodeSync(7, [conn]);
  assert.equal(plain.length, 44);
  const one: SyncConn[] = [];
  decodeSync(plain, 7, undefined, (c) => one.push({ ...c }));
  assert.equal('origin' in one[0], false);
});

test('entries of unaligned size are stepped over padded to 4 bytes, as the kernel does', () => {
  // Entry 1 carries a 2-byte option (size 40) and an unknown optional one making it 42 → 44.
  const [a] = encodeSync(7, [conn, { ...conn, cport: 2 }]);
  const b = Buffer.alloc(8 + 44 + 36);
  a.copy(b, 0, 0, 8 + 36);
  b.writeUInt16BE(42, 8 + 2);
  b[8 + 36] = 0x60; // optional, unknown
  b[8 + 37] = 4;
  a.copy(b, 8 + 44, 8 + 36);
  b.writeUInt16BE(b.length, 2);
  const ports: number[] = [];
  assert.equal(decodeSync(b, 7, undefined, (c) => ports.push(c.cport)), SYNC_OK);
  assert.deepEqual(ports, [conn.cport, 2]);
});

test('resync request and dump: layout, round trip, and refusals', () => {
  const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const req = encodeSyncRequest(7, 0xdeadbeef, 1_800_000_000);
  assert.deepEqual([...req.subarray(0, 8)], [0xfe, 7, 0, 0, 0x4c, 0x56, 0x53, 0x52]);
  assert.equal(req.length, 16);
  assert.ok(isSyncRequest(req));
  // A kernel backup: the size field (0) differs from the datagram length, and byte 0 is not 0.
  assert.notEqual(req.readUInt16BE(2), req.length);
  const r = { nonce: 0, time: 0 };
  assert.equal(decodeSyncRequest(req, 7, undefined, r), SYNC_OK);
  assert.deepEqual(r, { nonce: 0xdeadbeef, time: 1_800_000_000 });
  assert.equal(decodeSyncRequest(req, 8, undefined, r), SYNC_ERR_SYNCID);
  assert.equal(decodeSyncRequest(req, 7, key, r), SYNC_ERR_SIZE, 'unkeyed request to a keyed director');
  const keyed = encodeSyncRequest(7, 1, 2, key);
  assert.equal(decodeSyncRequest(keyed, 7, key, r), SYNC_OK);
  keyed[9] ^= 1;
  assert.equal(decodeSyncRequest(keyed, 7, key, r), SYNC_ERR_AUTH);
  assert.equal(decodeSyncRequest(req.subarray(0, 12), 7, undefined, r), SYNC_ERR_SHORT);

  const origin = ipFromString('198.19.0.3');
  const [inner] = encodeSync(7, [conn, { ...conn, cport: 5, origin }]);
  const dump = encodeSyncDump(7, 0xdeadbeef, 3, true, inner, key);
  assert.deepEqual([...dump.subarray(0, 16)], [0xfd, 7, 0, 0, 0x4c, 0x56, 0x53, 0x44, 0xde, 0xad, 0xbe, 0xef, 0, 3, 1, 0]);
  assert.equal(dump.length, 16 + inner.length + 16);
  const meta = { nonce: 0, index: 0, last: false };
  const got: SyncConn[] = [];
  assert.equal(decodeSyncDump(dump, 7, key, meta, (c) => got.push({ ...c })), SYNC_OK);
  assert.deepEqual(meta, { nonce: 0xdeadbeef, index: 3, last: true });
  assert.deepEqual(got, [conn, { ...conn, cport: 5, origin }]);
  // Not accepted (another request's nonce): checked, nothing delivered.
  got.length = 0;
  assert.equal(decodeSyncDump(dump, 7, key, meta, (c) => got.push(c), () => false), SYNC_OK);
  assert.equal(got.length, 0);
  assert.equal(decodeSyncDump(dump, 7, undefined, meta, () => undefined), SYNC_ERR_SIZE, 'keyed dump, keyless reader');
  const bad = Buffer.from(dump);
  bad[20] ^= 1;
  assert.equal(decodeSyncDump(bad, 7, key, meta, (c) => got.push(c)), SYNC_ERR_AUTH);
  assert.equal(decodeSyncDump(dump, 9, key, meta, (c) => got.push(c)), SYNC_ERR_SYNCID);
  // A truncated inner message delivers nothing.
  const plain = encodeSyncDump(7, 1, 0, false, inner);
  const cut = Buffer.from(plain);
  cut[16 + 4] = 3; // nr_conns 3, room for 2
  assert.equal(decodeSyncDump(cut, 7, undefined, meta, (c) => got.push(c)), SYNC_ERR_SIZE);
  assert.equal(got.length, 0);
});
