/**
 * The live page in headless Chromium (netns/tests/metrics-page.sh, test/netns/browser.ts):
 * every service and real server shown, counters and charts rising without a reload, a
 * screenshot kept. Needs root and /dev/net/tun; skipped without them unless CI=true.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('live page: every service and real server, counters rising without reload, screenshot', { skip: netnsSkip() }, () => {
  const out = runNetnsScript('netns/tests/metrics-page.sh', 240_000);
  const shot = /^artifact: (.*)$/m.exec(out);
  if (shot) process.stdout.write(`# screenshot: ${shot[1]}\n`);
});
