#!/usr/bin/env node
// Turns the raw files of one netns/bench.sh run into a table (stdout) and a JSON summary.
//
//   node netns/bench-report.js RAW_DIR [--json OUT.json] [--markdown]
//
// RAW_DIR layout (written by bench.sh): meta.env (key=value) and for each phase and round a
// directory PHASE/rN with
//   status               "ok" or "failed: reason"
//   balancer.pid         PID of the balancing process, empty for kernel-only phases
//   wrk-ka.*, wrk-close.*, iperf3.*   NAME.out (tool output), NAME.rc (exit status),
//                        NAME.before / NAME.after (snapshots: "t <ns>", /proc/stat's cpu line,
//                        "proc <the balancer's /proc/PID/stat>")
//   loadavg, client.src, sanity.txt, time-wait ("<role> <TIME_WAIT sockets>" after the runs;
//   for the client only those of this run's source address), leftovers.diff (only when the phase left state in the director)
// With several rounds every figure is the median over the rounds that succeeded, and each ratio
// is the median of the ratios taken within one round (both phases measured under the same load).
// CPU times come from proc(5): /proc/PID/stat fields 14 and 15 (utime, stime; all threads of
// the process) and /proc/stat's first line, both in clock ticks (meta clk_tck).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/** The phase every ratio is taken against (the userspace L4 balancer people pick). */
const REFERENCE = 'haproxy';

const PHASE_LABELS = {
  kernel: 'kernel forwarding (no balancer)',
  nft: 'nftables DNAT (numgen)',
  haproxy: 'HAProxy mode tcp, 2 threads',
  lvsd: 'lvsd NAT',
};

/** /proc/stat cpu line columns (proc(5)); guest time is already inside user. */
const STAT_COLUMNS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];

