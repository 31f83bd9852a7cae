import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnInfo } from '../../src/ipvs/command';
import { ControlServer } from '../../src/control/socket';

async function* rows(n: number): AsyncGenerator<ConnInfo[]> {
  for (let i = 0; i < n; i += 1000) {
    yield Array.from({ length: 1000 }, (_, j) => ({ proto: 'tcp' as const, expires: 60, state: 'SYN_RECV',
      caddr: `198.18.${(i >> 8) & 255}.${j & 255}`, cport: 1024 + j, vaddr: '198.18.100.1', vport: 80, daddr: '198.19.0.11', dport: 80 }));
  }
}

/** Runs a shell pipeline; resolves its stdout and stderr. */
function sh(cmd: string): Promise<{ out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('pipeline timed out')); }, 30_000);
    p.on('exit', () => { clearTimeout(t); resolve({ out, err }); });
  });
}

test('lvsadm -L -n -c | head: the listing streams, lvsadm stops quietly with status 0 when head leaves', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsadm-epipe-'));
  const path = join(dir, 'lvsd.sock');
  const server = new ControlServer(path, () => ({ kind: 'stream', of: 'conns', rows: rows(400_000) }));
  await server.listen();
  try {
    const lvsadm = join(__dirname, '../../src/cli/lvsadm.js');
    const r = await sh(`node ${lvsadm} --socket ${path} -L -n -c | head -3; echo "rc=\${PIPESTATUS[0]}"`);
    assert.equal(r.err, '', 'nothing on stderr');
    assert.deepEqual(r.out.split('\n'), [
      'IPVS connection entries',
      'pro expire state       source             virtual            destination',
      'TCP 01:00  SYN_RECV    198.18.0.0:1024    198.18.100.1:80    198.19.0.11:80',
      'rc=0', '',
    ]);
    const all = await sh(`node ${lvsadm} --socket ${path} -L -n -c | wc -l`);
    assert.equal(all.out.trim(), String(400_000 + 2), 'the whole listing without head');
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
