/**
 * netns/tests/scaleout-loss.sh: the scale-out suite with 5 % sync datagram loss (tc netem),
 * kill -9, restart and a rolling restart: 0 streams broken. Needs root and /dev/net/tun;
 * skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('scale-out with 5 % sync loss: 0 streams broken on kill, restart and a rolling restart',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/scaleout-loss.sh', 180_000);
  });
