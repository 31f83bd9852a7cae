/**
 * The Prometheus registry over a real director (MemoryDevice, packets through the pipeline):
 * node_exporter's IPVS names, help, types and labels; values equal the director's counters;
 * series of removed services and real servers disappear; totals survive -D and are zeroed by -Z.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import type { Command } from '../../src/ipvs/command';
import { createRegistry, exposition } from '../../src/metrics/registry';
import { directorSources } from '../../src/metrics/sources';
import { pkt } from '../support/builder';

const VIP = '198.18.100.1';

function setup() {
  const dev = new MemoryDevice({ batch: 64, scratchSlots: 4, vnetHdr: false });
  const dir = new Director(dev, { clock: () => 1000, seed: 3, maxConns: 5000 });
  const reg = createRegistry(directorSources(dir));
  const cmds: Command[] = [
    { op: 'add-service', service: { proto: 'tcp', addr: VIP, port: 80, scheduler: 'rr' } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: '198.19.0.11', port: 80, fwd: 'masq', weight: 3 } },
    { op: 'add-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: '198.19.0.12', port: 8080, fwd: 'masq', weight: 1 } },
    { op: 'add-service', service: { proto: 'udp', addr: VIP, port: 53, scheduler: 'wlc' } },
    { op: 'add-server', service: { proto: 'udp', addr: VIP, port: 53 }, dest: { addr: '198.19.0.13', port: 53, fwd: 'masq' } },
    { op: 'add-service', service: { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 0x1a } },
    { op: 'add-server', service: { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 0x1a }, dest: { addr: '198.19.0.14', port: 0, fwd: 'route' } },
  ];
  dir.handle(cmds);
  return { dev, dir, reg };
}

function traffic(e: ReturnType<typeof setup>, n: number, base = 1000): void {
  for (let i = 0; i < n; i++) e.dev.inject(pkt().ip({ src: '198.18.0.2', dst: VIP }).tcp({ sport: base + i, dport: 80, flags: 'S' }).build());
  e.dev.inject(pkt().ip({ src: '198.18.0.2', dst: '198.18.200.9' }).tcp({ sport: 5, dport: 80, flags: 'S' }).build());
  e.dir.pipeline.drain(1000);
  e.dev.takeWritten();
}

/** sample lines of `name` as { labels-string: value }. */
function series(text: string, name: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const r = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (r && r[1] === name) m.set(r[2] ?? '', Number(r[3]));
  }
  return m;
}

test('node_ipvs_*: node_exporter names, help strings and types', async () => {
  const text = await setup().reg.metrics();
  const want: Array<[string, string, string]> = [
    ['node_ipvs_connections_total', 'counter', 'The total number of connections made.'],
    ['node_ipvs_incoming_packets_total', 'counter', 'The total number of incoming packets.'],
    ['node_ipvs_outgoing_packets_total', 'counter', 'The total number of outgoing packets.'],
    ['node_ipvs_incoming_bytes_total', 'counter', 'The total amount of incoming data.'],
    ['node_ipvs_outgoing_bytes_total', 'counter', 'The total amount of outgoing data.'],
    ['node_ipvs_backend_connections_active', 'gauge', 'The current active connections by local and remote address.'],
    ['node_ipvs_backend_connections_inactive', 'gauge', 'The current inactive connections by local and remote address.'],
    ['node_ipvs_backend_weight', 'gauge', 'The current backend weight by local and remote address.'],
  ];
  for (const [name, type, help] of want) {
    assert.ok(text.includes(`# HELP ${name} ${help}\n`), `help of ${name}`);
    assert.ok(text.includes(`# TYPE ${name} ${type}\n`), `type of ${name}`);
  }
});

test('backend labels as node_exporter parses /proc/net/ip_vs, FWM included; values are the table fields', async () => {
  const e = setup();
  const text = await e.reg.metrics();
  const w = series(text, 'node_ipvs_backend_weight');
  assert.deepEqual([...w.entries()].sort(), [
    ['{local_address="",local_port="0",remote_address="198.19.0.14",remote_port="0",proto="FWM",local_mark="0000001A"}', 1],
    ['{local_address="198.18.100.1",local_port="53",remote_address="198.19.0.13",remote_port="53",proto="UDP",local_mark=""}', 1],
    ['{local_address="198.18.100.1",local_port="80",remote_address="198.19.0.11",remote_port="80",proto="TCP",local_mark=""}', 3],
    ['{local_address="198.18.100.1",local_port="80",remote_address="198.19.0.12",remote_port="8080",proto="TCP",local_mark=""}', 1],
  ]);
});

