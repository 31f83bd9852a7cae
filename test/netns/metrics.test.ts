/**
 * lvsd --metrics-listen end to end (netns/tests/metrics.sh): scrapes equal lvsadm's listings
 * during and after traffic, promtool check metrics, series gone after -d/-D, 200 add/remove
 * cycles, 200 concurrent scrapes under a curl loop, and misbehaving HTTP clients.
 * Needs root and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('metrics: equal to lvsadm --stats --exact, promtool, bounded series, concurrent scrapes, bad clients',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/metrics.sh', 600_000);
  });
