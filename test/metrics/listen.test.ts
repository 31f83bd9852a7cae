/** --metrics-listen [ADDR:]PORT parsing: accepted forms and one-line errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseListen } from '../../src/metrics/listen';

test('[ADDR:]PORT: port alone listens on every address; an IPv4 address narrows it', () => {
  assert.deepEqual(parseListen('9101'), { host: '0.0.0.0', port: 9101 });
  assert.deepEqual(parseListen('127.0.0.1:9101'), { host: '127.0.0.1', port: 9101 });
  assert.deepEqual(parseListen('198.18.0.1:1'), { host: '198.18.0.1', port: 1 });
});

test('bad values are rejected with one line naming the option', () => {
  for (const v of ['', '0', '65536', '99999', ':80', 'x:80', '1.2.3:80', '256.1.1.1:80', '127.0.0.1:', '80a', '[::1]:80']) {
    assert.throws(() => parseListen(v), (err: Error) => err.message.startsWith('--metrics-listen') && !err.message.includes('\n'), v);
  }
});
