import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateFileError, trustStateFile } from '../../src/host/statefile';

const asRoot = process.getuid?.() === 0 ? false : 'needs root (files owned by root and by others)';

test('state files: trusted only when root-owned 0600 in a directory only root writes', { skip: asRoot }, () => {
  const base = mkdtempSync(join(tmpdir(), 'lvsd-state-'));
  try {
    const dir = join(base, 'ok');
    mkdirSync(dir, { mode: 0o700 });
    const f = join(dir, 'lvsd.sock.plumbing.json');
    assert.equal(trustStateFile(f), false, 'absent');
    writeFileSync(f, '{}', { mode: 0o600 });
    assert.equal(trustStateFile(f), true);

    const refused = (what: string, pattern: RegExp): void => {
      assert.throws(() => trustStateFile(f), (e: unknown) => e instanceof StateFileError && pattern.test(e.message) &&
        !e.message.includes('\n'), what);
    };
    chmodSync(f, 0o644);
    refused('group/other readable', /bad modes for state file .* \(0644, must be 0600\)/);
    chmodSync(f, 0o600);
    chownSync(f, 65534, 0);
    refused('not root', /bad ownership for state file .*uid 65534/);
    chownSync(f, 0, 0);
    linkSync(f, join(dir, 'other'));
    refused('hard link', /2 links/);
    rmSync(join(dir, 'other'));

    chmodSync(dir, 0o777);
    refused('world-writable directory', /bad modes for directory .* \(0777: writable by group or others\)/);
    chmodSync(dir, 0o770);
    refused('group-writable directory', /bad modes for directory/);
    chmodSync(dir, 0o700);
    chownSync(dir, 65534, 0);
    refused('directory not root', /bad ownership for directory/);
    chownSync(dir, 0, 0);

    const link = join(dir, 'link.json');
    symlinkSync(f, link);
    assert.throws(() => trustStateFile(link), /not a regular file/);
    assert.equal(trustStateFile(f), true, 'trusted again once everything is tight');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
