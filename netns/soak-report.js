#!/usr/bin/env node
// Summary of a soak run (netns/soak.sh): reads OUT/{events,samples}.jsonl, OUT/udp.json and
// OUT/wrk-*.json, prints the table, writes OUT/summary.json, exits 1 when a criterion fails:
// - every long stream intact (sha256 of the whole download), none missing;
// - both lvsd processes alive at the end, no uncaught exception logged;
// - after the warm-up, each director's VmRSS and open fds within ±tolerance % of their
//   post-warm-up mean (at least 3 samples);
// - conservation per director: every packet lvsd read was sent (from its slot, or queued on
//   AF_PACKET: tx_direct) or counted under a named drop:
//     rx_packets == (tx_packets - icmp_sent) + tx_direct + sum(drops)
//   (icmp_sent are packets lvsd made itself and wrote with the rest; a direct send that the
//   kernel refused at flush is counted in tx_direct and in dr-send-failed, so that much slack
//   is allowed);
// - every failover completed (the backup held both addresses within 10 s);
// - every churn command accepted by both directors or refused by both.
// Client-side errors (wrk, UDP) are reported, with UDP losses split into those inside a
// failover window (from link down to 3 s after the takeover) and outside.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const out = process.argv[2];
if (!out) {
  console.error('usage: soak-report.js OUT_DIR');
  process.exit(2);
}
const readJsonl = (f) => {
  try {
    return fs.readFileSync(path.join(out, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
};
const readJson = (f) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(out, f), 'utf8').trim().split('\n').pop());
  } catch {
    return undefined;
  }
};

const events = readJsonl('events.jsonl');
const lines = readJsonl('samples.jsonl');
const start = events.find((e) => e.kind === 'start');
const end = events.find((e) => e.kind === 'end');
const failures = [];
const fail = (msg) => failures.push(msg);
const rows = [];
const row = (k, v) => rows.push([k, v]);
const fmt = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? '-' : Number(x).toFixed(d));

if (!start || !end) fail('the run did not start or did not finish (events.jsonl incomplete)');
const t0 = start ? start.t : 0;
const warmup = start ? start.warmup : 0;
const tol = start ? start.tolerance : 5;
row('duration', `${start?.seconds ?? '-'} s (warm-up ${warmup} s, tolerance ±${tol} %)`);

// --- failovers, flaps, churn ---------------------------------------------------------------
const foDone = events.filter((e) => e.kind === 'failover-done');
const foFail = events.filter((e) => e.kind === 'failover-failed');
const took = foDone.map((e) => e.took).filter((x) => typeof x === 'number');
row('VRRP failovers', `${foDone.length} done, ${foFail.length} failed; takeover max ${fmt(took.length ? Math.max(...took) : NaN, 2)} s, mean ${fmt(took.reduce((a, b) => a + b, 0) / took.length, 2)} s`);
if (foFail.length) fail(`${foFail.length} failovers did not complete`);
const windows = [];
for (const s of events.filter((e) => e.kind === 'failover-start')) {
  const d = foDone.find((e) => e.t >= s.t) ?? { t: s.t + 10 };
  windows.push([s.t, d.t + 3]);
}
const inWindow = (t) => windows.some(([a, b]) => t >= a && t <= b);
row('health flaps (r5 nginx stopped/started)', `${events.filter((e) => e.kind === 'flap-down').length} down, ${events.filter((e) => e.kind === 'flap-up').length} up`);
const churn = lines.filter((l) => l.kind === 'churn');
const byOp = {};
let split = 0;
for (const c of churn) {
  const k = `${c.op} ${c.ok.every(Boolean) ? 'ok' : c.ok.some(Boolean) ? 'split' : 'refused'}`;
  byOp[k] = (byOp[k] ?? 0) + 1;
  if (c.ok.some(Boolean) && !c.ok.every(Boolean)) split++;
}
row('churn commands (per director pair)', `${churn.length}: ${Object.entries(byOp).map(([k, v]) => `${k} ${v}`).join(', ')}`);
if (split) fail(`${split} churn commands accepted by one director and refused by the other`);

// --- streams -------------------------------------------------------------------------------
const streams = events.filter((e) => e.kind === 'stream');
const intact = streams.filter((s) => s.intact).length;
const want = start ? start.streams : 0;
row('long streams intact', `${intact} of ${want} (${fmt((start?.stream_bytes ?? 0) / 1048576, 1)} MiB each)`);
for (const s of streams.filter((x) => !x.intact)) row(`  stream ${s.n} BROKEN`, `${s.bytes} bytes; ${s.err}`);
if (intact !== want || streams.length !== want) fail(`${want - intact} of ${want} long streams broken`);

// --- clients -------------------------------------------------------------------------------
for (const [name, f] of [['wrk keep-alive VIP:8000', 'wrk-keepalive.json'], ['wrk Connection: close VIP:80', 'wrk-close.json']]) {
  const w = readJson(f);
  if (!w) {
    row(name, 'no summary');
    fail(`${name}: no summary`);
    continue;
  }
  row(name, `${w.requests} requests (${fmt(w.requests / (w.duration_us / 1e6), 0)}/s), errors: connect ${w.connect}, read ${w.read}, write ${w.write}, timeout ${w.timeout}, non-2xx ${w.status}; p99 ${fmt(w.p99_us / 1000, 1)} ms`);
}
const udp = readJson('udp.json');
if (udp) {
  const inside = udp.lost_at.filter(inWindow).length;
  row('UDP request/response VIP:5300', `${udp.sent} sent, ${udp.answered} answered, ${udp.lost} lost (${inside} inside failover windows, ${udp.lost - inside} outside), ${udp.late} late, ${udp.bad} wrong`);
  if (udp.bad) fail(`${udp.bad} UDP answers with wrong content`);
} else {
  row('UDP request/response VIP:5300', 'no result');
  fail('UDP client: no result');
}

