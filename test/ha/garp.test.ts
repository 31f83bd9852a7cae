import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildGarp } from '../../src/ha/garp';
import { ipFromString } from '../../src/ipvs/types';

test('gratuitous ARP frame: broadcast request with sender = target = the address', () => {
  const f = buildGarp('02:00:5e:10:00:01', ipFromString('198.18.0.1'));
  assert.equal(f.toString('hex'),
    'ffffffffffff' + '02005e100001' + '0806' + '0001' + '0800' + '06' + '04' + '0001'
    + '02005e100001' + 'c6120001' + '000000000000' + 'c6120001');
});