/** wrk latency units to milliseconds. */
const LATENCY_UNIT_MS = { us: 1e-3, ms: 1, s: 1e3, m: 60e3 };

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function parseEnv(text) {
  const out = {};
  for (const line of (text ?? '').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** "name count" lines to { name: count }. */
function parseCounts(text) {
  if (text === null) return null;
  const out = {};
  for (const line of text.split('\n')) {
    const [name, count] = line.trim().split(/\s+/);
    if (name && count !== undefined) out[name] = Number(count);
  }
  return out;
}

/** A snapshot file: { t: ns (bigint), cpu: {user..steal}, procTicks: utime+stime | null }. */
function parseSnapshot(text) {
  if (text === null) return null;
  const snap = { t: null, cpu: null, procTicks: null };
  for (const line of text.split('\n')) {
    if (line.startsWith('t ')) snap.t = BigInt(line.slice(2).trim());
    else if (line.startsWith('cpu ')) {
      const v = line.trim().split(/\s+/).slice(1).map(Number);
      snap.cpu = Object.fromEntries(STAT_COLUMNS.map((k, i) => [k, v[i] ?? 0]));
    } else if (line.startsWith('proc ')) {
      // comm (field 2) may hold spaces and parentheses: fields resume after the last ')'.
      const rest = line.slice(line.lastIndexOf(')') + 1).trim().split(/\s+/);
      // rest[0] is field 3 (state), so field N is rest[N - 3].
      const utime = Number(rest[14 - 3]);
      const stime = Number(rest[15 - 3]);
      if (Number.isFinite(utime) && Number.isFinite(stime)) snap.procTicks = utime + stime;
    }
  }
  return snap;
}

/** CPU use between two snapshots. */
function cpuDelta(before, after, clkTck) {
  if (!before || !after || !before.cpu || !after.cpu) return null;
  const d = {};
  let total = 0;
  for (const k of STAT_COLUMNS) {
    d[k] = after.cpu[k] - before.cpu[k];
    total += d[k];
  }
  const busy = total - d.idle - d.iowait;
  const balancerMs =
    before.procTicks !== null && after.procTicks !== null
      ? ((after.procTicks - before.procTicks) * 1000) / clkTck
      : null;
  return {
    wallS: after.t !== null && before.t !== null ? Number(after.t - before.t) / 1e9 : null,
    machineBusyPct: total > 0 ? (100 * busy) / total : null,
    machineSoftirqPct: total > 0 ? (100 * d.softirq) / total : null,
    machineBusyMs: (busy * 1000) / clkTck,
    balancerCpuMs: balancerMs,
  };
}

function latencyMs(value, unit) {
  const scale = LATENCY_UNIT_MS[unit];
  return scale === undefined ? null : Number(value) * scale;
}

/** wrk 4.x text output. */
function parseWrk(text) {
  if (!text) return null;
  const num = (re) => {
    const m = text.match(re);
    return m ? Number(m[1]) : null;
  };
  const requests = num(/(\d+) requests in [\d.]+\w+/);
  const rps = num(/Requests\/sec:\s+([\d.]+)/);
  if (requests === null || rps === null) return null;
  const sock = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const pct = {};
  for (const m of text.matchAll(/^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$/gm)) {
    pct[`p${m[1]}Ms`] = latencyMs(m[2], m[3]);
  }
  return {
    requests,
    rps,
    socketErrors: sock
      ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/) ?? 0,
    latency: pct,
  };
}

/** iperf3 -J output: received throughput and sender retransmits. */
function parseIperf(text) {
  if (!text) return null;
  let j;
  try {
    j = JSON.parse(text);
  } catch {
    return null;
  }
  if (j.error || !j.end || !j.end.sum_received) return { error: j.error ?? 'no summary' };
  return {
    gbps: j.end.sum_received.bits_per_second / 1e9,
    bytes: j.end.sum_received.bytes,
    retransmits: j.end.sum_sent?.retransmits ?? null,
  };
}

function roundResult(dir, clkTck) {
  const status = (readText(path.join(dir, 'status')) ?? 'failed: no status (run interrupted)').trim();
  const result = {
    status,
    ok: status === 'ok',
    loadavgAtStart: (readText(path.join(dir, 'loadavg')) ?? '').trim() || null,
    leftoversInDirector: fs.existsSync(path.join(dir, 'leftovers.diff')),
    clientSource: (readText(path.join(dir, 'client.src')) ?? '').trim() || null,
    timeWait: parseCounts(readText(path.join(dir, 'time-wait'))),
    hasBalancerProcess: (readText(path.join(dir, 'balancer.pid')) ?? '').trim() !== '',
    keepalive: null,
    newconn: null,
    iperf3: null,
  };
  if (!result.ok) return result;
  const run = (file) => {
    const before = parseSnapshot(readText(path.join(dir, `${file}.before`)));
    const after = parseSnapshot(readText(path.join(dir, `${file}.after`)));
    const rc = Number((readText(path.join(dir, `${file}.rc`)) ?? '1').trim());
    return { rc, out: readText(path.join(dir, `${file}.out`)), cpu: cpuDelta(before, after, clkTck) };
  };
  for (const [key, file] of [['keepalive', 'wrk-ka'], ['newconn', 'wrk-close']]) {
    const r = run(file);
    const wrk = r.rc === 0 ? parseWrk(r.out) : null;
    if (!wrk) {
      result[key] = { error: `wrk exit ${r.rc} or unreadable output` };
      continue;
    }
    const per1k = (ms) => (ms === null || wrk.requests === 0 ? null : (ms * 1000) / wrk.requests);
    const balancerMs = result.hasBalancerProcess ? r.cpu?.balancerCpuMs ?? null : null;
    result[key] = {
      ...wrk,
      balancerCpuMs: balancerMs,
      balancerCpuMsPer1k: per1k(balancerMs),
      machineBusyPct: r.cpu?.machineBusyPct ?? null,
      machineSoftirqPct: r.cpu?.machineSoftirqPct ?? null,
      machineCpuMsPer1k: per1k(r.cpu?.machineBusyMs ?? null),
    };
  }
  const ip = run('iperf3');
  const iperf = parseIperf(ip.out);
  if (!iperf || iperf.error !== undefined) {
    result.iperf3 = { error: iperf?.error ?? `iperf3 exit ${ip.rc}` };
  } else {
    const balancerMs = result.hasBalancerProcess ? ip.cpu?.balancerCpuMs ?? null : null;
    result.iperf3 = {
      ...iperf,
      balancerCpuMs: balancerMs,
      balancerCpuMsPerGB: balancerMs === null ? null : balancerMs / (iperf.bytes / 1e9),
      machineSoftirqPct: ip.cpu?.machineSoftirqPct ?? null,
    };
  }
  return result;
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** The figures shown in the tables: name -> how to pick it from one round. */
const SUMMARY_FIELDS = {
  keepaliveRps: (r) => r.keepalive?.rps,
  newconnRps: (r) => r.newconn?.rps,
  iperf3Gbps: (r) => r.iperf3?.gbps,
  balancerCpuMsPer1kKeepalive: (r) => r.keepalive?.balancerCpuMsPer1k,
  balancerCpuMsPer1kNewconn: (r) => r.newconn?.balancerCpuMsPer1k,
  balancerCpuMsPerGB: (r) => r.iperf3?.balancerCpuMsPerGB,
  machineBusyPctKeepalive: (r) => r.keepalive?.machineBusyPct,
  machineSoftirqPctKeepalive: (r) => r.keepalive?.machineSoftirqPct,
  machineCpuMsPer1kKeepalive: (r) => r.keepalive?.machineCpuMsPer1k,
  machineCpuMsPer1kNewconn: (r) => r.newconn?.machineCpuMsPer1k,
  p99KeepaliveMs: (r) => r.keepalive?.latency?.p99Ms,
  iperf3Retransmits: (r) => r.iperf3?.retransmits,
};

/** Figures also given as a ratio to the reference phase. */
const RATIO_FIELDS = ['keepaliveRps', 'newconnRps', 'iperf3Gbps'];

function listRounds(rawDir, name) {
  const dir = path.join(rawDir, name);
  let entries = [];
  try {
    entries = fs.readdirSync(dir).filter((e) => /^r\d+$/.test(e));
  } catch {
    return [];
  }
  return entries.sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))).map((e) => path.join(dir, e));
}

