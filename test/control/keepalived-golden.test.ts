/**
 * Golden tests of `lvsd -t` (test/fixtures/keepalived-golden): the output, line for line, and
 * the exit code. The expected files were checked against keepalived 2.2.7's own -t messages
 * for the same files (same lines reported; lvsd's wording says what lvsd does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');
const DIR = join(ROOT, 'test/fixtures/keepalived-golden');
const LVSD = join(ROOT, 'dist/src/cli/lvsd.js');

function lvsdT(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [LVSD, ...args], { cwd: DIR }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const CASES: Array<{ name: string; args: string[]; out: string; code: number }> = [
  { name: "issue 12's cases", args: ['-t', '-f', 'why.conf'], out: 'why.out', code: 0 },
  { name: 'definitions, ~SEQ, includes', args: ['--config-test', '-f', 'main.conf'], out: 'main.out', code: 0 },
  { name: '@id lines with --config-id', args: ['-t', '--config-id', 'lb1', '-f', 'main.conf'], out: 'main-lb1.out', code: 0 },
  { name: 'a keyword without its parameter: refused', args: ['-t', '-f', 'refused.conf'], out: 'refused.out', code: 1 },
  { name: 'VRRP tracking, notify users, AH, virtual routes, sync group and owner rules', args: ['-t', '-f', 'vrrp.conf'], out: 'vrrp.out', code: 0 },
];

for (const c of CASES) {
  test(`lvsd -t golden: ${c.name}`, async () => {
    const r = await lvsdT(c.args);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, readFileSync(join(DIR, c.out), 'utf8'));
    assert.equal(r.code, c.code);
  });
}

test('lvsd -t without -f is a usage error (exit 2); a missing file is refused (exit 1)', async () => {
  const a = await lvsdT(['-t']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--config-test needs -f/);
  const b = await lvsdT(['-t', '-f', 'no-such.conf']);
  assert.deepEqual([b.code, b.stderr], [1, 'no-such.conf: cannot open: no such file\nno-such.conf: configuration refused\n']);
});
