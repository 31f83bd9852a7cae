/**
 * The packet workers seen from the main thread (control plane): starts one worker_thread per
 * TUN queue (src/datapath/worker.ts), steers packets to them by client address
 * (src/datapath/steering.ts), forwards every configuration batch the director applied, pushes
 * route and neighbour facts, merges their counters and listings, feeds the sync sender, and
 * restarts a worker that died (with a fresh shard; the others' flows are untouched, since the
 * queue, held open here, keeps its index).
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { Command, ConnInfo, CountersInfo, Result, ServiceInfo, StatusInfo, StreamReply } from '../ipvs/command';
import type { Director, SyncFeed } from '../ipvs/director';
import { ESTIMATOR_INTERVAL_MS } from '../ipvs/estimator';
import { KNOB_NAMES } from '../ipvs/knobs';
import { TCP_S_ESTABLISHED, TCP_S_FIN_WAIT } from '../ipvs/proto/tcp';
import { UDP_S_NORMAL } from '../ipvs/proto/udp';
import { type Service, type ServiceHooks, protoName } from '../ipvs/service';
import { FWD_MASQ, type Counters, type Dest, ipToString } from '../ipvs/types';
import { TunDevice } from '../phy/tun';
import type { RouteXmit } from '../xmit/dr';
import { type TunnelXmit, kernelPmtuPolicy } from '../xmit/tunnel';
import type { SyncConn } from '../wire/ipvs-sync';
import { type Fact, type FromWorker, type ToWorker, type WorkerConfig, destKey } from './protocol';
import { SharedCounts, createCountsBuffer } from './shared-counts';
import { Steering, steerQueue } from './steering';

export const MAX_WORKERS = 64;
/** A dead worker is restarted after 200 ms, doubling per restart up to 6.4 s. */
const RESTART_DELAY_MS = 200;
const RESTART_DELAY_MAX_MS = 6400;
/** The sync feed stops when the sender has not taken entries for this long (no longer master). */
const SYNC_IDLE_MS = 3000;
const QUERY_TIMEOUT_MS = 2000;
const CONN_CHUNK = 4096;
const STOP_TIMEOUT_MS = 2000;
/** Counters kept by the main thread alone (not summed from the workers). */
const MAIN_THREAD_COUNTERS = /^(sync|announce)_/;
/** Buffered sync entries at most (the sender drains every scan). */
const SYNC_QUEUE_MAX = 1 << 20;

export interface WorkerLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PacketWorkersOptions {
  /** Queue 0 of the multi-queue TUN device (opened by lvsd, never read on this thread). */
  dev: TunDevice;
  workers: number;
  batch: number;
  vnetHdr: boolean;
  offload: boolean;
  natDirect: boolean;
  maxConns: number;
  rtPriority: number;
  pcap?: { path: string; maxBytes: number };
  /** The main thread's capture writer, given the records the workers post. */
  capture?: { appendRecords(records: Uint8Array): void };
  log: WorkerLog;
  /** Test only (lvsd: LVSD_TEST_CRASH_HOOK=1): crash(index) makes a worker throw. */
  crashHook?: boolean;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  restarts: number;
  lastError: string;
}

const MUTATING = new Set<Command['op']>([
  'add-service', 'edit-service', 'delete-service', 'clear', 'add-server', 'edit-server', 'delete-server', 'zero',
  'set-timeout', 'set-sysctl',
]);

function addCounters(into: CountersInfo, c: CountersInfo): void {
  into.conns += c.conns;
  into.inpkts += c.inpkts;
  into.outpkts += c.outpkts;
  into.inbytes += c.inbytes;
  into.outbytes += c.outbytes;
}

function setCounters(into: Counters, c: CountersInfo | undefined): void {
  into.conns = c?.conns ?? 0;
  into.inpkts = c?.inpkts ?? 0;
  into.outpkts = c?.outpkts ?? 0;
  into.inbytes = c?.inbytes ?? 0;
  into.outbytes = c?.outbytes ?? 0;
}

function svcKeyOf(s: ServiceInfo): string {
  return `${s.fwmark ?? 0}/${s.proto}/${s.addr}/${s.port}`;
}

