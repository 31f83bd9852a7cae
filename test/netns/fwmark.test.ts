/**
 * Firewall-mark services end to end (netns/tests/fwmark.sh): nftables marks two VIP:port
 * pairs, one persistent -f service takes both, through the real lvsd and lvsadm. Needs root
 * and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('fwmark: two marked VIP:ports share one service and one template, FWM listings, cleanup on SIGTERM/SIGKILL',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/fwmark.sh', 90_000);
  });
