/** The lvs-lock and lvs-dlm programs, run as child processes against loopback servers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SECRET, client, startServer, tempDir } from './util';

const BIN = join(__dirname, '..', '..', 'src', 'cli');

function run(args: string[], timeoutMs = 10000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(BIN, 'lvs-lock.js'), ...args]);
    let out = '', err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

function secretFile(dir: string, secret: Buffer = SECRET): string {
  const f = join(dir, 'secret');
  writeFileSync(f, Buffer.concat([secret, Buffer.from('\n')]));
  return f;
}

test('runs the command with the token in its environment and returns its exit status', async () => {
  const s = await startServer();
  const t = tempDir();
  try {
    const sf = secretFile(t.dir);
    const r = await run(['--server', s.addr, '--secret-file', sf, 'job', '--', 'sh', '-c', 'echo "$LVS_LOCK_NAME $LVS_LOCK_TOKEN"; exit 3']);
    assert.equal(r.code, 3, r.err);
    const [name, token] = r.out.trim().split(' ');
    assert.equal(name, 'job');
    assert.match(token, /^\d+$/);
    // Released afterwards: the next grant has a larger token.
    const c = client(s.addr);
    const h = await c.tryLock('job');
    assert.ok(h.token > BigInt(token));
    // Held: lvs-lock --timeout 0.2 gives 75.
    const busy = await run(['--server', s.addr, '--secret-file', sf, '--timeout', '0.2', 'job', '--', 'true']);
    assert.equal(busy.code, 75);
    // Shared holders coexist with a shared lvs-lock.
    await h.unlock();
    const sh = await c.lock('job', { mode: 'shared' });
    const shared = await run(['--server', s.addr, '--secret-file', sf, '--shared', '--timeout', '1', 'job', '--', 'true']);
    assert.equal(shared.code, 0);
    await sh.unlock();
    await c.close();
  } finally {
    t.cleanup();
    await s.stop();
  }
});

test('exit 77 without a reachable server or with a wrong secret; 64 on usage errors', async () => {
  const s = await startServer();
  const t = tempDir();
  try {
    const good = secretFile(t.dir);
    const badDir = tempDir();
    const bad = secretFile(badDir.dir, Buffer.from('wrong-secret-wrong-secret'));
    assert.equal((await run(['--server', s.addr, '--secret-file', bad, '--timeout', '1', 'x', '--', 'true'])).code, 77);
    assert.equal((await run(['--server', '127.0.0.1:1', '--secret-file', good, '--timeout', '0.5', 'x', '--', 'true'])).code, 77);
    assert.equal((await run(['--server', s.addr, '--secret-file', good, 'x'])).code, 64);
    badDir.cleanup();
  } finally {
    t.cleanup();
    await s.stop();
  }
});

test('exit 76 and SIGTERM to the command when the lease is lost', async () => {
  const s = await startServer({ minLeaseMs: 50 });
  const t = tempDir();
  try {
    const sf = secretFile(t.dir);
    const p = run(['--server', s.addr, '--secret-file', sf, '--lease-ms', '300', 'x', '--', 'sh', '-c', 'trap "echo term; exit 0" TERM; echo started; while :; do sleep 0.05; done']);
    const c = client(s.addr);
    // Wait until lvs-lock holds the lock, then take the server away.
    for (let i = 0; i < 100; i++) {
      const busy = await c.tryLock('x').then((h) => (h.unlock(), false), () => true);
      if (busy) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await c.close();
    await s.server.close();
    const r = await p;
    assert.equal(r.code, 76, r.err);
    assert.match(r.out, /started\s+term/);
  } finally {
    t.cleanup();
    await s.stop();
  }
});

test('lvs-dlm starts from the command line, logs its port and serves', async () => {
  const t = tempDir();
  const sf = secretFile(t.dir);
  const p = spawn(process.execPath, [join(BIN, 'lvs-dlm.js'), '--listen', '127.0.0.1:0', '--secret-file', sf, '--data', join(t.dir, 'data')]);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      p.stdout.on('data', (d) => {
        buf += d;
        const m = /"port":(\d+)/.exec(buf);
        if (m) resolve(Number(m[1]));
      });
      p.on('exit', () => reject(new Error('lvs-dlm exited')));
    });
    const c = client(`127.0.0.1:${port}`);
    const h = await c.lock('cli', { timeoutMs: 2000 });
    assert.ok(h.token > 0n);
    await c.close();
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => p.on('exit', r));
    t.cleanup();
  }
});

test('without --timeout, no reachable server gives 77 after the connect timeout, not a wait forever', async () => {
  const t = tempDir();
  try {
    const sf = secretFile(t.dir);
    const t0 = Date.now();
    const r = await run(['--server', '127.0.0.1:1', '--secret-file', sf, '--connect-timeout', '0.5', 'x', '--', 'true'], 8000);
    assert.equal(r.code, 77, r.err);
    assert.ok(Date.now() - t0 < 6000, 'bounded by --connect-timeout');
  } finally {
    t.cleanup();
  }
});

test('--timeout beyond the protocol range is one usage line (64); a long --timeout waits, not returns at once', async () => {
  const s = await startServer();
  const t = tempDir();
  const holder = client(s.addr);
  try {
    const sf = secretFile(t.dir);
    const r = await run(['--server', s.addr, '--secret-file', sf, '--timeout', '5000000', 'x', '--', 'true']);
    assert.equal(r.code, 64);
    assert.match(r.err, /--timeout at most 4294967 seconds/);
    // 2^31 ms + 1 s: must wait for the holder rather than time out at once (timer overflow).
    const h = await holder.lock('long');
    const waiting = run(['--server', s.addr, '--secret-file', sf, '--timeout', '2147485', 'long', '--', 'true'], 15000);
    await new Promise((res) => setTimeout(res, 1500));
    await h.unlock();
    const w = await waiting;
    assert.equal(w.code, 0, w.err);
  } finally {
    await holder.close();
    t.cleanup();
    await s.stop();
  }
});
