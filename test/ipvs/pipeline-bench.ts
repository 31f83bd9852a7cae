/**
 * In-process pipeline benchmark (`npm run bench:pipeline`; not part of the test suite).
 *
 * Pre-built packets go through the production Pipeline (connection table, wlc scheduler,
 * NAT rewrite, the direct-routing and tunnel transmitters) with no TUN I/O: a MemoryDevice
 * whose read() restores the same read slots from a pre-built image each batch (one memcpy
 * of the slots) and whose write() only counts, and AF_PACKET sinks that only count. The
 * configuration is lvsd's default `--xmit packet`: NAT packets and tunnel frames leave
 * through the direct-routing transmitter towards known next hops.
 *
 * Scenarios, each in a fresh worker thread (node worker_threads) so that one scenario's
 * type feedback does not shape another's code:
 *  - nat-established: 64 established NAT connections, each batch 32 client packets (ACK
 *    with 64 bytes of data) and 32 replies from the real servers;
 *  - nat-new: SYNs to a NAT service, a new client port (and after 64,512 ports a new client
 *    address) in every packet; the table is sized for all of them (no growth, no rehash, no
 *    half-open cap);
 *  - dr, tunnel: client packets of 64 established connections to direct-routing and
 *    tunnel real servers.
 * Client addresses are 198.18.0.0/24, the VIP 198.18.100.1 and the real servers
 * 198.19.0.11/12: every address is 2^31 or above.
 *
 * Each scenario runs in 1 worker, then in 2 workers (each its own pipeline and packets),
 * started together by one message after their warm-up and measured over the same interval.
 * Per worker, by the clock and by the CPU time of its thread (/proc/thread-self/schedstat,
 * which a machine busy with other work does not inflate): ns per packet of the whole loop
 * and of the device's read() alone (the same reads without the pipeline, measured before),
 * the difference being the pipeline's JavaScript; minor GCs (PerformanceObserver 'gc'
 * entries) and new-space bytes during the measured loop, which starts after a full GC
 * (--expose-gc). Packets/s of 2 workers: both workers' packets over the interval from the
 * first start to the last end. The run checks that every packet was forwarded (no drop)
 * and prints the targets: 2 workers >= 1.8x one, an established NAT packet <= 250 ns and no
 * scavenge over 10M packets, a new connection <= 600 ns. Exits 1 when a packet was dropped
 * (the figures would mean nothing), not when a target is missed.
 *
 * `node --expose-gc dist/test/ipvs/pipeline-bench.js [--packets N] [--new N] [--json]`:
 * N packets per established scenario and worker (default 10,000,000), N new connections
 * per worker (default 1,000,000; lvsd's default --max-conns is 2^20). `--solo SCENARIO` runs one
 * scenario on the main thread (for --cpu-prof, --heap-prof, --trace-deopt).
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { PerformanceObserver, constants as perfConstants, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { SharedCounts, createCountsBuffer } from '../../src/datapath/shared-counts';
import { ConnTable } from '../../src/ipvs/conn';
import { createKnobs } from '../../src/ipvs/knobs';
import { Pipeline } from '../../src/ipvs/pipeline';
import { ServiceTable } from '../../src/ipvs/service';
import { ipFromString } from '../../src/ipvs/types';
import { MemoryDevice } from '../../src/phy/memory';
import type { FrameSink } from '../../src/phy/packet';
import { csumReplace16, csumReplace32 } from '../../src/wire/checksum';
import { RouteXmit } from '../../src/xmit/dr';
import { TunnelXmit } from '../../src/xmit/tunnel';
import { pkt } from '../support/builder';

export const SCENARIOS = ['nat-established', 'nat-new', 'dr', 'tunnel'] as const;
export type Scenario = (typeof SCENARIOS)[number];

const VIP = '198.18.100.1';
const RIPS = ['198.19.0.11', '198.19.0.12'];
const DIP = '198.19.0.1';
const FLOWS = 64;
/** --private-counts: real-server counts as plain fields (a Director without packet workers). */
const PRIVATE_COUNTS = process.argv.includes('--private-counts');
const BATCH = 64;
const FIRST_PORT = 1024;
const PORTS_PER_ADDR = 65536 - FIRST_PORT;
/** Simulated clock: 1 ms per batch, expiry every 1024 batches (the daemon: once a second). */
const EXPIRE_EVERY = 1024;

