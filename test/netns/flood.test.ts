/**
 * SYN flood end to end (netns/tests/flood.sh): 50,000 spoofed SYN/s for 20 s while an
 * established socat session and new legitimate connections keep working, memory bounded,
 * half-open budget held. Needs root, /dev/net/tun and gcc.
 */
import { test } from 'node:test';
import { runNetnsScript, netnsSkip } from './script';

test('flood: half-open budget under 50k spoofed SYN/s; sessions and new connections survive',
  { skip: netnsSkip() }, () => {
    const out = runNetnsScript('netns/tests/flood.sh', 150_000);
    const rate = /^FLOOD: .*$/m.exec(out);
    if (rate) process.stdout.write(`# ${rate[0]}\n`);
  });
