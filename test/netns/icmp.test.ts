/**
 * netns/tests/icmp.sh end to end: real clients and servers in network namespaces, the real
 * lvsd, lvsadm and lvs-realserver. Needs root and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('ICMP relaying: client-side and real-server errors rewritten, bad ones dropped and counted, captures',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/icmp.sh', 120_000);
  });