/** An AF_PACKET socket double that takes every frame and only counts. */
class CountingSink implements FrameSink {
  frames = 0;
  readonly mac = new Uint8Array([2, 0, 0, 0, 0, 1]);
  readonly vnetHdr = true;
  constructor(readonly name: string) {}
  send(_buf: Buffer, _offs: Int32Array, _lens: Int32Array, count: number): number {
    this.frames += count;
    return count;
  }
  close(): void {}
}

/**
 * The memory device in replay mode: after arm(), read() restores the read slots from the
 * image taken then (the packets as first read) and write() counts frames without copying.
 * With `newPorts`, every read gives each packet the next client address and port.
 */
class ReplayDevice extends MemoryDevice {
  private image: Buffer | null = null;
  private count = 0;
  writtenFrames = 0;
  newPorts = false;
  private next = 0;
  private base = 0;

  arm(n: number): void {
    this.count = n;
    this.image = Buffer.alloc(n * this.slotSize);
    this.buf.copy(this.image, 0, 0, n * this.slotSize);
    this.base = ((this.buf[this.headroom + this.vnetHdrLen + 12] << 24) |
      (this.buf[this.headroom + this.vnetHdrLen + 13] << 16) |
      (this.buf[this.headroom + this.vnetHdrLen + 14] << 8) | this.buf[this.headroom + this.vnetHdrLen + 15]);
  }

  override read(): number {
    const image = this.image;
    if (image === null) return super.read();
    this.buf.set(image, 0);
    if (this.newPorts) {
      for (let i = 0; i < this.count; i++) this.renumber(i * this.slotSize + this.headroom + this.vnetHdrLen);
    }
    return this.count;
  }

  /** Gives the packet at ip the next (client address, port), keeping both checksums right. */
  private renumber(ip: number): void {
    const buf = this.buf;
    const k = this.next++;
    const addr = (this.base + ((k / PORTS_PER_ADDR) | 0)) | 0;
    const port = FIRST_PORT + (k % PORTS_PER_ADDR);
    const l4 = ip + 20;
    const oldAddr = this.base;
    const oldPort = (buf[l4] << 8) | buf[l4 + 1];
    buf[ip + 12] = addr >>> 24;
    buf[ip + 13] = addr >>> 16;
    buf[ip + 14] = addr >>> 8;
    buf[ip + 15] = addr;
    buf[l4] = port >>> 8;
    buf[l4 + 1] = port;
    const ipc = csumReplace32((buf[ip + 10] << 8) | buf[ip + 11], oldAddr, addr);
    buf[ip + 10] = ipc >>> 8;
    buf[ip + 11] = ipc;
    let tc = (buf[l4 + 16] << 8) | buf[l4 + 17];
    tc = csumReplace16(csumReplace32(tc, oldAddr, addr), oldPort, port);
    buf[l4 + 16] = tc >>> 8;
    buf[l4 + 17] = tc;
  }

  override write(_offs: Int32Array, _lens: Int32Array, count: number): number {
    if (this.image === null) return super.write(_offs, _lens, count);
    this.writtenFrames += count;
    return count;
  }
}

interface Rig {
  dev: ReplayDevice;
  pipeline: Pipeline;
  sink: CountingSink;
  /** Clock of the next batch (ms). */
  now: number;
  /** Packets forwarded so far: device writes plus frames handed to the sink. */
  forwarded(): number;
}

function ip(s: string): number {
  return ipFromString(s);
}

function client(i: number): string {
  return `198.18.0.${1 + (i % 200)}`;
}

function clientPort(i: number): number {
  return 20000 + i;
}

