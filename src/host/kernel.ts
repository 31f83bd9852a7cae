/**
 * The kernel's view of the network that lvsd's transmitters depend on, read over rtnetlink
 * (src/host/rtnetlink.ts) and kept current by its notifications, never by polling:
 *
 * - links (ifindex → name, MTU), from a dump and RTMGRP_LINK;
 * - IPv4 neighbours (ifindex, address → state, MAC), from a dump and RTMGRP_NEIGH;
 * - the main table's unicast routes (for next hops towards clients), dumped again after
 *   RTMGRP_IPV4_ROUTE reports a change (coalesced);
 * - `route get` for one destination (the route, source and MTU the kernel would use, policy
 *   rules included), asked on demand.
 *
 * A lost notification (receive queue overrun) re-reads everything and reports every kind as
 * changed. Listeners run on the main thread after the mirrors are updated.
 */
import { createSocket, type Socket } from 'node:dgram';
import {
  encodeDump, encodeRouteGet, type LinkMsg, type NeighMsg, type NlMessage, parseLink, parseNeigh, parseRoute,
  type RouteMsg, RT_TABLE_MAIN, RTM_DELLINK, RTM_DELNEIGH, RTM_DELROUTE, RTM_GETLINK, RTM_GETNEIGH, RTM_GETROUTE,
  RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE, RTMGRP_IPV4_ROUTE, RTMGRP_LINK, RTMGRP_NEIGH, RTN_UNICAST, RtnlSocket,
} from './rtnetlink';

export interface NeighEntry {
  state: number;
  lladdr: string | null;
}

/** What the host layer needs from the kernel (KernelView; a fake in unit tests). */
export interface HostKernel {
  /** The route towards addr as `ip route get` reports it; undefined when there is none. */
  routeGet(addr: number): Promise<RouteMsg | undefined>;
  neighbour(ifindex: number, addr: number): NeighEntry | undefined;
  linkName(ifindex: number): string | undefined;
  linkMtu(ifindex: number): number;
  /** Makes the kernel resolve addr's link-layer address without waiting for it. */
  probe(addr: number): void;
  onNeighbour(fn: (ifindex: number, addr: number, e: NeighEntry | undefined) => void): void;
  /** Routes or links changed (or notifications were lost): lookups may answer differently. */
  onRoutesChanged(fn: () => void): void;
}

/** Coalescing delay of route dumps after a burst of route notifications. */
const ROUTE_SETTLE_MS = 50;
/** UDP discard (RFC 863): a datagram that needs the neighbour entry and wants no answer. */
const DISCARD_PORT = 9;

function neighKey(ifindex: number, addr: number): number {
  return ifindex * 4294967296 + addr;
}

export class KernelView implements HostKernel {
  private readonly req: RtnlSocket;
  private readonly events: RtnlSocket;
  private readonly links = new Map<number, LinkMsg>();
  private readonly neigh = new Map<number, NeighEntry>();
  private mainRoutes: RouteMsg[] = [];
  private readonly neighFns: Array<(ifindex: number, addr: number, e: NeighEntry | undefined) => void> = [];
  private readonly routeFns: Array<() => void> = [];
  private routeTimer: NodeJS.Timeout | undefined;
  private probeSock: Socket | undefined;
  private closed = false;

  private constructor(private readonly onError: (what: string, err: Error) => void) {
    this.req = new RtnlSocket(0);
    this.events = new RtnlSocket(RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE,
      (m) => this.event(m), () => void this.resync());
  }

  /** Subscribes first, then dumps: no change falls between the dump and the notifications. */
  static async open(onError: (what: string, err: Error) => void): Promise<KernelView> {
    const v = new KernelView(onError);
    try {
      await v.dumpAll();
    } catch (err) {
      v.close();
      throw err;
    }
    return v;
  }

  private async dumpAll(): Promise<void> {
    const [links, neighs] = await Promise.all([
      this.req.ask(encodeDump(RTM_GETLINK, 0), 'link dump'),
      this.req.ask(encodeDump(RTM_GETNEIGH, 0), 'neighbour dump'),
    ]);
    this.links.clear();
    for (const m of links) {
      const l = parseLink(m);
      if (l) this.links.set(l.ifindex, l);
    }
    const old = new Map(this.neigh);
    this.neigh.clear();
    for (const m of neighs) {
      const n = parseNeigh(m);
      if (n) this.neigh.set(neighKey(n.ifindex, n.dst), { state: n.state, lladdr: n.lladdr });
    }
    await this.dumpRoutes();
    // Report what the dump changed against the previous mirror (after an overrun).
    for (const [k, e] of this.neigh) {
      const o = old.get(k);
      if (!o || o.state !== e.state || o.lladdr !== e.lladdr) this.emitNeigh(k, e);
    }
    for (const k of old.keys()) if (!this.neigh.has(k)) this.emitNeigh(k, undefined);
  }

