/**
 * Next hops towards clients, for NAT replies that leave through AF_PACKET instead of the
 * TUN (lvsd --xmit packet). The main routing table and the neighbour table are read
 * from the kernel (one `ip` call each, at most every REFRESH_MS and only while there are
 * misses); the longest-prefix match is done here. A client whose next hop has no usable
 * MAC address yet keeps going through the TUN, where the kernel resolves it, and is retried
 * after the next refresh.
 */
import { execFileSync } from 'node:child_process';
import type { FrameSink } from '../phy/packet';
import { ipFromString } from '../ipvs/types';
import type { RouteXmit } from '../xmit/dr';
import { parseMac } from './forwarding';

interface Route {
  net: number;
  mask: number;
  len: number;
  gateway: number;
  dev: string;
}

const REFRESH_MS = 1000;
/** Bounds on what misses can make us remember: pending lookups and resolved clients. */
const MAX_PENDING = 1024;
const MAX_CLIENTS = 65536;
const USABLE = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

function ipJson<T>(args: string[]): T[] {
  try {
    return JSON.parse(execFileSync('ip', ['-j', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 3000 })) as T[];
  } catch {
    return [];
  }
}

function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Parses `ip -j route show table main` rows into unicast routes, longest prefix first. */
export function parseRoutes(rows: Array<{ dst?: string; gateway?: string; dev?: string; type?: string }>): Route[] {
  const out: Route[] = [];
  for (const r of rows) {
    if (!r.dev || !r.dst || (r.type !== undefined && r.type !== 'unicast')) continue;
    let net: number;
    let len: number;
    if (r.dst === 'default') {
      net = 0;
      len = 0;
    } else {
      const [a, l] = r.dst.split('/');
      net = ipFromString(a);
      len = l === undefined ? 32 : Number(l);
      if (net < 0 || !(len >= 0 && len <= 32)) continue;
    }
    const gw = r.gateway ? ipFromString(r.gateway) : 0;
    out.push({ net: (net & maskOf(len)) >>> 0, mask: maskOf(len), len, gateway: gw < 0 ? 0 : gw, dev: r.dev });
  }
  return out.sort((a, b) => b.len - a.len);
}

/** The route for addr (longest prefix), or undefined. */
export function lookupRoute(routes: readonly Route[], addr: number): Route | undefined {
  for (const r of routes) if (((addr & r.mask) >>> 0) === r.net) return r;
  return undefined;
}

export class ClientNextHops {
  private routes: Route[] = [];
  private neigh = new Map<string, Uint8Array>();
  private lastRefresh = -Infinity;
  private readonly pending = new Set<number>();
  private readonly clients = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  resolved = 0;
  unresolved = 0;

  constructor(
    private readonly route: RouteXmit,
    private readonly openSink: (dev: string) => FrameSink,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Packet path: the client at addr has no next hop yet. O(1), allocation-free after warm-up. */
  miss(addr: number): void {
    if (this.pending.size >= MAX_PENDING || this.pending.has(addr)) return;
    this.pending.add(addr);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.resolvePending(), 0);
      this.timer.unref();
    }
  }

  private refresh(): void {
    this.routes = parseRoutes(ipJson(['route', 'show', 'table', 'main']));
    const n = new Map<string, Uint8Array>();
    for (const r of ipJson<{ dst?: string; dev?: string; lladdr?: string; state?: string[] }>(['neigh', 'show'])) {
      if (!r.dst || !r.dev || !r.lladdr || !(r.state ?? []).some((s) => USABLE.has(s))) continue;
      const mac = parseMac(r.lladdr);
      if (mac) n.set(`${r.dev} ${r.dst}`, mac);
    }
    this.neigh = n;
    this.lastRefresh = this.clock();
  }

  private resolvePending(): void {
    this.timer = undefined;
    if (this.clock() - this.lastRefresh >= REFRESH_MS) this.refresh();
    const retry: number[] = [];
    for (const addr of this.pending) {
      if (!this.resolve(addr)) retry.push(addr);
    }
    this.pending.clear();
    // Unresolved clients are tried again after the next refresh.
    if (retry.length > 0) {
      const wait = Math.max(0, REFRESH_MS - (this.clock() - this.lastRefresh));
      this.timer = setTimeout(() => {
        for (const a of retry) this.pending.add(a);
        this.resolvePending();
      }, wait);
      this.timer.unref();
    }
  }

  /** Installs the next hop of addr into the transmitter; false when it is not known yet. */
  resolve(addr: number): boolean {
    if (this.route.neighbour(addr)) return true; // a real server's entry serves it already
    const r = lookupRoute(this.routes, addr);
    if (!r) {
      this.unresolved++;
      return false;
    }
    const hop = r.gateway !== 0 ? r.gateway : addr;
    const dotted = `${hop >>> 24}.${(hop >>> 16) & 255}.${(hop >>> 8) & 255}.${hop & 255}`;
    const mac = this.neigh.get(`${r.dev} ${dotted}`);
    if (!mac) {
      this.unresolved++;
      return false;
    }
    if (!this.route.sink(r.dev)) {
      try {
        this.route.addSink(this.openSink(r.dev));
      } catch {
        this.unresolved++;
        return false;
      }
    }
    if (this.clients.size >= MAX_CLIENTS) this.forget();
    this.route.setNeighbour(addr, r.dev, mac);
    this.clients.add(addr);
    this.resolved++;
    return true;
  }

  /** Drops every client next hop (they are re-learnt on the next misses). */
  forget(): void {
    for (const a of this.clients) this.route.deleteNeighbour(a);
    this.clients.clear();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
