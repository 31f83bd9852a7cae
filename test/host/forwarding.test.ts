/**
 * The host layer (src/host/forwarding.ts) against a scripted kernel: lookups and probes are
 * asynchronous, neighbour changes arrive as events, and every change of a real server's facts
 * is one serialisable HostRoute that applyHostRoute turns into transmitter state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyHostRoute, Forwarding, type HostRoute } from '../../src/host/forwarding';
import type { HostKernel, NeighEntry } from '../../src/host/kernel';
import { NUD_FAILED, NUD_INCOMPLETE, NUD_REACHABLE, NUD_STALE, type RouteMsg } from '../../src/host/rtnetlink';
import { ipFromString } from '../../src/ipvs/types';
import { RouteXmit } from '../../src/xmit/dr';
import { TunnelXmit } from '../../src/xmit/tunnel';
import { RecordingSink } from '../support/frames';

const RIP = ipFromString('198.19.0.11');
const RIP2 = ipFromString('198.19.0.12');
const DIP = ipFromString('198.19.0.1');
const BR = 7;
const BR_MAC = Uint8Array.from([2, 0, 0, 0, 0, 1]);

class FakeKernel implements HostKernel {
  routes = new Map<number, RouteMsg>();
  neigh = new Map<string, NeighEntry>();
  probes: number[] = [];
  asked: number[] = [];
  private neighFns: Array<(i: number, a: number, e: NeighEntry | undefined) => void> = [];
  private routeFns: Array<() => void> = [];
  inflight = 0;
  async routeGet(addr: number): Promise<RouteMsg | undefined> {
    this.asked.push(addr);
    this.inflight++;
    await new Promise((r) => setImmediate(r));
    this.inflight--;
    return this.routes.get(addr);
  }
  /** Resolves once every lookup asked so far has been answered and its answer handled. */
  async answered(): Promise<void> {
    do await new Promise((r) => setImmediate(r)); while (this.inflight > 0);
    await new Promise((r) => setImmediate(r));
  }
  neighbour(ifindex: number, addr: number): NeighEntry | undefined {
    return this.neigh.get(`${ifindex} ${addr}`);
  }
  linkName(ifindex: number): string | undefined {
    return ifindex === BR ? 'br0' : undefined;
  }
  linkMtu(ifindex: number): number {
    return ifindex === BR ? 1500 : 0;
  }
  probe(addr: number): void {
    this.probes.push(addr);
  }
  onNeighbour(fn: (i: number, a: number, e: NeighEntry | undefined) => void): void {
    this.neighFns.push(fn);
  }
  onRoutesChanged(fn: () => void): void {
    this.routeFns.push(fn);
  }
  setNeigh(addr: number, e: NeighEntry | undefined): void {
    if (e) this.neigh.set(`${BR} ${addr}`, e);
    else this.neigh.delete(`${BR} ${addr}`);
    for (const fn of this.neighFns) fn(BR, addr, e);
  }
  routesChanged(): void {
    for (const fn of this.routeFns) fn();
  }
}

function onLink(addr: number, src = DIP, mtu = 0): RouteMsg {
  return { dst: addr, dstLen: 32, table: 254, type: 1, oif: BR, gateway: 0, prefsrc: src, mtu };
}

const quiet = { info: () => undefined, warn: () => undefined };

function setup() {
  const k = new FakeKernel();
  const sinks: string[] = [];
  const f = new Forwarding(quiet, (dev) => {
    sinks.push(dev);
    return new RecordingSink(false, dev, BR_MAC);
  });
  const updates: HostRoute[] = [];
  f.onUpdate((u) => updates.push(JSON.parse(JSON.stringify(u)) as HostRoute));
  return { k, f, updates, sinks };
}

test('a DR real server with an unknown MAC: add returns at once, the kernel is asked to resolve it, the event completes it', async () => {
  const { k, f, updates, sinks } = setup();
  k.routes.set(RIP, onLink(RIP));
  await f.start(k);
  f.addRoute(RIP);
  assert.equal(updates.length, 0, 'nothing is known synchronously');
  assert.deepEqual(k.asked, [RIP]);
  await k.answered();
  assert.deepEqual(k.probes, [RIP], 'one probe for the unresolved MAC ');
  assert.equal(updates.at(-1)?.mac, null);
  assert.equal(updates.at(-1)?.dev, 'br0');
  assert.equal(f.route.neighbour(RIP), undefined);
  k.setNeigh(RIP, { state: NUD_INCOMPLETE, lladdr: null });
  assert.equal(f.route.neighbour(RIP), undefined);
  k.setNeigh(RIP, { state: NUD_REACHABLE, lladdr: '02:00:00:00:00:11' });
  const u = updates.at(-1)!;
  assert.deepEqual(u, { rip: RIP, dev: 'br0', ifindex: BR, src: DIP, mtu: 1500, gateway: 0, mac: '02:00:00:00:00:11',
    tunnel: false, direct: true });
  assert.deepEqual([...f.route.neighbour(RIP)!.mac], [2, 0, 0, 0, 0, 0x11]);
  assert.deepEqual(sinks, ['br0'], 'the AF_PACKET output is opened once, when first needed');
  f.stop();
});