/** Builds the pipeline of a scenario and brings its connections to ESTABLISHED. */
function rig(scenario: Scenario, newConns: number): Rig {
  const dev = new ReplayDevice({ batch: BATCH, scratchSlots: 16, maxPacket: 256 });
  const services = new ServiceTable();
  const sized = scenario === 'nat-new' ? newConns + 4 * FLOWS : 1 << 12;
  const conns = new ConnTable({ maxConns: sized, initialCapacity: sized, buckets: sized, seed: 0x5eed });
  const knobs = createKnobs();
  knobs.max_half_open = 0;
  const pipeline = new Pipeline(dev, services, conns, { knobs });
  const route = new RouteXmit();
  const sink = new CountingSink('eth0');
  route.addSink(sink);
  const fwd = scenario === 'dr' ? 'route' : scenario === 'tunnel' ? 'tunnel' : 'masq';
  services.addService({ proto: 'tcp', addr: VIP, port: 80, scheduler: 'wlc' });
  for (const r of RIPS) {
    services.addDest({ proto: 'tcp', addr: VIP, port: 80 }, { addr: r, port: 80, fwd, weight: 1 });
    route.setNeighbour(ip(r), 'eth0', new Uint8Array([2, 0, 0, 0, 1, ip(r) & 0xff]));
  }
  // The real-server counts of a packet worker: shared by all workers (src/datapath/shared-counts.ts).
  if (!PRIVATE_COUNTS) {
    const counts = new SharedCounts(createCountsBuffer());
    for (const svc of services.services()) for (const d of svc.dests) counts.install(d, SharedCounts.slotOf(d.id));
  }
  for (let i = 0; i < 200; i++) route.setNeighbour(ip(client(i)), 'eth0', new Uint8Array([2, 0, 0, 0, 2, i]));
  pipeline.route = route;
  pipeline.natDirect = true;
  const tunnel = new TunnelXmit();
  for (const r of RIPS) tunnel.setRoute(ip(r), ip(DIP));
  tunnel.direct = route;
  pipeline.tunnel = tunnel;

  const r: Rig = {
    dev, pipeline, sink, now: 1000,
    forwarded: () => dev.writtenFrames + sink.frames,
  };
  const step = (packets: Buffer[]): void => {
    for (const p of packets) dev.inject(p);
    while (dev.pending > 0) pipeline.processBatch(dev.read(), r.now);
    r.now++;
  };
  const data = Buffer.alloc(64, 0x61);
  if (scenario === 'nat-new') {
    const syn = pkt().ip({ src: client(0), dst: VIP, id: 1, df: true })
      .tcp({ sport: FIRST_PORT, dport: 80, flags: 'S', seq: 1 }).build();
    for (let i = 0; i < BATCH; i++) dev.inject(syn);
    dev.read();
    dev.arm(BATCH);
    dev.newPorts = true;
    return r;
  }
  // Handshakes: SYN, (NAT) SYN-ACK from the real server, ACK.
  const rsOf: string[] = [];
  step(Array.from({ length: FLOWS }, (_, i) => pkt().ip({ src: client(i), dst: VIP, id: i, df: true })
    .tcp({ sport: clientPort(i), dport: 80, flags: 'S', seq: 1000 }).build()));
  for (let i = 0; i < FLOWS; i++) {
    const id = conns.lookupIn(6, ip(client(i)), clientPort(i), ip(VIP), 80);
    if (id < 0) throw new Error(`no entry for flow ${i}`);
    rsOf.push(RIPS.find((a) => ip(a) === conns.daddr(id) >>> 0) as string);
  }
  if (fwd === 'masq') {
    step(Array.from({ length: FLOWS }, (_, i) => pkt().ip({ src: rsOf[i], dst: client(i), id: i, df: true })
      .tcp({ sport: 80, dport: clientPort(i), flags: 'SA', seq: 5000, ack: 1001 }).build()));
  }
  step(Array.from({ length: FLOWS }, (_, i) => pkt().ip({ src: client(i), dst: VIP, id: i, df: true })
    .tcp({ sport: clientPort(i), dport: 80, flags: 'A', seq: 1001, ack: 5001 }).build()));
  const batch: Buffer[] = [];
  for (let i = 0; i < BATCH; i++) {
    const f = i % FLOWS;
    if (fwd === 'masq' && (i & 1) === 1) {
      batch.push(pkt().ip({ src: rsOf[f], dst: client(f), id: i, df: true })
        .tcp({ sport: 80, dport: clientPort(f), flags: 'A', seq: 5001, ack: 1065 }).payload(data).build());
    } else {
      batch.push(pkt().ip({ src: client(f), dst: VIP, id: i, df: true })
        .tcp({ sport: clientPort(f), dport: 80, flags: 'PA', seq: 1001, ack: 5001 }).payload(data).build());
    }
  }
  for (const p of batch) dev.inject(p);
  dev.read();
  dev.arm(BATCH);
  return r;
}

