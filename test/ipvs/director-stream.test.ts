import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command, ConnInfo, ServiceInfo, StreamReply } from '../../src/ipvs/command';
import { Director } from '../../src/ipvs/director';
import { MemoryDevice } from '../../src/phy/memory';
import { FWD_ROUTE, IPPROTO_TCP } from '../../src/ipvs/types';
import { TCP_S_SYN_RECV } from '../../src/ipvs/proto/tcp';

function director(): Director {
  return new Director(new MemoryDevice({ batch: 8, scratchSlots: 2, vnetHdr: false }), { seed: 1, maxConns: 1 << 20, clock: () => 1000 });
}

async function drain<T>(rows: AsyncIterable<T[]>): Promise<{ rows: T[]; chunks: number; turns: number }> {
  let turns = 0;
  let live = true;
  const tick = (): void => {
    if (!live) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const out: T[] = [];
  let chunks = 0;
  for await (const r of rows) {
    chunks++;
    for (const x of r) out.push(x);
  }
  live = false;
  return { rows: out, chunks, turns };
}

test('list-conns streams a 250,000-entry table in chunks, yielding to the event loop between them', async () => {
  const d = director();
  const vip = 0xc6126401; // 198.18.100.1
  for (let i = 0; i < 250_000; i++) {
    const id = d.conns.insert(IPPROTO_TCP, 0xc6128000 + (i >> 4), 1024 + (i & 15), vip, 80, 0xc613000b, 80, FWD_ROUTE, 0, 0, 0,
      TCP_S_SYN_RECV, 60, 1000);
    assert.ok(id >= 0);
  }
  const reply = d.control([{ op: 'list-conns' }]) as StreamReply;
  assert.equal(reply.kind, 'stream');
  const { rows, chunks, turns } = await drain(reply.rows as AsyncIterable<ConnInfo[]>);
  assert.equal(rows.length, 250_000);
  assert.deepEqual(rows[0], { proto: 'tcp', expires: 60, state: 'SYN_RECV', caddr: '198.18.128.0', cport: 1024,
    vaddr: '198.18.100.1', vport: 80, daddr: '198.19.0.11', dport: 80 });
  assert.ok(chunks >= 10, `${chunks} chunks`);
  assert.ok(turns >= chunks - 1, `the event loop ran ${turns} times during ${chunks} chunks`);
});

test('list-services streams every service, one with 3,000 real servers split over rows; a missing service is an error', async () => {
  const d = director();
  const svc = { proto: 'tcp' as const, addr: '198.18.100.1', port: 80 };
  const cmds: Command[] = [{ op: 'add-service', service: { ...svc, scheduler: 'rr' } }, { op: 'add-service', service: { ...svc, port: 81 } }];
  for (let i = 0; i < 3000; i++) {
    cmds.push({ op: 'add-server', service: svc, dest: { addr: `198.19.${i >> 8}.${i & 255}`, port: 80, fwd: 'route', weight: 1 } });
  }
  d.handle(cmds);
  for (const key of [undefined, svc]) {
    const reply = d.control([{ op: 'list-services', service: key }]) as StreamReply;
    assert.equal(reply.kind, 'stream');
    const { rows } = await drain(reply.rows as AsyncIterable<ServiceInfo[]>);
    const first = rows.filter((r) => r.port === 80);
    assert.ok(first.length >= 6, 'split into rows of at most 500 real servers');
    assert.ok(first.every((r) => r.dests.length <= 500));
    assert.equal(first.reduce((n, r) => n + r.dests.length, 0), 3000);
    assert.equal(rows.some((r) => r.port === 81), key === undefined);
  }
  assert.throws(() => d.control([{ op: 'list-services', service: { ...svc, port: 82 } }]), /No such service|ENOSVC|service/i);
});
