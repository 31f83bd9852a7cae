/**
 * VRRP tracking and authentication against keepalived end to end (netns/tests/vrrp-track.sh):
 * track_script and track_file failover with IPSEC-AH between lvsd and keepalived, PASS with
 * `!` in the password, FAULT from an unweighted script, notify_fault/notify_stop. Needs root,
 * /dev/net/tun and keepalived; skipped without root or TUN unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('VRRP track_script/track_file, IPSEC-AH and PASS against keepalived', { skip: netnsSkip() }, () => {
  runNetnsScript('netns/tests/vrrp-track.sh', 180_000);
});
