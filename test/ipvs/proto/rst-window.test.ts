/**
 * The RST window (src/ipvs/proto/tcp.ts tcpSeqAccept) through the pipeline: blind RSTs with
 * arbitrary sequence numbers leave an idle ESTABLISHED entry alone; the sender's own RST,
 * at the sequence number it would use next, still closes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/phy/memory';
import { Director } from '../../../src/ipvs/director';
import { DROP_NAMES } from '../../../src/ipvs/pipeline';
import { F_NOOUTPUT } from '../../../src/ipvs/conn';
import { RST_WINDOW, TCP_S_ESTABLISHED } from '../../../src/ipvs/proto/tcp';
import { addr, pkt } from '../../support/builder';

const CIP = '198.18.0.2';
const VIP = '198.18.100.1';
const RIP = '198.19.0.11';
const ISN = 0xfffff000; // the client's sequence space wraps during the test

function setup(fwd: 'masq' | 'route') {
  const dev = new MemoryDevice({ batch: 8, scratchSlots: 2 });
  const dir = new Director(dev, { clock: () => 1000, seed: 1 });
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: 'rr' } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: RIP, port: 80, fwd } },
  ]);
  const run = (p: Buffer) => {
    dev.inject(p);
    dir.pipeline.drain(1000);
    return dev.takeWritten().length;
  };
  const state = () => dir.connInfo()[0]?.state;
  const drops = () => dir.pipeline.drops[DROP_NAMES.indexOf('tcp-rst-window')];
  return { dir, run, state, drops };
}

const c2s = (flags: string, seq: number, payload = 0) =>
  pkt().ip({ src: CIP, dst: VIP }).tcp({ sport: 40000, dport: 80, flags, seq: seq >>> 0, ack: 1 })
    .payload(Buffer.alloc(payload, 0x61)).build();

/** Handshake and 3000 bytes from the client: its next sequence number is ISN + 1 + 3000. */
function established(d: ReturnType<typeof setup>, nat: boolean): number {
  d.run(c2s('S', ISN));
  if (nat) d.run(pkt().ip({ src: RIP, dst: CIP }).tcp({ sport: 80, dport: 40000, flags: 'SA', seq: 5000, ack: ISN + 1 }).build());
  d.run(c2s('A', ISN + 1));
  for (let k = 0; k < 3; k++) d.run(c2s('PA', ISN + 1 + 1000 * k, 1000));
  assert.equal(d.state(), 'ESTABLISHED');
  return (ISN + 1 + 3000) >>> 0;
}

for (const fwd of ['masq', 'route'] as const) {
  test(`${fwd}: three blind RSTs with arbitrary sequence numbers neither close the entry nor reach the server`, () => {
    const d = setup(fwd);
    const next = established(d, fwd === 'masq');
    for (const seq of [0x12345678, (next + 0x40000000) >>> 0, (next - 2 * RST_WINDOW) >>> 0]) {
      assert.equal(d.run(c2s('R', seq)), 0, `RST seq ${seq.toString(16)} dropped`);
    }
    assert.equal(d.state(), 'ESTABLISHED');
    assert.equal(d.drops(), 3);
    // A forged data segment far away does not move the window towards the attacker's RST.
    d.run(c2s('A', 0x00abcdef, 10));
    assert.equal(d.run(c2s('R', 0x00abcdef + 10)), 0);
    assert.equal(d.state(), 'ESTABLISHED');
    // A forged SYN on the established entry does not re-learn the sequence space either.
    d.run(c2s('S', 0x7000_0000));
    assert.equal(d.run(c2s('R', 0x7000_0001)), 0);
    assert.equal(d.state(), 'ESTABLISHED');
    // The client's own RST (SND.NXT, across the wrap) is forwarded and closes the entry.
    const sent = d.run(c2s('R', next));
    if (fwd === 'masq') assert.equal(sent, 1);
    assert.equal(d.state(), 'CLOSE');
    assert.equal(d.drops(), 5, 'the legitimate RST was not dropped');
  });
}

test('masq: the real server side is checked against its own sequence space', () => {
  const d = setup('masq');
  established(d, true);
  const s2c = (flags: string, seq: number) =>
    pkt().ip({ src: RIP, dst: CIP }).tcp({ sport: 80, dport: 40000, flags, seq: seq >>> 0, ack: 1 }).build();
  assert.equal(d.run(s2c('R', 0x9000_0000)), 0);
  assert.equal(d.state(), 'ESTABLISHED');
  assert.equal(d.run(s2c('R', 5001)), 1, 'server SND.NXT after its SYN-ACK');
  assert.equal(d.state(), 'CLOSE');
});

test('an entry that has not seen its sender (made by sync) learns from its first segment', () => {
  const d = setup('route');
  const svc = d.dir.services.lookup(6, addr(VIP), 80)!;
  const dest = svc.findDest(addr(RIP), 80)!;
  const id = d.dir.conns.insert(6, addr(CIP), 40000, addr(VIP), 80, dest.addr, 80, dest.fwd, F_NOOUTPUT,
    dest.id, svc.id, TCP_S_ESTABLISHED, 900, 1000);
  assert.ok(id >= 0);
  d.run(c2s('A', 0x1000, 100));
  d.run(c2s('R', 0x8000_0000));
  assert.equal(d.drops(), 1, 'learnt from the first ACK: a far RST is dropped');
  assert.equal(d.state(), 'ESTABLISHED');
  d.run(c2s('R', 0x1000 + 100));
  assert.equal(d.drops(), 1);
  assert.equal(d.state(), 'CLOSE');
});
