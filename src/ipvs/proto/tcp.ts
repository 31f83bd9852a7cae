/**
 * IPVS TCP connection states: a table-driven state machine, the state names shown by
 * `lvsadm -L -c`, and the per-state timeouts.
 *
 * Source: Linux net/netfilter/ipvs/ip_vs_proto_tcp.c (tcp_states, tcp_states_dos,
 * tcp_state_idx, set_tcp_state, tcp_timeouts, tcp_state_name_table) and
 * include/uapi/linux/ip_vs.h (IP_VS_TCP_S_*). The transition tables are those of the
 * kernel since the sloppy_tcp change, where an ACK in state NONE on input (and input-only)
 * leads to ESTABLISHED; older kernels went to CLOSE.
 *
 * IPVS does not follow either endpoint's TCP state exactly; it tracks the connection as
 * a middlebox sees it, only to choose a timeout and to count active (ESTABLISHED) versus
 * inactive connections per real server.
 */

import { ConnTable, F_INACTIVE, F_NOOUTPUT } from '../conn';

/** IP_VS_TCP_S_*, numbered as in include/uapi/linux/ip_vs.h. */
export const TCP_S_NONE = 0;
export const TCP_S_ESTABLISHED = 1;
export const TCP_S_SYN_SENT = 2;
export const TCP_S_SYN_RECV = 3;
export const TCP_S_FIN_WAIT = 4;
export const TCP_S_TIME_WAIT = 5;
export const TCP_S_CLOSE = 6;
export const TCP_S_CLOSE_WAIT = 7;
export const TCP_S_LAST_ACK = 8;
export const TCP_S_LISTEN = 9;
export const TCP_S_SYNACK = 10;
/** Number of states (IP_VS_TCP_S_LAST). */
export const TCP_S_LAST = 11;

/** tcp_state_name_table: the strings `ipvsadm -L -c` prints, indexed by state. */
export const TCP_STATE_NAMES: readonly string[] = Object.freeze([
  'NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT',
  'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK',
]);

/** tcp_state_name(): "ERR!" for an out-of-range state, as the kernel. */
export function tcpStateName(state: number): string {
  return state >= 0 && state < TCP_S_LAST ? TCP_STATE_NAMES[state] : 'ERR!';
}

/** tcp_timeouts, in seconds, indexed by state. */
export const TCP_DEFAULT_TIMEOUTS: readonly number[] = Object.freeze([
  /* NONE */ 2,
  /* ESTABLISHED */ 15 * 60,
  /* SYN_SENT */ 2 * 60,
  /* SYN_RECV */ 60,
  /* FIN_WAIT */ 2 * 60,
  /* TIME_WAIT */ 2 * 60,
  /* CLOSE */ 10,
  /* CLOSE_WAIT */ 60,
  /* LAST_ACK */ 30,
  /* LISTEN */ 2 * 60,
  /* SYNACK */ 120,
]);

/**
 * A daemon's TCP timeout table in seconds, indexed by state (the kernel keeps one copy
 * per network namespace in ip_vs_proto_data.timeout_table). Mutable: `--set` edits it.
 */
export type TcpTimeouts = Uint32Array;

export function createTcpTimeouts(): TcpTimeouts {
  return Uint32Array.from(TCP_DEFAULT_TIMEOUTS);
}

/**
 * `--set tcp tcpfin udp` for TCP (ip_vs_set_timeout): a positive value replaces the
 * ESTABLISHED resp. FIN_WAIT timeout, 0 leaves it unchanged. Throws RangeError for a
 * negative or non-integer value (the control plane reports it).
 */
export function setTcpTimeouts(t: TcpTimeouts, tcpSec: number, tcpfinSec: number): void {
  checkTimeout(tcpSec);
  checkTimeout(tcpfinSec);
  if (tcpSec > 0) t[TCP_S_ESTABLISHED] = tcpSec;
  if (tcpfinSec > 0) t[TCP_S_FIN_WAIT] = tcpfinSec;
}

function checkTimeout(v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`timeout must be a non-negative integer number of seconds, got ${v}`);
  }
}

/**
 * Packet directions relative to the connection (IP_VS_DIR_*):
 * INPUT = client → server through the director; OUTPUT = server → client (seen only with
 * NAT); INPUT_ONLY = client → server when the replies bypass the director (tunnel, DR).
 */
export const DIR_INPUT = 0;
export const DIR_OUTPUT = 1;
export const DIR_INPUT_ONLY = 2;

/** Events, indexed as tcp_state_idx() returns them (the rows of each table). */
export const TCP_EV_SYN = 0;
export const TCP_EV_FIN = 1;
export const TCP_EV_ACK = 2;
export const TCP_EV_RST = 3;
/** No RST, SYN, FIN or ACK bit: the kernel moves the entry to CLOSE. */
export const TCP_EV_NONE = -1;

/** TCP header flag bits (RFC 793 §3.1, byte 13 of the header). */
const TH_FIN = 0x01;
const TH_SYN = 0x02;
const TH_RST = 0x04;
const TH_ACK = 0x10;

