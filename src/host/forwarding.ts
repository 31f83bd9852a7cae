/**
 * Kernel facts the tunnel and direct-routing transmitters need, kept current by lvsd:
 *
 * - tunnel (-i): the source address the kernel would use towards the real server and the
 *   route MTU (`ip -j route get RIP`, the device MTU unless the route has its own), looked up
 *   when the real server is added;
 * - direct routing (-g): the interface towards the real server (same lookup; it must be
 *   on-link, no gateway) with an AF_PACKET socket on it, and the real server's MAC from the
 *   kernel neighbour table (`ip -j neigh`); a missing entry is resolved by sending it a datagram, and all
 *   entries are re-read every refresh interval so that a replaced server is followed.
 *
 * - tunnel with AF_PACKET output (lvsd --xmit packet): the real server's MAC as for direct
 *   routing when it is on a directly attached LAN; otherwise its packets go through the TUN.
 *
 * Failures are not fatal: the transmitters count packets for unresolved real servers
 * (tunnel-no-source, dr-no-neigh) and the next refresh retries.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type FrameSink, PacketSocket } from '../phy/packet';
import { ipFromString, ipToString } from '../ipvs/types';
import { RouteXmit } from '../xmit/dr';
import { RefCounts } from './refcount';
import { DEFAULT_MTU, TunnelXmit } from '../xmit/tunnel';

export interface RouteInfo {
  dev: string;
  src: number;
  mtu: number;
  /** The route has a gateway: the real server is not on a directly attached LAN. */
  gateway: boolean;
}

export interface ForwardingLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const REFRESH_MS = 5000;

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 3000 });
}

/** `ip -j route get` towards addr, or undefined. */
export function routeTo(addr: number): RouteInfo | undefined {
  try {
    const r = (JSON.parse(run('ip', ['-j', 'route', 'get', ipToString(addr)])) as Array<{
      dev?: string; prefsrc?: string; gateway?: string; metrics?: Array<{ mtu?: number }>;
    }>)[0];
    if (!r?.dev || !r.prefsrc) return undefined;
    let mtu = r.metrics?.find((m) => m.mtu !== undefined)?.mtu;
    if (mtu === undefined) {
      try {
        mtu = Number(readFileSync(`/sys/class/net/${r.dev}/mtu`, 'utf8').trim());
      } catch {
        mtu = DEFAULT_MTU;
      }
    }
    return { dev: r.dev, src: ipFromString(r.prefsrc), mtu: mtu || DEFAULT_MTU, gateway: r.gateway !== undefined };
  } catch {
    return undefined;
  }
}

/** Parses "aa:bb:cc:dd:ee:ff". */
export function parseMac(s: string): Uint8Array | undefined {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(s);
  return m ? Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16))) : undefined;
}

const USABLE_STATES = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

/** The neighbour table's MAC for addr on dev when the entry is usable. */
export function neighbourMac(addr: number, dev: string): Uint8Array | undefined {
  try {
    const rows = JSON.parse(run('ip', ['-j', 'neigh', 'show', 'to', ipToString(addr), 'dev', dev])) as Array<{
      lladdr?: string; state?: string[];
    }>;
    for (const r of rows) {
      if (r.lladdr && (r.state ?? []).some((s) => USABLE_STATES.has(s))) return parseMac(r.lladdr);
    }
  } catch {
    /* no entry */
  }
  return undefined;
}

/**
 * Makes the kernel resolve addr (one UDP datagram to the discard port, which needs the
 * neighbour entry), then polls the neighbour table on dev for up to timeoutMs.
 */
export function probeNeighbour(addr: number, dev: string, timeoutMs = 1000): Uint8Array | undefined {
  try {
    run('bash', ['-c', 'echo > "/dev/udp/$0/9"', ipToString(addr)]);
  } catch {
    /* the datagram may be refused later; the ARP exchange is what matters */
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited <= timeoutMs; waited += 50) {
    const mac = neighbourMac(addr, dev);
    if (mac) return mac;
    Atomics.wait(pause, 0, 0, 50);
  }
  return undefined;
}

