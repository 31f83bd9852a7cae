/**
 * Kernel state owned by lvsd: the routing table, the nftables sets and policy rules that
 * steer virtual service traffic and NAT replies into the TUN device, and the sysctls the
 * datapath needs.
 *
 * Steering is by set membership, not by one policy rule per service (the kernel walks policy
 * rules linearly: 100,000 rules took minutes to load, a set of 100,000 elements under a
 * second). One nftables table, ip lvsd_TABLE, marks packets at prerouting (and locally
 * generated ones at output) by looking them up in its sets:
 *
 *   set svc       VIP . proto . VPORT   → SERVICE_MARK   one element per virtual service
 *   set svc_any   VIP . proto           → SERVICE_MARK   port-0 (all ports) services
 *   set reply     RIP . proto . RPORT   → REPLY_MARK     one element per NAT real server
 *   set reply_any RIP . proto           → REPLY_MARK     NAT real servers of port-0 services
 *   set icmp_to   VIP   (ICMP to it)    → REPLY_MARK     one element per VIP
 *   set icmp_from RIP   (ICMP from it)  → REPLY_MARK     one element per NAT real server address
 *   frag-needed about the director's IPIP packets → TUNNEL_ICMP_MARK
 *
 * and a few policy rules send the marks into the TUN (lower preference = consulted first):
 *
 *   pref PREF_FWMARK   fwmark M lookup TABLE+k                       one per firewall-mark service
 *   pref PREF_TUNNEL_ICMP fwmark TUNNEL_ICMP_MARK lookup TABLE       while tunnel real servers exist
 *   pref PREF_SERVICE  fwmark SERVICE_MARK lookup TABLE
 *   pref PREF_LOCAL    lookup local                                 the local rule, moved from 0
 *   pref PREF_REPLY    fwmark REPLY_MARK lookup TABLE
 *   table TABLE:       default dev TUN
 *   table TABLE+k:     default dev TUN_M                             the mark's own TUN device
 *
 * A later mark in the chain overrides an earlier one, so the chain orders them as the rules
 * are: reply marks first, then service marks, then the tunnel mark. The table and the two
 * mark rules exist while something is steered (the first element creates them, the last
 * one removes them).
 *
 * A TUN read carries no skb mark, so a firewall-mark service (-f M) gets a TUN device of its
 * own (src/ipvs/fwmark.ts) and the mark is known from the device. Its rule precedes the
 * service rules, as IPVS looks a packet's mark up before its address and port
 * (ip_vs_service_find), and precedes the local table for the same reason as they do.
 *
 * Service rules precede the local table so a VIP that is also an address of the director
 * is still balanced, while traffic to its other ports reaches local sockets. Reply rules
 * come after the local table so traffic from a real server to the director itself (health
 * checks, management) is delivered locally and only forwarded replies enter the TUN.
 *
 * ICMP to a VIP enters the TUN too (after the local table, so a local VIP still answers
 * pings): errors about virtual service connections are the director's business, and the
 * reverse-path check of packets lvsd sends from the VIP (port unreachable) needs a route
 * back to the VIP that does not depend on ports.
 *
 * A fragmentation-needed about one of the director's own IPIP packets (RFC 2003 §5.1: a router
 * between director and real server with a smaller MTU) is addressed to the director, and the
 * local table would deliver it to the kernel, which knows nothing of the client behind it. An
 * nftables rule (table ip lvsd_TABLE, prerouting at mangle priority) marks exactly those
 * packets: ICMP frag-needed to a local address whose quoted header has protocol 4; the mark's
 * rule, ahead of the local table, steers them into the TUN, where lvsd translates them for the
 * client (src/ipvs/icmp.ts). Pings and every other ICMP to the director stay local.
 *
 * Start-up (setup) is synchronous; afterwards every change is queued (src/host/batch.ts):
 * applied in order by asynchronous `nft -f -` and `ip -batch -` runs, consecutive set
 * elements merged into one statement, failures logged and reported to the command that
 * caused them (settled()). Adding an element that exists is no error, so re-adding what a
 * lost state file forgot works.
 *
 * Everything changed is recorded in a state file before it is changed; a start after a
 * crash reads that file and undoes the stale state first; SIGTERM undoes it (teardown), the
 * local rule back at preference 0 included.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IpvsError } from '../ipvs/errors';
import { ipToString } from '../ipvs/types';
import { KernelQueue, type BatchRunner } from './batch';
import { RefCounts } from './refcount';
import { ip, nft, readSysctl, ruleExists, tryIp, writeSysctl } from './startup';

export { ip, readSysctl, writeSysctl } from './startup';

export const PREF_FWMARK = 90;
export const PREF_TUNNEL_ICMP = 95;
export const PREF_SERVICE = 100;
export const PREF_LOCAL = 200;
export const PREF_REPLY = 300;

export interface PlumbingOptions {
  tun: string;
  table: number;
  stateFile: string;
  /**
   * Receive packet steering mask (hex) for the TUN device: the CPUs on which the kernel
   * forwards what lvsd writes (Documentation/networking/scaling.rst). Empty = leave it.
   */
  rpsCpus?: string;
  /** Runs the queued batches (tests pass a recorder); default nft/ip child processes. */
  runner?: BatchRunner;
}

