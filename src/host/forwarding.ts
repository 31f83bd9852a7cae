/**
 * Kernel facts the tunnel and direct-routing transmitters need, as plain data: one HostRoute
 * per real server, {rip, dev, ifindex, src, mtu, gateway, mac}, delivered to listeners
 * whenever it changes, and applied to a set of transmitters by applyHostRoute (a function of
 * the update alone, so a packet thread elsewhere can apply the same message).
 *
 * - tunnel (-i): the source address the kernel would use towards the real server and the
 *   route MTU (the route's RTAX_MTU, else the device's), from an rtnetlink `route get`;
 * - direct routing (-g), and NAT/tunnel with AF_PACKET output (lvsd --xmit packet): the
 *   interface towards the real server (on-link, no gateway) and its MAC from the kernel's
 *   neighbour table.
 *
 * Nothing waits (src/host/kernel.ts): a lookup is an rtnetlink request answered on the event
 * loop; neighbour and route changes arrive as notifications, so a replaced server is followed
 * without polling. A real server whose MAC is unknown is resolved by the kernel itself (a
 * datagram to its discard port starts ARP), then taken from the notification; until then
 * the transmitters count its packets (dr-no-neigh, tunnel-no-source), and the probe is
 * repeated with a growing interval while it stays unresolved. add*() and remove*() return at
 * once.
 */
import type { FrameSink } from '../phy/packet';
import { PacketSocket } from '../phy/packet';
import { ipToString } from '../ipvs/types';
import { RouteXmit } from '../xmit/dr';
import { DEFAULT_MTU, TunnelXmit } from '../xmit/tunnel';
import { type HostKernel, KernelView, type NeighEntry } from './kernel';
import { RefCounts } from './refcount';
import { NUD_FAILED, NUD_USABLE } from './rtnetlink';

/** What the transmitters need to reach one real server: serialisable (structured clone, JSON). */
export interface HostRoute {
  rip: number;
  /** Output interface; null when there is no route (the transmitters forget rip). */
  dev: string | null;
  ifindex: number;
  /** The kernel's preferred source towards rip (the outer source of IPIP packets). */
  src: number;
  /** Route MTU, or a smaller path MTU learnt from frag-needed. */
  mtu: number;
  /** Next-hop gateway, 0 when rip is on a directly attached LAN. */
  gateway: number;
  /** rip's link-layer address ("aa:bb:cc:dd:ee:ff"), null while unresolved or not wanted. */
  mac: string | null;
  /** rip is a tunnel real server: the tunnel transmitter needs src and mtu. */
  tunnel: boolean;
  /** rip's packets leave through AF_PACKET: the direct-routing transmitter needs dev and mac. */
  direct: boolean;
}

export interface HostTransmitters {
  tunnel: TunnelXmit;
  route: RouteXmit;
  /** Opens the AF_PACKET output on an interface (once per interface). */
  openSink(dev: string): FrameSink;
}

export interface ForwardingLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Parses "aa:bb:cc:dd:ee:ff". */
export function parseMac(s: string): Uint8Array | undefined {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(s);
  return m ? Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16))) : undefined;
}

/**
 * Applies one update to a set of transmitters. Returns the AF_PACKET output it had to open
 * (for the caller's log), undefined otherwise; throws when that output cannot be opened (the
 * real server's MAC is then left out: its packets are counted as unresolved).
 */
export function applyHostRoute(u: HostRoute, x: HostTransmitters): FrameSink | undefined {
  if (u.tunnel && u.dev !== null && u.src !== 0) x.tunnel.setRoute(u.rip, u.src, u.mtu);
  else x.tunnel.deleteRoute(u.rip);
  const mac = u.direct && u.dev !== null && u.gateway === 0 && u.mac !== null ? parseMac(u.mac) : undefined;
  if (!mac || u.dev === null) {
    x.route.deleteNeighbour(u.rip);
    return undefined;
  }
  let opened: FrameSink | undefined;
  if (!x.route.sink(u.dev)) {
    try {
      opened = x.openSink(u.dev);
    } catch (err) {
      x.route.deleteNeighbour(u.rip);
      throw err;
    }
    x.route.addSink(opened);
  }
  x.route.setNeighbour(u.rip, u.dev, mac);
  return opened;
}

