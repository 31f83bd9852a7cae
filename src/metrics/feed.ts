/**
 * The live page's data: a JSON snapshot of services, real servers, health, VRRP and drops,
 * and a ring of per-second samples of the director-wide totals (the charts' last minutes).
 * Sampling runs on a 1 s timer only while the metrics listener is up, reads the same fields
 * as a scrape (O(services + real servers)), and serialises once per tick for every client.
 */
import type { MetricsSources } from './sources';
import { dropsOf } from './sources';
import type { Service } from '../ipvs/service';
import type { Counters } from '../ipvs/types';
import { ipToString } from '../ipvs/types';
import { serviceLabels } from './registry';
import { VERSION } from '../ipvs/director';

/** Seconds of history the page charts: ten minutes at one sample a second. */
export const HISTORY_SAMPLES = 600;
export const SAMPLE_INTERVAL_MS = 1000;

/** Forwarding methods as ipvsadm -L prints them, indexed by FWD_MASQ .. FWD_ROUTE. */
const FWD_NAMES = ['Masq', 'Local', 'Tunnel', 'Route'];

export interface DestView {
  addr: string; port: number; fwd: string; weight: number;
  active: number; inactive: number; persistent: number;
  /** 'up' when every checker passes, 'down' when one fails, '' without checkers. */
  health: '' | 'up' | 'down';
  stats: Counters;
  rates: { cps: number; inpps: number; outpps: number; inbps: number; outbps: number };
}

export interface ServiceView {
  /** As ipvsadm -L -n names it: "TCP 198.18.100.1:80" or "FWM 1". */
  name: string; scheduler: string; persistent: number;
  stats: Counters;
  rates: DestView['rates'];
  dests: DestView[];
}

export interface Snapshot {
  time: number; version: string; conns: number; maxConns: number;
  packets: number; drops: Record<string, number>;
  services: ServiceView[];
  vrrp: Array<{ name: string; state: string; priority: number; master: string; transitions: number }>;
}

/** One second of director-wide traffic: rates from counter differences, gauges as read. */
export interface Sample {
  t: number; cps: number; inpps: number; outpps: number; inbps: number; outbps: number;
  active: number; inactive: number; drops: number;
}

function serviceName(svc: Service): string {
  const l = serviceLabels(svc);
  return l.proto === 'FWM' ? `FWM ${svc.fwmark}` : `${l.proto} ${l.local_address}:${l.local_port}`;
}

interface Totals extends Counters { drops: number }

export class PageFeed {
  private readonly ring: Sample[] = [];
  private last: Totals | undefined;
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(sample: Sample, snapshotJson: string) => void>();

  constructor(private readonly src: MetricsSources, private readonly now: () => number = Date.now) {}

  start(): void {
    if (this.timer) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  history(): readonly Sample[] {
    return this.ring;
  }

  /** Called after each sample with the sample and the snapshot as JSON; returns an unsubscribe. */
  subscribe(fn: (sample: Sample, snapshotJson: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private totals(): Totals {
    const d = this.src.director;
    const t: Totals = { ...d.services.removedStats, drops: 0 };
    for (const svc of d.services.services()) {
      t.conns += svc.stats.conns;
      t.inpkts += svc.stats.inpkts;
      t.outpkts += svc.stats.outpkts;
      t.inbytes += svc.stats.inbytes;
      t.outbytes += svc.stats.outbytes;
    }
    for (const v of Object.values(dropsOf(d))) t.drops += v;
    return t;
  }

  /** Takes one sample (the timer calls it; tests may too). */
  tick(): Sample | undefined {
    const at = this.now();
    const cur = this.totals();
    const prev = this.last;
    const secs = (at - this.lastAt) / 1000;
    this.last = cur;
    this.lastAt = at;
    if (!prev || secs <= 0) return undefined;
    // A -Z makes a counter smaller: that second counts as zero.
    const rate = (k: keyof Totals): number => Math.max(0, cur[k] - prev[k]) / secs;
    let active = 0;
    let inactive = 0;
    for (const svc of this.src.director.services.services()) {
      for (const x of svc.dests) {
        active += x.activeConns;
        inactive += x.inactiveConns;
      }
    }
    const sample: Sample = {
      t: at, cps: rate('conns'), inpps: rate('inpkts'), outpps: rate('outpkts'), inbps: rate('inbytes'),
      outbps: rate('outbytes'), active, inactive, drops: rate('drops'),
    };
    this.ring.push(sample);
    if (this.ring.length > HISTORY_SAMPLES) this.ring.shift();
    if (this.listeners.size > 0) {
      const json = JSON.stringify(this.snapshot());
      for (const fn of this.listeners) fn(sample, json);
    }
    return sample;
  }

  snapshot(): Snapshot {
    const src = this.src;
    const d = src.director;
    const health = new Map<string, boolean>();
    for (const { vs, dest, checker } of src.health()?.checkers() ?? []) {
      const k = `${vs.proto.toUpperCase()} ${vs.addr}:${vs.port} ${dest}`;
      health.set(k, (health.get(k) ?? true) && checker.state === 'up');
    }
    const vrrp = src.vrrp();
    let packets = 0;
    for (const t of src.packetThreads()) packets += t.packets;
    return {
      time: this.now(), version: VERSION, conns: d.conns.size, maxConns: d.conns.maxConns, packets, drops: dropsOf(d),
      services: d.services.services().map((svc) => {
        const name = serviceName(svc);
        return {
          name, scheduler: svc.schedName, persistent: svc.persistent,
          stats: { ...svc.stats }, rates: { ...svc.rates },
          dests: svc.dests.map((x) => {
            const h = health.get(`${name} ${ipToString(x.addr)}:${x.port}`);
            return {
              addr: ipToString(x.addr), port: x.port, fwd: FWD_NAMES[x.fwd] ?? 'Route', weight: x.weight,
              active: x.activeConns, inactive: x.inactiveConns, persistent: x.persistConns,
              health: h === undefined ? '' : h ? 'up' : 'down',
              stats: { ...x.stats }, rates: { ...x.rates },
            };
          }),
        };
      }),
      vrrp: (vrrp?.info() ?? []).map((i) => ({ ...i, transitions: vrrp?.transitions(i.name) ?? 0 })),
    };
  }
}
