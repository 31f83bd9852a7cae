/**
 * Kernel state owned by lvsd: the routing table and policy rules that steer virtual
 * service traffic and NAT replies into the TUN device, and the sysctls the datapath needs.
 *
 * Rule layout (lower preference = consulted first):
 *
 *   pref PREF_SERVICE  to VIP ipproto P dport VPORT  lookup TABLE   one per virtual service
 *   pref PREF_LOCAL    lookup local                                 the local rule, moved from 0
 *   pref PREF_REPLY    from RIP ipproto P sport RPORT lookup TABLE  one per NAT real server
 *   pref PREF_REPLY    to VIP ipproto icmp lookup TABLE             one per VIP
 *   pref PREF_REPLY    from RIP ipproto icmp lookup TABLE           one per NAT real server address
 *   pref PREF_FWMARK   fwmark M lookup TABLE+k                       one per firewall-mark service
 *   pref PREF_TUNNEL_ICMP fwmark TUNNEL_ICMP_MARK lookup TABLE       while tunnel real servers exist
 *   table TABLE:       default dev TUN
 *   table TABLE+k:     default dev TUN_M                             the mark's own TUN device
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
 * Everything changed is recorded in a state file before it is changed; a start after a
 * crash reads that file and undoes the stale state first.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ipToString } from '../ipvs/types';
import { RefCounts } from './refcount';

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
}

interface PlumbingState {
  table: number;
  tun: string;
  movedLocal: boolean;
  sysctls: Record<string, string>;
  /** Firewall-mark rules and their tables (absent in state files of older versions). */
  fwmarks?: Array<{ mark: number; table: number }>;
  /** The nftables table that marks frag-needed about the director's IPIP packets, if any. */
  tunnelIcmp?: { nftTable: string; mark: number };
}

/** Mark of ICMP errors about the director's own IPIP packets: "LV" and the table number. */
export function tunnelIcmpMark(table: number): number {
  return (0x4c560000 | (table & 0xffff)) >>> 0;
}

/** The nftables ruleset that marks them (nft -f input). */
export function tunnelIcmpRuleset(nftTable: string, mark: number): string {
  // The quoted IPv4 header starts 8 bytes into the ICMP header: its protocol byte is at
  // transport offset 17 (bit 136).
  return `table ip ${nftTable} {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    fib daddr type local icmp type destination-unreachable icmp code frag-needed @th,136,8 4 meta mark set 0x${mark.toString(16)}
  }
}
`;
}

function nft(args: string[], input?: string): void {
  execFileSync('nft', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 5000 });
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Runs ip(8); throws with its stderr on failure. */
export function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryIp(args: string[]): boolean {
  try {
    ip(args);
    return true;
  } catch {
    return false;
  }
}

function sysctlPath(key: string): string {
  return '/proc/sys/' + key.replace(/\./g, '/');
}