interface PlumbingState {
  table: number;
  tun: string;
  movedLocal: boolean;
  sysctls: Record<string, string>;
  /** Firewall-mark rules and their tables (absent in state files of older versions). */
  fwmarks?: Array<{ mark: number; table: number }>;
  /** The steering table (nftables), while it exists. */
  nftTable?: string;
  /** Older versions: a table for frag-needed about IPIP packets only. */
  tunnelIcmp?: { nftTable: string; mark: number };
}

/** Mark of ICMP errors about the director's own IPIP packets: "LV" and the table number. */
export function tunnelIcmpMark(table: number): number {
  return (0x4c560000 | (table & 0xffff)) >>> 0;
}

/** Mark of packets to a virtual service: "LS" and the table number. */
export function serviceMark(table: number): number {
  return (0x4c530000 | (table & 0xffff)) >>> 0;
}

/** Mark of NAT replies and ICMP for the director: "LR" and the table number. */
export function replyMark(table: number): number {
  return (0x4c520000 | (table & 0xffff)) >>> 0;
}

function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16);
}

/**
 * The steering table (nft -f input): created afresh, so a stale copy of a crashed instance
 * (or a lost state file) is replaced, not merged.
 */
export function steeringRuleset(nftTable: string, table: number): string {
  const s = hex(serviceMark(table));
  const r = hex(replyMark(table));
  const t = hex(tunnelIcmpMark(table));
  // The quoted IPv4 header of an ICMP error starts 8 bytes into the ICMP header: its protocol
  // byte is at transport offset 17 (bit 136).
  return `add table ip ${nftTable}
delete table ip ${nftTable}
table ip ${nftTable} {
  set svc { type ipv4_addr . inet_proto . inet_service; }
  set svc_any { type ipv4_addr . inet_proto; }
  set reply { type ipv4_addr . inet_proto . inet_service; }
  set reply_any { type ipv4_addr . inet_proto; }
  set icmp_to { type ipv4_addr; }
  set icmp_from { type ipv4_addr; }
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    ip saddr . meta l4proto . th sport @reply meta mark set ${r}
    ip saddr . meta l4proto @reply_any meta mark set ${r}
    meta l4proto icmp ip daddr @icmp_to meta mark set ${r}
    meta l4proto icmp ip saddr @icmp_from meta mark set ${r}
    ip daddr . meta l4proto . th dport @svc meta mark set ${s}
    ip daddr . meta l4proto @svc_any meta mark set ${s}
    fib daddr type local icmp type destination-unreachable icmp code frag-needed @th,136,8 4 meta mark set ${t}
  }
  chain output {
    type route hook output priority mangle; policy accept;
    meta l4proto icmp ip daddr @icmp_to meta mark set ${r}
    ip daddr . meta l4proto . th dport @svc meta mark set ${s}
    ip daddr . meta l4proto @svc_any meta mark set ${s}
  }
}`;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

function protoWord(proto: number): string {
  return proto === 6 ? 'tcp' : proto === 17 ? 'udp' : String(proto);
}

/** One step of undoing a state file: a command, or the question whether local is at pref 0. */
type UndoStep =
  | { tool: 'ip' | 'nft'; args: string[] }
  | { sysctl: string; value: string }
  | { localAtZero: true };

/**
 * What undoing `st` takes, in order; each step's outcome (success, or the answer) is passed
 * back. One list for the synchronous recovery at start and the asynchronous teardown.
 */
function* undoSteps(st: PlumbingState): Generator<UndoStep, void, boolean> {
  for (const t of [st.nftTable, st.tunnelIcmp?.nftTable]) {
    if (t !== undefined) yield { tool: 'nft', args: ['delete', 'table', 'ip', t] };
  }
  for (const f of st.fwmarks ?? []) {
    yield { tool: 'ip', args: ['rule', 'del', ...fwmarkRuleArgs(f.mark, f.table)] };
    yield { tool: 'ip', args: ['route', 'flush', 'table', String(f.table)] };
  }
  // Every rule that looks up the table (older versions had one per service).
  for (let i = 0; i < 100000; i++) {
    if (!(yield { tool: 'ip', args: ['rule', 'del', 'table', String(st.table)] })) break;
  }
  yield { tool: 'ip', args: ['route', 'flush', 'table', String(st.table)] };
  if (st.movedLocal) {
    if (!(yield { localAtZero: true })) yield { tool: 'ip', args: ['rule', 'add', 'pref', '0', 'lookup', 'local'] };
    yield { tool: 'ip', args: ['rule', 'del', 'pref', String(PREF_LOCAL), 'lookup', 'local'] };
  }
  for (const [k, v] of Object.entries(st.sysctls)) yield { sysctl: k, value: v };
}

function runStepSync(s: UndoStep): boolean {
  if ('localAtZero' in s) return ruleExists(0, 'local');
  if ('sysctl' in s) return writeSysctl(s.sysctl, s.value);
  if (s.tool === 'ip') return tryIp(s.args);
  try {
    nft(s.args);
    return true;
  } catch {
    return false;
  }
}

function execOk(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 30000 }, (err, out) => resolve({ ok: !err, out: out ?? '' }));
  });
}

