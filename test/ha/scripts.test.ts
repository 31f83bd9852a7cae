/**
 * Scripts as keepalived runs them (src/ha/scripts.ts; keepalived lib/notify.c
 * check_script_secure() / check_security(), vrrp.c check_vrrp_script_security(),
 * vrrp_scheduler.c script timeout handling). The user and security cases need root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScriptRunner, checkScript, findProgram, resolveRunAs, runOnce } from '../../src/ha/scripts';
import { createLog } from '../../src/log';
import type { VrrpScriptSpec } from '../../src/control/keepalived';

const root = process.getuid?.() === 0;
const needRoot = !root && process.env.CI !== 'true' ? 'needs root' : false;

function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'lvs-scripts-'));
  chmodSync(d, 0o755);
  return d;
}

const once = (argv: string[], ms: number, as?: { uid: number; gid: number; name: string }) =>
  new Promise<{ ok: boolean; why: string; ms: number }>((resolve) => {
    const t0 = Date.now();
    runOnce(argv, as, ms, (ok, why) => resolve({ ok, why, ms: Date.now() - t0 }));
  });

test('exit 0 is success; another status or a signal is failure', async () => {
  assert.deepEqual(await once(['/bin/true'], 5000).then((r) => [r.ok, r.why]), [true, 'exit 0']);
  assert.deepEqual(await once(['/bin/sh', '-c', 'exit 3'], 5000).then((r) => [r.ok, r.why]), [false, 'exit 3']);
  assert.deepEqual(await once(['/bin/sh', '-c', 'kill -TERM $$'], 5000).then((r) => [r.ok, r.why]), [false, 'killed by SIGTERM']);
  assert.equal((await once(['/nonexistent/prog'], 5000)).ok, false);
});

test('a script past its timeout is a failure, and its whole process group is killed', async () => {
  const d = scratch();
  try {
    const pidFile = join(d, 'pid');
    // The script starts a grandchild that would outlive a kill of the script alone.
    const r = await once(['/bin/sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`], 300);
    assert.equal(r.ok, false);
    assert.match(r.why, /timed out after 300 ms/);
    assert.ok(r.ms < 2000, `${r.ms} ms`);
    const { readFileSync } = await import('node:fs');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      await new Promise((res) => setTimeout(res, 50));
      try { process.kill(pid, 0); } catch { alive = false; }
    }
    assert.equal(alive, false, 'the grandchild is gone');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('bare names are found on PATH; a missing script is disabled', async () => {
  assert.match((await findProgram('sh')) ?? '', /\/sh$/);
  const c = await checkScript('no-such-script-lvsd', undefined, true);
  assert.equal(c.path, undefined);
  assert.match(c.problem ?? '', /cannot find script/);
});

test('script security: run as root, a script (or directory on its path) writable by non-root is disabled with enable_script_security, warned about without', { skip: needRoot }, async () => {
  const d = scratch();
  try {
    const f = join(d, 'chk.sh');
    writeFileSync(f, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    assert.deepEqual(await checkScript(f, undefined, true), { path: f, insecure: false });
    chmodSync(f, 0o757);
    const off = await checkScript(f, undefined, false);
    assert.equal(off.path, f, 'without security it runs');
    assert.match(off.problem ?? '', /Unsafe permissions found for script/);
    const on = await checkScript(f, undefined, true);
    assert.equal(on.path, undefined);
    assert.match(on.problem ?? '', /- disabling$/);
    chmodSync(f, 0o755);
    chownSync(f, 65534, 65534);
    assert.equal((await checkScript(f, undefined, true)).path, undefined, 'owned by a non-root user');
    chownSync(f, 0, 0);
    const sub = join(d, 'open');
    mkdirSync(sub, { mode: 0o777 });
    chmodSync(sub, 0o777);
    const g = join(sub, 'chk.sh');
    writeFileSync(g, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    assert.match((await checkScript(g, undefined, true)).problem ?? '', new RegExp(`${sub} is writable`), 'a world-writable directory on the path');
    chmodSync(sub, 0o1777);
    assert.equal((await checkScript(g, undefined, true)).path, g, 'the sticky bit makes it safe (as /tmp)');
    chmodSync(f, 0o644);
    assert.match((await checkScript(f, undefined, true)).problem ?? '', /not executable/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('script_user: scripts run as that user; an unknown user disables them; not run as root they need no security check', { skip: needRoot }, async () => {
  const nobody = await resolveRunAs({ user: 'nobody' });
  assert.ok(nobody && !(nobody instanceof Error));
  assert.equal(nobody.uid, 65534);
  assert.ok((await resolveRunAs({ user: 'no-such-user-lvsd' })) instanceof Error);
  assert.ok((await resolveRunAs({ user: 'nobody', group: 'no-such-group-lvsd' })) instanceof Error);
  assert.equal(await resolveRunAs({ user: 'root' }), undefined, 'lvsd itself');
  const r = await once(['/bin/sh', '-c', 'test "$(id -u)" = 65534'], 5000, nobody);
  assert.equal(r.ok, true, r.why);
  const d = scratch();
  try {
    const f = join(d, 'chk.sh');
    writeFileSync(f, '#!/bin/sh\nexit 0\n', { mode: 0o757 });
    assert.deepEqual(await checkScript(f, nobody, true), { path: f, insecure: false }, 'as nobody an open script is not a root risk');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

/** Resolves once cond() holds, polling every 20 ms; rejects after ms. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

test('a vrrp_script runner: every interval, results reported, never two runs at once, stop kills the run', async () => {
  const d = scratch();
  try {
    const flag = join(d, 'ok');
    const spec: VrrpScriptSpec = {
      name: 'chk', argv: ['/bin/sh', '-c', `test -e ${flag}`], intervalMs: 100, timeoutMs: 5000, weight: 0, reverse: false,
      rise: 1, fall: 1, initFail: false, secure: false,
    };
    const got: boolean[] = [];
    const r = new ScriptRunner(spec, createLog('test', 'silent'), (ok) => got.push(ok));
    assert.equal(await r.prepare(), true);
    r.start();
    await until(() => got.length >= 2, 10_000, 'two failures');
    assert.ok(got.every((x) => !x), JSON.stringify(got));
    const before = got.length;
    writeFileSync(flag, '');
    await until(() => got.slice(before).filter((x) => x).length >= 2, 10_000, 'two successes');
    r.stop();
    const n = got.length;
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(got.length, n, 'nothing after stop');
    // Once the file exists every run passes (a run started before it may still fail once).
    assert.ok(got.lastIndexOf(false) < got.indexOf(true, before), JSON.stringify(got));
    // A 350 ms script every 100 ms: runs never overlap, so the k-th result needs k × 350 ms.
    const slow = new ScriptRunner({ ...spec, argv: ['/bin/sh', '-c', 'sleep 0.35'], intervalMs: 100 }, createLog('test', 'silent'), (ok) => got.push(ok));
    await slow.prepare();
    got.length = 0;
    const t0 = Date.now();
    slow.start();
    await until(() => got.length >= 3, 15_000, 'three slow runs');
    const elapsed = Date.now() - t0;
    slow.stop();
    assert.ok(elapsed >= got.length * 350 - 20, `one run at a time: ${got.length} results in ${elapsed} ms`);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
