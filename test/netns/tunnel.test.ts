/**
 * netns/tests/tunnel.sh end to end: real clients and servers in network namespaces, the real
 * lvsd, lvsadm and lvs-realserver. Needs root and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('LVS-TUN: selftest data check, HTTP bypassing the director, bulk upload, PMTU frag-needed 1480, pcap, lvs-realserver cleanup',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/tunnel.sh', 120_000);
  });
