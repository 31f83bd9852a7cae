/**
 * Scale-out directors (netns/tests/announce.sh): three lvsd with --announce-table on one LAN,
 * sync master and backup on each, bulk resync before announcing, no echo, connections moved
 * between directors (also across a SIGKILL and a restart), sloppy TCP pickup to the same real
 * server with mh, withdrawal, and bad --announce-table values and forged sync input.
 * Needs root and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('announce: three scale-out directors, VIP routes in table 100 only while ready', { skip: netnsSkip() }, () => {
  runNetnsScript('netns/tests/announce.sh', 180_000);
});
