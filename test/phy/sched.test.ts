/**
 * Real-time policy of the packet thread (src/phy/sched.ts, native/sched.cc). Each case runs in
 * a child process so that the test runner keeps its own policy; the kernel's view is read back
 * from /proc (proc(5): stat fields 40 rt_priority and 41 policy). Needs root and the built
 * addon; skipped without them, except under CI=true where that is a failure.
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync, SpawnSyncOptions } from 'node:child_process';
import * as path from 'node:path';

import { setRealtimePriority } from '../../src/phy/sched';
import { kernelPrereqs } from '../support/prereqs';

const SCHED_OTHER = 0;
const SCHED_RR = 2;

function prereqs(t: TestContext): boolean {
  return kernelPrereqs(t, 'scheduling test');
}

const schedJs = path.resolve(__dirname, '../../src/phy/sched.js');

/** Runs script in a child node with `sched` bound to the module; returns its stdout JSON. */
function child(script: string, opts: SpawnSyncOptions = {}): unknown {
  const code = `
    const sched = require(${JSON.stringify(schedJs)});
    const fs = require('node:fs');
    // [rt_priority, policy] of a task from its stat line (fields after the command name).
    const kernelView = (file) => {
      const f = fs.readFileSync(file, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return [Number(rest[37]), Number(rest[38])];
    };
    ${script}
  `;
  const r = spawnSync(process.execPath, ['-e', code], { timeout: 10000, stdio: 'pipe', ...opts });
  assert.equal(r.error, undefined, String(r.error));
  assert.equal(r.status, 0, String(r.stderr));
  return JSON.parse(String(r.stdout));
}

test('setRealtimePriority puts the calling thread under SCHED_RR and back under SCHED_OTHER', (t) => {
  if (!prereqs(t)) return;
  const out = child(`
    const before = sched.currentScheduling();
    sched.setRealtimePriority(7);
    const rt = sched.currentScheduling();
    const rtKernel = kernelView('/proc/thread-self/stat');
    // Other threads of the process (V8 and libuv helpers) keep their policy.
    const others = fs.readdirSync('/proc/self/task').filter((tid) => Number(tid) !== process.pid)
      .map((tid) => kernelView('/proc/self/task/' + tid + '/stat')[1]);
    // A process started now does not inherit the real-time policy (SCHED_RESET_ON_FORK).
    const forked = require('node:child_process').execFileSync('cat', ['/proc/self/stat'], { encoding: 'utf8' });
    const forkedPolicy = Number(forked.slice(forked.lastIndexOf(')') + 2).split(' ')[38]);
    sched.setRealtimePriority(0);
    const after = sched.currentScheduling();
    const afterKernel = kernelView('/proc/thread-self/stat');
    console.log(JSON.stringify({ before, rt, rtKernel, others, forkedPolicy, after, afterKernel }));
  `) as Record<string, unknown>;
  assert.deepEqual(out.before, { policy: 'other', priority: 0, resetOnFork: false });
  assert.deepEqual(out.rt, { policy: 'rr', priority: 7, resetOnFork: true });
  assert.deepEqual(out.rtKernel, [7, SCHED_RR]);
  assert.ok((out.others as number[]).length > 0, 'node has helper threads');
  assert.ok((out.others as number[]).every((p) => p === SCHED_OTHER), `helper policies ${String(out.others)}`);
  assert.equal(out.forkedPolicy, SCHED_OTHER);
  assert.deepEqual(out.after, { policy: 'other', priority: 0, resetOnFork: true });
  assert.deepEqual(out.afterKernel, [0, SCHED_OTHER]);
});

test('setRealtimePriority without CAP_SYS_NICE fails with EPERM and changes nothing', (t) => {
  if (!prereqs(t)) return;
  const out = child(`
    let code = 'no error';
    try { sched.setRealtimePriority(10); } catch (err) { code = err.code; }
    console.log(JSON.stringify({ code, now: sched.currentScheduling() }));
  `, { uid: 65534, gid: 65534 }) as Record<string, unknown>;
  assert.equal(out.code, 'EPERM');
  assert.deepEqual(out.now, { policy: 'other', priority: 0, resetOnFork: false });
});

test('setRealtimePriority rejects priorities outside 0..99 before calling the kernel', () => {
  for (const p of [-1, 100, 1.5, Number.NaN]) {
    assert.throws(() => setRealtimePriority(p), RangeError, `priority ${p}`);
  }
});
