/**
 * The director: one device, one service table, one connection table, one pipeline, and
 * the control-plane handler that lvsadm talks to. Kernel plumbing follows the service
 * table through its hooks.
 */
import type { Command, ConnInfo, Result, ServiceInfo, StreamReply } from './command';
import type { Device } from '../phy/device';
import type { SyncConn } from '../wire/ipvs-sync';
import { ConnTable, F_TEMPLATE } from './conn';
import { IpvsError, E } from './errors';
import { ESTIMATOR_INTERVAL_MS, Estimator } from './estimator';
import { Pipeline } from './pipeline';
import { FwmarkDevices, addCounts } from './fwmark';
import { type Knobs, KNOB_NAMES, createKnobs, isKnobName, knobError } from './knobs';
import { TCP_S_ESTABLISHED, TCP_S_FIN_WAIT, setTcpTimeouts, tcpStateName } from './proto/tcp';
import { UDP_S_NORMAL, setUdpTimeout } from './proto/udp';
import { TEMPLATE_PROTO_ANY } from './persist';
import { ServiceTable, protoName, type ServiceHooks } from './service';
import { FWD_MASQ, IPPROTO_TCP, ipToString } from './types';

/** Connection-table slots scanned, and real servers listed, per chunk of a streamed listing. */
const SCAN_SLOTS = 16384;
const DESTS_PER_ROW = 500;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A service as rows of at most DESTS_PER_ROW real servers each (the client joins them). */
function splitDests(info: ServiceInfo): ServiceInfo[] {
  const rows: ServiceInfo[] = [];
  for (let d = 0; d === 0 || d < info.dests.length; d += DESTS_PER_ROW) {
    rows.push({ ...info, dests: info.dests.slice(d, d + DESTS_PER_ROW) });
  }
  return rows;
}

async function* splitRows(infos: ServiceInfo[]): AsyncGenerator<ServiceInfo[]> {
  for (const info of infos) {
    const rows = splitDests(info);
    for (let i = 0; i < rows.length; i += 8) {
      yield rows.slice(i, i + 8);
      await yieldToLoop();
    }
  }
}

export const VERSION = '0.1.0';

/** Connection sync over a sharded table (src/datapath/workers.ts). */
export interface SyncFeed {
  /** Created and changed entries reported since the last call (master). */
  take(now: number): SyncConn[];
  /** Inserts a received entry into the shard that will see its packets (backup). */
  insert(m: SyncConn): void;
}

export interface DirectorOptions {
  hooks?: ServiceHooks;
  maxConns?: number;
  seed?: number;
  /** Milliseconds clock; monotonic. */
  clock?: () => number;
  /** Initial knob values (lvsd --sysctl); the rest keep their defaults. */
  knobs?: Partial<Knobs>;
}

const TABLE_OPS = new Set<Command['op']>([
  'add-service', 'edit-service', 'delete-service', 'clear', 'add-server', 'edit-server', 'delete-server', 'zero',
]);

export class Director {
  readonly services: ServiceTable;
  readonly conns: ConnTable;
  readonly pipeline: Pipeline;
  /** Devices and pipelines of firewall-mark services (src/ipvs/fwmark.ts). */
  readonly fwmarks: FwmarkDevices;
  private readonly estimator = new Estimator();
  private readonly counterSources: Array<() => Record<string, number>> = [];
  private readonly clock: () => number;
  private readonly started: number;
  private timers: NodeJS.Timeout[] = [];
  private lastEstimate: number;
  /**
   * Called after a batch of configuration commands was applied whole (packet workers apply
   * the same batch to their replicas: src/datapath/workers.ts).
   */
  onApplied: ((cmds: Command[]) => void) | null = null;
  /**
   * Where connection sync gets its entries and puts received ones when the connection table
   * is sharded over packet workers; null: this director's own table.
   */
  syncFeed: SyncFeed | null = null;
  /** Queries answered by daemon extensions (e.g. list-checks by the health manager). */
  private readonly queryHandlers = new Map<Command['op'], (cmd: Command) => Result>();

  constructor(readonly dev: Device, opts: DirectorOptions = {}) {
    this.clock = opts.clock ?? (() => Math.floor(performance.now()));
    this.services = new ServiceTable(opts.hooks);
    this.conns = new ConnTable({ maxConns: opts.maxConns, seed: opts.seed });
    this.pipeline = new Pipeline(dev, this.services, this.conns, { knobs: createKnobs() });
    this.fwmarks = new FwmarkDevices(this.pipeline, this.services, this.clock);
    for (const n of KNOB_NAMES) {
      const v = opts.knobs?.[n];
      if (v !== undefined) this.setKnob(n, v);
    }
    this.started = this.clock();
    this.lastEstimate = this.started;
  }

