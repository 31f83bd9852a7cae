/** Runs a netns/ test script and turns its PASS/FAIL lines and exit status into an assertion. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..', '..');

/** Why the namespace tests cannot run here, or false. Under CI=true they always run. */
export function netnsSkip(): string | false {
  if (process.env.CI === 'true') return false;
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  return false;
}

/** env: added to the script's environment (e.g. LVSD_WORKERS for lvsd's --workers). */
export function runNetnsScript(script: string, timeoutMs: number, args: string[] = [],
  env: Record<string, string> = {}): string {
  const r = spawnSync('bash', [join(ROOT, script), ...args], {
    cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20, env: { ...process.env, ...env },
  });
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  process.stdout.write(out.split('\n').filter((l) => /^(PASS|FAIL):/.test(l)).map((l) => `# ${l}\n`).join(''));
  const fails = out.split('\n').filter((l) => l.startsWith('FAIL:'));
  assert.deepEqual(fails, [], out);
  assert.equal(r.signal, null, `killed by ${r.signal} (timeout ${timeoutMs} ms)\n${out}`);
  assert.equal(r.status, 0, out);
  assert.ok(/^PASS:/m.test(out), `no checks ran\n${out}`);
  return out;
}
