import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ChangeFile, type Undoer } from '../../src/realserver/state';

function recorder(): { u: Undoer; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    u: {
      delVip: (v) => calls.push(`del ${v}`),
      writeSysctl: (k, v) => {
        if (k === 'gone') throw new Error('no such interface');
        calls.push(`${k}=${v}`);
      },
      tunl0Down: () => calls.push('tunl0 down'),
    },
  };
}

function fileIn(): string {
  return join(mkdtempSync(join(tmpdir(), 'lvs-rs-state-')), 'sub', 'state.json');
}

test('changes are on disk before a crash and undone, newest first, by the next start', () => {
  const file = fileIn();
  const c = new ChangeFile(file);
  c.addVip('198.18.100.1');
  c.setSysctl('net.ipv4.conf.all.arp_ignore', '0');
  c.setSysctl('gone', '1');
  c.addVip('198.18.100.2');
  c.setSysctl('net.ipv4.conf.all.rp_filter', '2');
  c.tunl0Up();
  const onDisk = JSON.parse(readFileSync(file, 'utf8'));
  assert.deepEqual(onDisk.vips, ['198.18.100.1', '198.18.100.2']);
  // The process "crashed": a new start finds the file; its pid is not a live lvs-realserver.
  const { u, calls } = recorder();
  const found = ChangeFile.recover(file, u, () => false);
  assert.ok(found);
  assert.deepEqual(calls, [
    'tunl0 down',
    'net.ipv4.conf.all.rp_filter=2',
    'net.ipv4.conf.all.arp_ignore=0', // 'gone' failed and was skipped
    'del 198.18.100.2',
    'del 198.18.100.1',
  ]);
  assert.equal(existsSync(file), false, 'the file is removed');
  assert.equal(ChangeFile.recover(file, u), undefined, 'nothing left to recover');
});

test('a clean exit removes the file; recover then finds nothing', () => {
  const file = fileIn();
  const c = new ChangeFile(file);
  c.addVip('198.18.100.1');
  c.remove();
  const { u, calls } = recorder();
  assert.equal(ChangeFile.recover(file, u), undefined);
  assert.deepEqual(calls, []);
});

test('recover refuses, changing nothing, while the recording process still runs', () => {
  const file = fileIn();
  new ChangeFile(file).addVip('198.18.100.1');
  const raw = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(file, JSON.stringify({ ...raw, pid: 424242 }));
  const { u, calls } = recorder();
  assert.throws(() => ChangeFile.recover(file, u, (pid) => pid === 424242), /pid 424242 is running/);
  assert.deepEqual(calls, []);
  assert.equal(existsSync(file), true);
});

test('an unreadable state file is dropped without acting on it', () => {
  const file = fileIn();
  new ChangeFile(file).addVip('198.18.100.1');
  writeFileSync(file, '{ not json');
  const { u, calls } = recorder();
  assert.equal(ChangeFile.recover(file, u), undefined);
  assert.deepEqual(calls, []);
  assert.equal(existsSync(file), false);
});