/** First and longest interval between probes of an unresolved real server. */
const PROBE_FIRST_MS = 1000;
const PROBE_MAX_MS = 30000;

interface RipState {
  /** Increases with each lookup; an answer to an older one is ignored. */
  gen: number;
  route: { ifindex: number; src: number; mtu: number; gateway: number } | undefined;
  looked: boolean;
  /** Path MTU learnt from frag-needed, kept while the route's source is unchanged. */
  learnt: { src: number; mtu: number } | undefined;
  /** Forgets `learnt` after net.ipv4.route.mtu_expires. */
  learntTimer?: NodeJS.Timeout;
  probeTimer: NodeJS.Timeout | undefined;
  probeDelay: number;
  warned: boolean;
  /** The last MAC the kernel reported usable, kept until it reports the entry FAILED. */
  mac: string | null;
  last: HostRoute | undefined;
}

function sameRoute(a: HostRoute | undefined, b: HostRoute): boolean {
  return a !== undefined && a.dev === b.dev && a.ifindex === b.ifindex && a.src === b.src && a.mtu === b.mtu
    && a.gateway === b.gateway && a.mac === b.mac && a.tunnel === b.tunnel && a.direct === b.direct;
}

export class Forwarding {
  readonly tunnel = new TunnelXmit();
  readonly route = new RouteXmit();
  private readonly tunnelRefs = new RefCounts<number>();
  private readonly drRefs = new RefCounts<number>();
  /** Tunnel real servers whose MAC is wanted for AF_PACKET output (optional, no warnings). */
  private readonly tunnelNeighRefs = new RefCounts<number>();
  private readonly rips = new Map<number, RipState>();
  private readonly listeners: Array<(u: HostRoute) => void> = [];
  private kernel: HostKernel | undefined;
  private ownKernel: KernelView | undefined;
  private readonly tunnelDirect: boolean;

  /**
   * @param openSink opens the AF_PACKET output on an interface (a test may pass a fake; lvsd
   * may wrap it with a capture).
   */
  constructor(private readonly log: ForwardingLogger,
    private readonly openSink: (dev: string) => FrameSink = (dev) => PacketSocket.open(dev, true),
    opts: { tunnelDirect?: boolean } = {}) {
    this.tunnelDirect = opts.tunnelDirect ?? false;
    if (this.tunnelDirect) this.tunnel.direct = this.route;
    // This thread's transmitters follow every update; other threads subscribe with onUpdate.
    this.onUpdate((u) => {
      try {
        const sink = applyHostRoute(u, { tunnel: this.tunnel, route: this.route, openSink: this.openSink });
        if (sink) this.log.info({ dev: sink.name, vnetHdr: sink.vnetHdr }, 'direct routing: AF_PACKET socket opened');
      } catch (err) {
        this.log.warn({ dev: u.dev, err: (err as Error).message }, 'direct routing: cannot open AF_PACKET socket');
      }
    });
  }

  /** Subscribes to every change of a real server's HostRoute. */
  onUpdate(fn: (u: HostRoute) => void): void {
    this.listeners.push(fn);
  }

  /** The current HostRoute of every real server (for a listener that starts late). */
  snapshot(): HostRoute[] {
    const out: HostRoute[] = [];
    for (const st of this.rips.values()) if (st.last) out.push(st.last);
    return out;
  }

  /**
   * Follows the kernel through `kernel` (default: rtnetlink, src/host/kernel.ts) and looks up
   * every real server added so far.
   */
  async start(kernel?: HostKernel): Promise<void> {
    if (!kernel) {
      this.ownKernel = await KernelView.open((what, err) => this.log.warn({ err: err.message }, `host: ${what} failed`));
      kernel = this.ownKernel;
    }
    this.kernel = kernel;
    kernel.onNeighbour((ifindex, addr, e) => this.neighbourChanged(ifindex, addr, e));
    kernel.onRoutesChanged(() => {
      for (const rip of this.rips.keys()) this.lookup(rip);
    });
    for (const rip of this.rips.keys()) this.lookup(rip);
  }

