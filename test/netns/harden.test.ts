/**
 * Hardening end to end (netns/tests/harden.sh): single instance, capabilities, SIGUSR1,
 * state files, restore and listing at scale. Needs root and /dev/net/tun; skipped without
 * them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('hardening: second lvsd refused, capabilities, SIGUSR1 dump, planted state refused, 100k restore, 150k listing, | head',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/harden.sh', 600_000);
  });
