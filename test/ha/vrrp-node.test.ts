/** The interface and address bookkeeping of src/ha/vrrp-node.ts that needs no namespace. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { operUp, readVipState } from '../../src/ha/vrrp-node';
import { createLog } from '../../src/log';

test('operstate: up and unknown (tun, lo) count as up; down, lowerlayerdown, dormant do not', () => {
  assert.deepEqual(['up\n', 'unknown\n', 'down\n', 'lowerlayerdown\n', 'dormant\n', 'absent'].map(operUp),
    [true, true, false, false, false, false]);
});

test('VIP state file: read back when lvsd wrote it (0600), ignored when loose', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvs-vips-'));
  const log = createLog('test', 'silent');
  try {
    const f = join(dir, 'lvsd.sock.vips.json');
    writeFileSync(f, JSON.stringify({ vips: [{ addr: '198.18.0.1', len: 24, dev: 'cli0' }, { addr: 'x', len: 1, dev: 'e' }] }), { mode: 0o600 });
    assert.deepEqual(readVipState(f, log), [{ addr: '198.18.0.1', len: 24, dev: 'cli0' }]);
    chmodSync(f, 0o644);
    assert.deepEqual(readVipState(f, log), []);
    assert.deepEqual(readVipState(join(dir, 'absent'), log), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
