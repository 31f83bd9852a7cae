/**
 * CI's short fuzzing run: every target for FUZZ_SMOKE_SECONDS (default 30) under jsfuzz,
 * two at a time. A failing input fails the test (and is printed as hex; `npm run fuzz`
 * keeps such inputs as regressions).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { TARGETS } from './seeds';

const SECONDS = Number(process.env.FUZZ_SMOKE_SECONDS ?? 30);

test(`fuzz smoke: every target for ${SECONDS} s without a failure`, { timeout: (SECONDS * TARGETS.length + 120) * 1000 }, async () => {
  const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
    const child = spawn(process.execPath, [join(__dirname, 'run.js'), '--seconds', String(SECONDS), '--jobs', '2', '--no-keep'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (b: Buffer) => { text += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { text += b.toString(); });
    child.on('close', (code) => resolve({ code, text }));
  });
  process.stdout.write(out.text.split('\n').filter((l) => l.startsWith('fuzz ')).map((l) => `# ${l}\n`).join(''));
  assert.equal(out.code, 0, out.text.slice(-6000));
  for (const t of TARGETS) {
    const m = new RegExp(`^fuzz ${t}: (\\d+) executions`, 'm').exec(out.text);
    assert.ok(m, `${t} ran`);
    assert.ok(Number(m[1]) > 0, `${t} executed inputs`);
  }
});
