/** The pcap writer (src/phy/pcap.ts): file layout per pcap-savefile(5), the size bound, the device tap. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryDevice } from '../../src/phy/memory';
import { PcapDevice, PcapWriter } from '../../src/phy/pcap';
import { pkt } from '../support/builder';

function tmp(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pcap-test-'));
  return { dir, file: join(dir, 'x.pcap') };
}

test('file header and records as pcap-savefile(5) describes, LINKTYPE_RAW', () => {
  const { dir, file } = tmp();
  try {
    const w = new PcapWriter(file, 1 << 20);
    const p = pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1' }).udp({ sport: 1, dport: 2 }).payload('hi').build();
    w.record(p, 0, p.length, 1_700_000_000_123_456);
    w.close();
    const b = readFileSync(file);
    assert.equal(b.length, 24 + 16 + p.length);
    assert.equal(b.readUInt32LE(0), 0xa1b2c3d4);
    assert.equal(b.readUInt16LE(4), 2);
    assert.equal(b.readUInt16LE(6), 4);
    assert.equal(b.readUInt32LE(16), 65535);
    assert.equal(b.readUInt32LE(20), 101);
    assert.equal(b.readUInt32LE(24), 1_700_000_000);
    assert.equal(b.readUInt32LE(28), 123_456);
    assert.equal(b.readUInt32LE(32), p.length);
    assert.equal(b.readUInt32LE(36), p.length);
    assert.deepEqual(b.subarray(40), p);
    const td = spawnSync('tcpdump', ['-n', '-r', file], { encoding: 'utf8' });
    if (td.status === 0) assert.match(td.stdout, /198\.18\.0\.2\.1 > 198\.18\.100\.1\.2: UDP, length 2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stops at maxBytes with whole records only, counting what it left out', () => {
  const { dir, file } = tmp();
  try {
    const p = Buffer.alloc(100, 0x45);
    const w = new PcapWriter(file, 24 + 2 * 116 + 50);
    for (let i = 0; i < 5; i++) w.record(p, 0, p.length, 0);
    w.close();
    assert.equal(w.packets, 2);
    assert.equal(w.skipped, 3);
    assert.equal(readFileSync(file).length, 24 + 2 * 116);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PcapDevice records packets read and frames written without their virtio header', () => {
  const { dir, file } = tmp();
  try {
    const mem = new MemoryDevice({ batch: 4, scratchSlots: 1, maxPacket: 2048 });
    const w = new PcapWriter(file);
    const dev = new PcapDevice(mem, w);
    const a = pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1' }).tcp({ sport: 5, dport: 80, flags: 'S' }).build();
    mem.inject(a);
    assert.equal(dev.read(), 1);
    const frame = dev.headroom;
    assert.equal(dev.write(Int32Array.of(frame), Int32Array.of(10 + a.length), 1), 1);
    dev.close();
    const b = readFileSync(file);
    assert.equal(w.packets, 2);
    assert.deepEqual(b.subarray(40, 40 + a.length), a);
    assert.deepEqual(b.subarray(40 + a.length + 16), a);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
