/** lvsadm's HA extensions: argument parsing, drain against a scripted daemon, listings. */
import { test } from 'node:test';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { Command, ConnInfo, Result } from '../../src/ipvs/command';
import { LvsadmError } from '../../src/control/errors';
import {
  drain, formatChecks, formatDaemons, isHaInvocation, liveEntries, parseDaemon, parseDrain, runHa,
} from '../../src/control/ha-cli';

const svc = { proto: 'tcp' as const, addr: '198.18.100.1', port: 80 };

test('parseDrain: service, server with the virtual port by default, deadline', () => {
  assert.deepEqual(parseDrain(['--drain', '-t', '198.18.100.1:80', '-r', '198.19.0.11', '--deadline', '2.5']), {
    service: svc, dest: { addr: '198.19.0.11', port: 80 }, deadlineS: 2.5,
  });
  assert.equal(parseDrain(['--drain', '-u', '198.18.100.1:53', '-r', '198.19.0.11:5353']).service.proto, 'udp');
  assert.throws(() => parseDrain(['--drain', '-r', '198.19.0.11']), LvsadmError);
  assert.throws(() => parseDrain(['--drain', '-t', '198.18.100.1:80', '-r', 'x']), LvsadmError);
  assert.throws(() => parseDrain(['--drain', '-t', '198.18.100.1:80', '-r', '198.19.0.11', '--deadline', 'soon']), LvsadmError);
});

test('parseDaemon: ipvsadm --start-daemon/--stop-daemon', () => {
  assert.deepEqual(parseDaemon(['--start-daemon', 'master', '--mcast-interface', 'eth0', '--syncid', '9']),
    { op: 'start-daemon', daemon: { state: 'master', mcastIface: 'eth0', syncid: 9 } });
  assert.deepEqual(parseDaemon(['--stop-daemon', 'backup']), { op: 'stop-daemon', state: 'backup' });
  assert.throws(() => parseDaemon(['--start-daemon', 'primary', '--mcast-interface', 'eth0']), LvsadmError);
  assert.throws(() => parseDaemon(['--start-daemon', 'master']), /mcast-interface/);
  assert.throws(() => parseDaemon(['--start-daemon', 'master', '--mcast-interface', 'eth0', '--syncid', '256']), LvsadmError);
  assert.equal(isHaInvocation(['-L', '-n']), false);
  assert.equal(isHaInvocation(['--stop-daemon', 'master']), true);
});

function conn(over: Partial<ConnInfo>): ConnInfo {
  return {
    proto: 'tcp', expires: 10, state: 'ESTABLISHED', caddr: '198.18.0.2', cport: 1000,
    vaddr: svc.addr, vport: 80, daddr: '198.19.0.11', dport: 80, ...over,
  };
}

test('liveEntries: TIME_WAIT/CLOSE do not count; UDP entries do; other servers and services do not', () => {
  const d = { addr: '198.19.0.11', port: 80 };
  const conns = [
    conn({}), conn({ state: 'TIME_WAIT' }), conn({ state: 'CLOSE' }), conn({ state: 'FIN_WAIT' }),
    conn({ daddr: '198.19.0.12' }), conn({ vport: 81 }),
    conn({ proto: 'udp', state: 'UDP' }),
  ];
  assert.equal(liveEntries(conns, svc, d), 2);
  assert.equal(liveEntries(conns, { ...svc, proto: 'udp' }, d), 1);
});

