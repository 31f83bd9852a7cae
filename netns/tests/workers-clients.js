// Clients for netns/tests/workers.sh (run in the client namespace):
//   hold VIP PORT N ADDR...    N keep-alive HTTP connections spread over the source addresses;
//                              prints "held N" once every one got its answer, then holds them
//                              until SIGTERM (at most 120 s).
//   stream VIP PORT SRC SECS   a line every 20 ms for SECS seconds to an echo service; exit 0
//                              when every byte came back in order, else 1 (prints sent/echoed).
'use strict';
const net = require('node:net');

const [mode, vip, portS, ...rest] = process.argv.slice(2);
const port = Number(portS);

if (mode === 'hold') {
  const n = Number(rest[0]);
  const addrs = rest.slice(1);
  const socks = [];
  let answered = 0;
  let failed = 0;
  let next = 0;
  const open = () => {
    if (next >= n) return;
    const i = next++;
    const s = net.connect({ host: vip, port, localAddress: addrs[i % addrs.length] });
    socks.push(s);
    let got = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: vip\r\n\r\n'));
    s.on('data', (d) => {
      got += d;
      if (got.includes('\r\n\r\n') && !s.answered) {
        s.answered = true;
        answered++;
        if (answered + failed === n) process.stdout.write(`held ${answered} failed ${failed}\n`);
        open();
      }
    });
    s.on('error', () => {
      failed++;
      if (answered + failed === n) process.stdout.write(`held ${answered} failed ${failed}\n`);
      open();
    });
  };
  for (let k = 0; k < 20; k++) open();
  const stop = () => { for (const s of socks) s.destroy(); process.exit(0); };
  process.on('SIGTERM', stop);
  // Holds the connections at most 120 s.
  setTimeout(stop, 120_000);
} else if (mode === 'stream') {
  const [src, secsS] = rest;
  const secs = Number(secsS);
  let sent = '';
  let echoed = '';
  let seq = 0;
  const s = net.connect({ host: vip, port, localAddress: src });
  s.setEncoding('utf8');
  const finish = (ok) => {
    process.stdout.write(`sent ${sent.length} echoed ${echoed.length}\n`);
    process.exit(ok ? 0 : 1);
  };
  s.on('data', (d) => { echoed += d; });
  s.on('error', () => finish(false));
  s.on('connect', () => {
    const t = setInterval(() => {
      const line = `${src} ${seq++} ${'x'.repeat(40)}\n`;
      sent += line;
      s.write(line);
    }, 20);
    setTimeout(() => {
      clearInterval(t);
      // Everything sent must come back, in order.
      const deadline = Date.now() + 3000;
      const check = setInterval(() => {
        if (echoed.length >= sent.length || Date.now() > deadline) {
          clearInterval(check);
          finish(echoed === sent);
        }
      }, 50);
    }, secs * 1000);
  });
} else {
  process.stderr.write('usage: workers-clients.js hold|stream ...\n');
  process.exit(2);
}
