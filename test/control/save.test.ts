import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command, CountersInfo, DestInfo, ServiceInfo } from '../../src/ipvs/command';
import { LvsadmError } from '../../src/control/errors';
import { namesFrom } from '../../src/control/ipvsadm-args';
import { formatSave, parseRestore } from '../../src/control/save';

const NO_NAMES = namesFrom('', '');
const zero = (): CountersInfo => ({ conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });

function dest(addr: string, port: number, fwd: DestInfo['fwd'], weight: number, upper = 0, lower = 0): DestInfo {
  return { addr, port, fwd, weight, upper, lower, activeConns: 0, inactiveConns: 0, persistConns: 0, stats: zero(), rates: zero() };
}

function svc(proto: 'tcp' | 'udp', port: number, scheduler: string, dests: DestInfo[], extra: Partial<ServiceInfo> = {}): ServiceInfo {
  return {
    proto, addr: '198.18.100.1', port, scheduler, netmask: '255.255.255.255', schedFlags: [], ops: false,
    dests, stats: zero(), rates: zero(), ...extra,
  };
}

/** The -S -n scenario of ipvsadm-output-examples.txt. */
const EXAMPLE = [
  svc('udp', 53, 'rr', [dest('198.19.0.13', 53, 'route', 1)]),
  svc('tcp', 80, 'wlc', [dest('198.19.0.12', 8080, 'masq', 0), dest('198.19.0.11', 80, 'masq', 1)], {
    persistent: 300, netmask: '255.255.255.0',
  }),
];

test('-S -n matches the example', () => {
  assert.equal(formatSave(EXAMPLE, true, NO_NAMES), [
    '-A -t 198.18.100.1:80 -s wlc -p 300 -M 255.255.255.0',
    '-a -t 198.18.100.1:80 -r 198.19.0.11:80 -m -w 1',
    '-a -t 198.18.100.1:80 -r 198.19.0.12:8080 -m -w 0',
    '-A -u 198.18.100.1:53 -s rr',
    '-a -u 198.18.100.1:53 -r 198.19.0.13:53 -g -w 1',
    '',
  ].join('\n'));
});

test('thresholds, flags, ops and names in save output', () => {
  const s = [
    svc('udp', 53, 'sh', [dest('198.19.0.13', 53, 'tunnel', 4, 100, 10)], { schedFlags: ['sh-port'], ops: true, persistent: 60 }),
  ];
  assert.equal(formatSave(s, true, NO_NAMES),
    '-A -u 198.18.100.1:53 -s sh -b sh-port -p 60 -o\n-a -u 198.18.100.1:53 -r 198.19.0.13:53 -i -w 4 -x 100 -y 10\n');
  const names = namesFrom('198.18.100.1 vip\n', 'domain 53/udp\n');
  assert.equal(formatSave(s, false, names).split('\n')[1], '-a -u vip:domain -r 198.19.0.13:domain -i -w 4 -x 100 -y 10');
});

/** What -R must recreate from a service snapshot: -A then each -a, in save order. */
function commandsFor(services: ServiceInfo[]): Command[] {
  const out: Command[] = [];
  const sorted = services.slice().sort((a, b) => (a.proto === b.proto ? a.port - b.port : a.proto === 'tcp' ? -1 : 1));
  for (const s of sorted) {
    const key = { proto: s.proto, addr: s.addr, port: s.port };
    const spec: Command = { op: 'add-service', service: { ...key, scheduler: s.scheduler } };
    if (s.persistent !== undefined) spec.service.persistent = s.persistent;
    if (s.netmask !== '255.255.255.255') spec.service.netmask = s.netmask;
    if (s.schedFlags.length > 0) spec.service.schedFlags = s.schedFlags;
    if (s.ops) spec.service.ops = true;
    out.push(spec);
    const dests = s.dests.slice().sort((a, b) => a.addr.localeCompare(b.addr) || a.port - b.port);
    for (const d of dests) {
      const dest: { addr: string; port: number; fwd: DestInfo['fwd']; weight: number; upper?: number; lower?: number } =
        { addr: d.addr, port: d.port, fwd: d.fwd, weight: d.weight };
      if (d.upper) dest.upper = d.upper;
      if (d.lower) dest.lower = d.lower;
      out.push({ op: 'add-server', service: key, dest });
    }
  }
  return out;
}

test('round trip: parseRestore(formatSave(x)) recreates x', () => {
  const services = [
    ...EXAMPLE,
    svc('tcp', 443, 'rr', [dest('198.19.0.12', 443, 'route', 1), dest('198.19.0.11', 443, 'tunnel', 2, 500, 100)]),
    svc('udp', 0, 'sh', [dest('198.19.0.14', 0, 'route', 3)], { persistent: 1800, schedFlags: ['sh-fallback', 'sh-port'] }),
    svc('udp', 5353, 'rr', [], { ops: true }),
  ];
  const text = formatSave(services, true, NO_NAMES);
  assert.deepEqual(parseRestore(text, NO_NAMES), commandsFor(services));
  // Without -n, names resolve both ways through the same tables.
  const names = namesFrom('198.18.100.1 vip\n198.19.0.11 rs1\n', 'http 80/tcp\nhttps 443/tcp\n');
  const named = formatSave(services, false, names);
  assert.match(named, /-A -t vip:http -s wlc/);
  assert.deepEqual(parseRestore(named, names), commandsFor(services));
});

test('restore input: comments, blank lines, program word, errors with line numbers', () => {
  const text = [
    '# saved rules',
    '',
    'ipvsadm -A -t 198.18.100.1:80 -s rr',
    '   /sbin/ipvsadm -a -t 198.18.100.1:80 -r 198.19.0.11 -w 2',
    'lvsadm -a -t 198.18.100.1:80 -r 198.19.0.12:8080 -m',
  ].join('\n');
  const key = { proto: 'tcp', addr: '198.18.100.1', port: 80 } as const;
  assert.deepEqual(parseRestore(text, NO_NAMES), [
    { op: 'add-service', service: { ...key, scheduler: 'rr' } },
    { op: 'add-server', service: key, dest: { addr: '198.19.0.11', port: 80, fwd: 'route', weight: 2 } },
    { op: 'add-server', service: key, dest: { addr: '198.19.0.12', port: 8080, fwd: 'masq', weight: 1 } },
  ]);
  const err = (input: string, message: string): void => {
    assert.throws(() => parseRestore(input, NO_NAMES), (e: unknown) => {
      assert.ok(e instanceof LvsadmError);
      assert.equal(e.code, 'ERESTORE');
      assert.equal(e.message, message);
      return true;
    });
  };
  err('-A -t 198.18.100.1:80\n\n-a -t 198.18.100.1:80 -r 198.19.0.11 -w 70000\n', 'line 3: illegal weight specified');
  err('-C\n-L -n\n', "line 2: '-L -n' is not allowed in restore input");
  err('-C\n-R\n', "line 2: '-R' is not allowed in restore input");
  err('ipvsadm\n', 'line 1: no command');
  err('-A -t 198.18.100.1:80 --bogus\n', 'line 1: --bogus: unknown option');
});