function phaseResult(rawDir, name, clkTck) {
  const rounds = listRounds(rawDir, name).map((d) => ({ round: Number(path.basename(d).slice(1)), ...roundResult(d, clkTck) }));
  const good = rounds.filter((r) => r.ok);
  let status;
  if (rounds.length === 0) status = 'failed: not run';
  else if (good.length === rounds.length) status = 'ok';
  else if (good.length > 0) status = `ok in ${good.length} of ${rounds.length} rounds`;
  else status = rounds[0].status;
  const summary = {};
  for (const [key, pick] of Object.entries(SUMMARY_FIELDS)) summary[key] = median(good.map(pick));
  return {
    phase: name,
    label: PHASE_LABELS[name] ?? name,
    status,
    ok: good.length > 0,
    hasBalancerProcess: good.some((r) => r.hasBalancerProcess),
    summary,
    rounds,
  };
}

function addRatios(results) {
  const ref = results.find((r) => r.phase === REFERENCE && r.ok);
  for (const r of results) {
    r.ratioTo = REFERENCE;
    r.ratios = {};
    for (const field of RATIO_FIELDS) {
      const perRound = [];
      for (const round of r.ok && ref ? r.rounds : []) {
        const other = ref.rounds.find((x) => x.round === round.round && x.ok);
        if (!round.ok || !other) continue;
        const a = SUMMARY_FIELDS[field](round);
        const b = SUMMARY_FIELDS[field](other);
        if (typeof a === 'number' && typeof b === 'number' && b > 0) perRound.push(a / b);
      }
      r.ratios[field] = median(perRound);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

const fmt = {
  rps: (v) => (v === null || v === undefined ? 'n/a' : `${(v / 1000).toFixed(1)}k`),
  ratio: (v) => (v === null || v === undefined ? 'n/a' : `${v.toFixed(2)}x`),
  gbps: (v) => (v === null || v === undefined ? 'n/a' : v.toFixed(2)),
  ms: (v) => (v === null || v === undefined ? 'n/a' : v.toFixed(1)),
  pct: (v) => (v === null || v === undefined ? 'n/a' : `${v.toFixed(0)}%`),
};

function flagged(metric) {
  if (!metric || metric.error) return false;
  const e = metric.socketErrors;
  return metric.non2xx > 0 || (e && e.connect + e.read + e.write + e.timeout > 0);
}

/** The run (wrk keep-alive, wrk new connections, iperf3) each headline figure comes from. */
const RUN_OF_FIGURE = { keepaliveRps: 'keepalive', newconnRps: 'newconn', iperf3Gbps: 'iperf3' };

/** A figure cell: "n/a" when missing, "error" when every round's run failed, " !" when a
 * round had wrk socket errors or non-2xx answers. */
function cell(r, key, format) {
  const v = r.summary[key];
  const runs = r.rounds.filter((x) => x.ok).map((x) => x[RUN_OF_FIGURE[key]]);
  if (v === null && runs.length > 0 && runs.every((m) => m?.error)) return 'error';
  return format(v) + (runs.some(flagged) ? ' !' : '');
}

function mainRows(results) {
  const header = [
    'phase', 'keep-alive req/s', 'vs HAProxy', 'new-conn req/s', 'vs HAProxy',
    'iperf3 Gbit/s', 'vs HAProxy', 'CPU ms/1k ka', 'CPU ms/1k new-conn',
  ];
  const rows = results.map((r) => {
    if (!r.ok) return [r.phase, 'failed', '', '', '', '', '', '', ''];
    const s = r.summary;
    return [
      r.phase,
      cell(r, 'keepaliveRps', fmt.rps),
      fmt.ratio(r.ratios.keepaliveRps),
      cell(r, 'newconnRps', fmt.rps),
      fmt.ratio(r.ratios.newconnRps),
      cell(r, 'iperf3Gbps', fmt.gbps),
      fmt.ratio(r.ratios.iperf3Gbps),
      r.hasBalancerProcess ? fmt.ms(s.balancerCpuMsPer1kKeepalive) : 'n/a',
      r.hasBalancerProcess ? fmt.ms(s.balancerCpuMsPer1kNewconn) : 'n/a',
    ];
  });
  return [header, rows];
}

function contextRows(results) {
  const header = [
    'phase', 'machine busy ka', 'softirq ka', 'machine CPU ms/1k ka', 'machine CPU ms/1k new-conn',
    'p99 ka ms', 'iperf3 retr', 'balancer CPU ms/GB', 'load avg at start',
  ];
  const rows = results
    .filter((r) => r.ok)
    .map((r) => {
      const s = r.summary;
      return [
        r.phase,
        fmt.pct(s.machineBusyPctKeepalive),
        fmt.pct(s.machineSoftirqPctKeepalive),
        fmt.ms(s.machineCpuMsPer1kKeepalive),
        fmt.ms(s.machineCpuMsPer1kNewconn),
        fmt.ms(s.p99KeepaliveMs),
        s.iperf3Retransmits === null ? 'n/a' : s.iperf3Retransmits.toFixed(0),
        r.hasBalancerProcess ? fmt.ms(s.balancerCpuMsPerGB) : 'n/a',
        r.rounds.map((x) => (x.loadavgAtStart ?? '?').split(' ')[0]).join(' '),
      ];
    });
  return [header, rows];
}

function renderText([header, rows]) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function renderMarkdown([header, rows]) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

function main(argv) {
  const args = argv.slice(2);
  const rawDir = args.find((a) => !a.startsWith('--') && args[args.indexOf(a) - 1] !== '--json');
  const jsonIdx = args.indexOf('--json');
  const jsonOut = jsonIdx >= 0 ? args[jsonIdx + 1] : null;
  const markdown = args.includes('--markdown');
  if (!rawDir || (jsonIdx >= 0 && !jsonOut)) {
    process.stderr.write('usage: bench-report.js RAW_DIR [--json OUT.json] [--markdown]\n');
    return 2;
  }
  const meta = parseEnv(readText(path.join(rawDir, 'meta.env')));
  const clkTck = Number(meta.clk_tck) || 100;
  const phases = (meta.phases ?? '').split(/\s+/).filter(Boolean);
  const results = phases.map((p) => phaseResult(rawDir, p, clkTck));
  addRatios(results);

  const render = markdown ? renderMarkdown : renderText;
  const out = [];
  out.push(
    `bench ${meta.date ?? '?'}: ${meta.nproc ?? '?'} CPUs (${meta.cpu_model ?? '?'}${meta.hypervisor ? `, ${meta.hypervisor} guest` : ''}), ` +
      `kernel ${meta.kernel ?? '?'}, ${meta.duration_s ?? '?'} s per run, wrk -t${meta.threads ?? '?'} -c${meta.connections ?? '?'}, ` +
      `${meta.rounds ?? 1} round(s)${Number(meta.rounds) > 1 ? ': medians' : ''}`,
  );
  out.push('');
  out.push(render(mainRows(results)));
  out.push('');
  out.push(render(contextRows(results)));
  const notes = [];
  for (const r of results) {
    for (const x of r.rounds) {
      const where = r.rounds.length > 1 ? `${r.phase} round ${x.round}` : r.phase;
      if (!x.ok) notes.push(`${where}: ${x.status}`);
      for (const [k, m] of [['keep-alive', x.keepalive], ['new-conn', x.newconn]]) {
        if (flagged(m)) {
          const e = m.socketErrors;
          notes.push(`${where} ${k} (!): socket errors connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}; non-2xx ${m.non2xx}`);
        }
        if (m?.error) notes.push(`${where} ${k}: ${m.error}`);
      }
      if (x.iperf3?.error) notes.push(`${where} iperf3: ${x.iperf3.error}`);
      if (x.leftoversInDirector) notes.push(`${where}: left state in the director (restored before the next phase)`);
    }
  }
  if (notes.length) out.push('', ...notes.map((n) => `note: ${n}`));
  process.stdout.write(`${out.join('\n')}\n`);

  if (jsonOut) {
    const summary = { meta, reference: REFERENCE, rawDir: path.resolve(rawDir), phases: results };
    fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
    fs.writeFileSync(jsonOut, `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(`results: ${jsonOut}\n`);
  }
  return 0;
}

process.exitCode = main(process.argv);
