/** The record of rule changes (src/control/audit.ts): one record per change, who asked, readable values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Command, Result } from '../../src/ipvs/command';
import { handleLogged, logChanges } from '../../src/control/audit';
import { logOptions } from '../../src/log';
import { parseArgs, namesFrom } from '../../src/control/ipvsadm-args';
import { parseRestore } from '../../src/control/save';

function capture(): { log: pino.Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  const log = pino(logOptions('lvsd', 'info'), sink);
  return { log, lines: () => chunks.join('').split('\n').filter((l) => l).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const names = namesFrom('', '');
function cmds(line: string): Command[] {
  const inv = parseArgs(line.split(' '), names);
  assert.equal(inv.kind, 'commands', line);
  return (inv as { commands: Command[] }).commands;
}

const done = (): Result => ({ kind: 'done' });

test('each ipvsadm rule change is logged once, with ipvsadm\'s option and readable values', async () => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ['-A -t 198.18.100.1:80 -s wlc -p 300', 'virtual service added',
      { cmd: '-A', service: 'TCP 198.18.100.1:80', scheduler: 'wlc', persistent: 300 }],
    ['-E -u 198.18.100.1:53 -s rr', 'virtual service edited', { cmd: '-E', service: 'UDP 198.18.100.1:53', scheduler: 'rr' }],
    ['-D -f 7', 'virtual service deleted', { cmd: '-D', service: 'FWM 7' }],
    ['-a -t 198.18.100.1:80 -r 198.19.0.11:8080 -m -w 2', 'real server added',
      { cmd: '-a', service: 'TCP 198.18.100.1:80', dest: '198.19.0.11:8080', fwd: 'Masq', weight: 2 }],
    ['-e -t 198.18.100.1:80 -r 198.19.0.12 -i -w 0', 'real server edited',
      { cmd: '-e', service: 'TCP 198.18.100.1:80', dest: '198.19.0.12:80', fwd: 'Tunnel', weight: 0 }],
    ['-d -t 198.18.100.1:80 -r 198.19.0.13', 'real server deleted', { cmd: '-d', service: 'TCP 198.18.100.1:80', dest: '198.19.0.13:80' }],
    ['-C', 'virtual server table cleared', { cmd: '-C' }],
    ['-Z -t 198.18.100.1:80', 'counters zeroed', { cmd: '-Z', service: 'TCP 198.18.100.1:80' }],
    ['--set 900 120 300', 'timeouts set', { cmd: '--set', tcp: 900, tcpfin: 120, udp: 300 }],
  ];
  for (const [line, msg, fields] of cases) {
    const { log, lines } = capture();
    const peer = { uid: 0, pid: 4242 };
    await handleLogged(log, done, cmds(line), peer);
    const recs = lines();
    assert.equal(recs.length, 1, line);
    assert.equal(recs[0].msg, msg, line);
    assert.equal(recs[0].level, 'info');
    for (const [k, v] of Object.entries(fields)) assert.deepEqual(recs[0][k], v, `${line}: ${k}`);
    assert.deepEqual(recs[0].peer, peer);
  }
});

test('-R: one record per restored line, sharing the batch size; no peer field without a peer', async () => {
  const { log, lines } = capture();
  const restored = parseRestore('-A -t 198.18.100.1:80 -s rr\n-a -t 198.18.100.1:80 -r 198.19.0.11:80 -g -w 1\n');
  await handleLogged(log, done, restored);
  const recs = lines();
  assert.deepEqual(recs.map((r) => [r.cmd, r.batch, r.fwd]), [['-A', 2, undefined], ['-a', 2, 'Route']]);
  assert.ok(!('peer' in recs[0]));
});

test('queries are not logged; a refused change is logged once at warn and rethrown', async () => {
  const { log, lines } = capture();
  await handleLogged(log, () => ({ kind: 'conns', conns: [] }), [{ op: 'list-conns' }]);
  logChanges(log, [{ op: 'status' }, { op: 'list-services' }]);
  assert.equal(lines().length, 0);
  const refuse = (): Result => {
    throw Object.assign(new Error('Service not defined'), { code: 'ESRCH' });
  };
  await assert.rejects(handleLogged(log, refuse, cmds('-d -t 198.18.100.1:80 -r 198.19.0.13')), /Service not defined/);
  const recs = lines();
  assert.equal(recs.length, 1);
  assert.equal(recs[0].level, 'warn');
  assert.equal(recs[0].msg, 'rule change refused');
  assert.equal(recs[0].code, 'ESRCH');
  assert.equal(recs[0].dest, '198.19.0.13:80');
});
