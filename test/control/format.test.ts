/**
 * Golden tests: the scenario of /work/shared/docs/ipvsadm-output-examples.txt rebuilt as
 * control-protocol data; the expected text is copied from that file (trailing spaces kept,
 * shown by joining explicit lines).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnInfo, CountersInfo, DestInfo, FwdName, ServiceInfo } from '../../src/ipvs/command';
import {
  formatConns,
  formatExpire,
  formatLargeNum,
  formatServices,
  formatStatus,
  formatTimeout,
} from '../../src/control/format';
import { namesFrom } from '../../src/control/ipvsadm-args';

const NO_NAMES = namesFrom('', '');

function counters(conns = 0, inpkts = 0, outpkts = 0, inbytes = 0, outbytes = 0): CountersInfo {
  return { conns, inpkts, outpkts, inbytes, outbytes };
}

function dest(addr: string, port: number, fwd: FwdName, weight: number, active: number, inactive: number): DestInfo {
  return {
    addr, port, fwd, weight, upper: 0, lower: 0,
    activeConns: active, inactiveConns: inactive, persistConns: 0,
    stats: counters(), rates: counters(),
  };
}

function service(proto: 'tcp' | 'udp', port: number, scheduler: string, dests: DestInfo[]): ServiceInfo {
  return {
    proto, addr: '198.18.100.1', port, scheduler, netmask: '255.255.255.255', schedFlags: [], ops: false,
    dests, stats: counters(), rates: counters(),
  };
}

/** The example scenario, deliberately out of order to exercise sorting. */
function scenario(): ServiceInfo[] {
  const http = service('tcp', 80, 'wlc', [
    dest('198.19.0.12', 8080, 'masq', 0, 3, 20),
    dest('198.19.0.11', 80, 'masq', 1, 12, 340),
  ]);
  http.persistent = 300;
  http.netmask = '255.255.255.0';
  const https = service('tcp', 443, 'rr', [
    dest('198.19.0.12', 443, 'route', 1, 4, 0),
    dest('198.19.0.11', 443, 'tunnel', 2, 5, 1),
  ]);
  const dns = service('udp', 53, 'rr', [dest('198.19.0.13', 53, 'route', 1, 0, 7)]);
  return [dns, https, http];
}

test('-L -n matches the example byte for byte', () => {
  const expected = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'TCP  198.18.100.1:80 wlc persistent 300 mask 255.255.255.0',
    '  -> 198.19.0.11:80               Masq    1      12         340       ',
    '  -> 198.19.0.12:8080             Masq    0      3          20        ',
    'TCP  198.18.100.1:443 rr',
    '  -> 198.19.0.11:443              Tunnel  2      5          1         ',
    '  -> 198.19.0.12:443              Route   1      4          0         ',
    'UDP  198.18.100.1:53 rr',
    '  -> 198.19.0.13:53               Route   1      0          7         ',
    '',
  ].join('\n');
  assert.equal(formatServices({ tableSize: 4096, services: scenario() }, { numeric: true }, NO_NAMES), expected);
});

function statsScenario(): ServiceInfo[] {
  const d = dest('198.19.0.11', 80, 'masq', 1, 0, 0);
  d.stats = counters(10, 200, 190, 14000, 100000000);
  d.rates = counters(1, 20, 19, 1500, 45000);
  const s = service('tcp', 80, 'wlc', [d]);
  s.stats = counters(15, 300, 280, 20000, 123456789);
  s.rates = counters(2, 40, 38, 3000, 90000);
  return [s];
}

test('-L -n --stats matches the example', () => {
  const expected = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
    '  -> RemoteAddress:Port',
    'TCP  198.18.100.1:80                    15      300      280    20000  123456K',
    '  -> 198.19.0.11:80                     10      200      190    14000  100000K',
    '',
  ].join('\n');
  assert.equal(formatServices({ tableSize: 4096, services: statsScenario() }, { numeric: true, stats: true }, NO_NAMES), expected);
});

test('-L -n --rate matches the example', () => {
  const expected = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS',
    '  -> RemoteAddress:Port',
    'TCP  198.18.100.1:80                     2       40       38     3000    90000',
    '  -> 198.19.0.11:80                      1       20       19     1500    45000',
    '',
  ].join('\n');
  assert.equal(formatServices({ tableSize: 4096, services: statsScenario() }, { numeric: true, rate: true }, NO_NAMES), expected);
});

test('--stats --exact prints whole numbers in a field one wider than the digits', () => {
  const out = formatServices({ tableSize: 4096, services: statsScenario() }, { numeric: true, stats: true, exact: true }, NO_NAMES);
  const svcLine = out.split('\n')[3];
  // "%-33s" then 15 → "%9llu", 123456789 (9 digits) → "%10llu": one space before it
  assert.equal(svcLine, 'TCP  198.18.100.1:80                    15      300      280    20000 123456789');
  assert.equal(out.split('\n')[4], '  -> 198.19.0.11:80                     10      200      190    14000 100000000');
});