export class PacketWorkers implements SyncFeed {
  readonly count: number;
  readonly counts = new SharedCounts(createCountsBuffer());
  /** Read once here, at start: a restarted worker gets it without reading /proc. */
  private readonly pmtu = kernelPmtuPolicy();
  private readonly slots: Slot[] = [];
  /** Queue fds held here, per device: [0] the main TUN, then firewall-mark devices by mark. */
  private readonly queues: TunDevice[];
  private readonly fwmarkQueues = new Map<number, TunDevice[]>();
  private readonly steering: Steering | undefined;

  /** True when an eBPF program steers the TUN queues (it is reloaded when the -M mask changes). */
  get steered(): boolean {
    return this.steering !== undefined;
  }
  private director: Director | undefined;
  private version = 0;
  private pendingSlots: Array<[string, number]> = [];
  private pendingFwmark = new Map<number, number[]>();
  private readonly facts = new Map<string, Fact>();
  private queryId = 0;
  private readonly waiting = new Map<number, (m: FromWorker) => void>();
  private readonly syncQueue: SyncConn[] = [];
  private syncOn = false;
  private syncTaken = 0;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  /** Next-hop misses and path-MTU reports of the workers (lvsd wires them to host/). */
  onNextHopMiss: ((caddr: number) => void) | null = null;
  onMtu: ((rip: number, mtu: number) => void) | null = null;

  constructor(private readonly opts: PacketWorkersOptions) {
    this.queues = [opts.dev];
    let n = opts.workers;
    let steering: Steering | undefined;
    if (n > 1) {
      try {
        steering = new Steering(n, (fd) => this.attachSteering(fd));
      } catch (err) {
        opts.log.warn({ err: (err as Error).message, wanted: n },
          'queue steering program cannot load: running one packet worker');
        n = 1;
      }
    }
    this.steering = steering;
    this.count = n;
    for (let i = 1; i < n; i++) this.queues.push(this.openQueue(opts.dev.name));
    for (let i = 0; i < n; i++) this.slots.push({ index: i, worker: undefined, restarts: 0, lastError: '' });
  }

  private openQueue(name: string): TunDevice {
    return TunDevice.open({ name, batch: 1, scratchSlots: 1, vnetHdr: this.opts.vnetHdr, offload: this.opts.offload,
      multiQueue: true });
  }

  /** Attaches (or replaces) the steering program on the main device and every firewall-mark device. */
  private attachSteering(progFd: number): void {
    this.queues[0].setSteering(progFd);
    for (const q of this.fwmarkQueues.values()) q[0].setSteering(progFd);
  }

  /** The service hooks for the main director: shared counts, then `inner`'s own hooks. */
  hooks(inner: ServiceHooks): ServiceHooks {
    return {
      ...inner,
      destAdded: (svc: Service, d: Dest) => {
        const slot = SharedCounts.slotOf(d.id);
        this.counts.reset(slot);
        this.counts.install(d, slot);
        this.pendingSlots.push([destKey(svc, d), slot]);
        inner.destAdded?.(svc, d);
      },
    };
  }

  /** Opens the queues of a firewall-mark device (lvsd's serviceAdded hook); queue 0 is returned. */
  openFwmark(mark: number, name: string): TunDevice {
    const qs: TunDevice[] = [];
    try {
      for (let i = 0; i < this.count; i++) {
        qs.push(TunDevice.open({ name, batch: 1, scratchSlots: 1, vnetHdr: this.opts.vnetHdr, offload: this.opts.offload,
          multiQueue: true }));
      }
      if (this.steering) qs[0].setSteering(this.steering.progFdNow);
    } catch (err) {
      for (const q of qs) q.close();
      throw err;
    }
    this.fwmarkQueues.set(mark, qs);
    this.pendingFwmark.set(mark, qs.map((q) => q.fd));
    return qs[0];
  }

  closeFwmark(mark: number): void {
    for (const q of this.fwmarkQueues.get(mark) ?? []) q.close();
    this.fwmarkQueues.delete(mark);
  }

  /** Starts the workers; from now on every batch `director` applies reaches them. */
  start(director: Director): void {
    this.director = director;
    director.onApplied = (cmds) => this.applied(cmds);
    director.syncFeed = this;
    for (const s of this.slots) this.spawn(s);
    this.timers.push(setInterval(() => void this.estimate(), ESTIMATOR_INTERVAL_MS));
    for (const t of this.timers) t.unref();
  }

