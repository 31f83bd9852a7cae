import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TCP_S_NONE, TCP_S_ESTABLISHED, TCP_S_SYN_SENT, TCP_S_SYN_RECV, TCP_S_FIN_WAIT, TCP_S_TIME_WAIT,
  TCP_S_CLOSE, TCP_S_CLOSE_WAIT, TCP_S_LAST_ACK, TCP_S_LISTEN, TCP_S_SYNACK, TCP_S_LAST,
  TCP_STATES, TCP_STATES_SECURE, TCP_DEFAULT_TIMEOUTS,
  DIR_INPUT, DIR_OUTPUT, DIR_INPUT_ONLY,
  TCP_EV_SYN, TCP_EV_FIN, TCP_EV_ACK, TCP_EV_RST, TCP_EV_NONE,
  COUNT_UNCHANGED, COUNT_TO_ACTIVE, COUNT_TO_INACTIVE,
  tcpEvent, tcpNextState, tcpStateName, isActiveState, tcpSetState,
  createTcpTimeouts, setTcpTimeouts,
} from '../../../src/ipvs/proto/tcp';
import {
  UDP_S_NORMAL, udpStateName, createUdpTimeouts, setUdpTimeout, udpSetState,
} from '../../../src/ipvs/proto/udp';
import { ConnTable, F_INACTIVE, F_NOOUTPUT } from '../../../src/ipvs/conn';
import { IPPROTO_TCP, IPPROTO_UDP, FWD_MASQ, FWD_ROUTE } from '../../../src/ipvs/types';

// TCP header flag bits (RFC 793 §3.1).
const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20;

// The kernel's tables as text, copied from net/netfilter/ipvs/ip_vs_proto_tcp.c
// (tcp_states and tcp_states_dos, current mainline), parsed by state name below, so that
// each cell of the implementation's numeric table is checked against the source.
const KERNEL_COLS = 'sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA'.split(' ');
const KERNEL_TCP_STATES = `
INPUT
syn sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR
fin sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW
ack sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES
rst sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR
OUTPUT
syn sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR
fin sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW
ack sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES
rst sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL
INPUT-ONLY
syn sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR
fin sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW
ack sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES
rst sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL
`;
const KERNEL_TCP_STATES_DOS = `
INPUT
syn sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSA
fin sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sSA
ack sES, sES, sSS, sSR, sFW, sTW, sCL, sCW, sCL, sLI, sSA
rst sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL
OUTPUT
syn sSS, sES, sSS, sSA, sSS, sSS, sSS, sSS, sSS, sLI, sSA
fin sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW
ack sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES
rst sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL
INPUT-ONLY
syn sSA, sES, sES, sSR, sSA, sSA, sSA, sSA, sSA, sSA, sSA
fin sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW
ack sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES
rst sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL
`;
// include/uapi/linux/ip_vs.h numbering.
const KERNEL_STATE_NUM: Record<string, number> = {
  sNO: 0, sES: 1, sSS: 2, sSR: 3, sFW: 4, sTW: 5, sCL: 6, sCW: 7, sLA: 8, sLI: 9, sSA: 10,
};
const DIRS: Record<string, number> = { INPUT: DIR_INPUT, OUTPUT: DIR_OUTPUT, 'INPUT-ONLY': DIR_INPUT_ONLY };
const EVENTS: Record<string, number> = { syn: TCP_EV_SYN, fin: TCP_EV_FIN, ack: TCP_EV_ACK, rst: TCP_EV_RST };

function checkAgainstKernel(text: string, table: Uint8Array): number {
  let dir = -1;
  let cells = 0;
  for (const line of text.trim().split('\n')) {
    if (line in DIRS) { dir = DIRS[line]; continue; }
    const [ev, ...rest] = line.split(/[ ,]+/);
    assert.equal(rest.length, 11);
    rest.forEach((name, col) => {
      const from = KERNEL_STATE_NUM[KERNEL_COLS[col]];
      assert.equal(tcpNextState(from, dir, EVENTS[ev], table), KERNEL_STATE_NUM[name],
        `${ev} from ${KERNEL_COLS[col]} dir ${dir}`);
      cells++;
    });
  }
  return cells;
}

