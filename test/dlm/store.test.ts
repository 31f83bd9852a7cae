import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EPOCH_SHIFT, STATE_FILE, TokenStore, makeToken, tokenEpoch } from '../../src/dlm/store';
import { tempDir } from './util';

test('tokens strictly increase and the ceiling is durable before use', () => {
  const t = tempDir();
  try {
    const s = TokenStore.open(t.dir, 8);
    s.ensurePrimaryEpoch();
    let prev = 0n;
    for (let i = 0; i < 30; i++) {
      const tok = s.next();
      assert.ok(tok > prev);
      prev = tok;
      // Whatever was handed out lies below the stored ceiling.
      const onDisk = JSON.parse(readFileSync(join(t.dir, STATE_FILE), 'utf8'));
      assert.ok(BigInt(onDisk.ceiling) > (tok & ((1n << EPOCH_SHIFT) - 1n)));
    }
    assert.equal(tokenEpoch(prev), 1);
    assert.equal(existsSync(join(t.dir, `${STATE_FILE}.tmp`)), false);
  } finally {
    t.cleanup();
  }
});

test('a restart on the same data dir continues above every token issued before', () => {
  const t = tempDir();
  try {
    const a = TokenStore.open(t.dir, 16);
    a.ensurePrimaryEpoch();
    let last = 0n;
    for (let i = 0; i < 21; i++) last = a.next();
    // Crash without any further write: reopen.
    const b = TokenStore.open(t.dir, 16);
    assert.equal(b.existed, true);
    b.ensurePrimaryEpoch();
    const first = b.next();
    assert.ok(first > last, `${first} > ${last}`);
    assert.equal(tokenEpoch(first), 1);
  } finally {
    t.cleanup();
  }
});

test('a new epoch is above every token of the primary epoch it learnt, whatever its counter', () => {
  const t = tempDir();
  try {
    const s = TokenStore.open(t.dir);
    s.notePrimaryEpoch(7);
    const e = s.startNewEpoch();
    assert.equal(e, 8);
    const tok = s.next();
    assert.ok(tok > makeToken(7, 2 ** 44 - 1));
    const again = TokenStore.open(t.dir);
    assert.equal(again.epoch, 8);
    assert.equal(again.primaryEpoch, 7);
    assert.equal(again.startNewEpoch(), 9);
  } finally {
    t.cleanup();
  }
});

test('a corrupt state file refuses to start', () => {
  const t = tempDir();
  try {
    writeFileSync(join(t.dir, STATE_FILE), '{"version":1,"epoch":-1}', { mode: 0o600 });
    assert.throws(() => TokenStore.open(t.dir), /corrupt/);
    writeFileSync(join(t.dir, STATE_FILE), 'garbage');
    assert.throws(() => TokenStore.open(t.dir));
  } finally {
    t.cleanup();
  }
});

test('a standby restarted as primary never reuses the primary epoch; an untrusted state file is refused', () => {
  const t = tempDir();
  try {
    const sb = TokenStore.open(t.dir);
    sb.notePrimaryEpoch(1, 15000); // replicated primary epoch 1, never primary itself
    const again = TokenStore.open(t.dir);
    assert.equal(again.epoch, 0);
    again.ensurePrimaryEpoch();
    assert.equal(again.epoch, 2, 'above the primary epoch it learnt, not 1');
    assert.ok(again.next() > makeToken(1, 2 ** 44 - 1));
    assert.equal(again.primaryMaxLeaseMs, 15000);
    const file = join(t.dir, STATE_FILE);
    chmodSync(file, 0o644);
    assert.throws(() => TokenStore.open(t.dir), /not trusted/);
    chmodSync(file, 0o600);
    chmodSync(t.dir, 0o777);
    assert.throws(() => TokenStore.open(t.dir), /not trusted/);
    chmodSync(t.dir, 0o700);
    assert.equal(TokenStore.open(t.dir).epoch, 2);
  } finally {
    t.cleanup();
  }
});
