/**
 * Next hops towards clients (src/host/nexthop.ts) from a scripted kernel view: a miss is
 * resolved from the mirrored main table and neighbour table, an unknown next hop is retried
 * when the kernel reports it, and a route change forgets what was learnt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientNextHops, type NextHopKernel } from '../../src/host/nexthop';
import type { NeighEntry } from '../../src/host/kernel';
import { NUD_REACHABLE, type RouteMsg } from '../../src/host/rtnetlink';
import { ipFromString } from '../../src/ipvs/types';
import { RouteXmit } from '../../src/xmit/dr';
import { RecordingSink } from '../support/frames';

const CLI = 3;
const GW = ipFromString('198.18.0.254') >>> 0;
const CLIENT = ipFromString('198.18.7.9') >>> 0;

class FakeView implements NextHopKernel {
  neigh = new Map<number, NeighEntry>();
  routes: RouteMsg[] = [{ dst: 0, dstLen: 0, table: 254, type: 1, oif: CLI, gateway: GW, prefsrc: 0, mtu: 0 }];
  neighFns: Array<(i: number, a: number, e: NeighEntry | undefined) => void> = [];
  routeFns: Array<() => void> = [];
  lookupMain(): RouteMsg | undefined {
    return this.routes[0];
  }
  neighbour(ifindex: number, addr: number): NeighEntry | undefined {
    return ifindex === CLI ? this.neigh.get(addr) : undefined;
  }
  linkName(ifindex: number): string | undefined {
    return ifindex === CLI ? 'cli0' : undefined;
  }
  onNeighbour(fn: (i: number, a: number, e: NeighEntry | undefined) => void): void {
    this.neighFns.push(fn);
  }
  onRoutesChanged(fn: () => void): void {
    this.routeFns.push(fn);
  }
}

const turn = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

test('a miss resolves to the gateway MAC from the mirrors; an unknown gateway is retried on its neighbour event', async () => {
  const v = new FakeView();
  const route = new RouteXmit();
  const hops = new ClientNextHops(route, (dev) => new RecordingSink(false, dev, Uint8Array.from([2, 0, 0, 0, 0, 1])));
  hops.attach(v);
  hops.miss(CLIENT);
  await turn();
  assert.equal(route.neighbour(CLIENT), undefined, 'the gateway is not resolved yet');
  assert.equal(hops.unresolved, 1);
  v.neigh.set(GW, { state: NUD_REACHABLE, lladdr: '02:00:00:00:00:fe' });
  for (const fn of v.neighFns) fn(CLI, GW, v.neigh.get(GW));
  await turn();
  assert.deepEqual([...route.neighbour(CLIENT)!.mac], [2, 0, 0, 0, 0, 0xfe]);
  assert.equal(route.neighbour(CLIENT)!.sink, 'cli0');
  assert.equal(hops.resolved, 1);
  for (const fn of v.routeFns) fn();
  assert.equal(route.neighbour(CLIENT), undefined, 'a route change forgets learnt next hops');
  hops.stop();
});
