// Traffic for the scale-out testbed (run in the client namespace; netns/lib-scaleout.sh).
//
//   streams STATUS VIP PORTS N SECS ADDR...
//       N long-lived TCP streams to an echo service, stream k from ADDR[k % #ADDR] to port
//       PORTS[k % #PORTS] (PORTS comma-separated). Each sends a numbered 64-byte line every
//       50 ms and checks byte by byte that the echo comes back in order. Writes STATUS (JSON,
//       replaced atomically every 200 ms): {up, broken, stalled, maxStallMs, slowest, bytes, flows}
//       where flows lists "src sport dport" of each stream. A stream is broken when its socket
//       errors or closes, or the echo differs; stalled while bytes sent more than 2 s ago are
//       not back. Stops sending after SECS or on SIGTERM, waits up to 5 s for the echoes, and
//       exits 0 when every stream got every byte back, else 1 (last STATUS has final counts).
//   conns LOG VIP PORTS LANES SECS ADDR...
//       New connections in LANES parallel lanes for SECS seconds (or until SIGTERM): connect
//       from the next ADDR to the next of PORTS, "GET / HTTP/1.0", the answer must name a
//       real server ("rsN"), close; 20 ms between attempts per lane, each attempt at most 3 s.
//       Appends "startMs endMs ok server" per attempt to LOG (epoch ms).
//   gap LOG FROM_MS TO_MS
//       Over the attempts that started in [FROM_MS, TO_MS]: prints
//       "attempts A ok O failed F slow S window W" where slow means over 500 ms and W (ms) is
//       the span of start times of failed or slow attempts (0 when there were none).
//   shares LOG FROM_MS TO_MS
//       Real servers that answered in that span: "rs1=N rs2=N ..".
'use strict';
const net = require('node:net');
const fs = require('node:fs');

const [mode, ...args] = process.argv.slice(2);

