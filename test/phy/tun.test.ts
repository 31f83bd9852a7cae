/**
 * TUN device tests against the real kernel. They need root, /dev/net/tun, iproute2 and the
 * built addon; without them they are skipped, except under CI=true where that is a failure.
 *
 * Each test creates its own interface lvst<pid%10000><tag> in the current namespace with a
 * /30 from 198.18.255.0/24 (RFC 2544 benchmarking range):
 *
 *   dgram socket on LOCAL (.1) ── kernel ── route PEER (.2) ──► lvst* ──readBatch──► test
 *   dgram socket on LOCAL (.1) ◄── kernel ◄── writeBatch(PEER ─► LOCAL) ◄── test
 *
 * Strict rp_filter accepts PEER on the TUN (the reverse route to PEER is the TUN itself).
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { TunDevice, TunOpenOptions } from '../../src/phy/tun';
import { kernelPrereqs } from '../support/prereqs';
import {
  VNET_HDR_LEN,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE,
  VNET_OFF_FLAGS,
  VNET_OFF_GSO_TYPE,
  VNET_OFF_CSUM_START,
  VNET_OFF_CSUM_OFFSET,
} from '../../src/phy/device';

const IPPROTO_UDP = 17;
const IPV4_HDR = 20;
const UDP_HDR = 8;
/** Offset of the UDP checksum field inside the UDP header (RFC 768). */
const UDP_OFF_CHECK = 6;
const WAIT_MS = 3000;

// ---------- prerequisites ----------

/** True when the test may run; otherwise skips it, or fails it under CI=true. */
function prereqs(t: TestContext): boolean {
  const missing: string[] = [];
  if (!fs.existsSync('/dev/net/tun')) missing.push('/dev/net/tun');
  if (spawnSync('ip', ['-V']).status !== 0) missing.push('iproute2 (ip)');
  return kernelPrereqs(t, 'TUN test', missing);
}

// ---------- addressing and plumbing ----------

interface Net {
  name: string;
  local: string;
  peer: string;
}

function netFor(tag: string, index: number): Net {
  return {
    name: `lvst${process.pid % 10000}${tag}`,
    local: `198.18.255.${index * 4 + 1}`,
    peer: `198.18.255.${index * 4 + 2}`,
  };
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function linkExists(name: string): boolean {
  return spawnSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' }).status === 0;
}

/** Opens the TUN and puts LOCAL/30 on it; closes the device again if configuration fails. */
function openConfigured(net: Net, opts: Omit<TunOpenOptions, 'name'>): TunDevice {
  const dev = TunDevice.open({ name: net.name, batch: 16, scratchSlots: 4, ...opts });
  try {
    assert.equal(dev.name, net.name);
    // IPv6 autoconfiguration traffic would only add noise to the reads.
    spawnSync('sysctl', ['-qw', `net.ipv6.conf.${net.name}.disable_ipv6=1`], { stdio: 'ignore' });
    ip('addr', 'add', `${net.local}/30`, 'dev', net.name);
    ip('link', 'set', 'dev', net.name, 'up');
    return dev;
  } catch (e) {
    dev.close();
    throw e;
  }
}

function closeAndCheckGone(dev: TunDevice, name: string): void {
  dev.close();
  assert.equal(linkExists(name), false, `${name} still exists after close()`);
}

/** Drains the device on every readiness callback and keeps copies of the frames. */
class Collector {
  readonly frames: { vnet: Buffer; packet: Buffer }[] = [];
  private waiter: (() => void) | undefined;

  constructor(private readonly dev: TunDevice) {
    dev.start(() => {
      for (let n = dev.read(); n > 0; n = dev.read()) {
        for (let i = 0; i < n; i++) {
          const hdr = i * dev.slotSize + dev.headroom;
          const ipAt = hdr + dev.vnetHdrLen;
          this.frames.push({
            vnet: Buffer.from(dev.buf.subarray(hdr, ipAt)),
            packet: Buffer.from(dev.buf.subarray(ipAt, ipAt + dev.len[i]!)),
          });
        }
      }
      this.waiter?.();
    });
  }

  /** Resolves with the first frame matching `match`, or rejects after WAIT_MS. */
  async waitFor(match: (packet: Buffer) => boolean): Promise<{ vnet: Buffer; packet: Buffer }> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const hit = this.frames.find((f) => match(f.packet));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${WAIT_MS} ms (${this.frames.length} other frames)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }
}

// ---------- IPv4/UDP by hand (RFC 791, RFC 768, RFC 1071) ----------

function addrBytes(a: string): number[] {
  return a.split('.').map(Number);
}

