/**
 * The queue-steering program (src/datapath/steering.ts) loaded into the running kernel and run
 * on crafted packets with BPF_PROG_TEST_RUN; its answer must equal steerQueue() of the
 * connection's client address. Needs root and eBPF; skipped without them, except under CI=true.
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';

import { BPF_PROG_TYPE_SOCKET_FILTER, bpf } from '../../src/phy/bpf';
import { Steering, steerQueue, steeringProgram } from '../../src/datapath/steering';
import { addr, pkt } from '../support/builder';
import { kernelPrereqs } from '../support/prereqs';

const VIP = '198.18.100.1';
const RIP = '198.19.0.11';
const ROUTER = '198.18.0.254';

/** BPF_PROG_TEST_RUN of a socket filter takes an Ethernet frame and runs on its payload. */
function eth(ip: Buffer): Buffer {
  return Buffer.concat([Buffer.alloc(6), Buffer.from([2, 0, 0, 0, 0, 1]), Buffer.from([0x08, 0x00]), ip]);
}

function run(progFd: number, ip: Buffer): number {
  const out = Buffer.alloc(ip.length + 64);
  return bpf().bpfProgTestRun(progFd, eth(ip), out).retval;
}

test('steerQueue spreads clients and keeps a masked network together', () => {
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[steerQueue(addr('198.18.0.0') + i, 0xffffffff, 4)]++;
  for (const c of counts) assert.ok(c > 800 && c < 1200, `balanced: ${counts}`);
  const q = steerQueue(addr('198.18.7.1'), 0xffffff00, 4);
  for (let i = 2; i < 255; i++) assert.equal(steerQueue(addr('198.18.7.0') + i, 0xffffff00, 4), q);
});

test('requests, NAT replies and ICMP errors of one client reach the same queue', (t) => {
  if (!kernelPrereqs(t, 'eBPF test')) return;
  let attached = -1;
  const s = new Steering(5, (fd) => { attached = fd; });
  try {
    assert.equal(attached, s.progFdNow);
    s.update([addr(RIP), addr(VIP)], 0xffffffff);
    let distinct = new Set<number>();
    for (let i = 1; i <= 200; i++) {
      const cip = `198.18.${i >> 6}.${(i & 63) + 1}`;
      const want = steerQueue(addr(cip), 0xffffffff, 5);
      distinct.add(want);
      const req = pkt().ip({ src: cip, dst: VIP }).tcp({ sport: 40000 + i, dport: 80, flags: 'S' }).build();
      const rep = pkt().ip({ src: RIP, dst: cip }).tcp({ sport: 80, dport: 40000 + i, flags: 'SA' }).build();
      assert.equal(run(s.progFdNow, req), want, `request from ${cip}`);
      assert.equal(run(s.progFdNow, rep), want, `NAT reply to ${cip}`);
      // About a packet sent to the client (quoted source the VIP), and about one sent to the real server.
      const toClient = pkt().ip({ src: VIP, dst: cip }).tcp({ sport: 80, dport: 40000 + i, flags: 'A' }).build();
      const errOut = pkt().ip({ src: ROUTER, dst: VIP }).icmp({ type: 3, code: 4, mtu: 1400 }).quote(toClient, 28).build();
      assert.equal(run(s.progFdNow, errOut), want, `ICMP error quoting a reply to ${cip}`);
      const natted = pkt().ip({ src: cip, dst: RIP }).tcp({ sport: 40000 + i, dport: 80, flags: 'A' }).build();
      const errIn = pkt().ip({ src: RIP, dst: cip }).icmp({ type: 3, code: 3 }).quote(natted, 28).build();
      assert.equal(run(s.progFdNow, errIn), want, `ICMP error from the real server about ${cip}`);
    }
    assert.equal(distinct.size, 5, 'all queues used');

    // -M 255.255.255.0 in use: the program is reloaded with the mask; the old fd was replaced.
    const before = s.progFdNow;
    s.update([addr(RIP), addr(VIP)], 0xffffff00);
    assert.notEqual(s.progFdNow, before);
    assert.equal(attached, s.progFdNow);
    distinct = new Set<number>();
    for (let h = 1; h < 255; h += 7) {
      const req = pkt().ip({ src: `198.18.9.${h}`, dst: VIP }).udp({ sport: 5000, dport: 53 }).build();
      distinct.add(run(s.progFdNow, req));
    }
    assert.deepEqual([...distinct], [steerQueue(addr('198.18.9.0'), 0xffffff00, 5)], 'one network, one queue');

    // The real server leaves the map: its packets are hashed by their source again.
    s.update([addr(VIP)], 0xffffffff);
    const rep = pkt().ip({ src: RIP, dst: '198.18.0.9' }).tcp({ sport: 80, dport: 4000, flags: 'A' }).build();
    assert.equal(run(s.progFdNow, rep), steerQueue(addr(RIP), 0xffffffff, 5));
    // Not IPv4, and a truncated ICMP error: queue 0.
    assert.equal(run(s.progFdNow, Buffer.from([0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), 0);
  } finally {
    s.close();
  }
});

test('the program is accepted for 1 to 64 queues', (t) => {
  if (!kernelPrereqs(t, 'eBPF test')) return;
  const map = bpf().bpfMapCreate(1, 4, 1, 16, 'lvs_test');
  try {
    for (const n of [1, 2, 64]) {
      const fd = bpf().bpfProgLoad(BPF_PROG_TYPE_SOCKET_FILTER, steeringProgram(n, 0xffffffff, map), 'GPL', 't');
      bpf().bpfClose(fd);
    }
    assert.throws(() => steeringProgram(0, 0xffffffff, map), RangeError);
  } finally {
    bpf().bpfClose(map);
  }
});
