/**
 * Firewall-mark services through the real datapath: the main device and a mark's device
 * are two MemoryDevices whose pipelines share the director's service and connection tables.
 * Packets of marked VIP:ports enter on the mark's device; NAT replies on the main device.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { DROP_NAMES } from '../../src/ipvs/pipeline';
import { IFNAME_MAX, fwmarkDeviceName } from '../../src/ipvs/fwmark';
import {
  ipv4Src, ipv4Dst, ipv4ChecksumOk, ipv4HeaderLen, ipv4TotalLen, l4Checksum, tcpChecksum, tcpSrcPort, tcpDstPort,
  udpDstPort,
} from '../../src/wire/index';
import type { ServiceKey } from '../../src/ipvs/command';
import { pkt, addr } from '../support/builder';

const CIP1 = '198.18.0.2';
const CIP2 = '198.18.0.3';
const VIP1 = '198.18.100.1';
const VIP2 = '198.18.100.2';
const RIP1 = '198.19.0.11';
const RIP2 = '198.19.0.12';
const FWM1: ServiceKey = { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 1 };

function setup(persistent?: number) {
  let now = 1000;
  const main = new MemoryDevice({ name: 'main', batch: 8, scratchSlots: 2 });
  const markDev = new MemoryDevice({ name: 'mark1', batch: 8, scratchSlots: 2 });
  const dir = new Director(main, { clock: () => now, seed: 7 });
  const markPipe = dir.fwmarks.attach(1, markDev);
  dir.handle([
    { op: 'add-service', service: { ...FWM1, scheduler: 'rr', ...(persistent ? { persistent } : {}) } },
    { op: 'add-server', service: FWM1, dest: { addr: RIP1, port: 0, fwd: 'masq' } },
    { op: 'add-server', service: FWM1, dest: { addr: RIP2, port: 0, fwd: 'masq' } },
  ]);
  const send = (dev: MemoryDevice, p: Buffer) => {
    dev.inject(p);
    (dev === main ? dir.pipeline : markPipe).drain(now);
    return dev.takeWritten().map((w) => w.packet);
  };
  return { dir, main, markDev, markPipe, send, advance: (ms: number) => { now += ms; } };
}

function syn(src: string, dst: string, sport: number, dport: number): Buffer {
  return pkt().ip({ src, dst }).tcp({ sport, dport, flags: 'S' }).build();
}

function tcpOk(p: Buffer): boolean {
  const hl = ipv4HeaderLen(p, 0);
  return l4Checksum(p, hl, ipv4TotalLen(p, 0) - hl, ipv4Src(p, 0), ipv4Dst(p, 0), 6) === tcpChecksum(p, hl);
}

test('device names: the main name plus f<mark>, truncated to IFNAMSIZ-1', () => {
  assert.equal(fwmarkDeviceName('lvs0', 1), 'lvs0f1');
  assert.equal(fwmarkDeviceName('lvs0', 4294967295), 'lvs0f4294967295');
  const long = fwmarkDeviceName('lvs-director0', 4294967295);
  assert.equal(long, 'lvs-f4294967295', 'four characters of the main name, then f and ten digits');
  assert.ok(long.length <= IFNAME_MAX);
  assert.notEqual(fwmarkDeviceName('lvs-director0', 12), fwmarkDeviceName('lvs-director0', 13));
});

test('two VIP:ports on the mark device are balanced by the one service; dest port 0 keeps the packet port', () => {
  const d = setup();
  const a = d.send(d.markDev, syn(CIP1, VIP1, 40000, 80));
  const b = d.send(d.markDev, syn(CIP1, VIP2, 40001, 443));
  assert.equal(a.length, 1);
  assert.equal(b.length, 1);
  // rr over RIP1, RIP2 in order; port 0 real servers get the packet's destination port.
  assert.equal(ipv4Dst(a[0], 0), addr(RIP1));
  assert.equal(tcpDstPort(a[0], 20), 80);
  assert.equal(ipv4Dst(b[0], 0), addr(RIP2));
  assert.equal(tcpDstPort(b[0], 20), 443);
  for (const p of [a[0], b[0]]) {
    assert.equal(ipv4Src(p, 0), addr(CIP1));
    assert.ok(ipv4ChecksumOk(p, 0));
    assert.ok(tcpOk(p));
  }
  assert.equal(d.main.takeWritten().length, 0, 'nothing written to the main device');
  const info = d.dir.services.info()[0];
  assert.equal(info.fwmark, 1);
  assert.equal(info.stats.conns, 2);
  assert.equal(d.markPipe.counters[0], 2, 'rx_packets of the mark pipeline');
});

test('the NAT reply arrives on the main device and matches the shared connection table', () => {
  const d = setup();
  const [fwd] = d.send(d.markDev, syn(CIP1, VIP2, 40002, 8443));
  const rip = ipv4Dst(fwd, 0);
  const synack = pkt().ip({ src: rip, dst: CIP1 }).tcp({ sport: 8443, dport: 40002, flags: 'SA' }).build();
  const [back] = d.send(d.main, synack);
  assert.ok(back, 'reply forwarded');
  assert.equal(ipv4Src(back, 0), addr(VIP2));
  assert.equal(tcpSrcPort(back, 20), 8443);
  assert.equal(ipv4Dst(back, 0), addr(CIP1));
  assert.ok(tcpOk(back));
  // The client's ACK comes back on the mark device and finds the entry.
  const ack = pkt().ip({ src: CIP1, dst: VIP2 }).tcp({ sport: 40002, dport: 8443, flags: 'A' }).build();
  const [fwd2] = d.send(d.markDev, ack);
  assert.equal(ipv4Dst(fwd2, 0), rip);
  const conn = d.dir.connInfo().find((c) => c.cport === 40002)!;
  assert.equal(conn.state, 'ESTABLISHED');
  assert.equal(conn.vaddr, VIP2);
  assert.equal(conn.vport, 8443);
});

test('marked traffic on the main device is not the mark service: no service there', () => {
  const d = setup();
  const out = d.send(d.main, syn(CIP1, VIP1, 40003, 80));
  assert.equal(out.length, 0);
  assert.equal(d.dir.pipeline.drops[DROP_NAMES.indexOf('no-service')], 1);
});

test('persistent fwmark service: one IPPROTO_IP template per client across VIPs, ports and protocols', () => {
  const d = setup(10);
  const c1 = [
    d.send(d.markDev, syn(CIP1, VIP1, 41000, 80))[0],
    d.send(d.markDev, syn(CIP1, VIP2, 41001, 443))[0],
    d.send(d.markDev, syn(CIP1, VIP1, 41002, 8080))[0],
    d.send(d.markDev, pkt().ip({ src: CIP1, dst: VIP2 }).udp({ sport: 41003, dport: 53 }).payload(Buffer.from('q')).build())[0],
  ];
  const c2 = d.send(d.markDev, syn(CIP2, VIP2, 42000, 443))[0];
  const first = ipv4Dst(c1[0], 0);
  for (const p of c1) assert.equal(ipv4Dst(p, 0), first, 'every connection of client 1 on one server');
  assert.equal(udpDstPort(c1[3], 20), 53);
  assert.notEqual(ipv4Dst(c2, 0), first, 'rr gives the second client the other server');
  const templates = d.dir.connInfo().filter((c) => c.state === 'NONE');
  assert.equal(templates.length, 2, 'one template per client');
  const t1 = templates.find((t) => t.caddr === CIP1)!;
  assert.deepEqual(
    { proto: t1.proto, cport: t1.cport, vaddr: t1.vaddr, vport: t1.vport, daddr: t1.daddr, dport: t1.dport },
    { proto: 'ip', cport: 0, vaddr: '0.0.0.1', vport: 0, daddr: first === addr(RIP1) ? RIP1 : RIP2, dport: 0 },
  );
  const dest = d.dir.services.info()[0].dests.find((x) => addr(x.addr) === first)!;
  assert.equal(dest.persistConns, 1);
  assert.equal(dest.inactiveConns, 4);
});

test('attach and detach: one device per mark; a detached mark is closed and forgotten', () => {
  const d = setup();
  assert.throws(() => d.dir.fwmarks.attach(1, new MemoryDevice({ batch: 2, scratchSlots: 1 })), /fwmark 1 already/);
  assert.deepEqual(d.dir.fwmarks.marks(), [1]);
  d.dir.fwmarks.detach(1);
  assert.equal(d.dir.fwmarks.has(1), false);
  assert.equal(d.dir.services.info().length, 1, 'the service stays in the table');
  d.dir.handle([{ op: 'set-sysctl', name: 'conn_reuse_mode', value: 0 }]);
  const p2 = d.dir.fwmarks.attach(1, new MemoryDevice({ batch: 2, scratchSlots: 1 }));
  assert.equal(p2.connReuse, false, 'a new mark pipeline takes the current settings');
  assert.equal(p2.halfOpen, d.dir.pipeline.halfOpen, 'one half-open budget for the table');
});
