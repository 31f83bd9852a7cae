/**
 * Blind RSTs end to end (netns/tests/blind-rst.sh): scapy spoofs three RSTs with random
 * sequence numbers into an idle NAT connection; the entry stays ESTABLISHED and the
 * connection keeps working. Needs root, /dev/net/tun and scapy; skipped without root or TUN
 * unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('blind RSTs with arbitrary sequence numbers do not close an idle established entry', { skip: netnsSkip() }, () => {
  runNetnsScript('netns/tests/blind-rst.sh', 120_000);
});
