/**
 * What the metrics registry and the live page read, at scrape time only: the director's own
 * counters and tables, and the optional keepalived parts (health checkers, VRRP, sync). Every
 * source is a function so that parts started later (keepalived after -f, a sync daemon after
 * --start-daemon) are seen without re-registering anything.
 */
import type { Director } from '../ipvs/director';
import type { HealthManager } from '../health/manager';
import type { VrrpRuntime } from '../ha/vrrp-node';
import type { SyncDaemon } from '../ha/sync';
import { addCounts } from '../ipvs/fwmark';

/** Counters of one packet thread (the thread that reads, parses and forwards batches). */
export interface PacketThreadStats {
  /** Label value: "0" for the main thread; workers number on from 1. */
  thread: string;
  packets: number;
  batches: number;
}

export interface MetricsSources {
  director: Director;
  /**
   * The packet threads, as a list: today the main thread alone (its firewall-mark pipelines
   * included); packet workers add one entry each.
   */
  packetThreads(): PacketThreadStats[];
  health(): HealthManager | undefined;
  /** The VRRP instances (one runtime, or lvsd's reload-aware set of them). */
  vrrp(): Pick<VrrpRuntime, 'info' | 'transitions'> | undefined;
  sync(): SyncDaemon[];
  /**
   * With packet workers the datapath's counters live in the workers: refresh() gathers them
   * before a scrape (service and real-server counters into the director's, as lvsadm --stats
   * does), then drops() and connEntries() answer from what it gathered.
   */
  refresh?(): Promise<void>;
  drops?(): Record<string, number>;
  connEntries?(): number;
}

/** Drop counters by reason over the main pipeline and every firewall-mark pipeline (as --status). */
export function dropsOf(d: Director): Record<string, number> {
  return addCounts(d.pipeline.dropCounts(), d.fwmarks.totals().drops);
}

/** The main thread's counters: the main pipeline and the firewall-mark pipelines it also runs. */
export function mainThreadStats(d: Director): PacketThreadStats {
  const c = addCounts(d.pipeline.counterValues(), d.fwmarks.totals().counters);
  return { thread: '0', packets: c.rx_packets ?? 0, batches: c.rx_batches ?? 0 };
}

/** Sources for a director without keepalived parts (tests, lvsd without -f). */
export function directorSources(director: Director, extra: Partial<Omit<MetricsSources, 'director'>> = {}): MetricsSources {
  return {
    director,
    packetThreads: extra.packetThreads ?? (() => [mainThreadStats(director)]),
    health: extra.health ?? (() => undefined),
    vrrp: extra.vrrp ?? (() => undefined),
    sync: extra.sync ?? (() => []),
    refresh: extra.refresh,
    drops: extra.drops,
    connEntries: extra.connEntries,
  };
}
