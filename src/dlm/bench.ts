/**
 * lvs-dlm benchmark on loopback: `node dist/src/dlm/bench.js [--seconds N] [--clients N]`.
 * Starts lvs-dlm as a child process (its own event loop, as in production) and measures
 *  - uncontended: one client, one persistent connection, lock+unlock pairs per second on
 *    its own lock (request/response, no pipelining, Nagle off);
 *  - contended: N clients (default 16) looping lock+unlock on the same lock.
 * Prints one JSON line with the figures.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DlmClient } from './client';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (n: string, d: number): number => {
    const i = args.indexOf(`--${n}`);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const seconds = opt('seconds', 3);
  const nClients = opt('clients', 16);
  const dir = mkdtempSync(join(tmpdir(), 'lvs-dlm-bench-'));
  const secret = Buffer.from('bench-secret-0123456789abcdef');
  writeFileSync(join(dir, 'secret'), secret);
  const srv = spawn(process.execPath, [join(__dirname, '..', 'cli', 'lvs-dlm.js'), '--listen', '127.0.0.1:0', '--secret-file', join(dir, 'secret'), '--data', join(dir, 'data')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      srv.stdout!.on('data', (d) => {
        buf += d;
        const m = /"port":(\d+)/.exec(buf);
        if (m) resolve(Number(m[1]));
      });
      srv.on('exit', () => reject(new Error('lvs-dlm exited')));
    });
    const addr = `127.0.0.1:${port}`;
    const mk = (): DlmClient => new DlmClient({ servers: [addr], secret, leaseMs: 10000 });

    const one = mk();
    await one.connect();
    for (let i = 0; i < 500; i++) await (await one.lock('warm')).unlock();
    let pairs = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    while (performance.now() < end) {
      const h = await one.lock('solo');
      await h.unlock();
      pairs++;
    }
    const uncontended = pairs / ((performance.now() - t0) / 1000);
    await one.close();

    const cs = Array.from({ length: nClients }, mk);
    await Promise.all(cs.map((c) => c.connect()));
    let total = 0;
    let lastToken = 0n;
    let ordered = true;
    const t1 = performance.now();
    const end1 = t1 + seconds * 1000;
    await Promise.all(
      cs.map(async (c) => {
        while (performance.now() < end1) {
          const h = await c.lock('hot');
          if (h.token <= lastToken) ordered = false;
          lastToken = h.token;
          await h.unlock();
          total++;
        }
      }),
    );
    const contended = total / ((performance.now() - t1) / 1000);
    await Promise.all(cs.map((c) => c.close()));
    process.stdout.write(
      JSON.stringify({ uncontendedPairsPerSec: Math.round(uncontended), contendedPairsPerSec: Math.round(contended), contendedClients: nClients, tokensIncreasing: ordered, seconds }) + '\n',
    );
  } finally {
    srv.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