  private async dumpRoutes(): Promise<void> {
    const msgs = await this.req.ask(encodeDump(RTM_GETROUTE, 0), 'route dump');
    const routes: RouteMsg[] = [];
    for (const m of msgs) {
      const r = parseRoute(m);
      if (r && r.table === RT_TABLE_MAIN && r.type === RTN_UNICAST && r.oif !== 0) routes.push(r);
    }
    this.mainRoutes = routes.sort((a, b) => b.dstLen - a.dstLen);
  }

  private async resync(): Promise<void> {
    if (this.closed) return;
    try {
      await this.dumpAll();
      for (const fn of this.routeFns) fn();
    } catch (err) {
      this.onError('re-reading routes and neighbours after lost notifications', err as Error);
    }
  }

  private emitNeigh(key: number, e: NeighEntry | undefined): void {
    const ifindex = Math.floor(key / 4294967296);
    const addr = key - ifindex * 4294967296;
    for (const fn of this.neighFns) fn(ifindex, addr, e);
  }

  private event(m: NlMessage): void {
    if (m.type === RTM_NEWNEIGH || m.type === RTM_DELNEIGH) {
      const n = parseNeigh(m);
      if (!n) return;
      const k = neighKey(n.ifindex, n.dst);
      if (m.type === RTM_DELNEIGH) {
        if (!this.neigh.delete(k)) return;
        this.emitNeigh(k, undefined);
      } else {
        const e = { state: n.state, lladdr: n.lladdr ?? this.neigh.get(k)?.lladdr ?? null };
        this.neigh.set(k, e);
        this.emitNeigh(k, e);
      }
    } else if (m.type === RTM_NEWLINK || m.type === RTM_DELLINK) {
      const l = parseLink(m);
      if (!l) return;
      const old = this.links.get(l.ifindex);
      if (m.type === RTM_DELLINK) this.links.delete(l.ifindex);
      else this.links.set(l.ifindex, l);
      if (!old || m.type === RTM_DELLINK || old.mtu !== l.mtu || old.name !== l.name) this.routesChanged();
    } else if (m.type === RTM_NEWROUTE || m.type === RTM_DELROUTE) {
      this.routesChanged();
    }
  }

  /** Re-dumps the main table once a burst of notifications has settled, then tells listeners. */
  private routesChanged(): void {
    if (this.routeTimer !== undefined || this.closed) return;
    this.routeTimer = setTimeout(() => {
      this.routeTimer = undefined;
      this.dumpRoutes().then(() => {
        for (const fn of this.routeFns) fn();
      }, (err: Error) => this.onError('route dump', err));
    }, ROUTE_SETTLE_MS);
    this.routeTimer.unref();
  }

  async routeGet(addr: number): Promise<RouteMsg | undefined> {
    try {
      const msgs = await this.req.ask(encodeRouteGet(0, addr), 'route get');
      const r = msgs.length > 0 ? parseRoute(msgs[0]) : undefined;
      return r && r.type === RTN_UNICAST && r.oif !== 0 ? r : undefined;
    } catch (err) {
      // ENETUNREACH, EHOSTUNREACH…: no route. Other failures are the caller's "no route" too.
      return undefined;
    }
  }

  neighbour(ifindex: number, addr: number): NeighEntry | undefined {
    return this.neigh.get(neighKey(ifindex, addr));
  }

  linkName(ifindex: number): string | undefined {
    return this.links.get(ifindex)?.name;
  }

  linkMtu(ifindex: number): number {
    return this.links.get(ifindex)?.mtu ?? 0;
  }

  /** The main table's route for addr (longest prefix), or undefined. */
  lookupMain(addr: number): RouteMsg | undefined {
    for (const r of this.mainRoutes) {
      const mask = r.dstLen === 0 ? 0 : (0xffffffff << (32 - r.dstLen)) >>> 0;
      if (((addr & mask) >>> 0) === ((r.dst & mask) >>> 0)) return r;
    }
    return undefined;
  }

  probe(addr: number): void {
    if (this.closed) return;
    if (!this.probeSock) {
      this.probeSock = createSocket('udp4');
      this.probeSock.on('error', () => undefined);
      this.probeSock.unref();
    }
    const a = `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
    // The datagram itself may be refused or lost: the neighbour resolution it starts is the point.
    this.probeSock.send(Buffer.alloc(0), DISCARD_PORT, a, () => undefined);
  }

  onNeighbour(fn: (ifindex: number, addr: number, e: NeighEntry | undefined) => void): void {
    this.neighFns.push(fn);
  }

  onRoutesChanged(fn: () => void): void {
    this.routeFns.push(fn);
  }

  close(): void {
    this.closed = true;
    if (this.routeTimer !== undefined) clearTimeout(this.routeTimer);
    this.routeTimer = undefined;
    this.req.close();
    this.events.close();
    this.probeSock?.close();
    this.probeSock = undefined;
  }
}
