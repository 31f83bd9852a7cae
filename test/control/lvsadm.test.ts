import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command, Result } from '../../src/ipvs/command';
import { daemonError } from '../../src/control/errors';
import { namesFrom } from '../../src/control/ipvsadm-args';
import { main } from '../../src/cli/lvsadm';

async function run(argv: string[], answer: (cmds: Command[]) => Result, stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const sent: Array<{ path: string; commands: Command[] }> = [];
  const code = await main(argv, {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readStdin: async () => stdin,
    names: namesFrom('', ''),
    send: async (path, commands) => {
      sent.push({ path, commands });
      return answer(commands);
    },
  });
  return { code, out: out.join(''), err: err.join(''), sent };
}

const done = (): Result => ({ kind: 'done' });

test('commands print nothing and exit 0; --socket selects the path', async () => {
  const r = await run(['-A', '-t', '198.18.100.1:80', '--socket', '/tmp/t.sock'], done);
  assert.deepEqual([r.code, r.out, r.err], [0, '', '']);
  assert.equal(r.sent[0].path, '/tmp/t.sock');
});

test('-R sends every restored command in one request', async () => {
  const r = await run(['-R'], done, '-C\n-A -t 198.18.100.1:80 -s rr\n-a -t 198.18.100.1:80 -r 198.19.0.11\n');
  assert.equal(r.code, 0);
  assert.equal(r.sent.length, 1);
  assert.deepEqual(r.sent[0].commands.map((c) => c.op), ['clear', 'add-service', 'add-server']);
});

test('exit statuses: 2 for bad arguments, 255 for daemon refusals and unknown options, 1 for failed listings', async () => {
  const bad = await run(['-a', '-t', '198.18.100.1:80', '-r', '198.19.0.11', '-w', '70000'], done);
  assert.deepEqual([bad.code, bad.err, bad.sent.length], [2, 'illegal weight specified\n', 0]);
  const unknown = await run(['-L', '--bogus'], done);
  assert.deepEqual([unknown.code, unknown.err], [255, '--bogus: unknown option\n']);
  const refused = await run(['-A', '-t', '198.18.100.1:80'], () => { throw daemonError('ESVCEXISTS'); });
  assert.deepEqual([refused.code, refused.err], [255, 'Service already exists\n']);
  const list = await run(['-L', '-t', '198.18.100.1:80'], () => { throw daemonError('ENOSVC'); });
  assert.deepEqual([list.code, list.err], [1, 'No such service\n']);
});

test('listings request the right snapshot', async () => {
  const t = await run(['-L', '--timeout'], () => ({ kind: 'timeout', timeout: { tcp: 900, tcpfin: 120, udp: 300 } }));
  assert.equal(t.out, 'Timeout (tcp tcpfin udp): 900 120 300\n');
  assert.deepEqual(t.sent[0].commands, [{ op: 'get-timeout' }]);
  const c = await run(['-Lnc'], () => ({ kind: 'conns', conns: [] }));
  assert.equal(c.out, 'IPVS connection entries\npro expire state       source             virtual            destination\n');
  const s = await run(['-Sn'], () => ({ kind: 'services', tableSize: 4096, services: [] }));
  assert.deepEqual([s.code, s.out], [0, '']);
  assert.deepEqual(s.sent[0].commands, [{ op: 'list-services' }]);
  const l = await run([], () => ({ kind: 'services', tableSize: 4096, services: [] }));
  assert.equal(l.out, 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n');
});