test('neighbour changes are followed from events: a replaced server, STALE kept, FAILED forgotten and probed again', async () => {
  const { k, f, updates } = setup();
  k.routes.set(RIP, onLink(RIP));
  k.neigh.set(`${BR} ${RIP}`, { state: NUD_REACHABLE, lladdr: '02:00:00:00:00:11' });
  await f.start(k);
  f.addRoute(RIP);
  await k.answered();
  assert.equal(updates.at(-1)?.mac, '02:00:00:00:00:11');
  assert.deepEqual(k.probes, [], 'a known MAC needs no probe');
  k.setNeigh(RIP, { state: NUD_REACHABLE, lladdr: '02:00:00:00:00:99' });
  assert.equal(updates.at(-1)?.mac, '02:00:00:00:00:99');
  const n = updates.length;
  k.setNeigh(RIP, { state: NUD_STALE, lladdr: '02:00:00:00:00:99' });
  assert.equal(updates.length, n, 'STALE keeps the same facts: no update');
  k.setNeigh(RIP, { state: NUD_FAILED, lladdr: null });
  assert.equal(updates.at(-1)?.mac, null);
  assert.equal(f.route.neighbour(RIP), undefined);
  assert.deepEqual(k.probes, [RIP]);
  f.stop();
});

test('a tunnel real server: source and route MTU, a learnt path MTU kept until the source changes', async () => {
  const { k, f, updates } = setup();
  k.routes.set(RIP2, onLink(RIP2, DIP, 1400));
  await f.start(k);
  f.addTunnel(RIP2);
  await k.answered();
  assert.deepEqual(f.tunnel.route(RIP2), { src: DIP, mtu: 1400 });
  assert.equal(updates.at(-1)?.tunnel, true);
  assert.equal(updates.at(-1)?.direct, false, 'no MAC wanted without AF_PACKET tunnel output');
  assert.deepEqual(k.probes, []);
  f.reportMtu(RIP2, 1300);
  assert.equal(f.tunnel.route(RIP2)?.mtu, 1300);
  k.routesChanged();
  await k.answered();
  assert.equal(f.tunnel.route(RIP2)?.mtu, 1300, 'a route re-read keeps the learnt MTU');
  const other = ipFromString('198.19.0.2');
  k.routes.set(RIP2, onLink(RIP2, other, 1400));
  k.routesChanged();
  await k.answered();
  assert.deepEqual(f.tunnel.route(RIP2), { src: other, mtu: 1400 }, 'a new source forgets it');
  f.removeTunnel(RIP2);
  assert.equal(f.tunnel.route(RIP2), undefined);
  assert.equal(updates.at(-1)?.dev, null);
  f.stop();
});

test('no route: the update says so and the transmitters forget the server; a later route brings it back', async () => {
  const { k, f } = setup();
  await f.start(k);
  f.addTunnel(RIP);
  await k.answered();
  assert.equal(f.current(RIP)?.dev, null);
  assert.equal(f.tunnel.route(RIP), undefined);
  k.routes.set(RIP, onLink(RIP));
  k.routesChanged();
  await k.answered();
  assert.deepEqual(f.tunnel.route(RIP), { src: DIP, mtu: 1500 });
  f.stop();
});

test('real servers added before start are looked up when it starts', async () => {
  const { k, f } = setup();
  k.routes.set(RIP, onLink(RIP));
  f.addTunnel(RIP);
  assert.deepEqual(k.asked, []);
  await f.start(k);
  await k.answered();
  assert.deepEqual(f.tunnel.route(RIP), { src: DIP, mtu: 1500 });
  f.stop();
});

test('applyHostRoute is a function of the update alone: a copy applied elsewhere gives the same transmitter state', () => {
  const u: HostRoute = { rip: RIP, dev: 'br0', ifindex: BR, src: DIP, mtu: 1480, gateway: 0,
    mac: '02:00:00:00:00:11', tunnel: true, direct: true };
  const x = { tunnel: new TunnelXmit(), route: new RouteXmit(), openSink: (d: string) => new RecordingSink(false, d, BR_MAC) };
  const opened = applyHostRoute(structuredClone(u), x);
  assert.equal(opened?.name, 'br0');
  assert.deepEqual(x.tunnel.route(RIP), { src: DIP, mtu: 1480 });
  assert.deepEqual([...x.route.neighbour(RIP)!.mac], [2, 0, 0, 0, 0, 0x11]);
  assert.equal(applyHostRoute(u, x), undefined, 'the output exists already');
  applyHostRoute({ ...u, gateway: ipFromString('198.19.0.254') }, x);
  assert.equal(x.route.neighbour(RIP), undefined, 'behind a gateway there is no MAC to use');
  applyHostRoute({ ...u, dev: null, mac: null }, x);
  assert.equal(x.tunnel.route(RIP), undefined);
  assert.throws(() => applyHostRoute({ ...u, dev: 'eth9' }, { ...x, openSink: () => { throw new Error('ENODEV'); } }), /ENODEV/);
  assert.equal(x.route.neighbour(RIP), undefined);
});
