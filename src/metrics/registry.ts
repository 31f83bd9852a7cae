/**
 * The Prometheus registry of lvsd (prom-client), filled at scrape time from MetricsSources:
 * nothing here runs per packet, and a scrape walks services and real servers only
 * (O(services + real servers); the connection table is never scanned, its size is a field).
 *
 * node_ipvs_*: the names, types, help strings and labels of node_exporter's IPVS collector
 * (collector/ipvs_linux.go), so that dashboards and alerts written for a kernel director work
 * unchanged. As there, the five *_total series are the director-wide totals of
 * /proc/net/ip_vs_stats (no labels), and the backend series carry local_address, local_port,
 * remote_address, remote_port, proto and local_mark with the values procfs parses out of
 * /proc/net/ip_vs: proto TCP, UDP or FWM; for FWM local_address "" and local_port "0" and
 * local_mark the mark as the kernel prints it (%08X); local_mark "" otherwise.
 *
 * lvsd_*: what node_exporter cannot see. Every labelled family is rebuilt from the tables on
 * each scrape, so the series of a removed service, real server, checker or instance are gone
 * at the next scrape (cardinality follows the configuration).
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Service } from '../ipvs/service';
import type { Counters, Dest } from '../ipvs/types';
import { ipToString } from '../ipvs/types';
import { VERSION } from '../ipvs/director';
import { type MetricsSources, dropsOf } from './sources';

export const BACKEND_LABELS = ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark'] as const;
const SERVICE_LABELS = ['local_address', 'local_port', 'proto', 'local_mark'] as const;
const CHECK_LABELS = ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'check'] as const;
const VRRP_STATES = ['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOPPED'] as const;

type Labels = Record<string, string>;
type Emit = (labels: Labels, value: number) => void;

/** Labels of a virtual service as node_exporter derives them from /proc/net/ip_vs. */
export function serviceLabels(svc: Service): Labels {
  if (svc.fwmark !== 0) {
    return { local_address: '', local_port: '0', proto: 'FWM', local_mark: svc.fwmark.toString(16).toUpperCase().padStart(8, '0') };
  }
  return { local_address: ipToString(svc.addr), local_port: String(svc.port), proto: svc.proto === 6 ? 'TCP' : 'UDP', local_mark: '' };
}

/** Label sets by real server: a dest's service and address never change, so they are built once. */
const backendLabelCache = new WeakMap<Dest, Labels>();

/** In node_exporter's label order (prom-client prints labels in insertion order). */
export function backendLabels(svc: Service, d: Dest): Labels {
  const cached = backendLabelCache.get(d);
  if (cached) return cached;
  const s = serviceLabels(svc);
  const l: Labels = {
    local_address: s.local_address, local_port: s.local_port, remote_address: ipToString(d.addr), remote_port: String(d.port),
    proto: s.proto, local_mark: s.local_mark,
  };
  backendLabelCache.set(d, l);
  return l;
}

/**
 * The text exposition of `reg` (what registry.metrics() returns), one metric family per turn
 * of the event loop: the packet thread shares this loop, so a scrape of a large table pauses
 * forwarding for at most one family (about 3 µs per real server), not for the whole scrape.
 * A family is collected and serialised within one turn, so its series are mutually consistent.
 */
export async function exposition(reg: Registry): Promise<string> {
  const parts: string[] = [];
  const r = reg as unknown as { getMetricsAsString(m: unknown): Promise<string> };
  for (const m of reg.getMetricsAsArray()) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    parts.push(await r.getMetricsAsString(m));
  }
  return `${parts.join('\n\n')}\n`;
}

const COUNTER_FIELDS: ReadonlyArray<{ field: keyof Counters; suffix: string; help: string }> = [
  { field: 'conns', suffix: 'connections_total', help: 'The total number of connections made.' },
  { field: 'inpkts', suffix: 'incoming_packets_total', help: 'The total number of incoming packets.' },
  { field: 'outpkts', suffix: 'outgoing_packets_total', help: 'The total number of outgoing packets.' },
  { field: 'inbytes', suffix: 'incoming_bytes_total', help: 'The total amount of incoming data.' },
  { field: 'outbytes', suffix: 'outgoing_bytes_total', help: 'The total amount of outgoing data.' },
];