/** The measured loop: `batches` reads, each processed unless `readOnly`. */
function loop(r: Rig, batches: number, readOnly: boolean): void {
  const dev = r.dev;
  const p = r.pipeline;
  let now = r.now;
  for (let b = 0; b < batches; b++) {
    const n = dev.read();
    if (!readOnly) {
      p.processBatch(n, now);
      now++;
      if ((b & (EXPIRE_EVERY - 1)) === 0) p.expire(now);
    }
  }
  r.now = now;
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) g();
}

/** CPU time of the calling thread in ns (schedstat: time on a CPU), or NaN off Linux. */
function threadCpuNs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

function newSpaceUsed(): number {
  const s = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
  return s === undefined ? 0 : s.space_used_size;
}

export interface WorkerResult {
  scenario: Scenario;
  packets: number;
  /** performance.timeOrigin + now(), ms: the common clock of all workers. */
  start: number;
  end: number;
  nsPerPacket: number;
  /** CPU time of the worker thread per packet: what the pipeline costs on a busy machine. */
  cpuNsPerPacket: number;
  readNsPerPacket: number;
  readCpuNsPerPacket: number;
  scavenges: number;
  majorGcs: number;
  /** New-space growth during the loop (bytes); meaningful only without scavenges. */
  newSpaceBytes: number;
  drops: number;
  forwarded: number;
  connsCreated: number;
}

interface WorkerParams {
  scenario: Scenario;
  packets: number;
  newConns: number;
}

/** Builds and warms one scenario's rig; the returned function measures and calls done. */
function prepare(params: WorkerParams): (done: (r: WorkerResult) => void) => void {
  const { scenario, packets, newConns } = params;
  const warmNew = Math.min(1 << 16, Math.floor(newConns / 8));
  const r = rig(scenario, newConns + warmNew);
  const batches = Math.ceil(packets / BATCH);
  // Warm-up (optimisation), then the device's read cost alone on the warm device.
  const warm = scenario === 'nat-new' ? warmNew / BATCH : Math.min(batches, 20_000);
  loop(r, warm, false);
  const readBatches = Math.min(batches, 20_000);
  const c0 = threadCpuNs();
  const t0 = performance.now();
  loop(r, readBatches, true);
  const readNs = ((performance.now() - t0) * 1e6) / (readBatches * BATCH);
  const readCpuNs = (threadCpuNs() - c0) / (readBatches * BATCH);
  const p = r.pipeline;
  return (done) => {
    const created0 = p.counters[3];
    const fwd0 = r.forwarded();
    gc();
    let scavenges = 0;
    let majors = 0;
    let t2 = 0;
    const t1 = performance.now();
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
        if (e.startTime < t1 || e.startTime > t2) continue;
        if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
        else majors++;
      }
    });
    obs.observe({ entryTypes: ['gc'] });
    const ns0 = newSpaceUsed();
    const cpu0 = threadCpuNs();
    const start = performance.timeOrigin + performance.now();
    const s1 = performance.now();
    loop(r, batches, false);
    t2 = performance.now();
    const cpu1 = threadCpuNs();
    const end = performance.timeOrigin + t2;
    const ns1 = newSpaceUsed();
    setTimeout(() => {
      obs.disconnect();
      let drops = 0;
      for (let i = 1; i < p.drops.length; i++) drops += p.drops[i];
      done({
        scenario, packets: batches * BATCH, start, end,
        nsPerPacket: ((t2 - s1) * 1e6) / (batches * BATCH),
        cpuNsPerPacket: (cpu1 - cpu0) / (batches * BATCH),
        readNsPerPacket: readNs,
        readCpuNsPerPacket: readCpuNs,
        scavenges, majorGcs: majors, newSpaceBytes: ns1 - ns0,
        drops, forwarded: r.forwarded() - fwd0, connsCreated: p.counters[3] - created0,
      });
    }, 50);
  };
}

