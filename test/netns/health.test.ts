/**
 * Health checking end to end (netns/tests/health.sh): TCP_CHECK, HTTP_GET, MISC_CHECK removing
 * and restoring servers, quorum and sorry server, keepalived.conf start/reload, lvsadm --checks
 * and --drain. Needs root and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('health checks reconfigure the table; keepalived.conf reload; graceful drain', { skip: netnsSkip() }, () => {
  runNetnsScript('netns/tests/health.sh', 240_000);
});