/** A family whose series are rebuilt by `read` on every scrape. */
function counter(reg: Registry, name: string, help: string, labelNames: readonly string[], read: (emit: Emit) => void): void {
  new Counter({
    name, help, labelNames, registers: [reg],
    collect(this: Counter) {
      this.reset();
      read((labels, v) => this.inc(labels, v));
    },
  });
}

function gauge(reg: Registry, name: string, help: string, labelNames: readonly string[], read: (emit: Emit) => void): void {
  new Gauge({
    name, help, labelNames, registers: [reg],
    collect(this: Gauge) {
      this.reset();
      read((labels, v) => this.set(labels, v));
    },
  });
}

export function createRegistry(src: MetricsSources): Registry {
  const reg = new Registry();
  const d = src.director;
  const services = (): readonly Service[] => d.services.services();

  // --- node_exporter's IPVS collector ---------------------------------------------------
  for (const { field, suffix, help } of COUNTER_FIELDS) {
    counter(reg, `node_ipvs_${suffix}`, help, [], (emit) => {
      let v = d.services.removedStats[field];
      for (const svc of services()) v += svc.stats[field];
      emit({}, v);
    });
  }
  const backends = (pick: (x: Dest) => number): ((emit: Emit) => void) => (emit) => {
    for (const svc of services()) for (const x of svc.dests) emit(backendLabels(svc, x), pick(x));
  };
  gauge(reg, 'node_ipvs_backend_connections_active', 'The current active connections by local and remote address.',
    BACKEND_LABELS, backends((x) => x.activeConns));
  gauge(reg, 'node_ipvs_backend_connections_inactive', 'The current inactive connections by local and remote address.',
    BACKEND_LABELS, backends((x) => x.inactiveConns));
  gauge(reg, 'node_ipvs_backend_weight', 'The current backend weight by local and remote address.',
    BACKEND_LABELS, backends((x) => x.weight));

  // --- per service and per real server: what lvsadm -L -n --stats --exact prints ----------
  for (const { field, suffix, help } of COUNTER_FIELDS) {
    counter(reg, `lvsd_service_${suffix}`, `${help} By virtual service (lvsadm -L --stats).`, SERVICE_LABELS, (emit) => {
      for (const svc of services()) emit(serviceLabels(svc), svc.stats[field]);
    });
    counter(reg, `lvsd_backend_${suffix}`, `${help} By virtual service and real server (lvsadm -L --stats).`, BACKEND_LABELS,
      backends((x) => x.stats[field]));
  }
  gauge(reg, 'lvsd_backend_connections_persistent', 'Persistence templates pointing at the real server (lvsadm -L --persistent-conn).',
    BACKEND_LABELS, backends((x) => x.persistConns));

  // --- the datapath -----------------------------------------------------------------------
  counter(reg, 'lvsd_drops_total', 'Packets dropped, by reason (lvsadm --status).', ['reason'], (emit) => {
    for (const [reason, v] of Object.entries(src.drops?.() ?? dropsOf(d))) emit({ reason }, v);
  });
  counter(reg, 'lvsd_packets_total', 'Packets read from the devices, by packet thread.', ['thread'], (emit) => {
    for (const t of src.packetThreads()) emit({ thread: t.thread }, t.packets);
  });
  counter(reg, 'lvsd_batches_total', 'Batches read from the devices, by packet thread.', ['thread'], (emit) => {
    for (const t of src.packetThreads()) emit({ thread: t.thread }, t.batches);
  });
  gauge(reg, 'lvsd_connection_table_entries', 'Entries in the connection table (connections and persistence templates).', [],
    (emit) => emit({}, src.connEntries?.() ?? d.conns.size));
  gauge(reg, 'lvsd_connection_table_max_entries', 'Capacity of the connection table (lvsd --max-conns).', [],
    (emit) => emit({}, d.conns.maxConns));
  gauge(reg, 'lvsd_connection_table_allocated_entries', 'Entries the connection table has storage for now (grows up to the capacity).', [],
    (emit) => emit({}, d.conns.capacity));
  gauge(reg, 'lvsd_build_info', 'Constant 1, labelled with the version of lvsd.', ['version'], (emit) => emit({ version: VERSION }, 1));

  // --- health checkers (keepalived.conf) ---------------------------------------------------
  const checks = (pick: (c: { state: string; lastDurationMs: number; probes: number; failures: number }) => number) =>
    (emit: Emit): void => {
      const m = src.health();
      if (!m) return;
      const seen = new Map<string, number>();
      for (const { vs, dest, checker } of m.checkers()) {
        const i = dest.lastIndexOf(':');
        const base = { local_address: vs.addr, local_port: String(vs.port), remote_address: dest.slice(0, i),
          remote_port: dest.slice(i + 1), proto: vs.proto.toUpperCase() };
        // Two checkers of one kind on one real server: TCP_CHECK, TCP_CHECK#2, ...
        const k = `${vs.proto} ${vs.addr}:${vs.port} ${dest} ${checker.spec.kind}`;
        const n = (seen.get(k) ?? 0) + 1;
        seen.set(k, n);
        emit({ ...base, check: n === 1 ? checker.spec.kind : `${checker.spec.kind}#${n}` }, pick(checker));
      }
    };
  gauge(reg, 'lvsd_healthcheck_up', '1 while the health checker passes, 0 while it fails (lvsadm --checks).', CHECK_LABELS,
    checks((c) => (c.state === 'up' ? 1 : 0)));
  gauge(reg, 'lvsd_healthcheck_duration_seconds', 'How long the last probe of the health checker took.', CHECK_LABELS,
    checks((c) => c.lastDurationMs / 1000));
  counter(reg, 'lvsd_healthcheck_probes_total', 'Probes run by the health checker.', CHECK_LABELS, checks((c) => c.probes));
  counter(reg, 'lvsd_healthcheck_failures_total', 'Probes of the health checker that failed.', CHECK_LABELS, checks((c) => c.failures));

  // --- VRRP ---------------------------------------------------------------------------------
  gauge(reg, 'lvsd_vrrp_state', '1 for the current state of the VRRP instance, 0 for the others.', ['instance', 'state'], (emit) => {
    for (const i of src.vrrp()?.info() ?? []) for (const s of VRRP_STATES) emit({ instance: i.name, state: s }, i.state === s ? 1 : 0);
  });
  gauge(reg, 'lvsd_vrrp_priority', 'Configured priority of the VRRP instance.', ['instance'], (emit) => {
    for (const i of src.vrrp()?.info() ?? []) emit({ instance: i.name }, i.priority);
  });
  counter(reg, 'lvsd_vrrp_transitions_total', 'State transitions of the VRRP instance since start.', ['instance'], (emit) => {
    const v = src.vrrp();
    for (const i of v?.info() ?? []) emit({ instance: i.name }, v?.transitions(i.name) ?? 0);
  });

  // --- connection sync (summed over the running sync daemons) ------------------------------
  const syncSum = (pick: (s: ReturnType<MetricsSources['sync']>[number]) => number) => (emit: Emit): void => {
    let v = 0;
    for (const s of src.sync()) v += pick(s);
    emit({}, v);
  };
  counter(reg, 'lvsd_sync_messages_sent_total', 'Sync datagrams sent (master).', [], syncSum((s) => s.engine.stats.messagesSent));
  counter(reg, 'lvsd_sync_messages_received_total', 'Sync datagrams received from other directors (backup).', [],
    syncSum((s) => s.messagesReceived));
  counter(reg, 'lvsd_sync_messages_dropped_total', 'Received sync datagrams dropped as malformed, unauthenticated or of another syncid.', [],
    syncSum((s) => s.engine.stats.badMessages));
  counter(reg, 'lvsd_sync_connections_sent_total', 'Connection entries sent in sync datagrams.', [], syncSum((s) => s.engine.stats.sent));
  counter(reg, 'lvsd_sync_connections_received_total', 'Connection entries received in sync datagrams.', [],
    syncSum((s) => s.engine.stats.received));
  counter(reg, 'lvsd_sync_connections_rejected_total', 'Received connection entries not applied, by reason.', ['reason'], (emit) => {
    const t = { no_service: 0, no_dest: 0, table_full: 0, skipped: 0 };
    for (const s of src.sync()) {
      t.no_service += s.engine.stats.noService;
      t.no_dest += s.engine.stats.noDest;
      t.table_full += s.engine.stats.tableFull;
      t.skipped += s.engine.stats.skipped;
    }
    if (src.sync().length === 0) return;
    for (const [reason, v] of Object.entries(t)) emit({ reason }, v);
  });
  return reg;
}
