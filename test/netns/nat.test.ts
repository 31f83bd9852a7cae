/**
 * LVS-NAT end to end (netns/tests/nat.sh): real clients and servers in network namespaces,
 * the real lvsd and lvsadm. Needs root and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('LVS-NAT: selftest data check, schedulers, quiescing, port mapping, ICMP, listings, restore, local VIP, cleanup',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/nat.sh', 300_000);
  });
