/**
 * The LVS-NAT suite (netns/tests/nat.sh) again with lvsd --workers 1: the single packet worker
 * still runs off the main thread. (The other suites run with lvsd's default, one worker per CPU.)
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('LVS-NAT with one packet worker (--workers 1)', { skip: netnsSkip() }, () => {
  runNetnsScript('netns/tests/nat.sh', 300_000, [], { LVSD_WORKERS: '1' });
});
