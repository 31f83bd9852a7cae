/**
 * Firewall-mark services (ipvsadm -f mark) over TUN devices.
 *
 * IPVS finds the service of a packet by its skb mark first (ip_vs_service_find →
 * __ip_vs_svc_fwm_find), so one service can take several VIPs and ports that the user
 * marks with nftables or iptables. A packet read from a TUN device carries no mark, so the
 * mark is recovered from the device it arrived on: for every mark with a service, lvsd
 * opens one more TUN device, policy routing sends packets of that mark into it
 * (src/host/plumbing.ts fwmarkRoute: `fwmark M lookup T`, table T `default dev <it>`), and
 * a Pipeline with `fwmark = M` reads it.
 *
 * All pipelines share the one service table, connection table, timeouts, knobs and
 * half-open budget: a connection made on a mark's device is found by its later packets on
 * that device, by NAT replies on the main device (reply rules match the real server, not
 * the mark), and expired by the main pipeline's expiry, which alone runs the timers.
 */
import type { Device } from '../phy/device';
import { Pipeline } from './pipeline';
import type { ServiceTable } from './service';

/** IFNAMSIZ - 1: the longest Linux interface name. */
export const IFNAME_MAX = 15;

/**
 * The TUN device name of mark `mark` next to main device `tun`: the main name, truncated
 * so it fits, followed by "f" and the mark in decimal (lvs0 + mark 1 → "lvs0f1").
 */
export function fwmarkDeviceName(tun: string, mark: number): string {
  const suffix = `f${mark >>> 0}`;
  return tun.slice(0, IFNAME_MAX - suffix.length) + suffix;
}

interface MarkPort {
  readonly dev: Device;
  readonly pipeline: Pipeline;
}

export class FwmarkDevices {
  private readonly ports = new Map<number, MarkPort>();
  private running = false;

  constructor(
    private readonly main: Pipeline,
    private readonly services: ServiceTable,
    private readonly clock: () => number,
  ) {}

  /**
   * Serves mark `mark` on `dev` with a pipeline sharing the main pipeline's tables and
   * settings (transmitters included, as they are at this moment). Reading starts now when
   * the director is running, else with start(). Throws when the mark already has a device.
   */
  attach(mark: number, dev: Device): Pipeline {
    if (this.ports.has(mark)) throw new Error(`fwmark ${mark} already has a device`);
    const m = this.main;
    const p = new Pipeline(dev, this.services, m.conns, {
      tcpTimeouts: m.tcpTimeouts, udpTimeouts: m.udpTimeouts, knobs: m.knobs, halfOpen: m.halfOpen,
    });
    p.fwmark = mark;
    p.connReuse = m.connReuse;
    p.tunnel = m.tunnel;
    p.route = m.route;
    p.natDirect = m.natDirect;
    p.onNextHopMiss = m.onNextHopMiss;
    p.onMtu = m.onMtu;
    this.ports.set(mark, { dev, pipeline: p });
    if (this.running) this.listen(dev, p);
    return p;
  }

  /** Stops serving mark `mark` and closes its device; nothing when it has none. */
  detach(mark: number): void {
    const port = this.ports.get(mark);
    if (port === undefined) return;
    this.ports.delete(mark);
    port.dev.close();
  }

  has(mark: number): boolean {
    return this.ports.has(mark);
  }

  /** The pipeline serving `mark`, if any. */
  pipeline(mark: number): Pipeline | undefined {
    return this.ports.get(mark)?.pipeline;
  }

  marks(): number[] {
    return [...this.ports.keys()];
  }

  /** Starts reading every device (and those attached later). */
  start(): void {
    this.running = true;
    for (const { dev, pipeline } of this.ports.values()) this.listen(dev, pipeline);
  }

  /** Closes every device; the marks stay known until detached. */
  stop(): void {
    this.running = false;
    for (const { dev } of this.ports.values()) dev.close();
  }

  /** Copies the main pipeline's settings that are plain fields (not shared objects). */
  syncSettings(): void {
    for (const { pipeline } of this.ports.values()) {
      pipeline.connReuse = this.main.connReuse;
      pipeline.tunnel = this.main.tunnel;
      pipeline.route = this.main.route;
      pipeline.natDirect = this.main.natDirect;
      pipeline.onNextHopMiss = this.main.onNextHopMiss;
      pipeline.onMtu = this.main.onMtu;
    }
  }

  /** Sums of every mark pipeline's drop reasons and counters, by name (for --status). */
  totals(): { drops: Record<string, number>; counters: Record<string, number> } {
    const drops: Record<string, number> = {};
    const counters: Record<string, number> = {};
    for (const { pipeline } of this.ports.values()) {
      for (const [k, v] of Object.entries(pipeline.dropCounts())) drops[k] = (drops[k] ?? 0) + v;
      for (const [k, v] of Object.entries(pipeline.counterValues())) counters[k] = (counters[k] ?? 0) + v;
    }
    return { drops, counters };
  }

  private listen(dev: Device, p: Pipeline): void {
    dev.start(() => p.drain(this.clock()));
  }
}

/** a + b by name (names of b missing from a are added). */
export function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}