  /** The rtnetlink view this layer opened in start() (undefined with an injected kernel). */
  get kernelView(): KernelView | undefined {
    return this.ownKernel;
  }

  stop(): void {
    for (const st of this.rips.values()) if (st.probeTimer) clearTimeout(st.probeTimer);
    this.ownKernel?.close();
    this.ownKernel = undefined;
    this.kernel = undefined;
    this.route.close();
  }

  addTunnel(rip: number): void {
    this.tunnelRefs.add(rip);
    if (this.tunnelDirect) this.tunnelNeighRefs.add(rip);
    this.wanted(rip);
  }

  removeTunnel(rip: number): void {
    this.tunnelRefs.drop(rip);
    if (this.tunnelDirect) this.tunnelNeighRefs.drop(rip);
    this.wanted(rip);
  }

  addRoute(rip: number): void {
    this.drRefs.add(rip);
    this.wanted(rip);
  }

  removeRoute(rip: number): void {
    this.drRefs.drop(rip);
    this.wanted(rip);
  }

  /** A frag-needed reported a smaller path MTU towards a tunnel real server. */
  reportMtu(rip: number, mtu: number): void {
    const st = this.rips.get(rip);
    const r = st?.last;
    if (st && r && r.tunnel && r.dev !== null && mtu >= 68 && mtu < r.mtu) {
      // Floored at net.ipv4.route.min_pmtu and forgotten after mtu_expires, as the kernel
      // treats a PMTU exception (TunnelXmit.learnMtu holds the policy).
      const eff = this.tunnel.learnMtu(rip, mtu) ?? Math.max(this.tunnel.pmtu.minPmtu, mtu);
      if (eff >= r.mtu) return;
      if (st.learntTimer) clearTimeout(st.learntTimer);
      st.learnt = { src: r.src, mtu: eff };
      st.learntTimer = setTimeout(() => {
        st.learntTimer = undefined;
        st.learnt = undefined;
        if (this.rips.get(rip) === st) this.recompute(rip, st);
      }, this.tunnel.pmtu.expiresMs);
      st.learntTimer.unref();
      this.log.info({ rip: ipToString(rip), mtu }, 'tunnel path MTU lowered');
      this.recompute(rip, st);
    }
  }

  /** The HostRoute last delivered for rip (undefined before its lookup answered). */
  current(rip: number): HostRoute | undefined {
    return this.rips.get(rip)?.last;
  }

  private wantsMac(rip: number): boolean {
    return this.drRefs.has(rip) || this.tunnelNeighRefs.has(rip);
  }

  /** Creates, updates or forgets rip's state after its references changed. */
  private wanted(rip: number): void {
    const st = this.rips.get(rip);
    if (!this.tunnelRefs.has(rip) && !this.wantsMac(rip)) {
      if (!st) return;
      if (st.probeTimer) clearTimeout(st.probeTimer);
      if (st.learntTimer) clearTimeout(st.learntTimer);
      this.rips.delete(rip);
      if (st.last) this.emit({ ...st.last, dev: null, mac: null, tunnel: false, direct: false });
      return;
    }
    if (!st) {
      const fresh: RipState = {
        gen: 0, route: undefined, looked: false, learnt: undefined, probeTimer: undefined,
        probeDelay: PROBE_FIRST_MS, warned: false, mac: null, last: undefined,
      };
      this.rips.set(rip, fresh);
      this.lookup(rip);
      return;
    }
    if (st.looked) this.recompute(rip, st);
  }

