/**
 * sd_notify (src/daemon/notify.ts, native/notify.cc) against a receiver playing the service
 * manager (netns/notify-listen.py, python3): path and abstract sockets, the message forms,
 * WATCHDOG_USEC/WATCHDOG_PID, and the pid file (src/daemon/pidfile.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Notifier } from '../../src/daemon/notify';
import { PidFile } from '../../src/daemon/pidfile';
import { nativeAddonPath } from '../../src/phy/native';

const LISTENER = join(__dirname, '../../../netns/notify-listen.py');
const noAddon = nativeAddonPath() === undefined && 'native addon not built';

/** Starts the listener on `addr`; resolves with a function returning the lines so far. */
async function listen(addr: string): Promise<{ proc: ChildProcess; lines: () => string[] }> {
  const proc = spawn('python3', [LISTENER, addr], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  await until(() => out.includes('listening\n'));
  return { proc, lines: () => out.split('\n').filter((l) => l && l !== 'listening') };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('READY, RELOADING with MONOTONIC_USEC, STATUS, STOPPING over a path socket', { skip: noAddon }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'notify-'));
  const sock = join(dir, 'notify.sock');
  const l = await listen(sock);
  try {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: sock };
    const n = Notifier.fromEnv(env);
    assert.equal(env.NOTIFY_SOCKET, undefined, 'removed from the environment for children');
    assert.ok(n.ready('2 virtual services'));
    const t0 = process.hrtime.bigint() / 1000n;
    assert.ok(n.reloading());
    assert.ok(n.ready());
    assert.ok(n.status('line one\nline two'));
    assert.ok(n.stopping());
    await until(() => l.lines().length === 5);
    const [ready, reloading, ready2, status, stopping] = l.lines();
    assert.equal(ready, 'READY=1 STATUS=2 virtual services');
    const m = /^RELOADING=1 MONOTONIC_USEC=(\d+)$/.exec(reloading);
    assert.ok(m, reloading);
    const usec = BigInt(m[1]);
    assert.ok(usec >= t0 && usec - t0 < 5_000_000n, `${usec} vs ${t0}`);
    assert.equal(ready2, 'READY=1');
    assert.equal(status, 'STATUS=line one line two');
    assert.equal(stopping, 'STOPPING=1');
    assert.equal(n.failures, 0);
  } finally {
    l.proc.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an abstract socket (@name) works too', { skip: noAddon }, async () => {
  const name = `@lvsd-notify-test-${process.pid}`;
  const l = await listen(name);
  try {
    const n = Notifier.fromEnv({ NOTIFY_SOCKET: name });
    assert.ok(n.ready());
    await until(() => l.lines().length === 1);
    assert.deepEqual(l.lines(), ['READY=1']);
  } finally {
    l.proc.kill();
  }
});

test('WATCHDOG=1 at half of WATCHDOG_USEC; not for another WATCHDOG_PID; none without the variable', { skip: noAddon }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'notify-'));
  const sock = join(dir, 'notify.sock');
  const l = await listen(sock);
  try {
    const other = Notifier.fromEnv({ NOTIFY_SOCKET: sock, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' });
    assert.equal(other.watchdogUsec, 0);
    assert.equal(Notifier.fromEnv({ NOTIFY_SOCKET: sock }).watchdogUsec, 0);
    const n = Notifier.fromEnv({ NOTIFY_SOCKET: sock, WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) });
    assert.equal(n.watchdogUsec, 200000);
    const t0 = Date.now();
    n.startWatchdog();
    // Keep the loop alive while waiting (the keep-alive timer is unref'd).
    await until(() => l.lines().length >= 4);
    const elapsed = Date.now() - t0;
    n.stopWatchdog();
    assert.ok(l.lines().every((x) => x === 'WATCHDOG=1'));
    // 4 messages: the first at once, then every 100 ms.
    assert.ok(elapsed >= 250, `4 keep-alives after ${elapsed} ms`);
    const count = l.lines().length;
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(l.lines().length, count, 'no keep-alive after stopWatchdog');
  } finally {
    l.proc.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without NOTIFY_SOCKET nothing is sent; a dead socket is counted, not thrown', { skip: noAddon }, () => {
  const off = Notifier.fromEnv({});
  assert.equal(off.enabled, false);
  assert.equal(off.ready(), false);
  const dir = mkdtempSync(join(tmpdir(), 'notify-'));
  try {
    const dead = Notifier.fromEnv({ NOTIFY_SOCKET: join(dir, 'nobody') });
    assert.equal(dead.ready(), false);
    assert.equal(dead.failures, 1);
    assert.match(dead.lastError ?? '', /ENOENT|No such file/);
    const bad = Notifier.fromEnv({ NOTIFY_SOCKET: 'relative/path' });
    assert.equal(bad.ready(), false);
    assert.match(bad.lastError ?? '', /Invalid argument/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the pid file is written whole and removed only while it is ours', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidfile-'));
  try {
    const path = join(dir, 'lvsd.pid');
    writeFileSync(path, '999999\n');
    const p = new PidFile(path, 4242);
    p.write();
    assert.equal(readFileSync(path, 'utf8'), '4242\n');
    assert.ok(!existsSync(`${path}.tmp.4242`));
    p.remove();
    assert.ok(!existsSync(path));
    const q = new PidFile(path, 4243);
    q.write();
    writeFileSync(path, '5555\n'); // another instance took it over
    q.remove();
    assert.equal(readFileSync(path, 'utf8'), '5555\n');
    assert.throws(() => new PidFile(join(dir, 'missing', 'x.pid')).write(), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lvs-dlm under a notify socket: READY=1 once listening, pid file, STOPPING=1, readable records', { skip: noAddon }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'notify-dlm-'));
  const sock = join(dir, 'notify.sock');
  const pidFile = join(dir, 'lvs-dlm.pid');
  writeFileSync(join(dir, 'secret'), 'notify-test-secret-0123456789abcdef\n', { mode: 0o600 });
  const l = await listen(sock);
  const bin = join(__dirname, '../../src/cli/lvs-dlm.js');
  const p = spawn(process.execPath, [bin, '--listen', '127.0.0.1:0', '--secret-file', join(dir, 'secret'),
    '--data', join(dir, 'data'), '--pid-file', pidFile], { env: { ...process.env, NOTIFY_SOCKET: sock }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await until(() => l.lines().includes('READY=1'));
    assert.match(out, /"msg":"listening"/, 'READY=1 comes after the listening record');
    assert.equal(readFileSync(pidFile, 'utf8'), `${p.pid}\n`);
    const first = JSON.parse(out.split('\n')[0]) as Record<string, unknown>;
    assert.equal(first.level, 'info');
    assert.match(String(first.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    p.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => p.on('exit', r));
    assert.equal(code, 0);
    await until(() => l.lines().includes('STOPPING=1'));
    assert.ok(!existsSync(pidFile));
  } finally {
    p.kill('SIGKILL');
    l.proc.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--version on every command prints the package version', () => {
  const version = (JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')) as { version: string }).version;
  for (const c of ['lvsd', 'lvs-realserver', 'lvs-dlm', 'lvs-lock']) {
    const r = spawnSync(process.execPath, [join(__dirname, `../../src/cli/${c}.js`), '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, c);
    assert.equal(r.stdout, `${c} ${version}\n`);
  }
  const a = spawnSync(process.execPath, [join(__dirname, '../../src/cli/lvsadm.js'), '--version'], { encoding: 'utf8' });
  assert.equal(a.stdout, `lvsadm v${version} (ipvsadm-compatible, IPVS v1.2.1)\n`);
});
