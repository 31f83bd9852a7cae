/**
 * Steering by nftables sets end to end (netns/tests/steering.sh): set elements instead of a
 * rule per service, re-adding after SIGKILL with a lost state file, the local rule restored
 * on SIGTERM, a restore of 100,000 services. Needs root and /dev/net/tun; skipped without
 * them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('steering by nftables sets: elements not rules, idempotent re-add after SIGKILL, local rule restored, 100k services restored',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/steering.sh', 300_000);
  });
