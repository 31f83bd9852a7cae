/**
 * Failover with nothing lost and a director whose link goes down (netns/tests/failover.sh):
 * two lvsd directors with VRRP and authenticated connection sync; link down/up leaves one
 * holder and lvsd running; 10 of 10 long downloads survive a SIGKILL of the master.
 * Needs root, /dev/net/tun and nginx; skipped without root or TUN unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('failover: link down/up with two directors, SIGKILL of the master during 10 downloads', { skip: netnsSkip() }, () => {
  runNetnsScript('netns/tests/failover.sh', 240_000);
});
