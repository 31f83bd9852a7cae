/**
 * Every scheduler through the daemon (netns/tests/sched.sh): sed, nq, fo, ovf, lblc, lblcr,
 * sh, dh, mh, twos and the -b flags sh-port, mh-port, sh-fallback, mh-fallback.
 * Needs root and /dev/net/tun.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('schedulers: a namespace smoke test of each scheduler and flag', { skip: netnsSkip() }, () => {
  runNetnsScript('netns/tests/sched.sh', 180_000);
});
