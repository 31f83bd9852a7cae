/**
 * Director failover end to end (netns/tests/vrrp.sh): two lvsd directors with VRRP and
 * connection sync (20 NAT streams across a SIGKILL of the master), graceful handover, and
 * keepalived's VRRP as backup and as master. Needs root, /dev/net/tun and keepalived;
 * skipped without root or TUN unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('VRRP failover between lvsd directors, connection sync, keepalived interoperation', { skip: netnsSkip() }, () => {
  runNetnsScript('netns/tests/vrrp.sh', 240_000);
});