function writeAtomic(file, text) {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

function streams([status, vip, portsS, nS, secsS, ...addrs]) {
  const ports = portsS.split(',').map(Number);
  const n = Number(nS);
  const secs = Number(secsS);
  if (!(n > 0 && n <= 1000 && secs > 0 && secs <= 900 && addrs.length)) usage();
  const all = [];
  let sending = true;
  let maxStallMs = 0; // longest time a line waited for its echo
  const LINE = 64;
  for (let k = 0; k < n; k++) {
    const st = { k, sent: 0, echoed: 0, broken: false, why: '', oldestUnacked: 0, sport: 0, seq: 0,
      src: addrs[k % addrs.length], dport: ports[k % ports.length], pending: [], connected: false, maxWait: 0 };
    const s = net.connect({ host: vip, port: st.dport, localAddress: st.src });
    st.sock = s;
    s.setNoDelay(true);
    let want = Buffer.alloc(0);
    const fail = (why) => { if (!st.broken && !st.done) { st.broken = true; st.why = why; } };
    s.on('connect', () => { st.connected = true; st.sport = s.localPort; });
    s.on('data', (d) => {
      // Compare what came back with what was sent, in order; keep only the unmatched tail.
      want = Buffer.concat([want, d]);
      while (want.length && st.pending.length) {
        const head = st.pending[0];
        const m = Math.min(head.buf.length - head.off, want.length);
        if (!want.subarray(0, m).equals(head.buf.subarray(head.off, head.off + m))) { fail('echo differs'); return; }
        head.off += m;
        want = want.subarray(m);
        st.echoed += m;
        if (head.off === head.buf.length) {
          st.maxWait = Math.max(st.maxWait, Date.now() - head.at);
          maxStallMs = Math.max(maxStallMs, st.maxWait);
          st.pending.shift();
        }
      }
      if (want.length) fail('echo of bytes never sent');
      st.oldestUnacked = st.pending.length ? st.pending[0].at : 0;
    });
    s.on('error', (e) => fail(e.code || e.message));
    s.on('close', () => fail('closed'));
    st.timer = setInterval(() => {
      if (!sending || !st.connected || st.broken) return;
      const line = Buffer.from(`${st.src} ${st.sport} ${st.seq++} `.padEnd(LINE - 1, 'x') + '\n');
      st.pending.push({ buf: line, off: 0, at: Date.now() });
      if (!st.oldestUnacked) st.oldestUnacked = Date.now();
      st.sent += line.length;
      s.write(line);
    }, 50);
    all.push(st);
  }
  const report = (final) => {
    const now = Date.now();
    let up = 0, broken = 0, stalled = 0, bytes = 0;
    for (const st of all) {
      if (st.broken) broken++;
      else if (st.connected && st.echoed > 0) up++;
      const stall = st.oldestUnacked ? now - st.oldestUnacked : 0;
      if (stall > maxStallMs) maxStallMs = stall;
      if (stall > 2000) stalled++;
      bytes += st.echoed;
    }
    const out = { t: now, n, up, broken, stalled, maxStallMs, bytes, final: !!final,
      why: all.filter((s) => s.broken).slice(0, 5).map((s) => `${s.src}:${s.sport}->${s.dport} ${s.why}`),
      slowest: [...all].sort((a, b) => b.maxWait - a.maxWait).slice(0, 5).map((s) => `${s.src}:${s.sport}->${s.dport} ${s.maxWait} ms`),
      flows: all.map((s) => `${s.src} ${s.sport} ${s.dport}`) };
    writeAtomic(status, JSON.stringify(out) + '\n');
    return out;
  };
  const tick = setInterval(() => report(false), 200);
  let finishing = false;
  const finish = () => {
    if (finishing) return;
    finishing = true;
    sending = false;
    const deadline = Date.now() + 5000;
    const wait = setInterval(() => {
      const left = all.filter((s) => !s.broken && s.pending.length);
      if (left.length && Date.now() < deadline) return;
      clearInterval(wait);
      clearInterval(tick);
      for (const s of left) { s.broken = true; s.why = `${s.sent - s.echoed} bytes never echoed`; }
      for (const s of all) { s.done = true; clearInterval(s.timer); s.sock.destroy(); }
      const r = report(true);
      process.stdout.write(`streams ${n} intact ${n - r.broken} broken ${r.broken} bytes ${r.bytes}\n`);
      process.exit(r.broken === 0 ? 0 : 1);
    }, 50);
  };
  process.on('SIGTERM', finish);
  setTimeout(finish, secs * 1000);
}

function conns([logFile, vip, portsS, lanesS, secsS, ...addrs]) {
  const ports = portsS.split(',').map(Number);
  const lanes = Number(lanesS);
  const secs = Number(secsS);
  if (!(lanes > 0 && lanes <= 64 && secs > 0 && secs <= 900 && addrs.length)) usage();
  const out = fs.openSync(logFile, 'a');
  const end = Date.now() + secs * 1000;
  let next = 0;
  let stopping = false;
  let running = lanes;
  const attempt = () => {
    if (stopping || Date.now() >= end) {
      if (--running === 0) { fs.closeSync(out); process.exit(0); }
      return;
    }
    const i = next++;
    const start = Date.now();
    const s = net.connect({ host: vip, port: ports[i % ports.length], localAddress: addrs[i % addrs.length] });
    let got = '';
    let done = false;
    const fin = (ok) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      const m = /\brs(\d+)\b/.exec(got);
      fs.writeSync(out, `${start} ${Date.now()} ${ok && m ? 1 : 0} ${m ? `rs${m[1]}` : '-'}\n`);
      setTimeout(attempt, 20);
    };
    const t = setTimeout(() => fin(false), 3000);
    s.setEncoding('utf8');
    s.on('connect', () => s.write('GET / HTTP/1.0\r\nHost: vip\r\n\r\n'));
    s.on('data', (d) => { got += d; });
    s.on('end', () => fin(/\r\n\r\nrs\d+\n$/.test(got)));
    s.on('error', () => fin(false));
  };
  process.on('SIGTERM', () => { stopping = true; });
  for (let k = 0; k < lanes; k++) attempt();
}

function readLog(file, from, to) {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
    const [s, e, ok, srv] = l.split(' ');
    return { s: Number(s), e: Number(e), ok: ok === '1', srv };
  }).filter((r) => r.s >= from && r.s <= to);
}

function gap([file, fromS, toS]) {
  const rs = readLog(file, Number(fromS), Number(toS));
  const bad = rs.filter((r) => !r.ok || r.e - r.s > 500);
  const window = bad.length ? Math.max(...bad.map((r) => r.s)) - Math.min(...bad.map((r) => r.s)) : 0;
  process.stdout.write(`attempts ${rs.length} ok ${rs.filter((r) => r.ok).length} failed ${rs.filter((r) => !r.ok).length} `
    + `slow ${rs.filter((r) => r.ok && r.e - r.s > 500).length} window ${window}\n`);
}

function shares([file, fromS, toS]) {
  const c = {};
  for (const r of readLog(file, Number(fromS), Number(toS))) if (r.ok) c[r.srv] = (c[r.srv] || 0) + 1;
  process.stdout.write(Object.keys(c).sort().map((k) => `${k}=${c[k]}`).join(' ') + '\n');
}

function usage() {
  process.stderr.write('usage: scaleout-clients.js streams|conns|gap|shares ... (see the header)\n');
  process.exit(2);
}

if (mode === 'streams') streams(args);
else if (mode === 'conns') conns(args);
else if (mode === 'gap') gap(args);
else if (mode === 'shares') shares(args);
else usage();
