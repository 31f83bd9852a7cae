/**
 * The package as an administrator installs it (test/package/install.sh): the README's install
 * line in a fresh clone and the packed tarball, each into a temporary prefix; the five commands
 * on PATH, `man`, and `systemd-analyze verify` of contrib/systemd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');
const inRepo = spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD']).status === 0;

test('npm install -g (checkout and tarball): commands on PATH, man pages, systemd units verified',
  { skip: !inRepo && 'not a git checkout', timeout: 1_200_000 }, () => {
    const r = spawnSync('bash', [join(ROOT, 'test/package/install.sh')], { encoding: 'utf8', timeout: 1_200_000, maxBuffer: 16 << 20 });
    const out = `${r.stdout}\n${r.stderr}`;
    process.stdout.write(out.split('\n').filter((l) => /^(PASS|FAIL):/.test(l)).map((l) => `# ${l}\n`).join(''));
    assert.equal(r.status, 0, out);
    assert.equal((out.match(/^PASS:/gm) ?? []).length, 8, out);
  });
