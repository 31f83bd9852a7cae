import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { capMask, parseCapSets } from '../../src/host/privileges';

const asRoot = process.getuid?.() === 0 ? false : 'needs root (capabilities to drop)';

test('parseCapSets reads /proc/PID/status', () => {
  const s = parseCapSets('Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t0000000000003000\nCapEff:\t0000000000003000\n'
    + 'CapBnd:\t0000000000003000\nCapAmb:\t0000000000003000\n');
  assert.equal(s.effective, capMask(['CAP_NET_ADMIN', 'CAP_NET_RAW']));
  assert.equal(s.bounding, 0x3000n);
});

test('restrictProcess: every thread and every child keeps exactly the kept capabilities', { skip: asRoot }, async () => {
  const code = `
    const { restrictProcess, capSetsOf } = require(${JSON.stringify(join(__dirname, '../../src/host/privileges.js'))});
    const fs = require('fs');
    fs.readFile('/proc/self/status', () => {            // starts libuv's thread pool first
      const r = restrictProcess(['CAP_NET_ADMIN', 'CAP_NET_RAW']);
      const threads = fs.readdirSync('/proc/self/task').map((t) => {
        const st = fs.readFileSync('/proc/self/task/' + t + '/status', 'utf8');
        return { t, eff: /CapEff:\\s*(\\w+)/.exec(st)[1], bnd: /CapBnd:\\s*(\\w+)/.exec(st)[1], blk: /SigBlk:\\s*(\\w+)/.exec(st)[1] };
      });
      require('child_process').execFile('grep', ['^Cap', '/proc/self/status'], (err, out) => {
        console.log(JSON.stringify({ r, threads, child: out }));
      });
    });`;
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let o = '';
    p.stdout.on('data', (d) => { o += d; });
    p.on('exit', (c) => (c === 0 ? resolve(o) : reject(new Error(`exit ${c}`))));
  });
  const r = JSON.parse(out) as { r: { threads: number; reached: number }; threads: Array<{ t: string; eff: string; bnd: string; blk: string }>;
    child: string };
  const want = '0000000000003000';
  const allBlocked = (blk: string): boolean => (BigInt(`0x${blk}`) & (1n << 37n)) !== 0n; // SIGRTMIN+4 = 38
  for (const t of r.threads) {
    if (allBlocked(t.blk)) continue; // Node's signal-dispatcher thread blocks every signal
    assert.equal(t.eff, want, `thread ${t.t} CapEff`);
    assert.equal(t.bnd, want, `thread ${t.t} CapBnd`);
  }
  assert.ok(r.r.reached >= r.r.threads - 1, `reached ${r.r.reached} of ${r.r.threads} other threads`);
  const child = parseCapSets(r.child);
  assert.equal(child.effective, 0x3000n, 'a child exec keeps CAP_NET_ADMIN and CAP_NET_RAW');
  assert.equal(child.bounding, 0x3000n, 'and cannot regain anything else');
});

test('dropPrivileges without CAP_SETPCAP: effective and permitted still reduced, the bounding set reported kept', { skip: asRoot }, () => {
  const code = `const { dropPrivileges } = require(${JSON.stringify(join(__dirname, '../../src/daemon/privileges.js'))});
    const { capSetsOf } = require(${JSON.stringify(join(__dirname, '../../src/host/privileges.js'))});
    const r = dropPrivileges({ rtPriority: false, bindService: false }); const c = capSetsOf('self');
    console.log(JSON.stringify({ r, eff: c.effective.toString(16), prm: c.permitted.toString(16) }));`;
  // setpriv drops CAP_SETPCAP from the bounding set and execs node, which then lacks it.
  const p = spawnSync('setpriv', ['--bounding-set=-setpcap', process.execPath, '-e', code], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const out = JSON.parse(p.stdout) as { r: { keep: string[]; bounded: boolean }; eff: string; prm: string };
  assert.deepEqual(out.r.keep, ['CAP_NET_ADMIN', 'CAP_NET_RAW']);
  assert.equal(out.r.bounded, false);
  assert.equal(out.eff, '3000');
  assert.equal(out.prm, '3000');
});
