/**
 * IPVS UDP "state": UDP has no connection state, so an entry has the single state
 * NORMAL, shown as "UDP", and every datagram re-arms its timeout.
 *
 * Source: Linux net/netfilter/ipvs/ip_vs_proto_udp.c (udp_timeouts,
 * udp_state_name_table, udp_state_name, udp_state_transition).
 */

import type { ConnTable } from '../conn';

/** IP_VS_UDP_S_NORMAL. */
export const UDP_S_NORMAL = 0;
/** Number of states (IP_VS_UDP_S_LAST). */
export const UDP_S_LAST = 1;

export const UDP_STATE_NAMES: readonly string[] = Object.freeze(['UDP']);

/** udp_state_name(): "ERR!" for an out-of-range state. */
export function udpStateName(state: number): string {
  return state >= 0 && state < UDP_S_LAST ? UDP_STATE_NAMES[state] : 'ERR!';
}

/** udp_timeouts in seconds: 5 minutes. */
export const UDP_DEFAULT_TIMEOUTS: readonly number[] = Object.freeze([5 * 60]);

/** A daemon's UDP timeout table in seconds, indexed by state; mutable by `--set`. */
export type UdpTimeouts = Uint32Array;

export function createUdpTimeouts(): UdpTimeouts {
  return Uint32Array.from(UDP_DEFAULT_TIMEOUTS);
}

/**
 * `--set tcp tcpfin udp` for UDP: a positive value replaces the timeout, 0 leaves it.
 * Throws RangeError for a negative or non-integer value.
 */
export function setUdpTimeout(t: UdpTimeouts, udpSec: number): void {
  if (!Number.isInteger(udpSec) || udpSec < 0 || udpSec > 0xffffffff) {
    throw new RangeError(`timeout must be a non-negative integer number of seconds, got ${udpSec}`);
  }
  if (udpSec > 0) t[UDP_S_NORMAL] = udpSec;
}

/** udp_state_transition(): a datagram in either direction re-arms the entry's timeout. */
export function udpSetState(conns: ConnTable, id: number, timeouts: UdpTimeouts, now: number): void {
  conns.touch(id, timeouts[UDP_S_NORMAL], now);
}