export class Forwarding {
  readonly tunnel = new TunnelXmit();
  readonly route = new RouteXmit();
  private readonly tunnelRefs = new RefCounts<number>();
  private readonly drRefs = new RefCounts<number>();
  /** Tunnel real servers whose MAC is wanted for AF_PACKET output (optional, no warnings). */
  private readonly tunnelNeighRefs = new RefCounts<number>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param openSink opens the AF_PACKET output on an interface (a test may pass a fake; lvsd
   * may wrap it with a capture).
   */
  constructor(private readonly log: ForwardingLogger,
    private readonly openSink: (dev: string) => FrameSink = (dev) => PacketSocket.open(dev, true),
    opts: { tunnelDirect?: boolean } = {}) {
    if (opts.tunnelDirect) this.tunnel.direct = this.route;
  }

  /** Re-reads routes and neighbours every few seconds (unref'd timer). */
  start(): void {
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.route.close();
  }

  addTunnel(rip: number): void {
    this.tunnelRefs.add(rip);
    this.resolveTunnel(rip);
    if (this.tunnel.direct !== null) {
      this.tunnelNeighRefs.add(rip);
      this.resolveNeighbour(rip, true);
    }
  }

  removeTunnel(rip: number): void {
    if (this.tunnelRefs.drop(rip)) this.tunnel.deleteRoute(rip);
    if (this.tunnel.direct !== null) this.dropNeighbour(rip, this.tunnelNeighRefs.drop(rip));
  }

  addRoute(rip: number): void {
    this.drRefs.add(rip);
    this.resolveNeighbour(rip, true);
  }

  removeRoute(rip: number): void {
    this.dropNeighbour(rip, this.drRefs.drop(rip));
  }

  /** Forgets rip's MAC once neither direct routing nor a tunnel wants it. */
  private dropNeighbour(rip: number, last: boolean): void {
    if (last && !this.drRefs.has(rip) && !this.tunnelNeighRefs.has(rip)) this.route.deleteNeighbour(rip);
  }

  /** A frag-needed reported a smaller path MTU towards a tunnel real server. */
  reportMtu(rip: number, mtu: number): void {
    const r = this.tunnel.route(rip);
    if (r && mtu >= 68 && mtu < r.mtu) {
      this.tunnel.learnMtu(rip, mtu);
      this.log.info({ rip: ipToString(rip), mtu }, 'tunnel path MTU lowered');
    }
  }

  refresh(): void {
    for (const rip of this.tunnelRefs.keys()) this.resolveTunnel(rip);
    for (const rip of this.drRefs.keys()) this.resolveNeighbour(rip, false);
    for (const rip of this.tunnelNeighRefs.keys()) if (!this.drRefs.has(rip)) this.resolveNeighbour(rip, false);
  }

  private resolveTunnel(rip: number): void {
    const r = routeTo(rip);
    if (!r) {
      this.log.warn({ rip: ipToString(rip) }, 'tunnel: no route towards the real server');
      this.tunnel.deleteRoute(rip);
      return;
    }
    const old = this.tunnel.route(rip);
    // Keep a path MTU learnt from frag-needed while it is below the route's.
    this.tunnel.setRoute(rip, r.src, old && old.src === r.src && old.mtu < r.mtu ? old.mtu : r.mtu);
  }

  private resolveNeighbour(rip: number, probe: boolean): void {
    const r = routeTo(rip);
    if (!r || r.gateway) {
      // A tunnel real server behind a gateway is reached through the TUN: nothing to report.
      if (this.drRefs.has(rip)) {
        this.log.warn({ rip: ipToString(rip) }, 'direct routing: the real server is not on a directly attached LAN');
      }
      this.route.deleteNeighbour(rip);
      return;
    }
    if (!this.route.sink(r.dev)) {
      try {
        const sink = this.openSink(r.dev);
        this.route.addSink(sink);
        this.log.info({ dev: r.dev, vnetHdr: sink.vnetHdr }, 'AF_PACKET socket opened');
      } catch (err) {
        this.log.warn({ dev: r.dev, err: (err as Error).message }, 'direct routing: cannot open AF_PACKET socket');
        return;
      }
    }
    const mac = neighbourMac(rip, r.dev) ?? probeNeighbour(rip, r.dev, probe ? 1000 : 200);
    if (!mac) {
      if (probe) this.log.warn({ rip: ipToString(rip), dev: r.dev }, 'direct routing: MAC address not resolved yet');
      this.route.deleteNeighbour(rip);
      return;
    }
    this.route.setNeighbour(rip, r.dev, mac);
  }
}
