#!/usr/bin/env node
// Turns the raw files of one netns/bench.sh run into a table (stdout) and a JSON summary.
//
//   node netns/bench-report.js RAW_DIR [--json OUT.json] [--markdown]
//
// RAW_DIR layout (written by bench.sh): meta.env (key=value) and for each phase and round a
// directory PHASE/rN with
//   status               "ok" or "failed: reason"
//   balancer.pid         PID of the balancing process, empty for kernel-only phases
//   helpers.pid          PIDs of the lvs-realserver processes (DR and tunnel phases), or empty
//   wrk-ka.*, wrk-close.*, iperf3.* (upload), iperf3-down.* (download, iperf3 -R)
//                        NAME.out (tool output), NAME.rc (exit status),
//                        NAME.before / NAME.after (snapshots: "t <ns>", /proc/stat's cpu line,
//                        "proc <the balancer's /proc/PID/stat>", "helper <a helper's stat>")
//   lvsadm-stats.txt     `lvsadm -L -n --stats --exact` at the end of an lvsd phase
//   raw-sockets-rsN.txt  /proc/net/raw of real server N at the end of a DR or tunnel phase
//   loadavg, client.src, sanity.txt, time-wait ("<role> <TIME_WAIT sockets>" after the runs;
//   for the client only those of this run's source address), leftovers.diff (only when the
//   phase left state in the director, the real servers or the client)
// With several rounds every figure is the median over the rounds that succeeded, and each ratio
// is the median of the ratios taken within one round (both phases measured under the same load).
// CPU times come from proc(5): /proc/PID/stat fields 14 and 15 (utime, stime; all threads of
// the process) and /proc/stat's first line, both in clock ticks (meta clk_tck).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/** The phase the throughput ratios are taken against (the userspace L4 balancer people pick). */
const REFERENCE = 'haproxy';
/** Download throughput is compared with plain kernel forwarding (target: at least 0.9x). */
const DOWNLOAD_REFERENCE = 'kernel';
/** lvsd's forwarding methods are compared with lvsd NAT (target: less CPU per request): the
 * NAT phase with as many packet workers as the bypass phases run (lvsd's default, one per CPU). */
let METHOD_REFERENCE = 'lvsd';
/** lvsd NAT phases: lvsd's default worker count, and --workers 1 / 2. */
const NAT_PHASES = ['lvsd', 'lvsd-w1', 'lvsd-w2'];
/** The lvsd phases, by forwarding method. */
const LVSD_PHASES = [...NAT_PHASES, 'lvsd-dr', 'lvsd-tun', 'lvsd-tun-user'];
/** The download target for the methods whose replies bypass the director. */
const BYPASS_PHASES = ['lvsd-dr', 'lvsd-tun', 'lvsd-tun-user'];
const DOWNLOAD_TARGET = 0.95;
/** NAT targets against HAProxy, with the better worker count: keep-alive req/s, bulk upload,
 * and lvsd's CPU per 1k keep-alive requests (at most this fraction of HAProxy's). */
const NAT_KEEPALIVE_TARGET = 1.2;
const NAT_UPLOAD_TARGET = 2;
const NAT_CPU_TARGET = 0.7;

