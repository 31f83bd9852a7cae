#!/usr/bin/env node
// Turns the probe files of one netns/bench-stall.sh run into a table (stdout) and a JSON
// summary, and checks the targets of the stall benchmark.
//
//   node netns/bench-stall-report.js RAW_DIR [--json OUT.json] [--markdown]
//
// RAW_DIR holds, per scenario S (in the order of RAW_DIR/scenarios, one name a line):
//   S.csv    the probe client's output: target,seq,sent_ms,recv_ms,rtt_ms (-1: no echo);
//            targets "lvsd" (through the director's virtual service) and "control" (the same
//            client and echo server, kernel-forwarded by the director, not through lvsd)
//   S.env    key=value facts of the scenario (label, conns, rt, ...)
//
// Per target: sent, lost, RTT percentiles over the echoes that came back, and gaps: a gap is
// a stretch of more than GAP_MS between consecutive echo arrivals (or up to the end, when the
// echoes stop). An lvsd gap is shared when a control gap overlaps it: the machine (the client,
// the scheduler) stalled both paths, not lvsd. A spike is an lvsd RTT above SPIKE_MS with no
// control RTT above SPIKE_MS within SPIKE_WINDOW_MS; spikes at a steady interval (3 or more,
// intervals within 10 % of their median) are a periodic stall.
//
// Targets (issue "Packet workers", stall benchmark): in churn scenarios lvsd loses nothing,
// its p99.9 is within the control's + 2 ms and its max within the control's + 10 ms, and it
// has no unshared gap over 20 ms; a quiet baseline has no periodic stall.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const GAP_MS = 20;
const SPIKE_MS = 5;
const SPIKE_WINDOW_MS = 10;
const P999_SLACK_MS = 2;
const MAX_SLACK_MS = 10;

function readEnv(file) {
  const env = {};
  if (!fs.existsSync(file)) return env;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

function readProbe(file) {
  const by = new Map();
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].split(',');
    if (f.length !== 5) continue;
    const [target, seq, sent, recv, rtt] = [f[0], Number(f[1]), Number(f[2]), Number(f[3]), Number(f[4])];
    if (!by.has(target)) by.set(target, []);
    by.get(target).push({ seq, sent, recv, rtt });
  }
  return by;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

/** Stretches of more than GAP_MS without an echo arriving, as [from, to] in ms. */
function gaps(rows) {
  const arrivals = rows.filter((r) => r.recv >= 0).map((r) => r.recv).sort((a, b) => a - b);
  const lastSent = rows.reduce((m, r) => Math.max(m, r.sent), 0);
  const out = [];
  let prev = rows.length ? Math.min(...rows.slice(0, 1).map((r) => r.sent)) : 0;
  for (const t of arrivals) {
    if (t - prev > GAP_MS) out.push([prev, t]);
    prev = t;
  }
  if (lastSent - prev > GAP_MS) out.push([prev, lastSent]);
  return out;
}

function overlaps(a, list) {
  return list.some((b) => a[0] < b[1] && b[0] < a[1]);
}

function stats(rows) {
  const rtts = rows.filter((r) => r.rtt >= 0).map((r) => r.rtt).sort((a, b) => a - b);
  return {
    sent: rows.length,
    lost: rows.length - rtts.length,
    p50: quantile(rtts, 0.5),
    p99: quantile(rtts, 0.99),
    p999: quantile(rtts, 0.999),
    max: rtts.length ? rtts[rtts.length - 1] : NaN,
  };
}

function spikes(lvsd, control) {
  const ctl = control.filter((r) => r.rtt > SPIKE_MS).map((r) => r.sent);
  const out = [];
  for (const r of lvsd) {
    if (r.rtt < 0 || r.rtt <= SPIKE_MS) continue;
    if (ctl.some((t) => Math.abs(t - r.sent) <= SPIKE_WINDOW_MS)) continue;
    // One spike per stall: echoes delayed by the same stall are one event.
    if (out.length && r.sent - out[out.length - 1] < 100) continue;
    out.push(r.sent);
  }
  const intervals = out.slice(1).map((t, i) => t - out[i]);
  const sorted = [...intervals].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  const steady = intervals.length >= 2 && intervals.every((d) => Math.abs(d - median) <= 0.1 * median);
  return { count: out.length, medianIntervalMs: intervals.length ? median : null, periodic: out.length >= 3 && steady };
}

