import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from '../../src/ipvs/command';
import { IpvsError } from '../../src/ipvs/errors';
import { ServiceTable } from '../../src/ipvs/service';

function vip(i: number): string {
  return `198.18.${128 + (i >> 8)}.${i & 255}`;
}

function table(n: number): ServiceTable {
  const t = new ServiceTable();
  for (let i = 0; i < n; i++) {
    t.addService({ proto: 'tcp', addr: vip(i), port: 80, scheduler: 'rr' });
    t.addDest({ proto: 'tcp', addr: vip(i), port: 80 }, { addr: '198.19.0.11', port: 80, fwd: 'masq', weight: 1 });
  }
  return t;
}

function snapshot(t: ServiceTable): string {
  return JSON.stringify(t.configCommands());
}

function refused(t: ServiceTable, cmds: Command[], code: string): void {
  assert.throws(() => t.executeAtomically(cmds), (e: unknown) => e instanceof IpvsError && e.code === code);
}

test('a batch that fails at any command changes nothing, whatever it touched before', () => {
  const t = table(50);
  const before = snapshot(t);
  const key = { proto: 'tcp' as const, addr: vip(3), port: 80 };
  // Edits, deletions and additions of existing services, then a command that fails.
  refused(t, [
    { op: 'add-server', service: key, dest: { addr: '198.19.0.12', port: 80, fwd: 'masq' } },
    { op: 'edit-server', service: key, dest: { addr: '198.19.0.11', port: 80, weight: 7 } },
    { op: 'delete-service', service: { proto: 'tcp', addr: vip(4), port: 80 } },
    { op: 'clear' },
    { op: 'add-service', service: { proto: 'tcp', addr: vip(5), port: 80 } },
    { op: 'delete-server', service: { proto: 'tcp', addr: vip(6), port: 80 }, dest: { addr: '198.19.0.11' } },
  ], 'ESVCUNDEF');
  assert.equal(snapshot(t), before);
  assert.equal(t.services().length, 50);
});

test('the validation sees the batch in order: delete then re-add, clear then add, add then use', () => {
  const t = table(10);
  const s1 = { proto: 'tcp' as const, addr: vip(1), port: 80 };
  t.executeAtomically([
    { op: 'delete-service', service: s1 },
    { op: 'add-service', service: { ...s1, scheduler: 'wlc' } },
    { op: 'add-server', service: s1, dest: { addr: '198.19.0.13', port: 80, fwd: 'masq' } },
  ]);
  const info = t.info(s1)[0];
  assert.equal(info.scheduler, 'wlc');
  assert.deepEqual(info.dests.map((d) => d.addr), ['198.19.0.13']);
  // A service deleted earlier in the batch is gone for the later commands.
  refused(t, [
    { op: 'delete-service', service: s1 },
    { op: 'edit-service', service: { ...s1, scheduler: 'rr' } },
  ], 'ENOSVC');
  // After -C in a batch only what the batch adds exists; an old service is not found.
  refused(t, [
    { op: 'clear' },
    { op: 'add-service', service: { proto: 'tcp', addr: vip(100), port: 80 } },
    { op: 'add-server', service: { proto: 'tcp', addr: vip(2), port: 80 }, dest: { addr: '198.19.0.11' } },
  ], 'ESVCUNDEF');
  t.executeAtomically([{ op: 'clear' }, { op: 'add-service', service: { proto: 'tcp', addr: vip(2), port: 80 } }]);
  assert.deepEqual(t.services().map((s) => s.addr >>> 0 & 255), [2]);
  // A service that exists (before or earlier in the batch) cannot be added again.
  refused(t, [{ op: 'add-service', service: { proto: 'tcp', addr: vip(3), port: 80 } },
    { op: 'add-service', service: { proto: 'tcp', addr: vip(2), port: 80 } }], 'ESVCEXISTS');
  assert.equal(t.services().length, 1);
});

test('a batch costs what it touches: 2,000 deletions from a table of 20,000 services', () => {
  const t = table(20_000);
  const cmds: Command[] = [];
  for (let i = 0; i < 2000; i++) cmds.push({ op: 'delete-service', service: { proto: 'tcp', addr: vip(i * 10), port: 80 } });
  t.executeAtomically(cmds);
  assert.equal(t.services().length, 18_000);
  assert.equal(t.services().some((s) => ((s.addr >>> 0) & 0xffff) === (128 << 8)), false);
  // The order of what is left is the order of addition (ipvsadm -L lists in that order).
  const addrs = t.services().map((s) => s.addr >>> 0);
  assert.deepEqual(addrs, [...addrs].sort((a, b) => a - b));
});
