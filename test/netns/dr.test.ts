/**
 * netns/tests/dr.sh end to end: real clients and servers in network namespaces, the real
 * lvsd, lvsadm and lvs-realserver. Needs root and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('LVS-DR: selftest data check, HTTP bypassing the director, bulk upload, methods mixed in one service',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/dr.sh', 120_000);
  });
