/**
 * The pcap writer and reader (src/phy/pcap.ts): file layout per pcap-savefile(5), the header at
 * once, records on disk while the writer is open, rotation into readable files, the bounded
 * queue, FIFOs, the device tap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryDevice } from '../../src/phy/memory';
import { parsePcap, PcapDevice, PcapWriter } from '../../src/phy/pcap';
import { pkt } from '../support/builder';

function tmp(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pcap-test-'));
  return { dir, file: join(dir, 'x.pcap') };
}

const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;

/** Polls until cond() holds, at most ms milliseconds. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function udp(n: number): Buffer {
  return pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1' }).udp({ sport: 1000 + n, dport: 53 }).payload('x'.repeat(72)).build();
}

test('the header is on disk as soon as the writer exists; records follow without close', async () => {
  const { dir, file } = tmp();
  try {
    const w = new PcapWriter(file, 1 << 20);
    const head = readFileSync(file);
    assert.equal(head.length, 24);
    assert.equal(head.readUInt32LE(0), 0xa1b2c3d4);
    assert.equal(head.readUInt16LE(4), 2);
    assert.equal(head.readUInt16LE(6), 4);
    assert.equal(head.readUInt32LE(16), 65535);
    assert.equal(head.readUInt32LE(20), 101);
    const p = pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1' }).udp({ sport: 1, dport: 2 }).payload('hi').build();
    w.record(p, 0, p.length, 1_700_000_000_123_456);
    // Written within a turn or two of the event loop, not at close.
    await until(() => statSync(file).size === 24 + 16 + p.length, 100);
    const f = parsePcap(readFileSync(file));
    assert.equal(f.linktype, 101);
    assert.equal(f.records.length, 1);
    assert.equal(f.records[0].usec, 1_700_000_000_123_456);
    assert.equal(f.records[0].origLen, p.length);
    assert.deepEqual(f.records[0].data, p);
    assert.equal(f.trailing, 0);
    if (hasTcpdump) {
      const td = spawnSync('tcpdump', ['-n', '-r', file], { encoding: 'utf8' });
      assert.equal(td.status, 0, td.stderr);
      assert.match(td.stdout, /198\.18\.0\.2\.1 > 198\.18\.100\.1\.2: UDP, length 2/);
    }
    await w.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rotation at maxBytes: every file begins with a header and holds whole records', async () => {
  const { dir, file } = tmp();
  try {
    const w = new PcapWriter(file, 1024, 65535, { keep: 20 });
    const n = 40;
    for (let i = 0; i < n; i++) {
      w.record(udp(i), 0, udp(i).length, i);
      if (i % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await w.close();
    const files = [file, ...Array.from({ length: 20 }, (_, i) => `${file}.${i + 1}`)].filter((f) => existsSync(f));
    assert.equal(files.length, w.rotations + 1);
    assert.ok(w.rotations >= 3, `rotations ${w.rotations}`);
    // Oldest file last: read in reverse to get the packets in order.
    const ports: number[] = [];
    for (const f of files.reverse()) {
      const b = readFileSync(f);
      assert.ok(b.length <= 1024, `${f}: ${b.length} bytes`);
      const pc = parsePcap(b);
      assert.equal(pc.trailing, 0);
      assert.ok(pc.records.length > 0);
      for (const r of pc.records) ports.push(r.data.readUInt16BE(20));
      if (hasTcpdump) assert.equal(spawnSync('tcpdump', ['-n', '-r', f], { encoding: 'utf8' }).status, 0, f);
    }
    assert.deepEqual(ports, Array.from({ length: n }, (_, i) => 1000 + i));
    assert.equal(w.dropped, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rotation keeps at most `keep` older files', async () => {
  const { dir, file } = tmp();
  try {
    const w = new PcapWriter(file, 1024, 65535, { keep: 2 });
    for (let i = 0; i < 60; i++) {
      w.record(udp(i), 0, udp(i).length, i);
      await new Promise((r) => setImmediate(r));
    }
    await w.close();
    assert.ok(w.rotations > 3);
    assert.ok(existsSync(`${file}.1`) && existsSync(`${file}.2`));
    assert.ok(!existsSync(`${file}.3`));
    // The current file holds the last packet.
    const last = parsePcap(readFileSync(file)).records.at(-1)!;
    assert.equal(last.data.readUInt16BE(20), 1059);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the queue is bounded: what does not fit is dropped and counted, the file stays whole', async () => {
  const { dir, file } = tmp();
  try {
    const w = new PcapWriter(file, 1 << 30, 65535, { queueBytes: 256 << 10 });
    const p = udp(0);
    const n = 5000; // 5000 * (16 + 100) bytes > 256 KiB, all in one turn of the event loop
    for (let i = 0; i < n; i++) w.record(p, 0, p.length, i);
    assert.ok(w.dropped > 0);
    assert.equal(w.packets + w.dropped, n);
    assert.ok(w.pending <= 256 << 10);
    await w.close();
    const f = parsePcap(readFileSync(file));
    assert.equal(f.records.length, w.packets);
    assert.equal(f.trailing, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a FIFO read live by tcpdump -r', { skip: !hasTcpdump && 'tcpdump not installed' }, async () => {
  const { dir, file } = tmp();
  try {
    assert.equal(spawnSync('mkfifo', [file]).status, 0);
    const td = spawn('tcpdump', ['-n', '-r', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    td.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const w = new PcapWriter(file); // returns once tcpdump opened the FIFO
    assert.equal(w.rotating, false);
    for (let i = 0; i < 3; i++) w.record(udp(i), 0, udp(i).length, i * 1e6);
    await w.close();
    const code = await new Promise<number | null>((r) => td.on('exit', r));
    assert.equal(code, 0);
    assert.equal(out.trim().split('\n').length, 3);
    assert.match(out, /198\.18\.0\.2\.1002 > 198\.18\.100\.1\.53: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reader that goes away ends the capture once, without an exception', async () => {
  const { dir, file } = tmp();
  try {
    assert.equal(spawnSync('mkfifo', [file]).status, 0);
    const reader = spawn('sh', ['-c', `head -c 100 < '${file}' > /dev/null`], { stdio: 'ignore' });
    const errors: string[] = [];
    const w = new PcapWriter(file, 1 << 20, 65535, { onError: (e) => errors.push(e.code ?? '') });
    for (let i = 0; i < 500 && errors.length === 0; i++) {
      w.record(udp(i), 0, udp(i).length, i);
      await new Promise((r) => setTimeout(r, 2));
    }
    await until(() => errors.length > 0);
    assert.deepEqual(errors, ['EPIPE']);
    const before = w.packets;
    w.record(udp(0), 0, udp(0).length, 0);
    assert.equal(w.packets, before);
    await w.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parsePcap: big-endian and nanosecond files, a partial last record, a bad magic', () => {
  const rec = Buffer.from([0x45, 0, 0, 20]);
  const be = Buffer.alloc(24 + 16 + rec.length + 7);
  be.writeUInt32BE(0xa1b23c4d, 0);
  be.writeUInt16BE(2, 4);
  be.writeUInt16BE(4, 6);
  be.writeUInt32BE(262144, 16);
  be.writeUInt32BE(101, 20);
  be.writeUInt32BE(10, 24);
  be.writeUInt32BE(999_999_999, 28);
  be.writeUInt32BE(rec.length, 32);
  be.writeUInt32BE(60, 36);
  rec.copy(be, 40);
  const f = parsePcap(be);
  assert.equal(f.littleEndian, false);
  assert.equal(f.nanoseconds, true);
  assert.equal(f.snaplen, 262144);
  assert.equal(f.records.length, 1);
  assert.equal(f.records[0].usec, 10_999_999);
  assert.equal(f.records[0].origLen, 60);
  assert.deepEqual(f.records[0].data, rec);
  assert.equal(f.trailing, 7);
  assert.throws(() => parsePcap(Buffer.alloc(24)), /bad magic/);
  assert.throws(() => parsePcap(Buffer.alloc(10)), /shorter than the file header/);
  const huge = Buffer.from(be.subarray(0, 40));
  huge.writeUInt32BE(1 << 30, 32);
  assert.throws(() => parsePcap(huge), /claims/);
});

test('PcapDevice records packets read and frames written without their virtio header', async () => {
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
    await w.close();
    const f = parsePcap(readFileSync(file));
    assert.equal(w.packets, 2);
    assert.deepEqual(f.records.map((r) => r.data), [a, a]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