test('-L -n -c matches the example', () => {
  const conns: ConnInfo[] = [
    { proto: 'tcp', expires: 897, state: 'ESTABLISHED', caddr: '198.18.0.2', cport: 40112, vaddr: '198.18.100.1', vport: 80, daddr: '198.19.0.11', dport: 80 },
    { proto: 'tcp', expires: 118, state: 'FIN_WAIT', caddr: '198.18.0.2', cport: 40110, vaddr: '198.18.100.1', vport: 80, daddr: '198.19.0.12', dport: 8080 },
    { proto: 'udp', expires: 299, state: 'UDP', caddr: '198.18.0.9', cport: 5353, vaddr: '198.18.100.1', vport: 53, daddr: '198.19.0.13', dport: 53 },
    { proto: 'tcp', expires: 298, state: 'NONE', caddr: '198.18.0.0', cport: 0, vaddr: '198.18.100.1', vport: 80, daddr: '198.19.0.11', dport: 80 },
  ];
  const expected = [
    'IPVS connection entries',
    'pro expire state       source             virtual            destination',
    'TCP 14:57  ESTABLISHED 198.18.0.2:40112   198.18.100.1:80    198.19.0.11:80',
    'TCP 01:58  FIN_WAIT    198.18.0.2:40110   198.18.100.1:80    198.19.0.12:8080',
    'UDP 04:59  UDP         198.18.0.9:5353    198.18.100.1:53    198.19.0.13:53',
    'TCP 04:58  NONE        198.18.0.0:0       198.18.100.1:80    198.19.0.11:80',
    '',
  ].join('\n');
  assert.equal(formatConns(conns, { numeric: true }, NO_NAMES), expected);
});

test('-L --timeout', () => {
  assert.equal(formatTimeout({ tcp: 900, tcpfin: 120, udp: 300 }), 'Timeout (tcp tcpfin udp): 900 120 300\n');
});

test('print_largenum thresholds', () => {
  const cases: Array<[number, string]> = [
    [0, '        0'],
    [99999999, ' 99999999'],
    [100000000, '  100000K'],
    [999999999, '  999999K'],
    [1000000000, '    1000M'],
    [99999999999, '   99999M'],
    [100000000000, '     100G'],
    [99999999999999, '   99999G'],
    [100000000000000, '     100T'],
  ];
  for (const [n, text] of cases) {
    assert.equal(text.length, 9);
    assert.equal(formatLargeNum(n, false), text, String(n));
  }
  assert.equal(formatLargeNum(99999999, true), ' 99999999');
  assert.equal(formatLargeNum(100000000, true), ' 100000000');
  assert.equal(formatLargeNum(5, true), '        5');
});

test('expire as mm:ss, minutes beyond two digits not truncated', () => {
  assert.equal(formatExpire(0), '00:00');
  assert.equal(formatExpire(59), '00:59');
  assert.equal(formatExpire(61), '01:01');
  assert.equal(formatExpire(6000), '100:00');
});

test('names from hosts/services without -n; unresolved stay numeric', () => {
  const names = namesFrom('198.18.100.1 vip.example vip\n# 198.19.0.11 commented\n', 'http 80/tcp www\ndomain 53/udp\n');
  const out = formatServices({ tableSize: 4096, services: scenario() }, {}, names).split('\n');
  assert.equal(out[3], 'TCP  vip.example:http wlc persistent 300 mask 255.255.255.0');
  assert.equal(out[4], '  -> 198.19.0.11:http             Masq    1      12         340       ');
  assert.equal(out[6], 'TCP  vip.example:443 rr');
  assert.equal(out[9], 'UDP  vip.example:domain rr');
});

test('--thresholds and --persistent-conn layouts', () => {
  const svcs = scenario().slice(2);
  const d11 = svcs[0].dests.find((d) => d.addr === '198.19.0.11');
  assert.ok(d11);
  d11.upper = 100;
  d11.lower = 50;
  d11.persistConns = 7;
  const thr = formatServices({ tableSize: 4096, services: svcs }, { numeric: true, thresholds: true }, NO_NAMES).split('\n');
  assert.equal(thr[1], 'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ');
  assert.equal(thr[2], '  -> RemoteAddress:Port');
  assert.equal(thr[3], 'TCP  198.18.100.1:80 wlc persistent 300 mask 255.255.255.0');
  assert.equal(thr[4], '  -> 198.19.0.11:80               100        50         12         340       ');
  const pc = formatServices({ tableSize: 4096, services: svcs }, { numeric: true, persistentConn: true }, NO_NAMES).split('\n');
  assert.equal(pc[1], 'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ');
  assert.equal(pc[4], '  -> 198.19.0.11:80               1         7           12         340       ');
});

test('one service listing has no version header; nosort keeps table order', () => {
  const one = formatServices({ tableSize: 4096, services: scenario().slice(0, 1) }, { numeric: true, oneService: true }, NO_NAMES);
  assert.ok(one.startsWith('Prot LocalAddress:Port Scheduler Flags\n'));
  const unsorted = formatServices({ tableSize: 4096, services: scenario() }, { numeric: true, nosort: true }, NO_NAMES).split('\n');
  assert.equal(unsorted[3], 'UDP  198.18.100.1:53 rr');
});

test('ops, sched flags and long names are printed and truncated as ipvsadm', () => {
  const s = service('udp', 53, 'sh', []);
  s.ops = true;
  s.schedFlags = ['sh-fallback', 'sh-port'];
  const line = formatServices({ tableSize: 1, services: [s] }, { numeric: true }, NO_NAMES).split('\n')[3];
  assert.equal(line, 'UDP  198.18.100.1:53 sh (sh-fallback,sh-port) ops');
  const names = namesFrom('198.18.100.1 a-very-long-host-name-for-the-vip.example\n', '');
  const long = formatServices({ tableSize: 1, services: [service('tcp', 80, 'rr', [])] }, {}, names).split('\n')[3];
  assert.equal(long, 'TCP  a-very-long-host-name-for-th rr'); // svc_name[33] = '\0': 5 + 28 characters
});

test('status lists counters and drops by name', () => {
  const out = formatStatus({ version: '0.1.0', uptime: 12, device: 'lvs0', conns: 3, drops: { 'bad-checksum': 2, 'short-ip': 1 }, counters: {} });
  assert.equal(out, [
    'lvsd 0.1.0 on lvs0, up 12 s, 3 connections',
    'Counters: none',
    'Drops:',
    '  bad-checksum            2',
    '  short-ip                1',
    '',
  ].join('\n'));
});
