/**
 * Shared model of the service table: what schedulers, the connection table, the
 * control plane and the packet pipeline agree on.
 *
 * Addresses are IPv4 as unsigned 32-bit integers in host order (1.2.3.4 = 0x01020304).
 */

import { IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP } from '../wire/proto';

/** IP protocol numbers (src/wire/proto.ts) for the layers above the wire. */
export { IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP };
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

/** Builds a Dest record with zeroed counters (used by the service table and by tests). */
export function makeDest(id: number, addr: number, port: number, weight = 1, fwd: FwdMethod = FWD_MASQ): Dest {
  return {
    id, addr, port, fwd, weight,
    upperThreshold: 0, lowerThreshold: 0,
    activeConns: 0, inactiveConns: 0, persistConns: 0,
    overloaded: false, available: true,
    stats: zeroCounters(), rates: zeroRates(),
  };
}