async function runStepAsync(s: UndoStep): Promise<boolean> {
  if ('localAtZero' in s) {
    const r = await execOk('ip', ['-j', 'rule', 'show']);
    try {
      return r.ok && (JSON.parse(r.out) as Array<{ priority: number; table?: string }>)
        .some((x) => x.priority === 0 && x.table === 'local');
    } catch {
      return false;
    }
  }
  if ('sysctl' in s) {
    try {
      await writeFile('/proc/sys/' + s.sysctl.replace(/\./g, '/'), s.value);
      return true;
    } catch {
      return false;
    }
  }
  return (await execOk(s.tool, s.args)).ok;
}

export class Plumbing {
  private readonly refs = new RefCounts<string>();
  /** Keys in refs whose kernel state needs the steering table. */
  private steered = 0;
  private state: PlumbingState;
  private readonly queue: KernelQueue;
  private readonly nftTable: string;

  constructor(private readonly opts: PlumbingOptions, private readonly log: Logger) {
    this.state = { table: opts.table, tun: opts.tun, movedLocal: false, sysctls: {} };
    this.queue = new KernelQueue(log, opts.runner);
    this.nftTable = `lvsd_${opts.table}`;
  }

  /** Removes what a previous instance left after a crash (per its state file). */
  static recover(stateFile: string, log: Logger): void {
    if (!existsSync(stateFile)) return;
    let st: PlumbingState;
    try {
      st = JSON.parse(readFileSync(stateFile, 'utf8')) as PlumbingState;
    } catch {
      unlinkSync(stateFile);
      return;
    }
    log.warn({ stateFile }, 'cleaning up after an unclean stop');
    const steps = undoSteps(st);
    for (let s = steps.next(); !s.done; s = steps.next(runStepSync(s.value)));
    unlinkSync(stateFile);
  }

