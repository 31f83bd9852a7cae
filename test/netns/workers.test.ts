/**
 * Packet workers end to end (netns/tests/workers.sh): steering of both directions, persistence
 * and -M networks to one worker, shared counts under wlc, a crashed worker restarted, refused
 * --workers values. Needs root and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('packet workers: steering, persistence across workers, shared wlc counts, crash and restart, bad --workers',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/workers.sh', 300_000);
  });