/** A sysctl's value (dotted name), or undefined when it does not exist. */
export function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(sysctlPath(key), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Sets a sysctl (dotted name); false when it cannot be written. */
export function writeSysctl(key: string, value: string): boolean {
  try {
    writeFileSync(sysctlPath(key), value);
    return true;
  } catch {
    return false;
  }
}

function protoWord(proto: number): string {
  return proto === 6 ? 'tcp' : proto === 17 ? 'udp' : String(proto);
}

export class Plumbing {
  private readonly refs = new RefCounts<string>();
  private state: PlumbingState;

  constructor(private readonly opts: PlumbingOptions, private readonly log: Logger) {
    this.state = { table: opts.table, tun: opts.tun, movedLocal: false, sysctls: {} };
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
    Plumbing.undo(st);
    unlinkSync(stateFile);
  }

  private static undo(st: PlumbingState): void {
    if (st.tunnelIcmp) {
      try {
        nft(['delete', 'table', 'ip', st.tunnelIcmp.nftTable]);
      } catch {
        /* already gone */
      }
    }
    for (const f of st.fwmarks ?? []) {
      tryIp(['rule', 'del', ...fwmarkRuleArgs(f.mark, f.table)]);
      tryIp(['route', 'flush', 'table', String(f.table)]);
    }
    for (let i = 0; i < 10000 && tryIp(['rule', 'del', 'table', String(st.table)]); i++);
    tryIp(['route', 'flush', 'table', String(st.table)]);
    if (st.movedLocal) {
      if (!ruleExists(0, 'local')) tryIp(['rule', 'add', 'pref', '0', 'lookup', 'local']);
      tryIp(['rule', 'del', 'pref', String(PREF_LOCAL), 'lookup', 'local']);
    }
    for (const [k, v] of Object.entries(st.sysctls)) writeSysctl(k, v);
  }

  private save(): void {
    mkdirSync(dirname(this.opts.stateFile), { recursive: true });
    const tmp = this.opts.stateFile + '.tmp';
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.opts.stateFile);
  }

  private setSysctl(key: string, value: string, restore: boolean): void {
    const old = readSysctl(key);
    if (old === undefined) return;
    if (restore && !(key in this.state.sysctls)) {
      this.state.sysctls[key] = old;
      this.save();
    }
    if (old !== value && !writeSysctl(key, value)) this.log.warn({ key, value }, 'cannot set sysctl');
  }

  /** Brings the TUN device up and installs the table, the moved local rule and sysctls. */
  setup(): void {
    const { tun, table } = this.opts;
    this.save();
    this.setSysctl('net.ipv4.ip_forward', '1', true);
    this.setSysctl(`net.ipv6.conf.${tun}.disable_ipv6`, '1', false);
    // Packets written into the TUN carry client sources and, for NAT replies, a VIP source
    // that may be local to the director; IPIP packets carry the director's own address. The
    // TUN has no address, and with rp_filter 2 the kernel (fib_validate_source) rejects a
    // local source on an interface without one: no reverse-path check, accept_local on.
    this.setSysctl(`net.ipv4.conf.${tun}.rp_filter`, '0', false);
    // The kernel applies max(conf.all, conf.<dev>): a global setting overrides the device's.
    const allRp = readSysctl('net.ipv4.conf.all.rp_filter');
    if (allRp !== undefined && allRp !== '0') {
      this.log.warn({ 'net.ipv4.conf.all.rp_filter': allRp },
        `net.ipv4.conf.all.rp_filter=${allRp} overrides ${tun}'s 0: packets lvsd writes may be dropped as martians`);
    }
    this.setSysctl(`net.ipv4.conf.${tun}.accept_local`, '1', false);
    this.setSysctl(`net.ipv4.conf.${tun}.send_redirects`, '0', false);
    ip(['link', 'set', 'dev', tun, 'up']);
    if (this.opts.rpsCpus) {
      const f = `/sys/class/net/${tun}/queues/rx-0/rps_cpus`;
      try {
        writeFileSync(f, this.opts.rpsCpus);
      } catch (err) {
        this.log.warn({ file: f, err: (err as Error).message }, 'cannot set receive packet steering');
      }
    }
    ip(['route', 'replace', 'default', 'dev', tun, 'table', String(table)]);
    if (!ruleExists(PREF_LOCAL, 'local')) ip(['rule', 'add', 'pref', String(PREF_LOCAL), 'lookup', 'local']);
    if (ruleExists(0, 'local')) {
      this.state.movedLocal = true;
      this.save();
      ip(['rule', 'del', 'pref', '0', 'lookup', 'local']);
    }
    this.log.info({ tun, table }, 'kernel plumbing installed');
  }

  private rule(add: boolean, key: string, args: string[]): void {
    if (add) {
      if (this.refs.add(key)) ip(['rule', 'add', ...args, 'lookup', String(this.opts.table)]);
    } else if (this.refs.drop(key)) {
      tryIp(['rule', 'del', ...args, 'lookup', String(this.opts.table)]);
    }
  }

  /** Steers proto traffic to vaddr:vport into the TUN (refcounted). */
  serviceRule(add: boolean, proto: number, vaddr: number, vport: number): void {
    const args = ['pref', String(PREF_SERVICE), 'to', `${ipToString(vaddr)}/32`, 'ipproto', protoWord(proto)];
    if (vport !== 0) args.push('dport', String(vport));
    this.rule(add, 'S' + args.join(' '), args);
    this.icmpRule(add, vaddr);
  }

  /** Steers ICMP addressed to vaddr into the TUN (refcounted per VIP). */
  icmpRule(add: boolean, vaddr: number): void {
    const args = ['pref', String(PREF_REPLY), 'to', `${ipToString(vaddr)}/32`, 'ipproto', 'icmp'];
    this.rule(add, 'I' + args.join(' '), args);
  }

  /**
   * Steers ICMP from a NAT real server into the TUN (refcounted per address), after the local
   * table: its errors about client packets are relayed from the VIP (src/ipvs/icmp.ts). Other
   * ICMP it sends through the director (echo) is dropped and counted there.
   */
  icmpReplyRule(add: boolean, raddr: number): void {
    const args = ['pref', String(PREF_REPLY), 'from', `${ipToString(raddr)}/32`, 'ipproto', 'icmp'];
    this.rule(add, 'J' + args.join(' '), args);
  }

  /** Steers replies of a NAT real server into the TUN (refcounted). */
  replyRule(add: boolean, proto: number, raddr: number, rport: number): void {
    const args = ['pref', String(PREF_REPLY), 'from', `${ipToString(raddr)}/32`, 'ipproto', protoWord(proto)];
    if (rport !== 0) args.push('sport', String(rport));
    this.rule(add, 'R' + args.join(' '), args);
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
      tryIp(['rule', 'del', ...fwmarkRuleArgs(mark, table)]);
      tryIp(['route', 'flush', 'table', String(table)]);
      list.splice(at, 1);
      this.save();
      return;
    }
    if (at >= 0) return;
    let table = this.opts.table + 1;
    while (list.some((f) => f.table === table)) table++;
    list.push({ mark, table });
    this.save();
    this.setSysctl(`net.ipv6.conf.${dev}.disable_ipv6`, '1', false);
    this.setSysctl(`net.ipv4.conf.${dev}.rp_filter`, '0', false);
    this.setSysctl(`net.ipv4.conf.${dev}.accept_local`, '1', false);
    this.setSysctl(`net.ipv4.conf.${dev}.send_redirects`, '0', false);
    ip(['link', 'set', 'dev', dev, 'up']);
    ip(['route', 'replace', 'default', 'dev', dev, 'table', String(table)]);
    ip(['rule', 'add', ...fwmarkRuleArgs(mark, table)]);
    this.log.info({ mark, dev, table }, 'firewall-mark route installed');
  }

  /**
   * Steers frag-needed about the director's own IPIP packets into the TUN (refcounted per
   * tunnel real server; see the header). Without nft(8) the errors stay with the kernel and
   * a warning says so.
   */
  tunnelIcmp(add: boolean): void {
    const table = this.opts.table;
    if (add) {
      if (!this.refs.add('T')) return;
      const st = { nftTable: `lvsd_${table}`, mark: tunnelIcmpMark(table) };
      this.state.tunnelIcmp = st;
      this.save();
      try {
        nft(['-f', '-'], tunnelIcmpRuleset(st.nftTable, st.mark));
        ip(['rule', 'add', ...tunnelIcmpRuleArgs(st.mark, table)]);
        this.log.info({ nftTable: st.nftTable, mark: st.mark }, 'frag-needed about IPIP packets steered into the TUN');
      } catch (err) {
        this.log.warn({ err: (err as Error).message.split('\n')[0] },
          'cannot steer frag-needed about IPIP packets into the TUN; the kernel keeps them');
        this.dropTunnelIcmp();
      }
      return;
    }
    if (this.refs.drop('T')) this.dropTunnelIcmp();
  }

  private dropTunnelIcmp(): void {
    const st = this.state.tunnelIcmp;
    if (!st) return;
    tryIp(['rule', 'del', ...tunnelIcmpRuleArgs(st.mark, this.opts.table)]);
    try {
      nft(['delete', 'table', 'ip', st.nftTable]);
    } catch {
      /* never created */
    }
    this.state.tunnelIcmp = undefined;
    this.save();
  }

  /** Undoes everything setup() and the rules did. Idempotent. */
  teardown(): void {
    Plumbing.undo(this.state);
    this.refs.clear();
    try {
      unlinkSync(this.opts.stateFile);
    } catch {
      /* already gone */
    }
    this.log.info({ tun: this.opts.tun }, 'kernel plumbing removed');
  }
}

function tunnelIcmpRuleArgs(mark: number, table: number): string[] {
  return ['pref', String(PREF_TUNNEL_ICMP), 'fwmark', `0x${mark.toString(16)}/0xffffffff`, 'lookup', String(table)];
}

function fwmarkRuleArgs(mark: number, table: number): string[] {
  return ['pref', String(PREF_FWMARK), 'fwmark', String(mark >>> 0), 'lookup', String(table)];
}

function ruleExists(pref: number, table: string): boolean {
  try {
    const rules = JSON.parse(ip(['-j', 'rule', 'show'])) as Array<{ priority: number; table?: string }>;
    return rules.some((r) => r.priority === pref && r.table === table);
  } catch {
    return false;
  }
}