/**
 * tcp_state_idx(): the event of a segment given its flags byte, with priority
 * RST > SYN > FIN > ACK; TCP_EV_NONE when none of them is set.
 */
export function tcpEvent(flags: number): number {
  return TCP_EVENT_OF_FLAGS[flags & 0x17];
}

/** Lookup over the FIN|SYN|RST|ACK bits (mask 0x17), built from the priority rule. */
const TCP_EVENT_OF_FLAGS: Int8Array = (() => {
  const t = new Int8Array(0x18);
  for (let f = 0; f < t.length; f++) {
    t[f] = f & TH_RST ? TCP_EV_RST
      : f & TH_SYN ? TCP_EV_SYN
      : f & TH_FIN ? TCP_EV_FIN
      : f & TH_ACK ? TCP_EV_ACK
      : TCP_EV_NONE;
  }
  return t;
})();

const sNO = TCP_S_NONE, sES = TCP_S_ESTABLISHED, sSS = TCP_S_SYN_SENT, sSR = TCP_S_SYN_RECV;
const sFW = TCP_S_FIN_WAIT, sTW = TCP_S_TIME_WAIT, sCL = TCP_S_CLOSE, sCW = TCP_S_CLOSE_WAIT;
const sLA = TCP_S_LAST_ACK, sLI = TCP_S_LISTEN, sSA = TCP_S_SYNACK;

/**
 * tcp_states of ip_vs_proto_tcp.c: next state = table[((dir·4) + event)·11 + state].
 * Rows in the kernel's order; columns are the current state.
 */
export const TCP_STATES: Uint8Array = Uint8Array.from([
  /*        sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA */
  /* INPUT */
  /*syn*/   sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR,
  /*fin*/   sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW,
  /*ack*/   sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
  /*rst*/   sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR,
  /* OUTPUT */
  /*syn*/   sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR,
  /*fin*/   sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW,
  /*ack*/   sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES,
  /*rst*/   sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL,
  /* INPUT-ONLY */
  /*syn*/   sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR,
  /*fin*/   sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW,
  /*ack*/   sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
  /*rst*/   sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
]);

/**
 * tcp_states_dos: the table in force while the secure_tcp defense is on
 * (tcp_timeout_change). Same layout as TCP_STATES.
 */
export const TCP_STATES_SECURE: Uint8Array = Uint8Array.from([
  /*        sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA */
  /* INPUT */
  /*syn*/   sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSA,
  /*fin*/   sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sSA,
  /*ack*/   sES, sES, sSS, sSR, sFW, sTW, sCL, sCW, sCL, sLI, sSA,
  /*rst*/   sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
  /* OUTPUT */
  /*syn*/   sSS, sES, sSS, sSA, sSS, sSS, sSS, sSS, sSS, sLI, sSA,
  /*fin*/   sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW,
  /*ack*/   sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES,
  /*rst*/   sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL,
  /* INPUT-ONLY */
  /*syn*/   sSA, sES, sES, sSR, sSA, sSA, sSA, sSA, sSA, sSA, sSA,
  /*fin*/   sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW,
  /*ack*/   sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
  /*rst*/   sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
]);

/**
 * Next state for `event` (tcpEvent) seen in direction `dir` from `state`. TCP_EV_NONE
 * and an out-of-range state or direction give CLOSE (set_tcp_state's default).
 */
export function tcpNextState(state: number, dir: number, event: number, table: Uint8Array = TCP_STATES): number {
  if (event < 0 || event > 3 || state < 0 || state >= TCP_S_LAST || dir < 0 || dir > 2) return TCP_S_CLOSE;
  return table[((dir << 2) + event) * TCP_S_LAST + state];
}

/** Only ESTABLISHED counts as an active connection (ip_vs_dest.activeconns). */
export function isActiveState(state: number): boolean {
  return state === TCP_S_ESTABLISHED;
}

/** Return values of tcpSetState: how the real server's counters must change. */
export const COUNT_UNCHANGED = 0;
/** The entry moved from inactive to active: activeConns++, inactiveConns--. */
export const COUNT_TO_ACTIVE = 1;
/** The entry moved from active to inactive: activeConns--, inactiveConns++. */
export const COUNT_TO_INACTIVE = -1;

/**
 * set_tcp_state() for entry `id` of `conns` on a segment with flags byte `tcpFlags` seen
 * in direction `dir` (DIR_INPUT or DIR_OUTPUT; the entry's flags select INPUT-ONLY):
 * - an entry with F_NOOUTPUT (tunnel/DR) uses the INPUT-ONLY table for input; an OUTPUT
 *   packet clears F_NOOUTPUT (the server's replies do pass the director after all) and
 *   uses the OUTPUT table;
 * - when the state changes, the F_INACTIVE flag follows it: set when leaving ESTABLISHED
 *   for any other state, cleared on entering ESTABLISHED (the kernel tests the flag,
 *   not the old state, so an entry created without F_INACTIVE counts as active until its
 *   first transition); the return value says how to move the real server's counters;
 * - the expiry is re-armed with timeouts[new state] (the kernel sets cp->timeout; the
 *   timer is re-armed when the packet is done).
 * Persistence templates do not go through this function.
 */