test('counters equal the director: per service, per real server, totals, drops, packets per thread', async () => {
  const e = setup();
  traffic(e, 7);
  const text = await e.reg.metrics();
  const svc = e.dir.services.info({ proto: 'tcp', addr: VIP, port: 80 })[0];
  assert.equal(svc.stats.conns, 7);
  const key = '{local_address="198.18.100.1",local_port="80",proto="TCP",local_mark=""}';
  assert.equal(series(text, 'lvsd_service_connections_total').get(key), 7);
  assert.equal(series(text, 'lvsd_service_incoming_packets_total').get(key), svc.stats.inpkts);
  assert.equal(series(text, 'lvsd_service_incoming_bytes_total').get(key), svc.stats.inbytes);
  assert.ok(svc.stats.inbytes > 0);
  const rs1 = '{local_address="198.18.100.1",local_port="80",remote_address="198.19.0.11",remote_port="80",proto="TCP",local_mark=""}';
  assert.equal(series(text, 'lvsd_backend_connections_total').get(rs1), svc.dests[0].stats.conns);
  assert.equal(series(text, 'node_ipvs_backend_connections_inactive').get(rs1), svc.dests[0].inactiveConns);
  assert.equal(series(text, 'node_ipvs_backend_connections_inactive').get(rs1), 4); // rr over 2: SYN_RECV is inactive
  assert.equal(series(text, 'node_ipvs_connections_total').get(''), 7);
  assert.equal(series(text, 'node_ipvs_incoming_bytes_total').get(''), svc.stats.inbytes);
  assert.equal(series(text, 'lvsd_drops_total').get('{reason="no-service"}'), 1);
  assert.equal(series(text, 'lvsd_packets_total').get('{thread="0"}'), 8);
  assert.equal(series(text, 'lvsd_batches_total').get('{thread="0"}'), 1);
  assert.equal(series(text, 'lvsd_connection_table_entries').get(''), 7);
  assert.equal(series(text, 'lvsd_connection_table_max_entries').get(''), 5000);
});

test('series of a removed real server and service vanish; totals keep their traffic until -Z', async () => {
  const e = setup();
  traffic(e, 4);
  const count = (t: string) => t.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  const before = await e.reg.metrics();
  e.dir.handle([{ op: 'delete-server', service: { proto: 'tcp', addr: VIP, port: 80 }, dest: { addr: '198.19.0.12', port: 8080 } }]);
  const afterD = await e.reg.metrics();
  assert.ok(before.includes('remote_address="198.19.0.12"'));
  assert.ok(!afterD.includes('remote_address="198.19.0.12"'));
  e.dir.handle([{ op: 'delete-service', service: { proto: 'tcp', addr: VIP, port: 80 } }]);
  const afterDD = await e.reg.metrics();
  assert.ok(!afterDD.includes('local_port="80"'));
  assert.equal(series(afterDD, 'node_ipvs_connections_total').get(''), 4, 'a removed service\'s traffic stays in the total');
  e.dir.handle([{ op: 'zero' }]);
  assert.equal(series(await e.reg.metrics(), 'node_ipvs_connections_total').get(''), 0);
  // 200 add/remove cycles: back to the same number of series.
  const start = count(await e.reg.metrics());
  for (let i = 0; i < 200; i++) {
    const key = { proto: 'tcp' as const, addr: '198.18.100.2', port: 1000 + i };
    e.dir.handle([{ op: 'add-service', service: { ...key, scheduler: 'rr' } },
      { op: 'add-server', service: key, dest: { addr: '198.19.0.20', port: 80, fwd: 'masq' } }]);
    assert.ok(count(await e.reg.metrics()) > start);
    e.dir.handle([{ op: 'delete-service', service: key }]);
  }
  assert.equal(count(await e.reg.metrics()), start);
});

test('exposition: the same text as registry.metrics(), with the event loop turning between families', async () => {
  const e = setup();
  traffic(e, 3);
  // A callback that re-arms itself with setImmediate runs once per turn of the loop: it runs
  // between the families only if exposition gives the loop back between them.
  let turns = 0;
  let spinning = true;
  const spin = (): void => {
    turns++;
    if (spinning) setImmediate(spin);
  };
  setImmediate(spin);
  try {
    const text = await exposition(e.reg);
    assert.ok(turns >= 2, `the loop turned ${turns} times during one exposition`);
    assert.equal(text, await e.reg.metrics());
  } finally {
    spinning = false;
  }
});