  /** Starts reading the device and the periodic expiry and rate estimation. */
  start(): void {
    this.dev.start(() => this.pipeline.drain(this.clock()));
    this.fwmarks.start();
    this.timers.push(setInterval(() => this.pipeline.expire(this.clock()), 1000));
    this.timers.push(setInterval(() => this.estimate(), ESTIMATOR_INTERVAL_MS));
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.fwmarks.stop();
    this.dev.close();
  }

  estimate(): void {
    const now = this.clock();
    const elapsed = now - this.lastEstimate;
    this.lastEstimate = now;
    for (const svc of this.services.services()) {
      this.estimator.update(svc.stats, svc.rates, elapsed);
      for (const d of svc.dests) this.estimator.update(d.stats, d.rates, elapsed);
    }
  }

  /** The control handler: commands are applied all-or-nothing; queries return snapshots. */
  /**
   * `checked`: the commands were already applied all-or-nothing by the main thread's director
   * (a packet worker applying its batch): they are applied without the validation pass.
   */
  handle(cmds: Command[], checked = false): Result {
    if (cmds.length === 0) return { kind: 'done' };
    if (cmds.length === 1 && !TABLE_OPS.has(cmds[0].op) && cmds[0].op !== 'set-timeout' && cmds[0].op !== 'set-sysctl') {
      return this.query(cmds[0]);
    }
    const table: Command[] = [];
    const timeouts: Array<Extract<Command, { op: 'set-timeout' }>> = [];
    const sysctls: Array<Extract<Command, { op: 'set-sysctl' }>> = [];
    for (const c of cmds) {
      if (TABLE_OPS.has(c.op)) table.push(c);
      else if (c.op === 'set-timeout') timeouts.push(c);
      else if (c.op === 'set-sysctl') sysctls.push(c);
      else throw E.invalid(`${c.op} cannot be part of a batch`);
    }
    for (const k of sysctls) {
      const err = knobError(k.name, k.value);
      if (err !== null) throw E.invalid(err);
    }
    for (const t of timeouts) {
      for (const v of [t.tcp, t.tcpfin, t.udp]) {
        if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw E.invalid(`Illegal timeout: ${v}`);
      }
    }
    if (checked) for (const c of table) this.services.execute(c);
    else this.services.executeAtomically(table);
    for (const t of timeouts) {
      setTcpTimeouts(this.pipeline.tcpTimeouts, t.tcp, t.tcpfin);
      setUdpTimeout(this.pipeline.udpTimeouts, t.udp);
    }
    for (const k of sysctls) if (isKnobName(k.name)) this.setKnob(k.name, k.value);
    this.onApplied?.(cmds);
    return { kind: 'done' };
  }

  /**
   * The control socket's handler: handle(), except that the connection and service listings
   * are streams produced a chunk at a time, yielding to the event loop between chunks so that
   * packets keep flowing while hundreds of thousands of entries are listed.
   */
  control(cmds: Command[]): Result | StreamReply {
    if (cmds.length === 1 && cmds[0].op === 'list-conns') return { kind: 'stream', of: 'conns', rows: this.connRows() };
    if (cmds.length === 1 && cmds[0].op === 'list-services') {
      // One service (-L -t VIP:PORT) is looked up now, so that a missing one is an error reply.
      const rows = cmds[0].service === undefined ? this.serviceRows() : splitRows(this.services.info(cmds[0].service));
      return { kind: 'stream', of: 'services', tableSize: this.conns.bucketCount, rows };
    }
    return this.handle(cmds);
  }

  /** The connection table, SCAN_SLOTS slots per chunk (entries come and go between chunks). */
  async *connRows(): AsyncGenerator<ConnInfo[]> {
    const now = this.clock();
    for (let from = 0; from < this.conns.capacity; from += SCAN_SLOTS) {
      const rows: ConnInfo[] = [];
      const to = Math.min(this.conns.capacity, from + SCAN_SLOTS);
      for (let id = from; id < to; id++) if (this.conns.has(id)) rows.push(this.connRow(id, now));
      if (rows.length > 0) yield rows;
      await yieldToLoop();
    }
  }