function worker(): void {
  const port = parentPort;
  if (port === null) throw new Error('not a worker');
  const run = prepare(workerData as WorkerParams);
  port.once('message', () => run((res) => port.postMessage(res)));
  port.postMessage('ready');
}

/** Runs `workers` workers of one scenario, started together; resolves with their results. */
function runWorkers(scenario: Scenario, workers: number, packets: number, newConns: number): Promise<WorkerResult[]> {
  return new Promise((resolve, reject) => {
    const ws: Worker[] = [];
    const results: WorkerResult[] = [];
    let ready = 0;
    for (let k = 0; k < workers; k++) {
      const w = new Worker(__filename, {
        workerData: { scenario, packets, newConns } satisfies WorkerParams,
      });
      ws.push(w);
      w.on('error', reject);
      w.on('message', (m: 'ready' | WorkerResult) => {
        if (m === 'ready') {
          if (++ready === workers) for (const x of ws) x.postMessage('go');
          return;
        }
        results.push(m);
        void w.terminate();
        if (results.length === workers) resolve(results);
      });
    }
  });
}

export interface Row {
  scenario: Scenario;
  workers: number;
  /** Mean over workers of each one's ns per packet (whole loop). */
  nsPerPacket: number;
  /** The same minus the device read() cost measured alone: the pipeline's JavaScript. */
  pipelineNsPerPacket: number;
  /** Mean over workers of each thread's CPU time per packet (whole loop). */
  cpuNsPerPacket: number;
  /** The same minus the device read() CPU cost: the pipeline's JavaScript on its thread. */
  pipelineCpuNsPerPacket: number;
  /** All workers' packets over the common interval (first start to last end). */
  packetsPerSec: number;
  scavenges: number;
  bytesPerPacket: number | null;
  drops: number;
  packets: number;
}

function row(scenario: Scenario, workers: number, rs: WorkerResult[]): Row {
  const start = Math.min(...rs.map((r) => r.start));
  const end = Math.max(...rs.map((r) => r.end));
  const packets = rs.reduce((a, r) => a + r.packets, 0);
  const ns = rs.reduce((a, r) => a + r.nsPerPacket, 0) / rs.length;
  const readNs = rs.reduce((a, r) => a + r.readNsPerPacket, 0) / rs.length;
  const scav = rs.reduce((a, r) => a + r.scavenges, 0);
  const lost = rs.reduce((a, r) => a + r.drops + (r.packets - r.forwarded), 0);
  return {
    scenario, workers, nsPerPacket: ns, pipelineNsPerPacket: ns - readNs,
    cpuNsPerPacket: rs.reduce((a, r) => a + r.cpuNsPerPacket, 0) / rs.length,
    pipelineCpuNsPerPacket: rs.reduce((a, r) => a + r.cpuNsPerPacket - r.readCpuNsPerPacket, 0) / rs.length,
    packetsPerSec: packets / ((end - start) / 1000),
    scavenges: scav,
    bytesPerPacket: scav === 0 ? rs.reduce((a, r) => a + r.newSpaceBytes, 0) / packets : null,
    drops: lost, packets,
  };
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < BATCH) throw new Error(`${name} needs an integer >= ${BATCH}`);
  return v;
}