/** 16-bit ones' complement sum of `data` added to `start`, folded, not complemented. */
function onesSum(data: Buffer, start = 0): number {
  let s = start;
  for (let k = 0; k + 1 < data.length; k += 2) s += data.readUInt16BE(k);
  if (data.length & 1) s += data[data.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function pseudoHeaderSum(src: string, dst: string, udpLen: number): number {
  const ph = Buffer.from([...addrBytes(src), ...addrBytes(dst), 0, IPPROTO_UDP, udpLen >> 8, udpLen & 0xff]);
  return onesSum(ph);
}

/** Builds an IPv4/UDP packet. With partialCsum the UDP checksum field holds only the
 * pseudo-header sum, as virtio's NEEDS_CSUM expects; otherwise the full checksum. */
function buildUdp(src: string, sport: number, dst: string, dport: number, payload: Buffer, partialCsum = false): Buffer {
  const udpLen = UDP_HDR + payload.length;
  const p = Buffer.alloc(IPV4_HDR + udpLen);
  p[0] = 0x45; // version 4, IHL 5
  p.writeUInt16BE(p.length, 2);
  p.writeUInt16BE(0x1234, 4); // identification
  p.writeUInt16BE(0x4000, 6); // DF
  p[8] = 64;
  p[9] = IPPROTO_UDP;
  Buffer.from(addrBytes(src)).copy(p, 12);
  Buffer.from(addrBytes(dst)).copy(p, 16);
  p.writeUInt16BE(~onesSum(p.subarray(0, IPV4_HDR)) & 0xffff, 10);
  p.writeUInt16BE(sport, 20);
  p.writeUInt16BE(dport, 22);
  p.writeUInt16BE(udpLen, 24);
  payload.copy(p, 28);
  const ph = pseudoHeaderSum(src, dst, udpLen);
  if (partialCsum) {
    p.writeUInt16BE(ph, 20 + UDP_OFF_CHECK);
  } else {
    const c = ~onesSum(p.subarray(IPV4_HDR), ph) & 0xffff;
    p.writeUInt16BE(c === 0 ? 0xffff : c, 20 + UDP_OFF_CHECK); // RFC 768: 0 means "none"
  }
  return p;
}

function ipv4String(p: Buffer, at: number): string {
  return `${p[at]}.${p[at + 1]}.${p[at + 2]}.${p[at + 3]}`;
}

function isUdpTo(dst: string, dport: number): (p: Buffer) => boolean {
  return (p) =>
    p.length >= IPV4_HDR + UDP_HDR && p[0] >> 4 === 4 && p[9] === IPPROTO_UDP &&
    ipv4String(p, 16) === dst && p.readUInt16BE(((p[0]! & 0xf) << 2) + 2) === dport;
}

// ---------- sockets ----------

async function boundSocket(address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, address, () => resolve());
  });
  return s;
}