  /** Route and neighbour facts: every change of these transmitters is pushed to the workers. */
  mirror(route: RouteXmit, tunnel: TunnelXmit): void {
    const setNeighbour = route.setNeighbour.bind(route);
    const deleteNeighbour = route.deleteNeighbour.bind(route);
    const setRoute = tunnel.setRoute.bind(tunnel);
    const deleteRoute = tunnel.deleteRoute.bind(tunnel);
    route.setNeighbour = (rip, dev, mac) => {
      setNeighbour(rip, dev, mac);
      this.fact(`n${rip >>> 0}`, { op: 'neigh', rip: rip >>> 0, dev, mac: [...mac] });
    };
    route.deleteNeighbour = (rip) => {
      deleteNeighbour(rip);
      this.fact(`n${rip >>> 0}`, { op: 'neigh-del', rip: rip >>> 0 });
    };
    tunnel.setRoute = (rip, src, mtu) => {
      setRoute(rip, src, mtu);
      const r = tunnel.route(rip);
      this.fact(`t${rip >>> 0}`, { op: 'tunnel-route', rip: rip >>> 0, src: src >>> 0, mtu: r?.mtu ?? mtu ?? 1500 });
    };
    tunnel.deleteRoute = (rip) => {
      deleteRoute(rip);
      this.fact(`t${rip >>> 0}`, { op: 'tunnel-route-del', rip: rip >>> 0 });
    };
  }

  private fact(key: string, f: Fact): void {
    if (f.op === 'neigh-del' || f.op === 'tunnel-route-del') this.facts.delete(key);
    else this.facts.set(key, f);
    this.broadcast({ t: 'facts', facts: [f] });
  }

  private broadcast(m: ToWorker): void {
    for (const s of this.slots) s.worker?.postMessage(m);
  }

  private applied(cmds: Command[]): void {
    if (!cmds.some((c) => MUTATING.has(c.op))) return;
    this.version++;
    const slots = this.pendingSlots;
    this.pendingSlots = [];
    const fw = this.pendingFwmark;
    this.pendingFwmark = new Map();
    for (const s of this.slots) {
      s.worker?.postMessage({
        t: 'apply', version: this.version, cmds, slots,
        fwmarkFds: [...fw].map(([mark, fds]) => [mark, fds[s.index]] as [number, number]),
      } satisfies ToWorker);
    }
    this.updateSteering();
  }

