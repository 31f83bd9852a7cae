#!/usr/bin/env node
// Control churn and sampling for the soak test (netns/soak.sh), over lvsd's control socket
// (dist/src/control/socket.js, the protocol lvsadm speaks), one connection per request.
//
//   node netns/soak-monitor.js SECONDS SAMPLE_S OUT.jsonl VIP SOCK1:PID1 SOCK2:PID2 -- RS ...
//
// - Every second, one change to the churn service tcp VIP:80 on BOTH directors (they need the
//   same services for connection sync): each real server given after `--` (addr:port, masq)
//   is added when absent, and when present its weight is edited (0..5, 0 = quiescent) or it is
//   deleted. Lines {"t","kind":"churn","op","dest","ok":[d1,d2],"err"?}.
// - Every SAMPLE_S seconds, per director: VmRSS (kB) from /proc/PID/status, open fds
//   (entries of /proc/PID/fd), the TUN's kernel counters (lvs0 in /proc/PID/net/dev, the
//   director's namespace), `status` (connections, named drops, counters) and `list-vrrp`.
//   Lines {"t","kind":"sample","d","pid","rss","fds","tun","conns","drops","counters","vrrp"}.
// Nothing here runs in lvsd; a request that fails is recorded with its error, never retried.
'use strict';
const fs = require('node:fs/promises');
const path = require('node:path');
const { request } = require(path.join(__dirname, '..', 'dist', 'src', 'control', 'socket.js'));

const [secondsArg, sampleArg, out, vip, ...rest] = process.argv.slice(2);
const sep = rest.indexOf('--');
const dirs = (sep < 0 ? rest : rest.slice(0, sep)).map((s, i) => {
  const [sock, pid] = s.split(':');
  return { d: i + 1, sock, pid: Number(pid) };
});
const churnDests = sep < 0 ? [] : rest.slice(sep + 1).map((s) => {
  const [addr, port] = s.split(':');
  return { addr, port: Number(port), present: false };
});
const seconds = Number(secondsArg);
const sampleS = Number(sampleArg);
if (!(seconds > 0 && seconds <= 7200 && sampleS >= 1 && dirs.length >= 1 && out && vip)) {
  console.error('usage: soak-monitor.js SECONDS SAMPLE_S OUT.jsonl VIP SOCK:PID... [-- ADDR:PORT...]');
  process.exit(2);
}
const SVC = { proto: 'tcp', addr: vip, port: 80 };

let fh;
const t0 = Date.now();
const now = () => Date.now() / 1000;
const write = (o) => fh.write(`${JSON.stringify(o)}\n`);

// A small deterministic generator (mulberry32) so that a run's churn can be repeated.
let seed = Number(process.env.SOAK_SEED ?? 1) >>> 0;
function rnd() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

async function send(dir, cmds) {
  try {
    await request(dir.sock, cmds, 5000);
    return [true, undefined];
  } catch (e) {
    return [false, `${e.code ?? ''} ${e.message}`.trim()];
  }
}

let tick = 0;
async function churn() {
  if (churnDests.length === 0) return;
  const dest = churnDests[tick++ % churnDests.length];
  let op;
  let cmd;
  if (!dest.present) {
    op = 'add';
    cmd = { op: 'add-server', service: SVC, dest: { addr: dest.addr, port: dest.port, fwd: 'masq', weight: 1 + Math.floor(rnd() * 5) } };
  } else if (rnd() < 0.7) {
    op = 'edit';
    cmd = { op: 'edit-server', service: SVC, dest: { addr: dest.addr, port: dest.port, fwd: 'masq', weight: Math.floor(rnd() * 6) } };
  } else {
    op = 'delete';
    cmd = { op: 'delete-server', service: SVC, dest: { addr: dest.addr, port: dest.port } };
  }
  const res = await Promise.all(dirs.map((d) => send(d, [cmd])));
  const ok = res.map((r) => r[0]);
  // The dest's state follows the first director; a disagreement is recorded (and reported).
  if (ok[0]) dest.present = op !== 'delete';
  const line = { t: now(), kind: 'churn', op, dest: `${dest.addr}:${dest.port}`, weight: cmd.dest.weight, ok };
  const errs = res.map((r) => r[1]).filter((e) => e !== undefined);
  if (errs.length) line.err = errs;
  write(line);
}

async function procStats(pid) {
  const st = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(st);
  const anon = /^RssAnon:\s+(\d+)\s+kB/m.exec(st);
  const fds = (await fs.readdir(`/proc/${pid}/fd`)).length;
  let tun;
  try {
    const dev = await fs.readFile(`/proc/${pid}/net/dev`, 'utf8');
    const l = dev.split('\n').find((x) => x.trim().startsWith('lvs0:'));
    if (l) {
      const f = l.split(':')[1].trim().split(/\s+/).map(Number);
      // rx (packets lvsd wrote), tx (packets the kernel queued for lvsd) as the TUN sees them
      tun = { rx_packets: f[1], rx_dropped: f[3], tx_packets: f[9], tx_dropped: f[11] };
    }
  } catch {
    tun = undefined;
  }
  return { rss: m ? Number(m[1]) : null, rssAnon: anon ? Number(anon[1]) : null, fds, tun };
}

async function sample() {
  for (const dir of dirs) {
    const line = { t: now(), kind: 'sample', d: dir.d, pid: dir.pid };
    try {
      Object.assign(line, await procStats(dir.pid));
    } catch (e) {
      line.err = `proc: ${e.message}`;
    }
    try {
      const r = await request(dir.sock, [{ op: 'status' }], 5000);
      line.conns = r.status.conns;
      line.drops = r.status.drops;
      line.counters = r.status.counters;
      const v = await request(dir.sock, [{ op: 'list-vrrp' }], 5000);
      line.vrrp = v.instances.map((i) => i.state).join(',');
    } catch (e) {
      line.err = `${line.err ? `${line.err}; ` : ''}control: ${e.message}`;
    }
    write(line);
  }
}

async function main() {
  fh = await fs.open(out, 'a');
  let stop = false;
  process.on('SIGTERM', () => { stop = true; });
  process.on('SIGINT', () => { stop = true; });
  let nextSample = t0;
  for (let s = 0; !stop && s < seconds; s++) {
    const due = t0 + s * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (stop) break;
    await churn();
    if (Date.now() >= nextSample) {
      nextSample += sampleS * 1000;
      await sample();
    }
  }
  await sample();
  await fh.close();
}

main().catch((e) => {
  console.error(`soak-monitor: ${e.stack ?? e}`);
  process.exit(1);
});
