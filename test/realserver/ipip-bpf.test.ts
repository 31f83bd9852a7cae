/**
 * The eBPF IPIP decapsulator (src/realserver/ipip-bpf.ts): the program is loaded into the
 * running kernel and run on crafted frames with BPF_PROG_TEST_RUN (on the loopback device, so
 * a frame to the all-zero MAC counts as addressed to this host). Needs root and a kernel with
 * eBPF; skipped without them, except under CI=true where that is a failure.
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';

import { BpfAsm } from '../../src/phy/bpf';
import { BpfDecap, decapProgram } from '../../src/realserver/ipip-bpf';
import { IPPROTO_IPIP } from '../../src/ipvs/types';
import { addr, pkt } from '../support/builder';
import { kernelPrereqs } from '../support/prereqs';

const DIP = '198.19.0.1';
const RIP = '198.19.0.11';
const VIP = '198.18.100.1';
const CIP = '198.18.0.2';

function prereqs(t: TestContext): boolean {
  return kernelPrereqs(t, 'eBPF test');
}

function eth(ip: Buffer, dstMac = Buffer.alloc(6)): Buffer {
  return Buffer.concat([dstMac, Buffer.from([2, 0, 0, 0, 0, 1]), Buffer.from([0x08, 0x00]), ip]);
}

function inner(dst = VIP): Buffer {
  return pkt().ip({ src: CIP, dst, id: 7 }).tcp({ sport: 40000, dport: 80, flags: 'A', seq: 1 }).payload('data').build();
}

function ipip(payload: Buffer, o: { dst?: string; mf?: boolean; options?: Uint8Array; proto?: number } = {}): Buffer {
  return pkt().ip({ src: DIP, dst: o.dst ?? RIP, proto: o.proto ?? IPPROTO_IPIP, mf: o.mf, options: o.options })
    .payload(payload).build();
}

test('the program strips the outer header of IPIP to this host for a VIP, and nothing else', (t) => {
  if (!prereqs(t)) return;
  const d = BpfDecap.attach([], [addr('198.19.9.9'), addr(RIP)], [addr(VIP)]);
  try {
    const good = eth(ipip(inner()));
    const r = d.testRun(good);
    assert.equal(r.retval, 0, 'TC_ACT_OK');
    assert.deepEqual(r.frame, eth(inner()), 'Ethernet header, then the inner packet byte for byte');

    const untouched: Array<[string, Buffer]> = [
      ['outer destination not local', eth(ipip(inner(), { dst: '198.19.0.12' }))],
      ['inner destination not a VIP', eth(ipip(inner('198.18.100.2')))],
      ['outer fragment (MF)', eth(ipip(inner(), { mf: true }))],
      ['outer header with options', eth(ipip(inner(), { options: Uint8Array.of(1, 1, 1, 0) }))],
      ['not IPIP', eth(ipip(inner(), { proto: 6 }))],
      ['truncated', eth(ipip(inner())).subarray(0, 14 + 30)],
      ['another host\'s MAC', eth(ipip(inner()), Buffer.from([2, 0, 0, 0, 0, 0x99]))],
    ];
    for (const [why, frame] of untouched) {
      const u = d.testRun(frame);
      assert.equal(u.retval, 0, why);
      assert.deepEqual(u.frame, frame, `${why}: passed on unchanged`);
    }
    assert.deepEqual(d.counts(), { decapsulated: 1, failed: 0 });
  } finally {
    d.close();
  }
  d.close();
});

test('decapProgram needs a local address and a VIP', () => {
  assert.throws(() => decapProgram([], [addr(VIP)], 3), /no local address or no VIP/);
  assert.throws(() => decapProgram([addr(RIP)], [], 3), /no local address or no VIP/);
});

test('BpfAsm encodes instructions and resolves jumps relative to the next instruction', () => {
  const code = new BpfAsm()
    .label('top').movImm(0, -1).jne32(1, 0x45, 'end').loadMapFd(2, 9).ja('top')
    .label('end').exit().assemble();
  assert.equal(code.length, 6 * 8);
  // r0 = -1: BPF_ALU64|BPF_MOV|BPF_K
  assert.deepEqual([...code.subarray(0, 8)], [0xb7, 0x00, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  // if w1 != 0x45 goto end (+3: over the two slots of the map load and the ja)
  assert.deepEqual([...code.subarray(8, 16)], [0x56, 0x01, 3, 0, 0x45, 0, 0, 0]);
  // r2 = map fd 9: src_reg BPF_PSEUDO_MAP_FD, then an all-zero second half
  assert.deepEqual([...code.subarray(16, 32)], [0x18, 0x12, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  // goto top (-5)
  assert.deepEqual([...code.subarray(32, 40)], [0x05, 0x00, 0xfb, 0xff, 0, 0, 0, 0]);
  assert.deepEqual([...code.subarray(40, 48)], [0x95, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => new BpfAsm().ja('nowhere').assemble(), /undefined label nowhere/);
});
