/**
 * netns/tests/keepalived.sh end to end: keepalived.conf configurations that used to end lvsd
 * driven through quorum loss and regain, lvsd -t changing nothing, a SIGHUP reload under a
 * socat stream. Needs root and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('keepalived.conf: TUN alpha and DR sorry-server configurations survive quorum loss; -t; reload under traffic',
  { skip: netnsSkip() }, () => {
    runNetnsScript('netns/tests/keepalived.sh', 240_000);
  });