function nextMessage(s: dgram.Socket): Promise<{ msg: Buffer; rinfo: dgram.RemoteInfo }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no datagram within ${WAIT_MS} ms`)), WAIT_MS);
    s.once('message', (msg, rinfo) => {
      clearTimeout(timer);
      resolve({ msg, rinfo });
    });
  });
}

function send(s: dgram.Socket, payload: Buffer, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => s.send(payload, port, address, (err) => (err ? reject(err) : resolve())));
}

/** Places `frame` (vnet header included) in the first scratch slot and writes it. */
function writeFrame(dev: TunDevice, frame: Buffer): number {
  const off = dev.readSlots * dev.slotSize + dev.headroom;
  frame.copy(dev.buf, off);
  return dev.write(Int32Array.of(off), Int32Array.of(frame.length), 1);
}

// ---------- the round trip ----------

/**
 * Kernel -> TUN: a datagram from LOCAL to PEER:9 must be read back with the right headers.
 * TUN -> kernel: a hand-built datagram PEER:9 -> LOCAL:port must reach the bound socket.
 * Returns the vnet header of the read frame for per-mode checks.
 */
async function roundTrip(dev: TunDevice, net: Net, partialCsumOut: boolean): Promise<Buffer> {
  const collector = new Collector(dev);
  const sock = await boundSocket(net.local);
  try {
    const sport = sock.address().port;
    const payload = Buffer.from(`lvs-tun-probe-${process.pid}-${dev.vnetHdrLen}`);
    await send(sock, payload, 9, net.peer);

    const { vnet, packet: p } = await collector.waitFor(isUdpTo(net.peer, 9));
    assert.equal(vnet.length, dev.vnetHdrLen);
    assert.equal(p[0], 0x45, 'IPv4 without options');
    assert.equal(p.readUInt16BE(2), p.length, 'total length equals len[i]');
    assert.equal(p.length, IPV4_HDR + UDP_HDR + payload.length);
    assert.equal(onesSum(p.subarray(0, IPV4_HDR)), 0xffff, 'IPv4 header checksum');
    assert.ok(p[8]! > 0, 'TTL');
    assert.equal(ipv4String(p, 12), net.local);
    assert.equal(ipv4String(p, 16), net.peer);
    assert.equal(p.readUInt16BE(20), sport);
    assert.equal(p.readUInt16BE(22), 9);
    assert.equal(p.readUInt16BE(24), UDP_HDR + payload.length);
    assert.deepEqual(p.subarray(IPV4_HDR + UDP_HDR), payload);

    const ph = pseudoHeaderSum(net.local, net.peer, UDP_HDR + payload.length);
    if (vnet.length > 0 && vnet[VNET_OFF_FLAGS]! & VNET_F_NEEDS_CSUM) {
      // Checksum left to the device: virtio says where, and the field holds the pseudo-header sum.
      assert.equal(vnet.readUInt16LE(VNET_OFF_CSUM_START), IPV4_HDR);
      assert.equal(vnet.readUInt16LE(VNET_OFF_CSUM_OFFSET), UDP_OFF_CHECK);
      assert.equal(p.readUInt16BE(IPV4_HDR + UDP_OFF_CHECK), ph);
    } else {
      assert.equal(onesSum(p.subarray(IPV4_HDR), ph), 0xffff, 'full UDP checksum');
    }

    // TUN -> kernel.
    const reply = Buffer.from(`lvs-tun-reply-${process.pid}`);
    const pkt = buildUdp(net.peer, 9, net.local, sport, reply, partialCsumOut);
    const hdr = Buffer.alloc(dev.vnetHdrLen);
    if (partialCsumOut) {
      hdr[VNET_OFF_FLAGS] = VNET_F_NEEDS_CSUM;
      hdr.writeUInt16LE(IPV4_HDR, VNET_OFF_CSUM_START);
      hdr.writeUInt16LE(UDP_OFF_CHECK, VNET_OFF_CSUM_OFFSET);
    }
    const got = nextMessage(sock);
    assert.equal(writeFrame(dev, Buffer.concat([hdr, pkt])), 1);
    const { msg, rinfo } = await got;
    assert.deepEqual(msg, reply);
    assert.equal(rinfo.address, net.peer);
    assert.equal(rinfo.port, 9);

    const st = dev.errors();
    assert.ok(st.rxPackets >= 1);
    assert.equal(st.txPackets, 1);
    assert.equal(st.txBytes, hdr.length + pkt.length);
    return vnet;
  } finally {
    sock.close();
  }
}

test('TUN without vnet header: UDP read from and written to the kernel', async (t) => {
  if (!prereqs(t)) return;
  const net = netFor('a', 0);
  const dev = openConfigured(net, { vnetHdr: false });
  try {
    assert.equal(dev.vnetHdrLen, 0);
    assert.equal(dev.offload, false);
    await roundTrip(dev, net, false);
  } finally {
    closeAndCheckGone(dev, net.name);
  }
});

test('TUN with vnet header, offloads off: header present and empty', async (t) => {
  if (!prereqs(t)) return;
  const net = netFor('b', 1);
  const dev = openConfigured(net, { vnetHdr: true, offload: false });
  try {
    assert.equal(dev.vnetHdrLen, VNET_HDR_LEN);
    const vnet = await roundTrip(dev, net, false);
    // Without TUNSETOFFLOAD the device has no checksum or GSO features (tun_net_fix_features).
    assert.equal(vnet[VNET_OFF_FLAGS]! & VNET_F_NEEDS_CSUM, 0);
    assert.equal(vnet[VNET_OFF_GSO_TYPE], VNET_GSO_NONE);
  } finally {
    closeAndCheckGone(dev, net.name);
  }
});

test('TUN with offloads: frames carry a readable vnet header; partial checksums accepted', async (t) => {
  if (!prereqs(t)) return;
  const net = netFor('c', 2);
  const dev = openConfigured(net, {}); // defaults: vnetHdr and offload on
  try {
    assert.equal(dev.vnetHdrLen, VNET_HDR_LEN);
    assert.equal(dev.offload, true);
    const vnet = await roundTrip(dev, net, true);
    // A small datagram is never a GSO frame; its flags may ask for a checksum (checked above).
    assert.equal(vnet[VNET_OFF_GSO_TYPE], VNET_GSO_NONE);
    assert.equal(vnet[VNET_OFF_FLAGS]! & ~0x3, 0, 'only NEEDS_CSUM / DATA_VALID defined');
  } finally {
    closeAndCheckGone(dev, net.name);
  }
});

test('TUN write errors are counted by errno, not thrown', (t) => {
  if (!prereqs(t)) return;
  const net = netFor('d', 3);
  const dev = openConfigured(net, { vnetHdr: true, offload: true });
  try {
    const off = dev.readSlots * dev.slotSize + dev.headroom;
    const good = Buffer.concat([Buffer.alloc(VNET_HDR_LEN), buildUdp(net.peer, 9, net.local, 9, Buffer.from('x'))]);
    good.copy(dev.buf, off);
    // 1: shorter than the vnet header (tun_get_user: EINVAL); 2: outside buf; 3: good.
    const offs = Int32Array.of(off, dev.buf.length - 4, off);
    const lens = Int32Array.of(4, 64, good.length);
    assert.equal(dev.write(offs, lens, 3), 1);
    const st = dev.errors();
    assert.equal(st.write.EINVAL, 1);
    assert.equal(st.write.BOUNDS, 1);
    assert.equal(st.txPackets, 1);
    assert.throws(() => dev.write(offs, lens, 4), RangeError);
  } finally {
    closeAndCheckGone(dev, net.name);
  }
});

test('TUN open errors throw with an errno code; close is idempotent', (t) => {
  if (!prereqs(t)) return;
  assert.throws(() => TunDevice.open({ name: 'x'.repeat(16) }), RangeError);
  assert.throws(() => TunDevice.open({ name: 'lvsbad', vnetHdr: false, offload: true }), /offload requires vnetHdr/);
  const net = netFor('e', 4);
  const dev = TunDevice.open({ name: net.name, batch: 2, scratchSlots: 0 });
  try {
    assert.ok(linkExists(net.name));
    // A second non-multiqueue open of the same name is refused by the kernel (EBUSY).
    assert.throws(() => TunDevice.open({ name: net.name }), (e: NodeJS.ErrnoException) => e.code === 'EBUSY');
    assert.equal(dev.read(), 0, 'nothing pending on a down interface');
  } finally {
    closeAndCheckGone(dev, net.name);
  }
  dev.close();
  assert.equal(dev.fd, -1);
  assert.equal(dev.read(), 0);
  assert.equal(dev.write(Int32Array.of(0), Int32Array.of(1), 1), 0);
  assert.throws(() => dev.start(() => {}), /closed/);
});

test('a process exits by itself after close() of a polled TUN', (t) => {
  if (!prereqs(t)) return;
  const tunJs = path.resolve(__dirname, '../../src/phy/tun.js');
  const name = netFor('f', 5).name;
  const script = `
    const { TunDevice } = require(${JSON.stringify(tunJs)});
    const dev = TunDevice.open({ name: ${JSON.stringify(name)}, batch: 2, scratchSlots: 0 });
    dev.start(() => {});
    setTimeout(() => dev.close(), 50);
  `;
  try {
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 5000, stdio: 'pipe' });
    assert.equal(r.error, undefined, 'child did not exit on its own');
    assert.equal(r.status, 0, r.stderr.toString());
  } finally {
    if (linkExists(name)) spawnSync('ip', ['link', 'del', 'dev', name]);
  }
  assert.equal(linkExists(name), false);
});

test('terminating a worker that polls a TUN releases the device without crashing', (t) => {
  if (!prereqs(t)) return;
  const tunJs = path.resolve(__dirname, '../../src/phy/tun.js');
  const name = netFor('g', 6).name;
  // The worker keeps its device open and polled; terminate() must run the addon's teardown.
  const script = `
    const { Worker } = require('node:worker_threads');
    const w = new Worker(${JSON.stringify(`
      const { TunDevice } = require(${JSON.stringify(tunJs)});
      const dev = TunDevice.open({ name: ${JSON.stringify(name)}, batch: 2, scratchSlots: 0 });
      dev.start(() => {});
      require('node:worker_threads').parentPort.postMessage('up');
    `)}, { eval: true });
    w.once('message', () => w.terminate().then(() => console.log('terminated')));
  `;
  try {
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 10000, stdio: 'pipe' });
    assert.equal(r.error, undefined, 'child did not exit on its own');
    assert.equal(r.signal, null, `child died by ${r.signal}`);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stdout.toString().trim(), 'terminated');
  } finally {
    if (linkExists(name)) spawnSync('ip', ['link', 'del', 'dev', name]);
  }
  assert.equal(linkExists(name), false);
});