export function tcpSetState(
  conns: ConnTable, id: number, dir: number, tcpFlags: number,
  timeouts: TcpTimeouts, now: number, table: Uint8Array = TCP_STATES,
): number {
  let flags = conns.flags(id);
  let d = dir;
  if (flags & F_NOOUTPUT) {
    if (dir === DIR_OUTPUT) flags &= ~F_NOOUTPUT;
    else d = DIR_INPUT_ONLY;
  }
  const old = conns.state(id);
  const next = tcpNextState(old, d, tcpEvent(tcpFlags), table);
  let delta = COUNT_UNCHANGED;
  if (next !== old) {
    if (!(flags & F_INACTIVE) && next !== TCP_S_ESTABLISHED) {
      flags |= F_INACTIVE;
      delta = COUNT_TO_INACTIVE;
    } else if (flags & F_INACTIVE && next === TCP_S_ESTABLISHED) {
      flags &= ~F_INACTIVE;
      delta = COUNT_TO_ACTIVE;
    }
    conns.setState(id, next);
  }
  conns.setFlags(id, flags);
  conns.touch(id, timeouts[next], now);
  return delta;
}

/**
 * RST window, a defence against blind connection kills (RFC 5961 §3; IPVS has none, and its
 * secure_tcp defence only changes the state table). A middlebox cannot see the receiver's
 * RCV.NXT, so it keeps, per direction, the next sequence number the sender will use: the
 * highest SEG.SEQ + SEG.LEN (SYN and FIN counting one) of a segment it forwarded. An RST
 * whose sequence number lies more than RST_WINDOW away from it is not a state event: the
 * pipeline drops it (drop reason `tcp-rst-window`), so a blind attacker must hit a 2·64 KiB
 * window out of 2^32 per guess, instead of killing the entry with any sequence number. A
 * legitimate RST carries its sender's SND.NXT (RFC 793 §3.4), which the director saw go by.
 * Segments outside the window are forwarded but do not move the tracked value (a forged
 * segment cannot drag it to where a forged RST would fall); a SYN re-learns it only in a
 * state that is not synchronised yet (a retransmitted or new handshake), not in ESTABLISHED.
 * An entry that has not seen its sender yet (created by sync, or picked up mid-stream)
 * accepts the first RST, as IPVS does. Always on; not a knob.
 */
export const RST_WINDOW = 65535;

/** States in which a SYN starts a new sequence space (the handshake is not complete). */
const SYN_RELEARNS: Uint8Array = (() => {
  const t = new Uint8Array(TCP_S_LAST);
  for (const s of [TCP_S_NONE, TCP_S_SYN_SENT, TCP_S_SYN_RECV, TCP_S_TIME_WAIT, TCP_S_CLOSE, TCP_S_LISTEN, TCP_S_SYNACK]) t[s] = 1;
  return t;
})();

/**
 * Tracks the sequence space of entry `id` for a TCP segment at buf[l4Off ..] of an IPv4
 * packet of totalLen bytes at ipOff, seen in direction `dir` with flags byte `tcpFlags`.
 * Returns false for an RST outside the window (the segment must not reach tcpSetState).
 * Reads 5 header bytes and writes at most one column: no allocation.
 */
export function tcpSeqAccept(
  conns: ConnTable, id: number, dir: number, buf: Uint8Array, ipOff: number, l4Off: number, totalLen: number,
  tcpFlags: number,
): boolean {
  const out = dir === DIR_OUTPUT;
  const seq = ((buf[l4Off + 4] << 24) | (buf[l4Off + 5] << 16) | (buf[l4Off + 6] << 8) | buf[l4Off + 7]) >>> 0;
  const seen = conns.seqSeen(id, out) !== 0;
  const dist = (seq - conns.seqNext(id, out)) | 0;
  if (tcpFlags & TH_RST) return !seen || (dist >= -RST_WINDOW && dist <= RST_WINDOW);
  const dataLen = totalLen - (l4Off - ipOff) - ((buf[l4Off + 12] >>> 4) << 2);
  const end = (seq + (dataLen > 0 ? dataLen : 0) + (tcpFlags & TH_SYN ? 1 : 0) + (tcpFlags & TH_FIN ? 1 : 0)) >>> 0;
  if (!seen || ((tcpFlags & TH_SYN) !== 0 && SYN_RELEARNS[conns.state(id)] === 1)) {
    conns.setSeqNext(id, out, end);
  } else if (dist >= -RST_WINDOW && dist <= RST_WINDOW && ((end - conns.seqNext(id, out)) | 0) > 0) {
    conns.setSeqNext(id, out, end);
  }
  return true;
}