  private lookup(rip: number): void {
    const st = this.rips.get(rip);
    const k = this.kernel;
    if (!st || !k) return;
    const gen = ++st.gen;
    k.routeGet(rip).then((r) => {
      if (this.rips.get(rip) !== st || st.gen !== gen || this.kernel !== k) return;
      st.looked = true;
      st.route = r && {
        ifindex: r.oif, src: r.prefsrc, mtu: r.mtu || k.linkMtu(r.oif) || DEFAULT_MTU, gateway: r.gateway,
      };
      this.recompute(rip, st);
    }, () => undefined);
  }

  /** Builds rip's HostRoute from what is known, emits it when it changed, probes if needed. */
  private recompute(rip: number, st: RipState): void {
    const k = this.kernel;
    const r = st.route;
    const dev = r && k ? k.linkName(r.ifindex) ?? null : null;
    const tunnel = this.tunnelRefs.has(rip);
    const direct = this.wantsMac(rip);
    if (!r || dev === null) {
      if (!st.warned) {
        st.warned = true;
        if (tunnel) this.log.warn({ rip: ipToString(rip) }, 'tunnel: no route towards the real server');
        else if (this.drRefs.has(rip)) this.log.warn({ rip: ipToString(rip) }, 'direct routing: no route towards the real server');
      }
      this.emitIfChanged(st, { rip, dev: null, ifindex: 0, src: 0, mtu: 0, gateway: 0, mac: null, tunnel, direct });
      return;
    }
    if (st.learnt && st.learnt.src !== r.src) st.learnt = undefined;
    const mtu = st.learnt && st.learnt.mtu < r.mtu ? st.learnt.mtu : r.mtu;
    let mac: string | null = null;
    if (direct && r.gateway === 0 && k) {
      const n = k.neighbour(r.ifindex, rip);
      if (n && n.lladdr !== null && (n.state & NUD_USABLE) !== 0) st.mac = n.lladdr;
      else if (n && (n.state & NUD_FAILED) !== 0) st.mac = null;
      mac = st.mac;
      if (mac === null || !n || (n.state & NUD_USABLE) === 0) this.probeLater(rip, st);
      else this.resolved(st);
    } else if (direct && r.gateway !== 0 && this.drRefs.has(rip) && !st.warned) {
      st.warned = true;
      this.log.warn({ rip: ipToString(rip) }, 'direct routing: the real server is not on a directly attached LAN');
    }
    this.emitIfChanged(st, { rip, dev, ifindex: r.ifindex, src: r.src, mtu, gateway: r.gateway, mac, tunnel, direct });
  }

  private resolved(st: RipState): void {
    if (st.probeTimer) clearTimeout(st.probeTimer);
    st.probeTimer = undefined;
    st.probeDelay = PROBE_FIRST_MS;
  }

  /** Asks the kernel to resolve rip now (unless a probe is already due) and again later. */
  private probeLater(rip: number, st: RipState): void {
    if (st.probeTimer !== undefined) return;
    this.kernel?.probe(rip);
    st.probeTimer = setTimeout(() => {
      st.probeTimer = undefined;
      if (this.rips.get(rip) !== st) return;
      if (st.mac === null && !st.warned) {
        st.warned = true;
        this.log.warn({ rip: ipToString(rip), dev: st.last?.dev }, 'direct routing: MAC address not resolved yet');
      }
      st.probeDelay = Math.min(st.probeDelay * 2, PROBE_MAX_MS);
      this.recompute(rip, st);
    }, st.probeDelay);
    st.probeTimer.unref();
  }

  private neighbourChanged(ifindex: number, addr: number, e: NeighEntry | undefined): void {
    const st = this.rips.get(addr);
    if (!st || !st.route || st.route.ifindex !== ifindex) return;
    if (e && e.lladdr !== null && (e.state & NUD_USABLE) !== 0) this.resolved(st);
    this.recompute(addr, st);
  }

  private emitIfChanged(st: RipState, u: HostRoute): void {
    if (sameRoute(st.last, u)) return;
    st.last = u;
    this.emit(u);
  }

  private emit(u: HostRoute): void {
    for (const fn of this.listeners) fn(u);
  }
}