function analyse(dir, name) {
  const env = readEnv(path.join(dir, `${name}.env`));
  const probe = readProbe(path.join(dir, `${name}.csv`));
  const lv = probe.get('lvsd') ?? [];
  const ct = probe.get('control') ?? [];
  const lvGaps = gaps(lv);
  const ctGaps = gaps(ct);
  const unshared = lvGaps.filter((g) => !overlaps(g, ctGaps));
  const s = { lvsd: stats(lv), control: stats(ct) };
  const churn = (env.kind ?? '').startsWith('churn');
  const sp = spikes(lv, ct);
  const checks = churn
    ? {
      'lvsd loses nothing': s.lvsd.lost === 0,
      'p99.9 within control + 2 ms': s.lvsd.p999 <= s.control.p999 + P999_SLACK_MS,
      'max within control + 10 ms': s.lvsd.max <= s.control.max + MAX_SLACK_MS,
      'no unshared gap over 20 ms': unshared.length === 0,
    }
    : {
      'lvsd loses nothing': s.lvsd.lost === 0,
      'no periodic stall': !sp.periodic,
      'no unshared gap over 20 ms': unshared.length === 0,
    };
  return {
    name, label: env.label ?? name, env, ...s,
    gaps: { lvsd: lvGaps.length, control: ctGaps.length, unshared: unshared.length,
      longestUnsharedMs: unshared.reduce((m, g) => Math.max(m, g[1] - g[0]), 0),
      unsharedAtMs: unshared.slice(0, 10).map((g) => [Math.round(g[0]), Math.round(g[1] - g[0])]) },
    spikes: sp,
    checks,
  };
}

function ms(v) {
  return Number.isFinite(v) ? v.toFixed(2) : '-';
}

function table(results, markdown) {
  const head = ['scenario', 'probe', 'sent', 'lost', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'gaps >20 ms (unshared)'];
  const rows = [];
  for (const r of results) {
    for (const t of ['lvsd', 'control']) {
      const x = r[t];
      rows.push([t === 'lvsd' ? r.label : '', t, String(x.sent), String(x.lost), ms(x.p50), ms(x.p99), ms(x.p999), ms(x.max),
        t === 'lvsd' ? `${r.gaps.lvsd} (${r.gaps.unshared}${r.gaps.unshared ? `, longest ${r.gaps.longestUnsharedMs.toFixed(0)} ms` : ''})`
          : String(r.gaps.control)]);
    }
  }
  const lines = [];
  if (markdown) {
    lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
    for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  } else {
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    lines.push(head.map((h, i) => h.padEnd(w[i])).join('  '));
    for (const r of rows) lines.push(r.map((c, i) => c.padEnd(w[i])).join('  '));
  }
  lines.push('');
  for (const r of results) {
    const verdicts = Object.entries(r.checks).map(([k, ok]) => `${ok ? 'met' : 'MISSED'}: ${k}`).join('; ');
    const sp = r.spikes;
    lines.push(`${markdown ? '- ' : ''}${r.label}: ${verdicts}; unshared spikes over ${SPIKE_MS} ms: ${sp.count}`
      + (sp.medianIntervalMs !== null ? ` (median interval ${(sp.medianIntervalMs / 1000).toFixed(2)} s${sp.periodic ? ', periodic' : ''})` : '')
      + (r.gaps.unsharedAtMs.length ? `; unshared gaps [start ms, length ms]: ${JSON.stringify(r.gaps.unsharedAtMs)}` : ''));
  }
  return lines.join('\n');
}

function main() {
  const args = process.argv.slice(2);
  const dir = args[0];
  if (!dir) {
    process.stderr.write('usage: bench-stall-report.js RAW_DIR [--json OUT] [--markdown]\n');
    process.exit(2);
  }
  const jsonAt = args.indexOf('--json');
  const markdown = args.includes('--markdown');
  const names = fs.readFileSync(path.join(dir, 'scenarios'), 'utf8').split('\n').filter(Boolean);
  const results = names.filter((n) => fs.existsSync(path.join(dir, `${n}.csv`))).map((n) => analyse(dir, n));
  const meta = readEnv(path.join(dir, 'meta.env'));
  process.stdout.write(`stall benchmark ${meta.date ?? ''} on ${meta.machine ?? ''}\n`);
  process.stdout.write(table(results, markdown) + '\n');
  if (jsonAt >= 0 && args[jsonAt + 1]) fs.writeFileSync(args[jsonAt + 1], JSON.stringify({ meta, results }, null, 2));
}

main();