const PHASE_LABELS = {
  kernel: 'kernel forwarding (no balancer)',
  nft: 'nftables DNAT (numgen)',
  haproxy: 'HAProxy mode tcp, 2 threads',
  lvsd: 'lvsd NAT (default packet workers: one per CPU)',
  'lvsd-w1': 'lvsd NAT, --workers 1',
  'lvsd-w2': 'lvsd NAT, --workers 2',
  'lvsd-scrape': 'lvsd NAT, /metrics scraped every second',
  'lvsd-scrape-fast': 'lvsd NAT, /metrics scraped up to 20 times a second',
  'lvsd-dr': 'lvsd direct routing (replies bypass the director)',
  'lvsd-tun': 'lvsd IP tunneling (replies bypass the director)',
  'lvsd-tun-user': 'lvsd IP tunneling, real servers decapsulating in userspace',
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

/** utime + stime (proc(5) fields 14 and 15) of a /proc/PID/stat line, or null. */
function statTicks(stat) {
  // comm (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const rest = stat.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : null;
}

/** A snapshot file: { t: ns (bigint), cpu: {user..steal}, procTicks: utime+stime | null,
 * helperTicks: per helper process, utime+stime | null }. */
function parseSnapshot(text) {
  if (text === null) return null;
  const snap = { t: null, cpu: null, procTicks: null, helperTicks: [] };
  for (const line of text.split('\n')) {
    if (line.startsWith('t ')) snap.t = BigInt(line.slice(2).trim());
    else if (line.startsWith('cpu ')) {
      const v = line.trim().split(/\s+/).slice(1).map(Number);
      snap.cpu = Object.fromEntries(STAT_COLUMNS.map((k, i) => [k, v[i] ?? 0]));
    } else if (line.startsWith('proc ')) {
      snap.procTicks = statTicks(line.slice(5));
    } else if (line.startsWith('helper ')) {
      snap.helperTicks.push(statTicks(line.slice(7)));
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
  // All helpers, only when every one was readable at both ends (one that exited mid-run
  // would drop its share).
  const hb = before.helperTicks;
  const ha = after.helperTicks;
  const helperMs =
    hb.length > 0 && hb.length === ha.length && [...hb, ...ha].every((x) => x !== null)
      ? ((ha.reduce((a, b) => a + b, 0) - hb.reduce((a, b) => a + b, 0)) * 1000) / clkTck
      : null;
  return {
    wallS: after.t !== null && before.t !== null ? Number(after.t - before.t) / 1e9 : null,
    machineBusyPct: total > 0 ? (100 * busy) / total : null,
    machineSoftirqPct: total > 0 ? (100 * d.softirq) / total : null,
    machineBusyMs: (busy * 1000) / clkTck,
    balancerCpuMs: balancerMs,
    helperCpuMs: helperMs,
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

/** iperf3 -J output: received throughput, sender retransmits and the sender's mean smoothed
 * RTT in microseconds (the client's own streams for an upload; for a download (-R) the server's,
 * present with --get-server-output). */
function parseIperf(text) {
  if (!text) return null;
  let j;
  try {
    j = JSON.parse(text);
  } catch {
    return null;
  }
  if (j.error || !j.end || !j.end.sum_received) return { error: j.error ?? 'no summary' };
  const rttOf = (run) => {
    const rtt = run?.end?.streams?.[0]?.sender?.mean_rtt;
    return typeof rtt === 'number' && rtt > 0 ? rtt : null;
  };
  return {
    gbps: j.end.sum_received.bits_per_second / 1e9,
    bytes: j.end.sum_received.bytes,
    retransmits: j.end.sum_sent?.retransmits ?? null,
    senderMeanRttUs: rttOf(j) ?? rttOf(j.server_output_json),
  };
}

/** Service lines of `lvsadm -L -n --stats --exact` (ipvsadm's layout: Prot LocalAddress:Port
 * Conns InPkts OutPkts InBytes OutBytes), summed over the services: { inPkts, outPkts } | null. */
function parseLvsStats(text) {
  if (!text) return null;
  let inPkts = 0;
  let outPkts = 0;
  let services = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if ((f[0] === 'TCP' || f[0] === 'UDP') && f.length >= 5 && /^\d+$/.test(f[3]) && /^\d+$/.test(f[4])) {
      inPkts += Number(f[3]);
      outPkts += Number(f[4]);
      services++;
    }
  }
  return services > 0 ? { inPkts, outPkts } : null;
}

/** Sum of the drops column (the last, proc(5) /proc/net/raw) over the given files' sockets, or
 * null when none of the files exists. The counts cover the whole phase, not one run. */
function rawSocketDrops(files) {
  let total = null;
  for (const file of files) {
    const text = readText(file);
    if (text === null) continue;
    total ??= 0;
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const drops = Number(f[f.length - 1]);
      if (f.length > 10 && Number.isFinite(drops)) total += drops;
    }
  }
  return total;
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
    hasHelpers: (readText(path.join(dir, 'helpers.pid')) ?? '').trim() !== '',
    directorPackets: parseLvsStats(readText(path.join(dir, 'lvsadm-stats.txt'))),
    realServerRawDrops: rawSocketDrops(
      fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^raw-sockets-rs\d+\.txt$/.test(f)).map((f) => path.join(dir, f)) : [],
    ),
    keepalive: null,
    newconn: null,
    iperf3: null,
    iperf3Down: null,
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
    const helperMs = result.hasHelpers ? r.cpu?.helperCpuMs ?? null : null;
    result[key] = {
      ...wrk,
      balancerCpuMs: balancerMs,
      balancerCpuMsPer1k: per1k(balancerMs),
      helperCpuMsPer1k: per1k(helperMs),
      machineBusyPct: r.cpu?.machineBusyPct ?? null,
      machineSoftirqPct: r.cpu?.machineSoftirqPct ?? null,
      machineCpuMsPer1k: per1k(r.cpu?.machineBusyMs ?? null),
    };
  }
  for (const [key, file] of [['iperf3', 'iperf3'], ['iperf3Down', 'iperf3-down']]) {
    const ip = run(file);
    const iperf = parseIperf(ip.out);
    if (!iperf || iperf.error !== undefined) {
      result[key] = { error: iperf?.error ?? `${file} exit ${ip.rc}` };
      continue;
    }
    const perGB = (ms) => (ms === null || !(iperf.bytes > 0) ? null : ms / (iperf.bytes / 1e9));
    const balancerMs = result.hasBalancerProcess ? ip.cpu?.balancerCpuMs ?? null : null;
    const helperMs = result.hasHelpers ? ip.cpu?.helperCpuMs ?? null : null;
    result[key] = {
      ...iperf,
      balancerCpuMs: balancerMs,
      balancerCpuMsPerGB: perGB(balancerMs),
      helperCpuMsPerGB: perGB(helperMs),
      helperCpuMs: helperMs,
      machineBusyPct: ip.cpu?.machineBusyPct ?? null,
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
  iperf3DownGbps: (r) => r.iperf3Down?.gbps,
  balancerCpuMsPer1kKeepalive: (r) => r.keepalive?.balancerCpuMsPer1k,
  balancerCpuMsPer1kNewconn: (r) => r.newconn?.balancerCpuMsPer1k,
  /** The same figure, for its ratio to HAProxy's (RATIO_FIELDS takes one reference per field). */
  balancerCpuMsPer1kKeepaliveVsHaproxy: (r) => r.keepalive?.balancerCpuMsPer1k,
  balancerCpuMsPerGB: (r) => r.iperf3?.balancerCpuMsPerGB,
  balancerCpuMsPerGBDown: (r) => r.iperf3Down?.balancerCpuMsPerGB,
  helperCpuMsPer1kKeepalive: (r) => r.keepalive?.helperCpuMsPer1k,
  helperCpuMsPer1kNewconn: (r) => r.newconn?.helperCpuMsPer1k,
  helperCpuMsPerGB: (r) => r.iperf3?.helperCpuMsPerGB,
  helperCpuMsPerGBDown: (r) => r.iperf3Down?.helperCpuMsPerGB,
  directorInPkts: (r) => r.directorPackets?.inPkts,
  directorOutPkts: (r) => r.directorPackets?.outPkts,
  realServerRawDrops: (r) => r.realServerRawDrops,
  machineBusyPctKeepalive: (r) => r.keepalive?.machineBusyPct,
  machineSoftirqPctKeepalive: (r) => r.keepalive?.machineSoftirqPct,
  machineCpuMsPer1kKeepalive: (r) => r.keepalive?.machineCpuMsPer1k,
  machineCpuMsPer1kNewconn: (r) => r.newconn?.machineCpuMsPer1k,
  p99KeepaliveMs: (r) => r.keepalive?.latency?.p99Ms,
  iperf3Retransmits: (r) => r.iperf3?.retransmits,
  iperf3DownRetransmits: (r) => r.iperf3Down?.retransmits,
  iperf3RttUs: (r) => r.iperf3?.senderMeanRttUs,
  iperf3DownRttUs: (r) => r.iperf3Down?.senderMeanRttUs,
};

/** Figures also given as a ratio to a reference phase: field -> reference phase. Within each
 * round the ratio of the two phases' figures, then the median over the rounds. */
const RATIO_FIELDS = {
  keepaliveRps: REFERENCE,
  newconnRps: REFERENCE,
  iperf3Gbps: REFERENCE,
  iperf3DownGbps: DOWNLOAD_REFERENCE,
  balancerCpuMsPer1kKeepalive: METHOD_REFERENCE,
  balancerCpuMsPer1kNewconn: METHOD_REFERENCE,
  balancerCpuMsPer1kKeepaliveVsHaproxy: REFERENCE,
};

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
  for (const r of results) {
    r.ratioTo = { ...RATIO_FIELDS };
    r.ratios = {};
  }
  for (const [field, refName] of Object.entries(RATIO_FIELDS)) {
    const ref = results.find((r) => r.phase === refName && r.ok);
    for (const r of results) {
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

/** The run (wrk keep-alive, wrk new connections, iperf3 up/down) each headline figure comes from. */
const RUN_OF_FIGURE = {
  keepaliveRps: 'keepalive',
  newconnRps: 'newconn',
  iperf3Gbps: 'iperf3',
  iperf3DownGbps: 'iperf3Down',
};

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
    'iperf3 up Gbit/s', 'vs HAProxy', 'iperf3 down Gbit/s', 'down vs kernel',
    'CPU ms/1k ka', 'CPU ms/1k new-conn',
  ];
  const rows = results.map((r) => {
    if (!r.ok) return [r.phase, 'failed', ...header.slice(2).map(() => '')];
    const s = r.summary;
    return [
      r.phase,
      cell(r, 'keepaliveRps', fmt.rps),
      fmt.ratio(r.ratios.keepaliveRps),
      cell(r, 'newconnRps', fmt.rps),
      fmt.ratio(r.ratios.newconnRps),
      cell(r, 'iperf3Gbps', fmt.gbps),
      fmt.ratio(r.ratios.iperf3Gbps),
      cell(r, 'iperf3DownGbps', fmt.gbps),
      fmt.ratio(r.ratios.iperf3DownGbps),
      r.hasBalancerProcess ? fmt.ms(s.balancerCpuMsPer1kKeepalive) : 'n/a',
      r.hasBalancerProcess ? fmt.ms(s.balancerCpuMsPer1kNewconn) : 'n/a',
    ];
  });
  return [header, rows];
}

function contextRows(results) {
  const header = [
    'phase', 'machine busy ka', 'softirq ka', 'machine CPU ms/1k ka', 'machine CPU ms/1k new-conn',
    'p99 ka ms', 'iperf3 retr up', 'iperf3 retr down', 'rtt up us', 'rtt down us', 'balancer CPU ms/GB up',
    'load avg at start',
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
        s.iperf3DownRetransmits === null ? 'n/a' : s.iperf3DownRetransmits.toFixed(0),
        s.iperf3RttUs === null ? 'n/a' : s.iperf3RttUs.toFixed(0),
        s.iperf3DownRttUs === null ? 'n/a' : s.iperf3DownRttUs.toFixed(0),
        r.hasBalancerProcess ? fmt.ms(s.balancerCpuMsPerGB) : 'n/a',
        r.rounds.map((x) => (x.loadavgAtStart ?? '?').split(' ')[0]).join(' '),
      ];
    });
  return [header, rows];
}

/** lvsd by forwarding method: the director's own cost, and the real servers' helpers. */
function methodRows(results) {
  const header = [
    'phase', 'lvsd CPU ms/1k ka', 'vs NAT', 'lvsd CPU ms/1k new-conn', 'vs NAT',
    'lvsd CPU ms/GB up', 'lvsd CPU ms/GB down', 'rs helper CPU ms/1k ka', 'rs helper CPU ms/GB up',
    'rs helper CPU ms/GB down', 'rs raw-socket drops', 'director InPkts', 'director OutPkts',
  ];
  const count = (v) => (v === null || v === undefined ? 'n/a' : v.toFixed(0));
  const rows = results
    .filter((r) => LVSD_PHASES.includes(r.phase))
    .map((r) => {
      if (!r.ok) return [r.phase, 'failed', ...header.slice(2).map(() => '')];
      const s = r.summary;
      const helpers = r.rounds.some((x) => x.ok && x.hasHelpers);
      return [
        r.phase,
        fmt.ms(s.balancerCpuMsPer1kKeepalive),
        fmt.ratio(r.ratios.balancerCpuMsPer1kKeepalive),
        fmt.ms(s.balancerCpuMsPer1kNewconn),
        fmt.ratio(r.ratios.balancerCpuMsPer1kNewconn),
        fmt.ms(s.balancerCpuMsPerGB),
        fmt.ms(s.balancerCpuMsPerGBDown),
        helpers ? fmt.ms(s.helperCpuMsPer1kKeepalive) : 'n/a',
        helpers ? fmt.ms(s.helperCpuMsPerGB) : 'n/a',
        helpers ? fmt.ms(s.helperCpuMsPerGBDown) : 'n/a',
        count(s.realServerRawDrops),
        count(s.directorInPkts),
        count(s.directorOutPkts),
      ];
    });
  return [header, rows];
}

/** The NAT targets: the better of the NAT phases (by keep-alive req/s against HAProxy). */
function natTargetLines(results) {
  const nat = results.filter((x) => NAT_PHASES.includes(x.phase) && x.ok);
  if (nat.length === 0 || !results.some((x) => x.phase === REFERENCE && x.ok)) return [];
  const lines = [];
  const best = (field, better) => nat.reduce((a, b) => {
    const va = a.ratios?.[field] ?? null;
    const vb = b.ratios?.[field] ?? null;
    if (vb === null) return a;
    if (va === null) return b;
    return better(vb, va) ? b : a;
  });
  const verdict = (label, field, target, atLeast) => {
    const r = best(field, atLeast ? (x, y) => x > y : (x, y) => x < y);
    const v = r.ratios?.[field] ?? null;
    if (v === null) return `target: lvsd NAT ${label}: not measured`;
    const met = atLeast ? v >= target : v <= target;
    return `target: lvsd NAT ${label} ${v.toFixed(2)}x HAProxy (${atLeast ? '>=' : '<='} ${target}x), best of ${nat.map((x) => x.phase).join(', ')}: ${r.phase}: ${met ? 'met' : 'NOT met'}`;
  };
  lines.push(verdict('keep-alive req/s', 'keepaliveRps', NAT_KEEPALIVE_TARGET, true));
  lines.push(verdict('bulk upload', 'iperf3Gbps', NAT_UPLOAD_TARGET, true));
  lines.push(verdict('CPU per 1k keep-alive requests', 'balancerCpuMsPer1kKeepaliveVsHaproxy', NAT_CPU_TARGET, false));
  return lines;
}

/** The benchmark targets of the bypass methods, one verdict line per bypass phase and target. */
function targetLines(results) {
  const lines = natTargetLines(results);
  for (const r of results.filter((x) => BYPASS_PHASES.includes(x.phase))) {
    const down = r.ratios?.iperf3DownGbps ?? null;
    lines.push(
      down === null
        ? `target: ${r.phase} download >= ${DOWNLOAD_TARGET}x kernel: not measured`
        : `target: ${r.phase} download ${down.toFixed(2)}x kernel (>= ${DOWNLOAD_TARGET}x): ${down >= DOWNLOAD_TARGET ? 'met' : 'NOT met'}`,
    );
    for (const [what, field] of [['keep-alive', 'balancerCpuMsPer1kKeepalive'], ['new-conn', 'balancerCpuMsPer1kNewconn']]) {
      const v = r.ratios?.[field] ?? null;
      lines.push(
        v === null
          ? `target: ${r.phase} lvsd CPU per request (${what}) below NAT: not measured`
          : `target: ${r.phase} lvsd CPU per request (${what}) ${v.toFixed(2)}x NAT (< 1x): ${v < 1 ? 'met' : 'NOT met'}`,
      );
    }
  }
  return lines;
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
  // The bypass phases run lvsd's default worker count; the NAT phase that matches it is the
  // reference for their CPU per request.
  METHOD_REFERENCE = ['lvsd', `lvsd-w${meta.nproc}`, 'lvsd-w2', 'lvsd-w1'].find((p) => phases.includes(p)) ?? 'lvsd';
  RATIO_FIELDS.balancerCpuMsPer1kKeepalive = METHOD_REFERENCE;
  RATIO_FIELDS.balancerCpuMsPer1kNewconn = METHOD_REFERENCE;
  const results = phases.map((p) => phaseResult(rawDir, p, clkTck));
  addRatios(results);

  const render = markdown ? renderMarkdown : renderText;
  const out = [];
  out.push(
    `bench ${meta.date ?? '?'}: ${meta.nproc ?? '?'} CPUs (${meta.cpu_model ?? '?'}${meta.hypervisor ? `, ${meta.hypervisor} guest` : ''}), ` +
      `kernel ${meta.kernel ?? '?'}, ${meta.duration_s ?? '?'} s per run, wrk -t${meta.threads ?? '?'} -c${meta.connections ?? '?'}, ` +
      `${meta.rounds ?? 1} round(s)${Number(meta.rounds) > 1 ? ': medians' : ''}` +
      (Number(meta.rt_priority) > 0 ? `; lvsd in the bypass phases with --rt-priority ${meta.rt_priority}` : ''),
  );
  out.push('');
  out.push(render(mainRows(results)));
  out.push('');
  out.push(render(contextRows(results)));
  if (results.some((r) => LVSD_PHASES.includes(r.phase) && r.phase !== METHOD_REFERENCE)) {
    out.push('');
    out.push(render(methodRows(results)));
  }
  const targets = targetLines(results);
  if (targets.length) out.push('', ...targets);
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
      if (x.iperf3?.error) notes.push(`${where} iperf3 upload: ${x.iperf3.error}`);
      if (x.iperf3Down?.error) notes.push(`${where} iperf3 download: ${x.iperf3Down.error}`);
      if (x.leftoversInDirector) notes.push(`${where}: left state in the testbed (restored before the next phase)`);
    }
  }
  if (notes.length) out.push('', ...notes.map((n) => `note: ${n}`));
  process.stdout.write(`${out.join('\n')}\n`);

  if (jsonOut) {
    const summary = { meta, reference: REFERENCE, ratioReferences: RATIO_FIELDS, rawDir: path.resolve(rawDir), phases: results };
    fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
    fs.writeFileSync(jsonOut, `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(`results: ${jsonOut}\n`);
  }
  return 0;
}

process.exitCode = main(process.argv);
