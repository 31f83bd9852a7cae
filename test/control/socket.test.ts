import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command, Result } from '../../src/ipvs/command';
import { daemonError, LvsadmError } from '../../src/control/errors';
import { ControlServer, MAX_LINE_BYTES, request } from '../../src/control/socket';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), `lvsadm-sock-${process.pid}-`));
}

/** Writes raw bytes to the socket and collects answer lines until `count` or close (bounded). */
function raw(path: string, payload: string | Buffer, count: number): Promise<{ lines: string[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('raw client timed out')); }, 3000);
    const done = (closed: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ lines: buf.split('\n').filter((l) => l.length > 0), closed });
    };
    sock.on('connect', () => sock.write(payload));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.split('\n').filter((l) => l.length > 0).length >= count) done(false);
    });
    sock.on('close', () => done(true));
    sock.on('error', () => undefined);
  });
}

test('request/response, one handler call per batch, coded and internal errors, garbage', async () => {
  const dir = tempDir();
  const path = join(dir, 'sub', 'lvsd.sock');
  const calls: Command[][] = [];
  const server = new ControlServer(path, (cmds) => {
    calls.push(cmds);
    const op = cmds[0]?.op;
    if (op === 'delete-service') throw daemonError('ENOSVC');
    if (op === 'zero') throw new Error('boom');
    if (op === 'get-timeout') return { kind: 'timeout', timeout: { tcp: 900, tcpfin: 120, udp: 300 } };
    return { kind: 'done' } as Result;
  });
  try {
    await server.listen();
    assert.equal(statSync(path).mode & 0o777, 0o600, 'socket mode');
    assert.ok(statSync(path).isSocket());

    assert.deepEqual(await request(path, [{ op: 'get-timeout' }]), { kind: 'timeout', timeout: { tcp: 900, tcpfin: 120, udp: 300 } });

    const batch: Command[] = [
      { op: 'clear' },
      { op: 'add-service', service: { proto: 'tcp', addr: '198.18.100.1', port: 80, scheduler: 'rr' } },
      { op: 'add-server', service: { proto: 'tcp', addr: '198.18.100.1', port: 80 }, dest: { addr: '198.19.0.11', port: 80, fwd: 'route', weight: 1 } },
    ];
    calls.length = 0;
    assert.deepEqual(await request(path, batch), { kind: 'done' });
    assert.equal(calls.length, 1, 'the batch reaches the handler in one call');
    assert.deepEqual(calls[0], batch);

    await assert.rejects(request(path, [{ op: 'delete-service', service: { proto: 'tcp', addr: '198.18.100.1', port: 81 } }]),
      (e: unknown) => e instanceof LvsadmError && e.code === 'ENOSVC' && e.message === 'No such service' && e.exitCode === 255);
    await assert.rejects(request(path, [{ op: 'zero' }]),
      (e: unknown) => e instanceof LvsadmError && e.code === 'EINTERNAL' && e.message === 'boom');

    calls.length = 0;
    const g = await raw(path, 'this is not json\n{"id":5}\n[1,2]\n{"id":6,"commands":[{"op":"clear"}]}\n', 4);
    assert.equal(g.lines.length, 4);
    const answers = g.lines.map((l) => JSON.parse(l));
    assert.deepEqual(answers.slice(0, 3).map((a) => [a.ok, a.error.code]), [[false, 'EPROTO'], [false, 'EPROTO'], [false, 'EPROTO']]);
    assert.equal(answers[1].id, 5);
    assert.deepEqual(answers[3], { id: 6, ok: true, result: { kind: 'done' } });
    assert.equal(calls.length, 1, 'garbage never reaches the handler');

    const big = await raw(path, Buffer.alloc(MAX_LINE_BYTES + 10, 0x61), 1);
    assert.equal(JSON.parse(big.lines[0]).error.code, 'ETOOLONG');

    // still serving after all that
    assert.deepEqual(await request(path, [{ op: 'clear' }]), { kind: 'done' });
  } finally {
    await server.close();
    assert.equal(existsSync(path), false, 'close removes the socket file');
    rmSync(dir, { recursive: true, force: true });
  }
});

function leaveStaleSocket(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const code = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.stdout.write('ready\\n'))`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('listener child not ready')); }, 5000);
    child.stdout.on('data', () => child.kill('SIGKILL'));
    child.on('exit', () => { clearTimeout(timer); resolve(); });
  });
}

test('stale socket file is replaced; a live one or a non-socket refuses', async () => {
  const dir = tempDir();
  const path = join(dir, 'lvsd.sock');
  const handler = (): Result => ({ kind: 'done' });
  try {
    // A stale socket: a listener process killed with SIGKILL leaves its socket file behind.
    await leaveStaleSocket(path);
    assert.ok(statSync(path).isSocket());
    await assert.rejects(request(path, [{ op: 'clear' }], 1000), (e: unknown) => e instanceof LvsadmError && e.code === 'ENOTRUNNING');
    const first = new ControlServer(path, handler);
    await first.listen();
    assert.deepEqual(await request(path, [{ op: 'clear' }]), { kind: 'done' });

    const second = new ControlServer(path, handler);
    await assert.rejects(second.listen(), (e: unknown) => e instanceof LvsadmError && e.code === 'EADDRINUSE');
    assert.deepEqual(await request(path, [{ op: 'clear' }]), { kind: 'done' }, 'first server unaffected');
    await first.close();

    const file = join(dir, 'regular');
    writeFileSync(file, 'keep me');
    await assert.rejects(new ControlServer(file, handler).listen(), (e: unknown) => e instanceof LvsadmError && e.code === 'EADDRINUSE');
    assert.ok(existsSync(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('client: clear error when the daemon is not running, timeout when it does not answer', async () => {
  const dir = tempDir();
  try {
    const missing = join(dir, 'nope.sock');
    await assert.rejects(request(missing, [{ op: 'clear' }]), (e: unknown) =>
      e instanceof LvsadmError && e.code === 'ENOTRUNNING' && e.exitCode === 2 &&
      e.message === `Can't connect to lvsd at ${missing}: No such file or directory`);

    const silentPath = join(dir, 'silent.sock');
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(silentPath, r));
    try {
      await assert.rejects(request(silentPath, [{ op: 'clear' }], 200), (e: unknown) => e instanceof LvsadmError && e.code === 'ETIMEDOUT');
    } finally {
      silent.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
