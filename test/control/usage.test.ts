/**
 * lvsadm --help against the parsers: every option of ipvsadm-args.ts's table and of ha-cli.ts's
 * extensions appears in the usage text, every option the text names is accepted, and --vrrp.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { namesFrom, optionNames, parseArgs, usageText } from '../../src/control/ipvsadm-args';
import { formatVrrp, HA_OPTIONS, isHaInvocation, parseDaemon, parseDrain, runHa } from '../../src/control/ha-cli';
import type { Command, Result } from '../../src/ipvs/command';

const help = usageText();
const names = namesFrom('', '');

test('every option in the parser\'s table is in lvsadm --help, long and short', () => {
  const missing: string[] = [];
  for (const o of optionNames()) {
    if (!new RegExp(`--${o.long}\\b`).test(help)) missing.push(`--${o.long}`);
    if (o.short !== undefined && !new RegExp(`(^|[\\s|,])-${o.short}\\b|-[A-Za-z]\\|${o.short}\\b`, 'm').test(help)) missing.push(`-${o.short}`);
  }
  for (const o of HA_OPTIONS) if (!new RegExp(`--${o.long}\\b`).test(help)) missing.push(`--${o.long}`);
  assert.deepEqual(missing, []);
});

test('every --option the help names is accepted by one of the parsers', () => {
  const known = new Set([...optionNames().map((o) => o.long), ...HA_OPTIONS.map((o) => o.long)]);
  const named = [...help.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]);
  assert.ok(named.length > 40);
  assert.deepEqual(named.filter((n) => !known.has(n)), []);
});

test('the options ha-cli.ts lists are the ones its parsers take', () => {
  for (const o of HA_OPTIONS) {
    const argv = o.arg === undefined ? [`--${o.long}`] : [`--${o.long}`, sample(o.long)];
    if (o.with === '') {
      assert.ok(isHaInvocation(argv), o.long);
    } else if (o.with === 'drain') {
      assert.equal(parseDrain(['--drain', '-t', '198.18.100.1:80', '-r', '198.19.0.11', ...argv]).deadlineS, 7);
    } else {
      const c = parseDaemon(['--start-daemon', 'master', '--mcast-interface', 'eth0', ...argv]);
      assert.equal(c.op, 'start-daemon', o.long);
    }
  }
  assert.throws(() => parseDaemon(['--start-daemon', 'master', '--mcast-interface', 'eth0', '--bogus', '1']), /unexpected argument/);
  // The ipvsadm parser does not take them itself (they go to ha-cli first).
  assert.throws(() => parseArgs(['--vrrp'], names));
});

function sample(long: string): string {
  return ({ deadline: '7', 'start-daemon': 'master', 'stop-daemon': 'backup', 'mcast-interface': 'eth1', syncid: '3',
    'mcast-group': '224.0.0.81', 'mcast-port': '8848', 'mcast-ttl': '2' } as Record<string, string>)[long] ?? 'x';
}

test('lvsadm --vrrp asks lvsd for list-vrrp and prints one line per instance', async () => {
  const sent: Command[][] = [];
  let out = '';
  const reply: Result = { kind: 'vrrp', instances: [
    { name: 'VI_1', state: 'MASTER', priority: 150, master: '198.19.0.1' },
    { name: 'VI_2', state: 'BACKUP', priority: 100, master: '' },
  ] };
  const code = await runHa(['--vrrp', '--socket', '/tmp/x'], {
    send: async (c) => { sent.push(c); return reply; },
    stdout: (t) => { out += t; },
  });
  assert.equal(code, 0);
  assert.deepEqual(sent, [[{ op: 'list-vrrp' }]]);
  assert.equal(out, [
    'Instance             State   Priority  Master',
    'VI_1                 MASTER  150       198.19.0.1',
    'VI_2                 BACKUP  100       -',
    '',
  ].join('\n'));
  assert.match(formatVrrp([]), /no VRRP instances/);
  await assert.rejects(runHa(['--vrrp', 'extra'], { send: async () => reply, stdout: () => undefined }), /--vrrp: unexpected argument 'extra'/);
});
