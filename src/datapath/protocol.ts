/**
 * Messages between the main thread (control plane, src/datapath/workers.ts) and the packet
 * workers (src/datapath/worker.ts). Everything is plain data (structured clone).
 */
import type { Command, ConnInfo, StatusInfo, ServiceInfo } from '../ipvs/command';
import type { SyncConn } from '../wire/ipvs-sync';

/** What a worker is started with (workerData). */
export interface WorkerConfig {
  index: number;
  workers: number;
  /** The main thread's fd of this worker's TUN queue; the worker adopts a duplicate. */
  tunFd: number;
  batch: number;
  vnetHdr: boolean;
  offload: boolean;
  /** --xmit packet: NAT and tunnel frames leave through AF_PACKET sockets. */
  natDirect: boolean;
  maxConns: number;
  /** Shared real-server counts (src/datapath/shared-counts.ts). */
  counts: SharedArrayBuffer;
  /** --rt-priority (0: ordinary scheduling). */
  rtPriority: number;
  /** --pcap: workers capture into chunks of whole records and post them (`pcap` message) to
   * the main thread's writer, which owns the output, its rotation and its limits. */
  pcap?: { path: string; maxBytes: number };
  /** The test-only crash hook (LVSD_TEST_CRASH_HOOK=1) is enabled. */
  crashHook: boolean;
  /** The kernel's path-MTU policy, read once by the main thread at start (src/xmit/tunnel.ts). */
  pmtu: { minPmtu: number; expiresMs: number };
}

/** Kernel facts the transmitters need, pushed by the main thread when they change. */
export type Fact =
  | { op: 'neigh'; rip: number; dev: string; mac: number[] }
  | { op: 'neigh-del'; rip: number }
  | { op: 'tunnel-route'; rip: number; src: number; mtu: number }
  | { op: 'tunnel-route-del'; rip: number };

/** Key of a real server inside its service, the same in every replica of the table. */
export type DestKey = string;

export type ToWorker =
  /**
   * One configuration change, applied whole between two packet batches: the command batch the
   * main thread applied (version numbers are consecutive), the shared-count slots of real
   * servers it added, and this worker's queue fds of firewall-mark devices it created.
   */
  | { t: 'apply'; version: number; cmds: Command[]; slots: Array<[DestKey, number]>; fwmarkFds: Array<[number, number]> }
  | { t: 'facts'; facts: Fact[] }
  | { t: 'query'; id: number; q: 'status' | 'services' }
  | { t: 'conns'; id: number; from: number; max: number }
  | { t: 'sync-feed'; on: boolean }
  | { t: 'sync-in'; conns: SyncConn[] }
  | { t: 'crash' }
  /** Stop reading, flush the capture, end the thread. */
  | { t: 'stop' };

export type FromWorker =
  | { t: 'ready'; index: number; version: number }
  | { t: 'reply'; id: number; status?: StatusInfo; services?: ServiceInfo[] }
  | { t: 'conns'; id: number; rows: ConnInfo[]; next: number }
  | { t: 'miss'; caddr: number }
  | { t: 'mtu'; rip: number; mtu: number }
  | { t: 'sync-out'; conns: SyncConn[] }
  | { t: 'sync-applied'; applied: number; failed: number }
  | { t: 'pcap'; records: Uint8Array };

export function destKey(svc: { proto: number; addr: number; port: number; fwmark: number }, d: { addr: number; port: number }): DestKey {
  return `${svc.fwmark}/${svc.proto}/${svc.addr}/${svc.port}/${d.addr}/${d.port}`;
}
