/**
 * Persistence and statistics end to end (netns/tests/persist.sh): affinity of one client and
 * of a /24, templates in -L -c, --stats/--persistent-conn/--thresholds/--rate after a known
 * workload, port-0 services, template expiry. Needs root and /dev/net/tun.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('persistence: -p/-M affinity, templates, listings with true counts, port 0, expiry',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/persist.sh', 180_000);
  });