  private snapshot(): string {
    return JSON.stringify(this.state);
  }

  /** Start-up only: writes the state file now. */
  private saveSync(): void {
    mkdirSync(dirname(this.opts.stateFile), { recursive: true });
    const tmp = this.opts.stateFile + '.tmp';
    writeFileSync(tmp, this.snapshot(), { mode: 0o600 });
    renameSync(tmp, this.opts.stateFile);
  }

  /** Queues a write of the state file as it is now, ahead of the changes queued after it. */
  private save(): void {
    this.queue.file(this.opts.stateFile, this.snapshot());
  }

  private setSysctlSync(key: string, value: string, restore: boolean): void {
    const old = readSysctl(key);
    if (old === undefined) return;
    if (restore && !(key in this.state.sysctls)) {
      this.state.sysctls[key] = old;
      this.saveSync();
    }
    if (old !== value && !writeSysctl(key, value)) this.log.warn({ key, value }, 'cannot set sysctl');
  }

  /** Brings the TUN device up and installs the table, the moved local rule and sysctls. */
  setup(): void {
    const { tun, table } = this.opts;
    // The local rule is put back at preference 0 on teardown even when this start finds it
    // moved already (a crashed instance whose state file is lost).
    this.state.movedLocal = true;
    this.saveSync();
    this.setSysctlSync('net.ipv4.ip_forward', '1', true);
    this.setSysctlSync(`net.ipv6.conf.${tun}.disable_ipv6`, '1', false);
    // Packets written into the TUN carry client sources and, for NAT replies, a VIP source
    // that may be local to the director; IPIP packets carry the director's own address. The
    // TUN has no address, and with rp_filter 2 the kernel (fib_validate_source) rejects a
    // local source on an interface without one: no reverse-path check, accept_local on.
    this.setSysctlSync(`net.ipv4.conf.${tun}.rp_filter`, '0', false);
    // The kernel applies max(conf.all, conf.<dev>): a global setting overrides the device's.
    const allRp = readSysctl('net.ipv4.conf.all.rp_filter');
    if (allRp !== undefined && allRp !== '0') {
      this.log.warn({ 'net.ipv4.conf.all.rp_filter': allRp },
        `net.ipv4.conf.all.rp_filter=${allRp} overrides ${tun}'s 0: packets lvsd writes may be dropped as martians`);
    }
    this.setSysctlSync(`net.ipv4.conf.${tun}.accept_local`, '1', false);
    this.setSysctlSync(`net.ipv4.conf.${tun}.send_redirects`, '0', false);
    ip(['link', 'set', 'dev', tun, 'up']);
    if (this.opts.rpsCpus) {
      const f = `/sys/class/net/${tun}/queues/rx-0/rps_cpus`;
      try {
        writeFileSync(f, this.opts.rpsCpus);
      } catch (err) {
        this.log.warn({ file: f, err: (err as Error).message }, 'cannot set receive packet steering');
      }
    }
    // Rules and the steering table a crashed instance left without a state file.
    for (let i = 0; i < 100000 && tryIp(['rule', 'del', 'table', String(table)]); i++);
    try {
      nft(['delete', 'table', 'ip', this.nftTable]);
    } catch {
      /* none */
    }
    ip(['route', 'replace', 'default', 'dev', tun, 'table', String(table)]);
    if (!ruleExists(PREF_LOCAL, 'local')) ip(['rule', 'add', 'pref', String(PREF_LOCAL), 'lookup', 'local']);
    if (ruleExists(0, 'local')) ip(['rule', 'del', 'pref', '0', 'lookup', 'local']);
    this.log.info({ tun, table }, 'kernel plumbing installed');
  }

