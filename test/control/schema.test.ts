import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from '../../src/ipvs/command';
import { validateCommands } from '../../src/control/schema';
import { ControlServer } from '../../src/control/socket';

const svc = { proto: 'tcp', addr: '198.18.100.1', port: 80 };

/** Raw requests the daemon used to accept wrongly, each with the field its error must name. */
const BAD: Array<[string, unknown, RegExp]> = [
  ['proto icmp', { op: 'add-service', service: { ...svc, proto: 'icmp' } }, /service\.proto/],
  ['schedFlags as a string', { op: 'add-service', service: { ...svc, schedFlags: 'abc' } }, /service\.schedFlags/],
  ['unknown sched flag', { op: 'add-service', service: { ...svc, schedFlags: ['a'] } }, /service\.schedFlags\[0\]/],
  ['start-daemon, unknown state', { op: 'start-daemon', daemon: { state: 'sideways', mcastIface: 'eth0', syncid: 1 } }, /daemon\.state/],
  ['start-daemon, port 99999', { op: 'start-daemon', daemon: { state: 'master', mcastIface: 'eth0', syncid: 1, port: 99999 } }, /daemon\.port/],
  ['port 99999', { op: 'add-service', service: { ...svc, port: 99999 } }, /service\.port/],
  ['port as a string', { op: 'add-service', service: { ...svc, port: '80' } }, /service\.port/],
  ['fractional weight', { op: 'add-server', service: svc, dest: { addr: '198.19.0.11', weight: 1.5 } }, /dest\.weight/],
  ['weight 70000', { op: 'add-server', service: svc, dest: { addr: '198.19.0.11', weight: 70000 } }, /dest\.weight/],
  ['bad address', { op: 'add-server', service: svc, dest: { addr: '198.19.0.256' } }, /dest\.addr/],
  ['bad fwd', { op: 'add-server', service: svc, dest: { addr: '198.19.0.11', fwd: 'nat' } }, /dest\.fwd/],
  ['extra field', { op: 'add-service', service: { ...svc, evil: 1 } }, /service/],
  ['extra top-level field', { op: 'clear', all: true }, /"all"/],
  ['unknown op', { op: 'reboot' }, /op/],
  ['missing service', { op: 'delete-service' }, /service/],
  ['negative timeout', { op: 'set-timeout', tcp: -1, tcpfin: 0, udp: 0 }, /tcp/],
  ['sysctl value as string', { op: 'set-sysctl', name: 'expire_nodest_conn', value: '1' }, /value/],
  ['fwmark 2^32', { op: 'add-service', service: { ...svc, fwmark: 2 ** 32 } }, /fwmark/],
  ['not an object', 7, /op|object/],
];

test('schema: every malformed field is refused with its path; valid commands pass unchanged', () => {
  for (const [what, cmd, where] of BAD) {
    const r = validateCommands([{ op: 'clear' }, cmd]);
    assert.equal(r.ok, false, what);
    if (!r.ok) {
      assert.match(r.message, /^commands\[1\]/, what);
      assert.match(r.message, where, `${what}: ${r.message}`);
      assert.ok(!r.message.includes('\n'), `${what}: one line`);
    }
  }
  const good: Command[] = [
    { op: 'add-service', service: { proto: 'udp', addr: '198.18.100.1', port: 53, scheduler: 'sh', schedFlags: ['sh-port'], persistent: 300, netmask: '255.255.255.0', ops: true } },
    { op: 'add-server', service: { proto: 'udp', addr: '198.18.100.1', port: 53 }, dest: { addr: '198.19.0.11', port: 53, fwd: 'masq', weight: 0, upper: 10, lower: 2 } },
    { op: 'start-daemon', daemon: { state: 'backup', mcastIface: 'eth0', syncid: 255, group: '224.0.0.81', port: 8848, ttl: 1 } },
    { op: 'list-services' }, { op: 'zero' }, { op: 'stop-daemon', state: 'master' },
  ];
  assert.deepEqual(validateCommands(good), { ok: true, commands: good });
});

test('control socket: a malformed request gets one EPROTO line and never reaches the handler', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-schema-'));
  const path = join(dir, 'lvsd.sock');
  let calls = 0;
  const server = new ControlServer(path, () => {
    calls++;
    return { kind: 'done' };
  });
  await server.listen();
  try {
    const lines = BAD.map(([, cmd], i) => JSON.stringify({ id: i + 1, commands: [{ op: 'clear' }, cmd] })).join('\n') + '\n';
    const answers = await new Promise<string[]>((resolve, reject) => {
      const sock = createConnection(path);
      let buf = '';
      const timer = setTimeout(() => reject(new Error('timeout')), 5000);
      sock.on('connect', () => sock.write(lines));
      sock.on('data', (d) => {
        buf += d.toString();
        const got = buf.split('\n').filter((l) => l.length > 0);
        if (got.length >= BAD.length) {
          clearTimeout(timer);
          sock.destroy();
          resolve(got);
        }
      });
      sock.on('error', reject);
    });
    assert.equal(answers.length, BAD.length);
    answers.forEach((l, i) => {
      const a = JSON.parse(l);
      assert.equal(a.id, i + 1);
      assert.equal(a.ok, false, BAD[i][0]);
      assert.equal(a.error.code, 'EPROTO', BAD[i][0]);
    });
    assert.equal(calls, 0, 'nothing reached the handler');
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
