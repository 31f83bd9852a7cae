/**
 * Firewall-mark services (-f mark) in the control plane: parsing as ipvsadm parses, the
 * listing and -S formats of ipvsadm.c print_service_entry ("FWM  %d", "-f %d"), and
 * save/restore through a real service table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { namesFrom, parseArgs, type ParsedInvocation } from '../../src/control/ipvsadm-args';
import { formatConns, formatServices } from '../../src/control/format';
import { formatSave, parseRestore } from '../../src/control/save';
import type { Command, ServiceKey } from '../../src/ipvs/command';
import { ServiceTable } from '../../src/ipvs/service';

const NAMES = namesFrom('198.19.0.11 rs1\n', 'http 80/tcp\n');
const p = (line: string): ParsedInvocation => parseArgs(line.split(' ').filter((w) => w.length > 0), NAMES);
const FWM = (mark: number): ServiceKey => ({ proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: mark });

function commands(line: string): Command[] {
  const r = p(line);
  assert.equal(r.kind, 'commands', line);
  return (r as Extract<ParsedInvocation, { kind: 'commands' }>).commands;
}

test('parser: -A/-E/-D -f as ipvsadm fills the entry (TCP, 0.0.0.0, port 0, the mark)', () => {
  assert.deepEqual(commands('-A -f 1 -s rr -p 10'), [
    { op: 'add-service', service: { ...FWM(1), scheduler: 'rr', persistent: 10 } },
  ]);
  // No port and no -p is fine for a mark (the zero-port rule is for address services).
  assert.deepEqual(commands('--add-service --fwmark-service 4294967295'), [
    { op: 'add-service', service: { ...FWM(4294967295), scheduler: 'wlc' } },
  ]);
  assert.deepEqual(commands('-E -f 2 -s wrr'), [{ op: 'edit-service', service: { ...FWM(2), scheduler: 'wrr' } }]);
  assert.deepEqual(commands('-D -f 2'), [{ op: 'delete-service', service: FWM(2) }]);
  assert.deepEqual(commands('-A -f 3 -o'), [{ op: 'add-service', service: { ...FWM(3), scheduler: 'wlc', ops: true } }]);
});

test('parser: real servers of a mark default to port 0; -L, -Z with -f', () => {
  assert.deepEqual(commands('-a -f 1 -r 198.19.0.11 -m'), [
    { op: 'add-server', service: FWM(1), dest: { addr: '198.19.0.11', port: 0, fwd: 'masq', weight: 1 } },
  ]);
  assert.deepEqual(commands('-a -f 1 -r rs1:8080 -m -w 3'), [
    { op: 'add-server', service: FWM(1), dest: { addr: '198.19.0.11', port: 8080, fwd: 'masq', weight: 3 } },
  ]);
  assert.deepEqual(commands('-d -f 1 -r 198.19.0.11'), [
    { op: 'delete-server', service: FWM(1), dest: { addr: '198.19.0.11', port: 0 } },
  ]);
  const l = p('-L -n -f 7');
  assert.equal(l.kind, 'list');
  assert.deepEqual((l as Extract<ParsedInvocation, { kind: 'list' }>).service, FWM(7));
  assert.deepEqual(commands('-Z -f 7'), [{ op: 'zero', service: FWM(7) }]);
});

function table(): ServiceTable {
  const t = new ServiceTable();
  for (const line of [
    '-A -f 1 -s rr -p 10', '-a -f 1 -r 198.19.0.12 -m', '-a -f 1 -r 198.19.0.11:8080 -m -w 2',
    '-A -t 198.18.100.1:80 -s wlc', '-a -t 198.18.100.1:80 -r 198.19.0.11:80 -m',
  ]) t.executeAtomically(commands(line));
  return t;
}

test('-L -n: FWM lines follow the address services (ipvs_cmp_services compares fwmark first)', () => {
  const text = formatServices({ tableSize: 4096, services: table().info() }, { numeric: true }, NAMES);
  assert.equal(text, [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'TCP  198.18.100.1:80 wlc',
    '  -> 198.19.0.11:80               Masq    1      0          0         ',
    'FWM  1 rr persistent 10',
    '  -> 198.19.0.11:8080             Masq    2      0          0         ',
    '  -> 198.19.0.12:0                Masq    1      0          0         ',
    '',
  ].join('\n'));
  const stats = formatServices({ tableSize: 4096, services: table().info() }, { numeric: true, stats: true }, NAMES);
  assert.match(stats, /^FWM  1 {35}0( {8}0){4}$/m, '%-33s (27 spaces after "FWM  1") then five %9u counters');
});

test('-S prints -A -f / -a -f and -R reads it back into the same table', () => {
  const saved = formatSave(table().info(), true, NAMES);
  assert.equal(saved, [
    '-A -t 198.18.100.1:80 -s wlc',
    '-a -t 198.18.100.1:80 -r 198.19.0.11:80 -m -w 1',
    '-A -f 1 -s rr -p 10',
    '-a -f 1 -r 198.19.0.11:8080 -m -w 2',
    '-a -f 1 -r 198.19.0.12:0 -m -w 1',
    '',
  ].join('\n'));
  const restored = new ServiceTable();
  restored.executeAtomically(parseRestore(saved, NAMES));
  assert.equal(formatSave(restored.info(), true, NAMES), saved);
  assert.equal(restored.lookupFwmark(1)?.persistent, 10);
});

test('-L -c: a mark template is listed as protocol IP with the mark as its virtual address', () => {
  const text = formatConns([{
    proto: 'ip', expires: 9, state: 'NONE', caddr: '198.18.0.2', cport: 0, vaddr: '0.0.0.1', vport: 0,
    daddr: '198.19.0.11', dport: 0,
  }], { numeric: true }, NAMES);
  assert.equal(text.split('\n')[2], 'IP  00:09  NONE        198.18.0.2:0       0.0.0.1:0          198.19.0.11:0');
});

test('service table: marks are their own key space; errors as ipvsadm reports them', () => {
  const t = table();
  const svc = t.lookupFwmark(1)!;
  assert.equal(svc.fwmark, 1);
  assert.equal(svc.addr, 0);
  assert.equal(svc.port, 0);
  assert.equal(t.lookup(6, 0, 0), undefined, 'a mark service is not found by address');
  assert.equal(t.lookupFwmark(2), undefined);
  assert.throws(() => t.executeAtomically(commands('-A -f 1')), /exists/i);
  assert.throws(() => t.executeAtomically(commands('-a -f 9 -r 198.19.0.11 -m')), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ESVCUNDEF', 'ipvsadm: Service not defined');
    return true;
  });
  assert.throws(() => t.addService({ ...FWM(0), fwmark: 0.5 }), /Illegal fwmark/);
  t.executeAtomically(commands('-E -f 1 -s wrr'));
  assert.equal(t.lookupFwmark(1)?.schedName, 'wrr');
  assert.equal(t.lookupFwmark(1)?.persistent, 10, '-E keeps what it does not set');
  const removed: number[] = [];
  const hooked = new ServiceTable({ serviceRemoved: (s) => removed.push(s.fwmark) });
  hooked.executeAtomically(commands('-A -f 5'));
  hooked.executeAtomically(commands('-D -f 5'));
  assert.deepEqual(removed, [5]);
  assert.equal(hooked.lookupFwmark(5), undefined);
});
