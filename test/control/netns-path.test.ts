import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { defaultSocketPathFor, INITIAL_SOCKET, netnsName } from '../../src/control/netns-path';

const asRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
const MODULE = join(__dirname, '../../src/control/netns-path.js');

test('default socket names', () => {
  assert.equal(defaultSocketPathFor(undefined), '/run/lvsd/lvsd.sock');
  assert.equal(INITIAL_SOCKET, '/run/lvsd/lvsd.sock');
  assert.equal(defaultSocketPathFor('d-1234'), '/run/lvsd/lvsd.d-1234.sock');
  assert.equal(defaultSocketPathFor('net-4026532281'), '/run/lvsd/lvsd.net-4026532281.sock');
});

test('the namespace of the process: initial, named by ip netns, unnamed', { skip: asRoot }, () => {
  assert.equal(netnsName(), undefined, 'this process runs in the initial namespace of its PID 1');
  const name = `lvsdpath${process.pid}`;
  const show = `process.stdout.write(String(require(${JSON.stringify(MODULE)}).netnsName()))`;
  assert.equal(spawnSync('ip', ['netns', 'add', name]).status, 0);
  try {
    const named = spawnSync('ip', ['netns', 'exec', name, process.execPath, '-e', show], { encoding: 'utf8' });
    assert.equal(named.stdout, name);
    const unnamed = spawnSync('unshare', ['-n', process.execPath, '-e', show], { encoding: 'utf8' });
    assert.match(unnamed.stdout, /^net-\d+$/);
  } finally {
    spawnSync('ip', ['netns', 'del', name]);
  }
});