  /** The first steered element creates the steering table and its rules; the last removes them. */
  private steer(delta: 1 | -1): void {
    const table = this.opts.table;
    if (delta === 1 && this.steered++ === 0) {
      this.state.nftTable = this.nftTable;
      this.save();
      this.queue.tool('nft', steeringRuleset(this.nftTable, table));
      this.queue.tool('ip', ['rule', 'add', ...markRuleArgs(PREF_SERVICE, serviceMark(table), table)].join(' '));
      this.queue.tool('ip', ['rule', 'add', ...markRuleArgs(PREF_REPLY, replyMark(table), table)].join(' '));
    } else if (delta === -1 && --this.steered === 0) {
      this.queue.tool('ip', ['rule', 'del', ...markRuleArgs(PREF_SERVICE, serviceMark(table), table)].join(' '));
      this.queue.tool('ip', ['rule', 'del', ...markRuleArgs(PREF_REPLY, replyMark(table), table)].join(' '));
      this.queue.tool('nft', `delete table ip ${this.nftTable}`);
      this.state.nftTable = undefined;
      this.save();
    }
  }

  /** Adds or deletes one element of a steering set (refcounted by key). */
  private element(add: boolean, set: string, elem: string): void {
    const key = set + ' ' + elem;
    if (add) {
      if (!this.refs.add(key)) return;
      this.steer(1);
      this.queue.tool('nft', `add element ip ${this.nftTable} ${set} { ${elem} }`,
        { group: `add element ip ${this.nftTable} ${set}`, item: elem });
    } else if (this.refs.drop(key)) {
      this.queue.tool('nft', `delete element ip ${this.nftTable} ${set} { ${elem} }`,
        { group: `delete element ip ${this.nftTable} ${set}`, item: elem });
      this.steer(-1);
    }
  }

  /** Steers proto traffic to vaddr:vport into the TUN (refcounted). */
  serviceRule(add: boolean, proto: number, vaddr: number, vport: number): void {
    const a = ipToString(vaddr);
    if (vport !== 0) this.element(add, 'svc', `${a} . ${protoWord(proto)} . ${vport}`);
    else this.element(add, 'svc_any', `${a} . ${protoWord(proto)}`);
    this.icmpRule(add, vaddr);
  }

  /** Steers ICMP addressed to vaddr into the TUN (refcounted per VIP). */
  icmpRule(add: boolean, vaddr: number): void {
    this.element(add, 'icmp_to', ipToString(vaddr));
  }

  /**
   * Steers ICMP from a NAT real server into the TUN (refcounted per address), after the local
   * table: its errors about client packets are relayed from the VIP (src/ipvs/icmp.ts). Other
   * ICMP it sends through the director (echo) is dropped and counted there.
   */
  icmpReplyRule(add: boolean, raddr: number): void {
    this.element(add, 'icmp_from', ipToString(raddr));
  }

  /** Steers replies of a NAT real server into the TUN (refcounted). */
  replyRule(add: boolean, proto: number, raddr: number, rport: number): void {
    const a = ipToString(raddr);
    if (rport !== 0) this.element(add, 'reply', `${a} . ${protoWord(proto)} . ${rport}`);
    else this.element(add, 'reply_any', `${a} . ${protoWord(proto)}`);
  }