test('state numbers and names follow ip_vs.h and tcp_state_name_table', () => {
  assert.deepEqual(
    [TCP_S_NONE, TCP_S_ESTABLISHED, TCP_S_SYN_SENT, TCP_S_SYN_RECV, TCP_S_FIN_WAIT, TCP_S_TIME_WAIT,
      TCP_S_CLOSE, TCP_S_CLOSE_WAIT, TCP_S_LAST_ACK, TCP_S_LISTEN, TCP_S_SYNACK, TCP_S_LAST],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const names = [];
  for (let s = 0; s < TCP_S_LAST; s++) names.push(tcpStateName(s));
  assert.deepEqual(names, ['NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT',
    'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK']);
  assert.equal(tcpStateName(11), 'ERR!');
  assert.equal(tcpStateName(200), 'ERR!');
});

test('default timeouts are tcp_timeouts', () => {
  // ESTABLISHED 900, SYN_SENT 120, SYN_RECV 60, FIN_WAIT 120, TIME_WAIT 120, CLOSE 10,
  // CLOSE_WAIT 60, LAST_ACK 30, LISTEN 120, SYNACK 120, NONE 2.
  assert.deepEqual([...TCP_DEFAULT_TIMEOUTS], [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120]);
  const t = createTcpTimeouts();
  setTcpTimeouts(t, 0, 0);
  assert.deepEqual([...t], [...TCP_DEFAULT_TIMEOUTS]);
  setTcpTimeouts(t, 3600, 0);
  assert.equal(t[TCP_S_ESTABLISHED], 3600);
  assert.equal(t[TCP_S_FIN_WAIT], 120);
  setTcpTimeouts(t, 0, 45);
  assert.equal(t[TCP_S_ESTABLISHED], 3600);
  assert.equal(t[TCP_S_FIN_WAIT], 45);
  assert.equal(t[TCP_S_TIME_WAIT], 120, '--set never touches TIME_WAIT');
  assert.throws(() => setTcpTimeouts(t, -1, 0), RangeError);
  assert.equal(TCP_DEFAULT_TIMEOUTS[TCP_S_ESTABLISHED], 900, 'defaults are not shared with a daemon table');
});

test('tcpEvent: RST > SYN > FIN > ACK (tcp_state_idx)', () => {
  assert.equal(tcpEvent(SYN), TCP_EV_SYN);
  assert.equal(tcpEvent(SYN | ACK), TCP_EV_SYN);
  assert.equal(tcpEvent(FIN | ACK), TCP_EV_FIN);
  assert.equal(tcpEvent(FIN | ACK | PSH), TCP_EV_FIN);
  assert.equal(tcpEvent(ACK), TCP_EV_ACK);
  assert.equal(tcpEvent(ACK | PSH | URG), TCP_EV_ACK);
  assert.equal(tcpEvent(RST), TCP_EV_RST);
  assert.equal(tcpEvent(RST | ACK), TCP_EV_RST);
  assert.equal(tcpEvent(RST | SYN | FIN | ACK), TCP_EV_RST);
  assert.equal(tcpEvent(SYN | FIN), TCP_EV_SYN);
  assert.equal(tcpEvent(0), TCP_EV_NONE);
  assert.equal(tcpEvent(PSH | URG | 0xc0), TCP_EV_NONE);
  assert.deepEqual([TCP_EV_SYN, TCP_EV_FIN, TCP_EV_ACK, TCP_EV_RST], [0, 1, 2, 3]);
});

test('every transition equals the kernel tcp_states table (132 cells)', () => {
  assert.equal(checkAgainstKernel(KERNEL_TCP_STATES, TCP_STATES), 132);
});

test('every transition equals the kernel tcp_states_dos (secure_tcp) table', () => {
  assert.equal(checkAgainstKernel(KERNEL_TCP_STATES_DOS, TCP_STATES_SECURE), 132);
});

test('no flag at all, or out-of-range input, gives CLOSE', () => {
  for (let s = 0; s < TCP_S_LAST; s++) assert.equal(tcpNextState(s, DIR_INPUT, TCP_EV_NONE), TCP_S_CLOSE);
  assert.equal(tcpNextState(TCP_S_LAST, DIR_INPUT, TCP_EV_ACK), TCP_S_CLOSE);
  assert.equal(tcpNextState(TCP_S_NONE, 3, TCP_EV_SYN), TCP_S_CLOSE);
});

test('NAT handshake and client-initiated close', () => {
  const seq: Array<[number, number, number]> = [
    // dir, flags, expected state (tcp_states INPUT/OUTPUT)
    [DIR_INPUT, SYN, TCP_S_SYN_RECV], // INPUT syn, sNO → sSR
    [DIR_OUTPUT, SYN | ACK, TCP_S_SYN_RECV], // OUTPUT syn, sSR → sSR
    [DIR_INPUT, ACK, TCP_S_ESTABLISHED], // INPUT ack, sSR → sES
    [DIR_INPUT, ACK | PSH, TCP_S_ESTABLISHED],
    [DIR_OUTPUT, ACK, TCP_S_ESTABLISHED],
    [DIR_INPUT, FIN | ACK, TCP_S_CLOSE_WAIT], // INPUT fin, sES → sCW
    [DIR_OUTPUT, ACK, TCP_S_CLOSE_WAIT], // OUTPUT ack, sCW → sCW
    [DIR_OUTPUT, FIN | ACK, TCP_S_TIME_WAIT], // OUTPUT fin, sCW → sTW
    [DIR_INPUT, ACK, TCP_S_TIME_WAIT], // INPUT ack, sTW → sTW
  ];
  let s = TCP_S_NONE;
  for (const [dir, flags, want] of seq) {
    s = tcpNextState(s, dir, tcpEvent(flags));
    assert.equal(s, want);
  }
});

test('NAT: server-initiated close goes through FIN_WAIT; RST closes', () => {
  let s = TCP_S_ESTABLISHED;
  s = tcpNextState(s, DIR_OUTPUT, tcpEvent(FIN | ACK)); // OUTPUT fin, sES → sFW
  assert.equal(s, TCP_S_FIN_WAIT);
  s = tcpNextState(s, DIR_INPUT, tcpEvent(ACK)); // INPUT ack, sFW → sFW
  assert.equal(s, TCP_S_FIN_WAIT);
  s = tcpNextState(s, DIR_INPUT, tcpEvent(FIN | ACK)); // INPUT fin, sFW → sTW
  assert.equal(s, TCP_S_TIME_WAIT);
  assert.equal(tcpNextState(TCP_S_ESTABLISHED, DIR_INPUT, tcpEvent(RST)), TCP_S_CLOSE);
  assert.equal(tcpNextState(TCP_S_ESTABLISHED, DIR_OUTPUT, tcpEvent(RST | ACK)), TCP_S_CLOSE);
  // A RST in SYN_RECV from the client leaves the entry in SYN_RECV (INPUT rst, sSR → sSR).
  assert.equal(tcpNextState(TCP_S_SYN_RECV, DIR_INPUT, tcpEvent(RST)), TCP_S_SYN_RECV);
  // The server refusing the connection closes it (OUTPUT rst, sSR → sCL).
  assert.equal(tcpNextState(TCP_S_SYN_RECV, DIR_OUTPUT, tcpEvent(RST | ACK)), TCP_S_CLOSE);
});

test('INPUT-ONLY (tunnel/DR): client FIN goes to FIN_WAIT, not CLOSE_WAIT', () => {
  const seq: Array<[number, number]> = [
    [SYN, TCP_S_SYN_RECV], // INPUT-ONLY syn, sNO → sSR
    [ACK, TCP_S_ESTABLISHED], // ack, sSR → sES
    [ACK | PSH, TCP_S_ESTABLISHED],
    [FIN | ACK, TCP_S_FIN_WAIT], // fin, sES → sFW
    [ACK, TCP_S_FIN_WAIT], // ack, sFW → sFW
    [RST, TCP_S_CLOSE], // rst, sFW → sCL
    [SYN, TCP_S_SYN_RECV], // syn, sCL → sSR (port reuse)
  ];
  let s = TCP_S_NONE;
  for (const [flags, want] of seq) {
    s = tcpNextState(s, DIR_INPUT_ONLY, tcpEvent(flags));
    assert.equal(s, want);
  }
  // The tables differ exactly there and for RST in SYNACK.
  assert.equal(tcpNextState(TCP_S_ESTABLISHED, DIR_INPUT, TCP_EV_FIN), TCP_S_CLOSE_WAIT);
  assert.equal(tcpNextState(TCP_S_SYNACK, DIR_INPUT, TCP_EV_RST), TCP_S_SYN_RECV);
  assert.equal(tcpNextState(TCP_S_SYNACK, DIR_INPUT_ONLY, TCP_EV_RST), TCP_S_CLOSE);
});

test('isActiveState: only ESTABLISHED', () => {
  for (let s = 0; s < TCP_S_LAST; s++) assert.equal(isActiveState(s), s === TCP_S_ESTABLISHED);
});

const C = 0xc6120001, V = 0xc6120101, D = 0xc6130002;

test('tcpSetState on a NAT entry: states, counters (F_INACTIVE) and timeouts', () => {
  const conns = new ConnTable({ seed: 1 });
  const to = createTcpTimeouts();
  const t0 = 1_000_000;
  // As ip_vs_bind_dest: a new entry without F_INACTIVE counts as active at first.
  const id = conns.insert(IPPROTO_TCP, C, 40000, V, 80, D, 8080, FWD_MASQ, 0, 7, 1, TCP_S_NONE, to[TCP_S_NONE], t0);
  let active = 1, inactive = 0;
  const step = (dir: number, flags: number, want: number, wantDelta: number, at: number) => {
    const d = tcpSetState(conns, id, dir, flags, to, at);
    assert.equal(d, wantDelta);
    active += d; inactive -= d;
    assert.equal(conns.state(id), want);
    assert.equal(conns.remaining(id, at), to[want]);
    assert.equal((conns.flags(id) & F_INACTIVE) !== 0, want !== TCP_S_ESTABLISHED);
  };
  step(DIR_INPUT, SYN, TCP_S_SYN_RECV, COUNT_TO_INACTIVE, t0);
  assert.deepEqual([active, inactive], [0, 1]);
  step(DIR_OUTPUT, SYN | ACK, TCP_S_SYN_RECV, COUNT_UNCHANGED, t0 + 1000);
  step(DIR_INPUT, ACK, TCP_S_ESTABLISHED, COUNT_TO_ACTIVE, t0 + 2000);
  assert.deepEqual([active, inactive], [1, 0]);
  step(DIR_INPUT, ACK | PSH, TCP_S_ESTABLISHED, COUNT_UNCHANGED, t0 + 3000);
  step(DIR_INPUT, FIN | ACK, TCP_S_CLOSE_WAIT, COUNT_TO_INACTIVE, t0 + 4000);
  step(DIR_OUTPUT, FIN | ACK, TCP_S_TIME_WAIT, COUNT_UNCHANGED, t0 + 5000);
  assert.deepEqual([active, inactive], [0, 1]);
  assert.equal(conns.remaining(id, t0 + 5000), 120);
});

test('tcpSetState honours F_NOOUTPUT and clears it on an OUTPUT packet', () => {
  const conns = new ConnTable({ seed: 2 });
  const to = createTcpTimeouts();
  setTcpTimeouts(to, 0, 33);
  const id = conns.insert(IPPROTO_TCP, C, 40001, V, 80, D, 80, FWD_ROUTE, F_NOOUTPUT, 1, 1, TCP_S_NONE, 2, 0);
  // Even when the caller says DIR_INPUT, the entry's flag selects INPUT-ONLY.
  tcpSetState(conns, id, DIR_INPUT, SYN, to, 0);
  tcpSetState(conns, id, DIR_INPUT, ACK, to, 0);
  assert.equal(conns.state(id), TCP_S_ESTABLISHED);
  tcpSetState(conns, id, DIR_INPUT, FIN | ACK, to, 0);
  assert.equal(conns.state(id), TCP_S_FIN_WAIT, 'INPUT-ONLY fin: sES → sFW');
  assert.equal(conns.remaining(id, 0), 33, '--set tcpfin applies');
  assert.ok(conns.flags(id) & F_NOOUTPUT);

  const id2 = conns.insert(IPPROTO_TCP, C, 40002, V, 80, D, 80, FWD_ROUTE, F_NOOUTPUT, 1, 1, TCP_S_ESTABLISHED, 900, 0);
  tcpSetState(conns, id2, DIR_OUTPUT, ACK, to, 0);
  assert.equal(conns.flags(id2) & F_NOOUTPUT, 0, 'an OUTPUT packet clears F_NOOUTPUT');
  tcpSetState(conns, id2, DIR_INPUT, FIN | ACK, to, 0);
  assert.equal(conns.state(id2), TCP_S_CLOSE_WAIT, 'then INPUT is used: sES → sCW');
});

test('UDP: one state "UDP", 300 s, --set udp', () => {
  assert.equal(udpStateName(UDP_S_NORMAL), 'UDP');
  assert.equal(udpStateName(1), 'ERR!');
  const t = createUdpTimeouts();
  assert.equal(t[UDP_S_NORMAL], 300);
  setUdpTimeout(t, 0);
  assert.equal(t[UDP_S_NORMAL], 300);
  setUdpTimeout(t, 20);
  assert.equal(t[UDP_S_NORMAL], 20);
  assert.throws(() => setUdpTimeout(t, 1.5), RangeError);
  const conns = new ConnTable({ seed: 3 });
  const id = conns.insert(IPPROTO_UDP, C, 5353, V, 53, D, 53, FWD_MASQ, 0, 1, 1, UDP_S_NORMAL, 300, 0);
  udpSetState(conns, id, t, 10_000);
  assert.equal(conns.remaining(id, 10_000), 20);
});
