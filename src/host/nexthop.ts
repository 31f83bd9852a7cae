/**
 * Next hops towards clients, for NAT replies that leave through AF_PACKET instead of the
 * TUN (lvsd --xmit packet). The main routing table and the neighbour table come from the
 * kernel view (src/host/kernel.ts: rtnetlink dumps kept current by notifications); the
 * longest-prefix match is done there, in memory. A client whose next hop has no usable MAC
 * address yet keeps going through the TUN, where the kernel resolves it, and is tried again
 * when a neighbour or route notification arrives (or after RETRY_MS).
 */
import type { FrameSink } from '../phy/packet';
import type { RouteXmit } from '../xmit/dr';
import { parseMac } from './forwarding';
import type { NeighEntry } from './kernel';
import { NUD_USABLE, type RouteMsg } from './rtnetlink';

/** What the next-hop cache reads (KernelView). */
export interface NextHopKernel {
  lookupMain(addr: number): RouteMsg | undefined;
  neighbour(ifindex: number, addr: number): NeighEntry | undefined;
  linkName(ifindex: number): string | undefined;
  onNeighbour(fn: (ifindex: number, addr: number, e: NeighEntry | undefined) => void): void;
  onRoutesChanged(fn: () => void): void;
}

const RETRY_MS = 1000;
/** Bounds on what misses can make us remember: pending lookups and resolved clients. */
const MAX_PENDING = 1024;
const MAX_CLIENTS = 65536;

export class ClientNextHops {
  private readonly pending = new Set<number>();
  private readonly clients = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private due = 0;
  private kernel: NextHopKernel | undefined;
  resolved = 0;
  unresolved = 0;

  constructor(
    private readonly route: RouteXmit,
    private readonly openSink: (dev: string) => FrameSink,
  ) {}

  /** Starts resolving against the kernel view (misses before that wait for it). */
  attach(kernel: NextHopKernel): void {
    this.kernel = kernel;
    kernel.onNeighbour(() => this.soon(0));
    // Routes moved: every learnt next hop may be wrong; they are re-learnt on the next misses.
    kernel.onRoutesChanged(() => {
      this.forget();
      this.soon(0);
    });
    this.soon(0);
  }

  /** Packet path: the client at addr has no next hop yet. O(1), allocation-free after warm-up. */
  miss(addr: number): void {
    if (this.pending.size >= MAX_PENDING || this.pending.has(addr)) return;
    this.pending.add(addr);
    this.soon(0);
  }

  /** Tries the pending misses in `ms` (sooner than an already planned retry, never later). */
  private soon(ms: number): void {
    if (this.pending.size === 0) return;
    const due = performance.now() + ms;
    if (this.timer !== undefined) {
      if (this.due <= due) return;
      clearTimeout(this.timer);
    }
    this.due = due;
    this.timer = setTimeout(() => this.resolvePending(), ms);
    this.timer.unref();
  }

  private resolvePending(): void {
    this.timer = undefined;
    if (!this.kernel) return;
    for (const addr of this.pending) if (this.resolve(addr)) this.pending.delete(addr);
    this.soon(RETRY_MS);
  }

  /** Installs the next hop of addr into the transmitter; false when it is not known yet. */
  resolve(addr: number): boolean {
    if (this.route.neighbour(addr)) return true; // a real server's entry serves it already
    const k = this.kernel;
    const r = k?.lookupMain(addr);
    const dev = r && k?.linkName(r.oif);
    if (!k || !r || !dev) {
      this.unresolved++;
      return false;
    }
    const n = k.neighbour(r.oif, r.gateway !== 0 ? r.gateway : addr);
    const mac = n && n.lladdr !== null && (n.state & NUD_USABLE) !== 0 ? parseMac(n.lladdr) : undefined;
    if (!mac) {
      this.unresolved++;
      return false;
    }
    if (!this.route.sink(dev)) {
      try {
        this.route.addSink(this.openSink(dev));
      } catch {
        this.unresolved++;
        return false;
      }
    }
    if (this.clients.size >= MAX_CLIENTS) this.forget();
    this.route.setNeighbour(addr, dev, mac);
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
