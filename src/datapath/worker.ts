/**
 * A packet worker (worker_threads entry): one queue of the multi-queue TUN device, its own
 * connection-table shard, pipeline and transmitters (AF_PACKET sinks of its own), and a replica
 * of the service table that changes only by whole command batches from the main thread
 * (src/datapath/protocol.ts), applied between two packet batches: no packet sees half of an
 * `lvsadm -R`. Real-server connection counts are the shared ones (src/datapath/shared-counts.ts).
 *
 * Nothing here blocks: facts (routes, neighbours) arrive as messages; created and changed
 * connections leave for the sync sender in batches.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Director } from '../ipvs/director';
import type { Dest } from '../ipvs/types';
import type { Service } from '../ipvs/service';
import { TunDevice } from '../phy/tun';
import type { Device } from '../phy/device';
import { type FrameSink, PacketSocket } from '../phy/packet';
import { PcapDevice, PcapFrameSink, PcapWriter } from '../phy/pcap';
import { setRealtimePriority } from '../phy/sched';
import { RouteXmit } from '../xmit/dr';
import { TunnelXmit } from '../xmit/tunnel';
import { SharedCounts } from './shared-counts';
import { type FromWorker, type ToWorker, type WorkerConfig, destKey } from './protocol';
import { SyncFeed, insertSynced } from './sync-feed';

const cfg = workerData as WorkerConfig;
const port = parentPort;
if (port === null) throw new Error('src/datapath/worker.ts runs as a worker thread');
const post = (m: FromWorker): void => port.postMessage(m);

if (cfg.rtPriority !== 0) setRealtimePriority(cfg.rtPriority);

const counts = new SharedCounts(cfg.counts);
/** Slots of the real servers the batch being applied adds, and fwmark queue fds. */
let pendingSlots = new Map<string, number>();
let pendingFwmarkFds = new Map<number, number>();
const pcap = cfg.pcap
  ? new PcapWriter(cfg.pcap.path, cfg.pcap.maxBytes, 65535, { forward: (records) => post({ t: 'pcap', records }) })
  : undefined;

function adoptQueue(fd: number): Device {
  const dev = TunDevice.adopt(fd, { batch: cfg.batch, scratchSlots: cfg.batch + 16, vnetHdr: cfg.vnetHdr, offload: cfg.offload });
  return pcap ? new PcapDevice(dev, pcap) : dev;
}

const director: Director = new Director(adoptQueue(cfg.tunFd), {
  maxConns: cfg.maxConns,
  seed: 0x5eed + cfg.index,
  hooks: {
    serviceAdded: (svc: Service) => {
      if (svc.fwmark === 0) return;
      const fd = pendingFwmarkFds.get(svc.fwmark);
      if (fd === undefined) return;
      director.fwmarks.attach(svc.fwmark, adoptQueue(fd));
    },
    serviceRemoved: (svc: Service) => {
      if (svc.fwmark !== 0) director.fwmarks.detach(svc.fwmark);
    },
    destAdded: (svc: Service, d: Dest) => {
      const slot = pendingSlots.get(destKey(svc, d));
      if (slot !== undefined) counts.install(d, slot);
    },
  },
});

// Transmitters, built here; their facts come from the main thread.
const tunnel = new TunnelXmit(cfg.pmtu);
const route = new RouteXmit();
if (cfg.natDirect) tunnel.direct = route;
const pipeline = director.pipeline;
pipeline.tunnel = tunnel;
pipeline.route = route;
pipeline.natDirect = cfg.natDirect;
pipeline.onNextHopMiss = (caddr) => post({ t: 'miss', caddr });
pipeline.onMtu = (rip, mtu) => post({ t: 'mtu', rip, mtu });
director.fwmarks.syncSettings();

function sinkFor(dev: string): boolean {
  if (route.sink(dev)) return true;
  try {
    const s: FrameSink = PacketSocket.open(dev, cfg.offload);
    route.addSink(pcap ? new PcapFrameSink(s, pcap) : s);
    return true;
  } catch {
    return false;
  }
}

/** This worker's share of max_half_open (0: no cap). */
function shareHalfOpen(): void {
  const total = pipeline.knobs.max_half_open;
  pipeline.halfOpen.setBudget(total === 0 ? 0 : Math.ceil(total / cfg.workers));
}

const feed = new SyncFeed(director, (conns) => post({ t: 'sync-out', conns }));
let version = 0;

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'apply':
      pendingSlots = new Map(m.slots);
      pendingFwmarkFds = new Map(m.fwmarkFds);
      director.handle(m.cmds, true);
      // max_half_open bounds all workers together: each holds its share (the steering hash
      // spreads a flood of spoofed sources evenly).
      if (m.cmds.some((c) => c.op === 'set-sysctl' && c.name === 'max_half_open')) shareHalfOpen();
      director.fwmarks.syncSettings();
      version = m.version;
      return;
    case 'facts':
      for (const f of m.facts) {
        if (f.op === 'neigh') {
          if (sinkFor(f.dev)) route.setNeighbour(f.rip, f.dev, Uint8Array.from(f.mac));
        } else if (f.op === 'neigh-del') {
          route.deleteNeighbour(f.rip);
        } else if (f.op === 'tunnel-route') {
          tunnel.setRoute(f.rip, f.src, f.mtu);
        } else {
          tunnel.deleteRoute(f.rip);
        }
      }
      return;
    case 'query': {
      const r = director.handle([{ op: m.q === 'status' ? 'status' : 'list-services' }]);
      if (r.kind === 'status') post({ t: 'reply', id: m.id, status: r.status });
      else if (r.kind === 'services') post({ t: 'reply', id: m.id, services: r.services });
      return;
    }
    case 'conns': {
      // One bounded slice of the table per request: the listing streams, nothing scans it whole.
      const c = director.conns;
      const now = director.now();
      const rows = [];
      let id = Math.max(0, m.from);
      const end = Math.min(c.capacity, id + m.max * 4);
      for (; id < end && rows.length < m.max; id++) if (c.has(id)) rows.push(director.connRow(id, now));
      post({ t: 'conns', id: m.id, rows, next: id >= c.capacity ? -1 : id });
      return;
    }
    case 'sync-feed':
      feed.enable(m.on);
      return;
    case 'sync-in': {
      let applied = 0;
      const now = director.now();
      for (const s of m.conns) if (insertSynced(director, s, now)) applied++;
      post({ t: 'sync-applied', applied, failed: m.conns.length - applied });
      return;
    }
    case 'stop':
      director.stop();
      route.close();
      pcap?.close();
      port.close();
      return;
    case 'crash':
      // Test-only hook (LVSD_TEST_CRASH_HOOK=1): an exception outside any handler ends this thread.
      if (cfg.crashHook) setImmediate(() => { throw new Error(`worker ${cfg.index}: crash requested by the test hook`); });
      return;
  }
});

shareHalfOpen();
director.start();
post({ t: 'ready', index: cfg.index, version });