// --- processes -----------------------------------------------------------------------------
if (end && end.lvsd_alive !== 2) fail(`${2 - end.lvsd_alive} lvsd processes died`);
if (end && end.uncaught) fail(`${end.uncaught} uncaught exceptions logged`);
const samples = lines.filter((l) => l.kind === 'sample');
const summary = { failovers: foDone.length, takeover_max_s: Math.max(...took, 0), streams: { intact, want }, directors: {} };
for (const d of [1, 2]) {
  const all = samples.filter((s) => s.d === d && s.rss);
  const post = all.filter((s) => s.t - t0 >= warmup);
  const stat = (key) => {
    const v = post.map((s) => s[key]);
    if (v.length === 0) return undefined;
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const min = Math.min(...v);
    const max = Math.max(...v);
    const dev = (Math.max(max - mean, mean - min) / mean) * 100;
    return { n: v.length, mean, min, max, dev, first: all[0]?.[key], peak: Math.max(...all.map((s) => s[key])) };
  };
  const rss = stat('rss');
  const fds = stat('fds');
  summary.directors[d] = { rss, fds };
  if (!rss || rss.n < 3) {
    fail(`d${d}: fewer than 3 samples after the warm-up`);
    continue;
  }
  row(`d${d} VmRSS after warm-up (kB)`, `mean ${fmt(rss.mean)}, min ${rss.min}, max ${rss.max}, max deviation ${fmt(rss.dev, 2)} % (${rss.n} samples; ${rss.first} at start, peak ${rss.peak})`);
  row(`d${d} open fds after warm-up`, `mean ${fmt(fds.mean, 1)}, min ${fds.min}, max ${fds.max}, max deviation ${fmt(fds.dev, 2)} % (${fds.first} at start, peak ${fds.peak})`);
  // The second half alone, to tell a slow warm-up from a steady growth (not a criterion).
  const half = post.filter((s) => s.t - t0 >= (start.seconds + warmup) / 2).map((s) => s.rss);
  if (half.length >= 3) {
    const hm = half.reduce((x, y) => x + y, 0) / half.length;
    const hd = (Math.max(Math.max(...half) - hm, hm - Math.min(...half)) / hm) * 100;
    row(`d${d} VmRSS, second half (kB)`, `mean ${fmt(hm)}, min ${Math.min(...half)}, max ${Math.max(...half)}, max deviation ${fmt(hd, 2)} %`);
    rss.secondHalf = { mean: hm, min: Math.min(...half), max: Math.max(...half), dev: hd };
  }
  if (rss.dev > tol) fail(`d${d}: RSS deviates ${fmt(rss.dev, 2)} % from its post-warm-up mean`);
  if (fds.dev > tol) fail(`d${d}: open fds deviate ${fmt(fds.dev, 2)} % from their post-warm-up mean`);
  const errs = samples.filter((s) => s.d === d && s.err);
  if (errs.length) row(`d${d} sample errors`, `${errs.length}, first: ${errs[0].err}`);
}

// --- drops and conservation ----------------------------------------------------------------
const dropTotals = {};
for (const d of [1, 2]) {
  const last = samples.filter((s) => s.d === d && s.counters).pop();
  if (!last) {
    fail(`d${d}: no status sample`);
    continue;
  }
  const c = last.counters;
  let dropped = 0;
  for (const [k, v] of Object.entries(last.drops)) {
    if (!v) continue;
    dropped += v;
    dropTotals[k] = (dropTotals[k] ?? 0) + v;
  }
  const sent = (c.tx_packets ?? 0) - (c.icmp_sent ?? 0) + (c.tx_direct ?? 0);
  const unaccounted = (c.rx_packets ?? 0) - sent - dropped;
  const slack = last.drops['dr-send-failed'] ?? 0;
  row(`d${d} packets`, `read ${c.rx_packets}, sent ${sent} (tx ${c.tx_packets} - icmp ${c.icmp_sent ?? 0} + direct ${c.tx_direct ?? 0}), dropped ${dropped}, unaccounted ${unaccounted}; conns created ${c.conns_created}, expired ${c.conns_expired}, in table at end ${last.conns}`);
  if (last.tun) row(`d${d} TUN kernel counters`, `to lvsd ${last.tun.tx_packets} (dropped by the kernel: ${last.tun.tx_dropped}), from lvsd ${last.tun.rx_packets} (dropped ${last.tun.rx_dropped})`);
  if (unaccounted < -slack || unaccounted > 0) fail(`d${d}: ${unaccounted} packets neither sent nor counted as a named drop`);
  summary.directors[d].packets = { rx: c.rx_packets, sent, dropped, unaccounted, tun: last.tun };
}
const dropList = Object.entries(dropTotals).sort((a, b) => b[1] - a[1]);
row('drops by counter (both directors)', dropList.length ? dropList.map(([k, v]) => `${k} ${v}`).join(', ') : 'none');
summary.drops = dropTotals;
summary.failures = failures;

const w = Math.max(...rows.map((r) => r[0].length));
console.log('soak summary');
for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
console.log(failures.length ? `FAIL: ${failures.join('; ')}` : 'PASS: every criterion met');
fs.writeFileSync(path.join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
process.exit(failures.length ? 1 : 0);