export async function main(): Promise<void> {
  const packets = arg('--packets', 10_000_000);
  const newConns = arg('--new', 1_000_000);
  const solo = process.argv.indexOf('--solo');
  if (solo >= 0) {
    // One scenario on the main thread, for --cpu-prof, --heap-prof, --trace-deopt.
    const scenario = process.argv[solo + 1] as Scenario;
    if (!SCENARIOS.includes(scenario)) throw new Error(`--solo needs one of ${SCENARIOS.join(', ')}`);
    prepare({ scenario, packets: scenario === 'nat-new' ? newConns : packets, newConns })((r) => console.log(r));
    return;
  }
  const startedAt = new Date().toISOString();
  const loadStart = loadavg()[0];
  const rows: Row[] = [];
  for (const s of SCENARIOS) {
    const n = s === 'nat-new' ? newConns : packets;
    for (const w of [1, 2]) rows.push(row(s, w, await runWorkers(s, w, n, newConns)));
  }
  const load1 = loadavg()[0];
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ startedAt, node: process.version, cpu: cpus()[0]?.model, cpus: cpus().length,
      loadAvgStart: loadStart, loadAvgEnd: load1, rows }, null, 2));
  } else {
    console.log(`${startedAt}, node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ` +
      `load average ${loadStart.toFixed(2)} at start, ${load1.toFixed(2)} at end`);
    console.log('');
    console.log('| scenario | workers | ns/packet | pipeline ns/packet | CPU ns/packet | pipeline CPU ns/packet | packets/s | scavenges | bytes/packet | packets |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
      console.log(`| ${r.scenario} | ${r.workers} | ${r.nsPerPacket.toFixed(0)} | ${r.pipelineNsPerPacket.toFixed(0)} | ` +
        `${r.cpuNsPerPacket.toFixed(0)} | ${r.pipelineCpuNsPerPacket.toFixed(0)} | ` +
        `${(r.packetsPerSec / 1e6).toFixed(2)}M | ${r.scavenges} | ` +
        `${r.bytesPerPacket === null ? 'n/a' : r.bytesPerPacket.toFixed(2)} | ${r.packets} |`);
    }
  }
  console.log('');
  const get = (s: Scenario, w: number): Row => rows.find((r) => r.scenario === s && r.workers === w) as Row;
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  for (const s of SCENARIOS) {
    const one = get(s, 1);
    const two = get(s, 2);
    const ratio = two.packetsPerSec / one.packetsPerSec;
    // What two threads would give on two free cores: each thread's cost per packet alone vs together.
    const cpuRatio = (2 * one.cpuNsPerPacket) / two.cpuNsPerPacket;
    console.log(`target: ${s} 2 workers ${ratio.toFixed(2)}x one (>= 1.8x): ${verdict(ratio >= 1.8)}; ` +
      `by CPU time per packet ${cpuRatio.toFixed(2)}x`);
  }
  const est = get('nat-established', 1);
  console.log(`target: nat-established ${est.pipelineNsPerPacket.toFixed(0)} ns/packet of pipeline, ` +
    `${est.pipelineCpuNsPerPacket.toFixed(0)} ns of its thread's CPU (<= 250 ns): ` +
    `${verdict(est.pipelineNsPerPacket <= 250)} by the clock, ${verdict(est.pipelineCpuNsPerPacket <= 250)} by CPU time`);
  for (const s of ['nat-established', 'dr', 'tunnel'] as const) {
    const r = get(s, 1);
    console.log(`target: ${s} scavenges over ${r.packets} packets: ${r.scavenges} (0): ${verdict(r.scavenges === 0)}`);
  }
  const nc = get('nat-new', 1);
  console.log(`target: nat-new ${nc.pipelineNsPerPacket.toFixed(0)} ns/connection of pipeline, ` +
    `${nc.pipelineCpuNsPerPacket.toFixed(0)} ns of its thread's CPU (<= 600 ns): ` +
    `${verdict(nc.pipelineNsPerPacket <= 600)} by the clock, ${verdict(nc.pipelineCpuNsPerPacket <= 600)} by CPU time`);
  const lost = rows.filter((r) => r.drops !== 0);
  for (const r of lost) console.log(`error: ${r.scenario} x${r.workers}: ${r.drops} packets dropped or not forwarded`);
  if (lost.length > 0) process.exitCode = 1;
}

if (!isMainThread) worker();
else if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