  /**
   * Steers packets carrying firewall mark `mark` into TUN device `dev` (brought up and given
   * the TUN sysctls of setup()): a table of its own, the main table + k for the smallest free
   * k ≥ 1, whose default route is dev, and `pref PREF_FWMARK fwmark mark lookup` it. Recorded
   * in the state file before the kernel changes. Removing forgets the rule and the table.
   */
  fwmarkRoute(add: boolean, mark: number, dev: string): void {
    const list = (this.state.fwmarks ??= []);
    const at = list.findIndex((f) => f.mark === mark);
    if (!add) {
      if (at < 0) return;
      const { table } = list[at];
      this.queue.tool('ip', ['rule', 'del', ...fwmarkRuleArgs(mark, table)].join(' '));
      this.queue.tool('ip', `route flush table ${table}`);
      list.splice(at, 1);
      this.save();
      return;
    }
    if (at >= 0) return;
    let table = this.opts.table + 1;
    while (list.some((f) => f.table === table)) table++;
    list.push({ mark, table });
    this.save();
    this.queue.sysctl(`net.ipv6.conf.${dev}.disable_ipv6`, '1');
    this.queue.sysctl(`net.ipv4.conf.${dev}.rp_filter`, '0');
    this.queue.sysctl(`net.ipv4.conf.${dev}.accept_local`, '1');
    this.queue.sysctl(`net.ipv4.conf.${dev}.send_redirects`, '0');
    this.queue.tool('ip', `link set dev ${dev} up`);
    this.queue.tool('ip', `route replace default dev ${dev} table ${table}`);
    this.queue.tool('ip', ['rule', 'add', ...fwmarkRuleArgs(mark, table)].join(' '));
    this.queue.call(() => this.log.info({ mark, dev, table }, 'firewall-mark route installed'));
  }

  /**
   * Steers frag-needed about the director's own IPIP packets into the TUN (refcounted per
   * tunnel real server; see the header): the steering table marks them, the rule at
   * PREF_TUNNEL_ICMP exists while tunnel real servers do.
   */
  tunnelIcmp(add: boolean): void {
    const table = this.opts.table;
    if (add) {
      if (!this.refs.add('T')) return;
      this.steer(1);
      this.queue.tool('ip', ['rule', 'add', ...tunnelIcmpRuleArgs(tunnelIcmpMark(table), table)].join(' '));
      this.queue.call(() => this.log.info({ nftTable: this.nftTable, mark: tunnelIcmpMark(table) },
        'frag-needed about IPIP packets steered into the TUN'));
      return;
    }
    if (!this.refs.drop('T')) return;
    this.queue.tool('ip', ['rule', 'del', ...tunnelIcmpRuleArgs(tunnelIcmpMark(table), table)].join(' '));
    this.steer(-1);
  }

  /** The sequence number of the next queued change (for settled). */
  mark(): number {
    return this.queue.mark();
  }

  /** Resolves once every change queued so far is applied, with the failures of those since `from`. */
  settled(from?: number): Promise<Error[]> {
    return this.queue.settled(from);
  }

  /**
   * Runs a control command's table change `fn`; when it queued kernel changes, answers once
   * they are applied, and fails with their errors (the table change itself stands: the
   * service is configured, its steering is what failed).
   */
  async applied<T>(fn: () => T): Promise<T> {
    const from = this.queue.mark();
    const result = fn();
    if (this.queue.mark() === from) return result;
    const errs = await this.queue.settled(from);
    if (errs.length > 0) {
      throw new IpvsError('EKERNEL', `kernel plumbing failed: ${errs[0].message.split('\n')[0]}`
        + (errs.length > 1 ? ` (and ${errs.length - 1} more)` : ''));
    }
    return result;
  }

  /** Undoes everything setup() and the rules did, after the queued changes. Idempotent. */
  async teardown(): Promise<void> {
    await this.queue.settled();
    const steps = undoSteps(this.state);
    for (let s = steps.next(); !s.done; s = steps.next(await runStepAsync(s.value)));
    this.refs.clear();
    this.steered = 0;
    this.state = { table: this.opts.table, tun: this.opts.tun, movedLocal: false, sysctls: {} };
    try {
      await unlink(this.opts.stateFile);
    } catch {
      /* already gone */
    }
    this.log.info({ tun: this.opts.tun }, 'kernel plumbing removed');
  }
}

function markRuleArgs(pref: number, mark: number, table: number): string[] {
  return ['pref', String(pref), 'fwmark', `${hex(mark)}/0xffffffff`, 'lookup', String(table)];
}

function tunnelIcmpRuleArgs(mark: number, table: number): string[] {
  return markRuleArgs(PREF_TUNNEL_ICMP, mark, table);
}

function fwmarkRuleArgs(mark: number, table: number): string[] {
  return ['pref', String(PREF_FWMARK), 'fwmark', String(mark >>> 0), 'lookup', String(table)];
}