  /** Every service in table order, a service with many real servers split over rows. */
  async *serviceRows(): AsyncGenerator<ServiceInfo[]> {
    const list = [...this.services.services()];
    for (let i = 0; i < list.length; i += 64) {
      const rows: ServiceInfo[] = [];
      for (const svc of list.slice(i, i + 64)) {
        const key = svc.fwmark !== 0
          ? { proto: 'tcp' as const, addr: '0.0.0.0', port: 0, fwmark: svc.fwmark }
          : { proto: protoName(svc.proto), addr: ipToString(svc.addr), port: svc.port };
        let info: ServiceInfo;
        try {
          [info] = this.services.info(key);
        } catch {
          continue; // removed since the listing began
        }
        for (const r of splitDests(info)) rows.push(r);
      }
      yield rows;
      await yieldToLoop();
    }
  }

  /** Sets a knob (already validated) and what follows from it. */
  setKnob(name: keyof Knobs, value: number): void {
    this.pipeline.knobs[name] = value;
    if (name === 'conn_reuse_mode') this.pipeline.connReuse = value !== 0;
    if (name === 'max_half_open') this.pipeline.halfOpen.setBudget(value);
    this.fwmarks.syncSettings();
  }

  /** Lets an extension add named counters to `--status` (e.g. the sync daemon's sync_*). */
  registerCounters(fn: () => Record<string, number>): void {
    this.counterSources.push(fn);
  }

  /** Lets an extension answer a query op that the director itself does not know. */
  registerQuery(op: Command['op'], fn: (cmd: Command) => Result): void {
    this.queryHandlers.set(op, fn);
  }

  private query(cmd: Command): Result {
    switch (cmd.op) {
      case 'list-services':
        return { kind: 'services', tableSize: this.conns.bucketCount, services: this.services.info(cmd.service) };
      case 'list-conns':
        return { kind: 'conns', conns: this.connInfo() };
      case 'get-timeout':
        return {
          kind: 'timeout',
          timeout: {
            tcp: this.pipeline.tcpTimeouts[TCP_S_ESTABLISHED],
            tcpfin: this.pipeline.tcpTimeouts[TCP_S_FIN_WAIT],
            udp: this.pipeline.udpTimeouts[UDP_S_NORMAL],
          },
        };
      case 'status':
        return {
          kind: 'status',
          status: {
            version: VERSION,
            uptime: Math.floor((this.clock() - this.started) / 1000),
            device: this.dev.name,
            conns: this.conns.size,
            drops: addCounts(this.pipeline.dropCounts(), this.fwmarks.totals().drops),
            counters: {
              ...addCounts(this.pipeline.counterValues(), this.fwmarks.totals().counters),
              half_open: this.pipeline.halfOpen.count,
              half_open_evicted: this.pipeline.halfOpen.evicted,
              ...Object.assign({}, ...this.counterSources.map((f) => f())),
            },
          },
        };
      case 'get-sysctl':
        return { kind: 'sysctl', values: { ...this.pipeline.knobs } };
      default: {
        const ext = this.queryHandlers.get(cmd.op);
        if (ext) return ext(cmd);
        throw new IpvsError('EINVAL', `Unknown command: ${cmd.op}`);
      }
    }
  }

  connInfo(): ConnInfo[] {
    const now = this.clock();
    const out: ConnInfo[] = [];
    this.conns.forEach((id) => { out.push(this.connRow(id, now)); });
    return out;
  }

  /** The listing row of live entry id (lvsadm -L -c). */
  connRow(id: number, now: number): ConnInfo {
    const c = this.conns;
    const proto = c.proto(id);
    return {
      // A firewall-mark template has protocol IPPROTO_IP (src/ipvs/persist.ts), listed as "IP".
      proto: proto === TEMPLATE_PROTO_ANY ? 'ip' : protoName(proto),
      expires: Math.max(0, Math.round(c.remaining(id, now))),
      // Templates print the template state table's name (ip_vs_state_name: "NONE").
      state: (c.flags(id) & F_TEMPLATE) !== 0 ? 'NONE' : proto === IPPROTO_TCP ? tcpStateName(c.state(id)) : 'UDP',
      caddr: ipToString(c.caddr(id)), cport: c.cport(id),
      vaddr: ipToString(c.vaddr(id)), vport: c.vport(id),
      daddr: ipToString(c.daddr(id)), dport: c.dport(id),
    };
  }

  /** The director's clock (ms). */
  now(): number {
    return this.clock();
  }
}

export { FWD_MASQ };