  /** Reply sources (NAT real servers, VIPs) and the shortest persistence netmask. */
  private updateSteering(): void {
    const d = this.director;
    if (!this.steering || !d) return;
    const addrs: number[] = [];
    let mask = 0xffffffff;
    for (const svc of d.services.services()) {
      if (svc.fwmark === 0) addrs.push(svc.addr);
      if (svc.persistent !== 0 && (svc.netmask >>> 0) < mask) mask = svc.netmask >>> 0;
      for (const dst of svc.dests) if (dst.fwd === FWD_MASQ) addrs.push(dst.addr);
    }
    try {
      this.steering.update(addrs, mask);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, 'queue steering update failed');
    }
  }

  /** The whole current configuration, as one batch for a worker that starts (again). */
  private snapshot(index: number): ToWorker {
    const d = this.director!;
    const cmds: Command[] = d.services.configCommands();
    const slots: Array<[string, number]> = [];
    for (const svc of d.services.services()) for (const dst of svc.dests) slots.push([destKey(svc, dst), SharedCounts.slotOf(dst.id)]);
    const p = d.pipeline;
    cmds.push({ op: 'set-timeout', tcp: p.tcpTimeouts[TCP_S_ESTABLISHED], tcpfin: p.tcpTimeouts[TCP_S_FIN_WAIT],
      udp: p.udpTimeouts[UDP_S_NORMAL] });
    for (const k of KNOB_NAMES) cmds.push({ op: 'set-sysctl', name: k, value: p.knobs[k] });
    const fwmarkFds: Array<[number, number]> = [...this.fwmarkQueues].map(([mark, qs]) => [mark, qs[index].fd]);
    return { t: 'apply', version: this.version, cmds, slots, fwmarkFds };
  }

  private spawn(s: Slot): void {
    const cfg: WorkerConfig = {
      index: s.index, workers: this.count, tunFd: this.queues[s.index].fd, batch: this.opts.batch,
      vnetHdr: this.opts.vnetHdr, offload: this.opts.offload, natDirect: this.opts.natDirect, maxConns: this.opts.maxConns,
      counts: this.counts.buffer, rtPriority: this.opts.rtPriority, pcap: this.opts.pcap, crashHook: this.opts.crashHook ?? false,
      pmtu: this.pmtu,
    };
    const w = new Worker(join(__dirname, 'worker.js'), { workerData: cfg });
    s.worker = w;
    // The configuration as it is now (with lvsd's --sysctl knobs); later batches follow in order.
    w.postMessage(this.snapshot(s.index));
    w.postMessage({ t: 'facts', facts: [...this.facts.values()] } satisfies ToWorker);
    if (this.syncOn) w.postMessage({ t: 'sync-feed', on: true } satisfies ToWorker);
    w.on('message', (m: FromWorker) => this.message(s, m));
    w.on('error', (err) => {
      s.lastError = err.message;
      this.opts.log.error({ worker: s.index, err: err.message }, 'packet worker failed');
    });
    w.on('exit', (code) => {
      if (s.worker !== w) return;
      s.worker = undefined;
      if (this.stopping) return;
      s.restarts++;
      this.opts.log.error({ worker: s.index, code, restarts: s.restarts, err: s.lastError },
        'packet worker exited; restarting with a fresh shard');
      s.lastError = '';
      const delay = Math.min(RESTART_DELAY_MAX_MS, RESTART_DELAY_MS * 2 ** Math.min(s.restarts - 1, 5));
      setTimeout(() => { if (!this.stopping) this.spawn(s); }, delay).unref();
    });
  }

  private message(s: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'ready':
        this.opts.log.info({ worker: m.index }, 'packet worker started');
        return;
      case 'reply':
      case 'conns': {
        const cb = this.waiting.get(m.id);
        if (cb) {
          this.waiting.delete(m.id);
          cb(m);
        }
        return;
      }
      case 'miss':
        this.onNextHopMiss?.(m.caddr);
        return;
      case 'mtu':
        this.onMtu?.(m.rip, m.mtu);
        return;
      case 'sync-out':
        if (performance.now() - this.syncTaken > SYNC_IDLE_MS) {
          this.syncOn = false;
          this.syncQueue.length = 0;
          this.broadcast({ t: 'sync-feed', on: false });
          return;
        }
        for (const c of m.conns) if (this.syncQueue.length < SYNC_QUEUE_MAX) this.syncQueue.push(c);
        return;
      case 'sync-applied':
        return;
      case 'pcap':
        this.opts.capture?.appendRecords(m.records);
        return;
    }
  }

  /** One request to worker s; undefined when it is not running or does not answer in time. */
  private ask<T extends FromWorker>(s: Slot, make: (id: number) => ToWorker): Promise<T | undefined> {
    const w = s.worker;
    if (!w) return Promise.resolve(undefined);
    const id = ++this.queryId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, QUERY_TIMEOUT_MS);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m as T);
      });
      w.postMessage(make(id));
    });
  }

  /** Sums the workers' service and real-server traffic counters into the director's. */
  async refreshStats(): Promise<void> {
    const d = this.director;
    if (!d) return;
    const replies = await Promise.all(this.slots.map((s) =>
      this.ask<Extract<FromWorker, { t: 'reply' }>>(s, (id) => ({ t: 'query', id, q: 'services' }))));
    const sums = new Map<string, CountersInfo>();
    const sum = (k: string, c: CountersInfo): void => {
      const cur = sums.get(k);
      if (cur) addCounters(cur, c);
      else sums.set(k, { ...c });
    };
    for (const r of replies) {
      for (const svc of r?.services ?? []) {
        const k = svcKeyOf(svc);
        sum(k, svc.stats);
        for (const dst of svc.dests) sum(`${k}/${dst.addr}/${dst.port}`, dst.stats);
      }
    }
    for (const svc of d.services.services()) {
      const k = `${svc.fwmark}/${protoName(svc.proto)}/${ipToString(svc.addr)}/${svc.port}`;
      setCounters(svc.stats, sums.get(k));
      for (const dst of svc.dests) setCounters(dst.stats, sums.get(`${k}/${ipToString(dst.addr)}/${dst.port}`));
    }
  }

  private async estimate(): Promise<void> {
    await this.refreshStats();
    this.director?.estimate();
  }

  /** Every connection entry of every worker, a chunk at a time. */
  async *connRows(): AsyncIterable<ConnInfo[]> {
    for (const s of this.slots) {
      let from = 0;
      while (from >= 0) {
        const r = await this.ask<Extract<FromWorker, { t: 'conns' }>>(s, (id) => ({ t: 'conns', id, from, max: CONN_CHUNK }));
        if (!r) break;
        if (r.rows.length > 0) yield r.rows;
        from = r.next;
      }
    }
  }

  /** lvsadm --status over all workers: sums, and per-worker counters (`workerN.*`). */
  async status(base: StatusInfo): Promise<StatusInfo> {
    const replies = await Promise.all(this.slots.map((s) =>
      this.ask<Extract<FromWorker, { t: 'reply' }>>(s, (id) => ({ t: 'query', id, q: 'status' }))));
    const out: StatusInfo = { ...base, conns: 0, drops: { ...base.drops }, counters: { ...base.counters } };
    for (const k of Object.keys(out.drops)) out.drops[k] = 0;
    // The workers' datapath counters replace the main thread's; those of the sync daemons
    // (sync_*) and of the VIP announcer (announce_*) are kept on the main thread only.
    for (const k of Object.keys(out.counters)) if (!MAIN_THREAD_COUNTERS.test(k)) out.counters[k] = 0;
    out.counters.workers = this.count;
    replies.forEach((r, i) => {
      const s = this.slots[i];
      out.counters[`worker${i}.restarts`] = s.restarts;
      out.counters[`worker${i}.running`] = r ? 1 : 0;
      if (!r?.status) return;
      const st = r.status;
      out.conns += st.conns;
      for (const [k, v] of Object.entries(st.drops)) out.drops[k] = (out.drops[k] ?? 0) + v;
      for (const [k, v] of Object.entries(st.counters)) out.counters[k] = (out.counters[k] ?? 0) + v;
      out.counters[`worker${i}.conns`] = st.conns;
      for (const k of ['rx_packets', 'rx_batches', 'in_packets', 'out_packets', 'conns_created']) out.counters[`worker${i}.${k}`] = st.counters[k] ?? 0;
    });
    return out;
  }

  /**
   * The control handler over the workers: merged queries, everything else by the director.
   * Listings stream (Director.control's contract): the connection rows of all workers, a
   * bounded slice at a time.
   */
  async handle(cmds: Command[]): Promise<Result | StreamReply> {
    const d = this.director!;
    if (cmds.length === 1) {
      const op = cmds[0].op;
      if (op === 'list-conns') return { kind: 'stream', of: 'conns', rows: this.connRows() };
      if (op === 'status') {
        const r = d.handle(cmds);
        return r.kind === 'status' ? { kind: 'status', status: await this.status(r.status) } : r;
      }
      if (op === 'list-services') await this.refreshStats();
    }
    return d.control(cmds);
  }

  /** Test-only (LVSD_TEST_CRASH_HOOK=1): makes worker `index` throw. */
  crash(index: number): boolean {
    const s = this.slots[index];
    if (!this.opts.crashHook || !s?.worker) return false;
    s.worker.postMessage({ t: 'crash' } satisfies ToWorker);
    return true;
  }

  // SyncFeed (src/ipvs/director.ts)
  take(): SyncConn[] {
    this.syncTaken = performance.now();
    if (!this.syncOn) {
      this.syncOn = true;
      this.broadcast({ t: 'sync-feed', on: true });
    }
    return this.syncQueue.splice(0, this.syncQueue.length);
  }

  insert(m: SyncConn): void {
    const mask = this.steering?.mask ?? 0xffffffff;
    const s = this.slots[steerQueue(m.caddr, mask, this.count)];
    s.worker?.postMessage({ t: 'sync-in', conns: [m] } satisfies ToWorker);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.all(this.slots.map((s) => {
      const w = s.worker;
      if (!w) return undefined;
      // The worker ends by itself once its device and sockets are closed; terminate() if not.
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => void w.terminate().then(() => resolve()), STOP_TIMEOUT_MS);
        w.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        w.postMessage({ t: 'stop' } satisfies ToWorker);
      });
    }));
    for (const q of this.queues.slice(1)) q.close();
    for (const mark of [...this.fwmarkQueues.keys()]) this.closeFwmark(mark);
    this.steering?.close();
  }
}

