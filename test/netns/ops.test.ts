/**
 * lvsd run as a service (netns/tests/ops.sh): the sd_notify sequence, --pid-file, log records,
 * and live captures read by tcpdump -r and src/phy/pcap.ts. Needs root and /dev/net/tun;
 * skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('service operation: sd_notify sequence, pid file, rule-change log, live pcap of both directions',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/ops.sh', 180_000);
  });