test('drain: weight 0 first, removal once the last live entry is gone', async () => {
  const sent: Command[] = [];
  let polls = 0;
  let t = 0;
  const out: string[] = [];
  const code = await drain(parseDrain(['--drain', '-t', '198.18.100.1:80', '-r', '198.19.0.11:80', '--deadline', '60']), {
    send: async (cmds): Promise<Result> => {
      sent.push(...cmds);
      const c = cmds[0];
      if (c.op === 'list-services') {
        return { kind: 'services', tableSize: 4096, services: [{
          ...svc, scheduler: 'rr', netmask: '255.255.255.255', schedFlags: [], ops: false,
          stats: { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 },
          rates: { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 },
          dests: [{ addr: '198.19.0.11', port: 80, fwd: 'masq', weight: 3, upper: 0, lower: 0, activeConns: 1,
            inactiveConns: 0, persistConns: 0, stats: { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 },
            rates: { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 } }],
        }] };
      }
      if (c.op === 'list-conns') {
        polls++;
        return { kind: 'conns', conns: polls < 3 ? [conn({})] : [conn({ state: 'TIME_WAIT' })] };
      }
      return { kind: 'done' };
    },
    stdout: (s) => out.push(s),
    now: () => t,
    sleep: async (ms) => { t += ms; },
  });
  assert.equal(code, 0);
  assert.deepEqual(sent.map((c) => c.op), ['list-services', 'edit-server', 'list-conns', 'list-conns', 'list-conns', 'delete-server']);
  assert.deepEqual(sent[1], { op: 'edit-server', service: svc, dest: { addr: '198.19.0.11', port: 80, fwd: 'masq', weight: 0 } });
  assert.match(out.join(''), /no connections left/);
});

test('drain: the deadline removes the server with connections left', async () => {
  let t = 0;
  const ops: string[] = [];
  const out: string[] = [];
  await runHa(['--drain', '-t', '198.18.100.1:80', '-r', '198.19.0.11', '--deadline', '1'], {
    send: async (cmds): Promise<Result> => {
      ops.push(cmds[0].op);
      if (cmds[0].op === 'list-services') {
        return { kind: 'services', tableSize: 1, services: [{ dests: [{ addr: '198.19.0.11', port: 80, fwd: 'masq' }] } as never] };
      }
      if (cmds[0].op === 'list-conns') return { kind: 'conns', conns: [conn({}), conn({ cport: 2 })] };
      return { kind: 'done' };
    },
    stdout: (s) => out.push(s),
    now: () => t,
    sleep: async (ms) => { t += ms; },
  });
  assert.equal(ops.at(-1), 'delete-server');
  assert.equal(t, 1000);
  assert.match(out.join(''), /deadline passed, removed with 2 connections left/);
});

test('listings: --checks and -L --daemon', () => {
  assert.equal(formatDaemons([{ state: 'master', mcastIface: 'eth0', syncid: 1 }, { state: 'backup', mcastIface: 'eth1', syncid: 0 }]),
    'master sync daemon (mcast=eth0, syncid=1)\nbackup sync daemon (mcast=eth1, syncid=0)\n');
  const text = formatChecks([{
    proto: 'tcp', addr: '198.18.100.1', port: 80, quorum: 2, hysteresis: 0, liveWeight: 1, quorumUp: false,
    sorryActive: true, alive: ['198.19.0.11:80'],
    checks: [{ dest: '198.19.0.11:80', check: 'HTTP_GET', state: 'up', retries: 0, probes: 4, failures: 1, detail: '/: HTTP 200', since: 3 }],
  }]);
  assert.equal(text,
    'TCP  198.18.100.1:80         live weight 1, quorum 2 (hysteresis 0) LOST, sorry server active\n'
    + '  -> 198.19.0.11:80         HTTP_GET   UP   probes 4 failures 1 retry 0 since 3s: /: HTTP 200\n');
});

test('--sync-key FILE: read by lvsadm, sent as hex; a loose or short key file is one clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvs-synckey-'));
  try {
    const f = join(dir, 'key');
    writeFileSync(f, 'k'.repeat(32) + '\n', { mode: 0o600 });
    const cmd = parseDaemon(['--start-daemon', 'backup', '--mcast-interface', 'eth0', '--sync-key', f, '--sync-peer', '198.18.0.9']);
    assert.equal(cmd.op, 'start-daemon');
    if (cmd.op === 'start-daemon') {
      assert.equal(cmd.daemon.key, Buffer.from('k'.repeat(32)).toString('hex'));
      assert.equal(cmd.daemon.peer, '198.18.0.9');
    }
    chmodSync(f, 0o644);
    assert.throws(() => parseDaemon(['--start-daemon', 'backup', '--mcast-interface', 'eth0', '--sync-key', f]), /permissions too open/);
    writeFileSync(join(dir, 'short'), 'abc', { mode: 0o600 });
    assert.throws(() => parseDaemon(['--start-daemon', 'backup', '--mcast-interface', 'eth0', '--sync-key', join(dir, 'short')]),
      /16\.\.1024 bytes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
