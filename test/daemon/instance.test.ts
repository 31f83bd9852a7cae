import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireInstance, InstanceError, writeDump } from '../../src/daemon/instance';

const DIST = join(__dirname, '../../src');

/** Runs `code` in a child node; resolves once it prints its first line. */
function child(code: string): Promise<{ proc: ReturnType<typeof spawn>; first: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('child not ready')); }, 10_000);
    let err = '';
    proc.stderr?.on('data', (d) => { err += d; });
    proc.stdout?.once('data', (d) => { clearTimeout(t); resolve({ proc, first: String(d) }); });
    proc.once('exit', (c) => { clearTimeout(t); reject(new Error(`child exited ${c}: ${err}`)); });
  });
}

function exited(p: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((r) => (p.exitCode !== null ? r() : p.once('exit', () => r())));
}

test('single instance: a second holder of the socket or TUN lock is refused; the lock dies with its process', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-inst-'));
  const sock = join(dir, 'lvsd.sock');
  try {
    const holder = await child(`const { acquireInstance } = require(${JSON.stringify(join(DIST, 'daemon/instance.js'))});
      acquireInstance(${JSON.stringify(sock)}, 'lvsT', ${JSON.stringify(dir)}); console.log('held'); setInterval(() => {}, 1000);`);
    try {
      assert.throws(() => acquireInstance(sock, 'lvsU', dir),
        (e: unknown) => e instanceof InstanceError && /another lvsd is running with socket .*lvsd\.sock/.test(e.message));
      assert.throws(() => acquireInstance(join(dir, 'other.sock'), 'lvsT', dir),
        (e: unknown) => e instanceof InstanceError && /another lvsd is running with TUN device lvsT/.test(e.message));
    } finally {
      holder.proc.kill('SIGKILL');
      await exited(holder.proc);
    }
    const fds = acquireInstance(sock, 'lvsT', dir);
    assert.equal(fds.length, 2, 'free once the holder is gone (also after SIGKILL)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('state dump: a new 0600 file renamed into place; a planted symlink is replaced, its target untouched', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-dump-'));
  try {
    const target = join(dir, 'victim');
    writeFileSync(target, 'keep');
    const path = join(dir, 'lvsd.sock.data');
    symlinkSync(target, path);
    await writeDump(path, 'state\n');
    assert.equal(readFileSync(target, 'utf8'), 'keep');
    const st = lstatSync(path);
    assert.ok(st.isFile());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(readFileSync(path, 'utf8'), 'state\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function waitFor(what: string, f: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('SIGUSR1: without the guard Node opens its inspector; with it, a dump appears and nothing listens', async () => {
  // The control shows what the guard prevents: an unguarded Node opens 127.0.0.1:9229.
  const report = `setInterval(() => {}, 1000); setInterval(() => { const u = require('inspector').url(); if (u) console.log('INSPECTOR ' + u); }, 50);`;
  const bare = await child(`console.log('up'); ${report}`);
  try {
    let out = '';
    bare.proc.stdout?.on('data', (d) => { out += d; });
    bare.proc.kill('SIGUSR1');
    await waitFor('the inspector of the unguarded child', () => /INSPECTOR ws:\/\/127\.0\.0\.1:9229/.test(out));
  } finally {
    bare.proc.kill('SIGKILL');
    await exited(bare.proc);
  }

  const dir = mkdtempSync(join(tmpdir(), 'lvsd-usr1-'));
  const dump = join(dir, 'lvsd.sock.data');
  const guarded = await child(`require(${JSON.stringify(join(DIST, 'daemon/sigusr1.js'))});
    const { guardSigusr1 } = require(${JSON.stringify(join(DIST, 'daemon/instance.js'))});
    guardSigusr1(${JSON.stringify(dump)}, async () => 'services: 0\\n', (e) => console.log(e ? 'ERR ' + e.message : 'DUMPED'));
    console.log('up'); ${report}`);
  try {
    let out = '';
    guarded.proc.stdout?.on('data', (d) => { out += d; });
    guarded.proc.kill('SIGUSR1');
    await waitFor('the dump', () => out.includes('DUMPED'));
    assert.equal(readFileSync(dump, 'utf8'), 'services: 0\n');
    assert.equal(lstatSync(dump).mode & 0o777, 0o600);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!out.includes('INSPECTOR'), out);
    assert.equal(await portOpen(9229), false, 'nothing listens on 9229');
    assert.ok(existsSync(dump));
  } finally {
    guarded.proc.kill('SIGKILL');
    await exited(guarded.proc);
    rmSync(dir, { recursive: true, force: true });
  }
});
