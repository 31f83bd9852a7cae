/**
 * Shared model of the service table: what schedulers, the connection table, the
 * control plane and the packet pipeline agree on.
 *
 * Addresses are IPv4 as unsigned 32-bit integers in host order (1.2.3.4 = 0x01020304).
 */

import * as P from '../wire/proto';

// IP protocol numbers (src/wire/proto.ts) for the layers above the wire, as plain constants:
// a re-export compiles to a getter that the packet path would call on every comparison.
export const IPPROTO_ICMP = P.IPPROTO_ICMP;
export const IPPROTO_IPIP = P.IPPROTO_IPIP;
export const IPPROTO_TCP = P.IPPROTO_TCP;
export const IPPROTO_UDP = P.IPPROTO_UDP;
/** The protocols of the virtual services we balance. */
export type ServiceProto = typeof IPPROTO_TCP | typeof IPPROTO_UDP;

/** Forwarding methods, numbered as IP_VS_CONN_F_{MASQ,LOCALNODE,TUNNEL,DROUTE}. */
export const FWD_MASQ = 0;
export const FWD_LOCAL = 1;
export const FWD_TUNNEL = 2;
export const FWD_ROUTE = 3;
export type FwdMethod = typeof FWD_MASQ | typeof FWD_LOCAL | typeof FWD_TUNNEL | typeof FWD_ROUTE;

/** Traffic counters, as struct ip_vs_kstats. Bytes fit a double exactly up to 2^53. */
export interface Counters {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

/** Smoothed rates as struct ip_vs_stats_user's rate fields (per second). */
export interface Rates {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export function zeroCounters(): Counters {
  return { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
}

export function zeroRates(): Rates {
  return { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
}

/** A real server of one virtual service (struct ip_vs_dest). */
export interface Dest {
  /** Dense id, unique among live and dying dests of the daemon; the conn table stores it. */
  readonly id: number;
  readonly addr: number;
  readonly port: number;
  fwd: FwdMethod;
  /** 0..65535; 0 = quiescent (no new connections). */
  weight: number;
  /** -x: 0 = unset. */
  upperThreshold: number;
  /** -y: 0 = unset. */
  lowerThreshold: number;
  /** TCP ESTABLISHED connections. */
  activeConns: number;
  /** Every other connection entry (other TCP states, UDP). */
  inactiveConns: number;
  /** Persistence templates pointing here. */
  persistConns: number;
  /**
   * Where the three counts above live: [active, inactive, persist] (CNT_*). A Dest of its own
   * has a private array; under packet workers it is a view of the shared counts
   * (src/datapath/shared-counts.ts), replaced with useCounts().
   */
  readonly counts: Int32Array;
  /** Moves the counts to `view` (three int32 from CNT_ACTIVE), e.g. a slot shared by threads. */
  useCounts(view: Int32Array): void;
  /** IP_VS_DEST_F_OVERLOAD, maintained from the thresholds. */
  overloaded: boolean;
  /** IP_VS_DEST_F_AVAILABLE: false once deleted from its service (entries may still point here). */
  available: boolean;
  readonly stats: Counters;
  readonly rates: Rates;
}

/** What a scheduler sees of the packet that opens a connection. */
export interface SchedPacket {
  saddr: number;
  sport: number;
  daddr: number;
  dport: number;
}

/** What a scheduler sees of its virtual service. */
export interface SchedService {
  /** Real servers in the order they were added. */
  readonly dests: readonly Dest[];
}

/**
 * A scheduling algorithm instance, one per virtual service (it may keep state, e.g. the
 * round-robin cursor). Mirrors struct ip_vs_scheduler.
 */
export interface Scheduler {
  /** The ipvsadm -s name, e.g. "wlc". */
  readonly name: string;
  /** Picks a server for a new connection, or null when no server is usable. */
  schedule(svc: SchedService, pkt: SchedPacket): Dest | null;
  /** Called after a dest was added, edited or removed from svc.dests. */
  update?(svc: SchedService): void;
}

/** Overhead of a server as IPVS defines it: active·256 + inactive (ip_vs_dest_conn_overhead). */
export function destOverhead(d: Dest): number {
  return d.activeConns * 256 + d.inactiveConns;
}

/** A server may receive new connections: weight > 0 and not overloaded. */
export function destUsable(d: Dest): boolean {
  return d.weight > 0 && !d.overloaded;
}

export function ipToString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Parses a dotted quad; returns -1 when it is not one. */
export function ipFromString(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return -1;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return -1;
    v = v * 256 + o;
  }
  return v >>> 0;
}

/** Indexes of Dest.counts. */
export const CNT_ACTIVE = 0;
export const CNT_INACTIVE = 1;
export const CNT_PERSIST = 2;

/**
 * The Dest of the service table. The connection counts are accessors on the prototype (one
 * hidden class for every real server, so the packet path's property loads stay monomorphic)
 * over `counts`: a read is an Atomics.load; a write adds the difference to the value this
 * object last read or wrote, so `dest.activeConns++` is an atomic increment that keeps what
 * other threads added in between (each thread has its own Dest objects over the shared view).
 */
class DestRecord implements Dest {
  upperThreshold = 0;
  lowerThreshold = 0;
  overloaded = false;
  available = true;
  readonly stats: Counters = zeroCounters();
  readonly rates: Rates = zeroRates();
  counts: Int32Array = new Int32Array(3);
  private lastActive = 0;
  private lastInactive = 0;
  private lastPersist = 0;

  constructor(readonly id: number, readonly addr: number, readonly port: number, public weight: number, public fwd: FwdMethod) {}

  get activeConns(): number { return (this.lastActive = Atomics.load(this.counts, CNT_ACTIVE)); }
  set activeConns(v: number) { Atomics.add(this.counts, CNT_ACTIVE, v - this.lastActive); this.lastActive = v; }
  get inactiveConns(): number { return (this.lastInactive = Atomics.load(this.counts, CNT_INACTIVE)); }
  set inactiveConns(v: number) { Atomics.add(this.counts, CNT_INACTIVE, v - this.lastInactive); this.lastInactive = v; }
  get persistConns(): number { return (this.lastPersist = Atomics.load(this.counts, CNT_PERSIST)); }
  set persistConns(v: number) { Atomics.add(this.counts, CNT_PERSIST, v - this.lastPersist); this.lastPersist = v; }

  useCounts(view: Int32Array): void {
    if (view.length < 3) throw new RangeError('a Dest needs three counts');
    this.counts = view;
    this.lastActive = Atomics.load(view, CNT_ACTIVE);
    this.lastInactive = Atomics.load(view, CNT_INACTIVE);
    this.lastPersist = Atomics.load(view, CNT_PERSIST);
  }
}

/** Builds a Dest record with zeroed counters (used by the service table and by tests). */
export function makeDest(id: number, addr: number, port: number, weight = 1, fwd: FwdMethod = FWD_MASQ): Dest {
  return new DestRecord(id, addr, port, weight, fwd);
}
