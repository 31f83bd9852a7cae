/**
 * keepalived.conf reader (keepalived.conf(5), keepalived 2.x, with the 1.x keyword names):
 * global_defs, virtual_server, virtual_server_group, vrrp_instance, vrrp_sync_group,
 * vrrp_script, include. It yields the health-checking model (src/health/config.ts) and the
 * VRRP sections as plain data.
 *
 * Syntax: whitespace-separated words, "quoted strings", comments from # or ! to the end of
 * the line, blocks `keyword args { ... }`. A statement's arguments are the words on its line.
 * `include GLOB` (relative to the including file) splices other files in.
 *
 * Errors: the first syntax or value error throws ConfigError naming file:line. Keywords this
 * reader does not know, or knows but does not act on, become warnings with file:line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { FwdName, ProtoName } from './command';
import {
  CHECK_DEFAULTS, type CheckCommon, type CheckSpec, type HttpUrl, type RealServerSpec, type VirtualServerSpec,
} from '../health/config';
import { schedulerNames } from '../sched/index';
import { ipFromString } from '../ipvs/types';

export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  constructor(readonly file: string, readonly line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'ConfigError';
  }
}

interface Token { text: string; quoted: boolean; file: string; line: number }

/** A statement: keyword, the words after it on its line, and its block when it has one. */
export interface ConfNode {
  kw: string;
  args: string[];
  block?: ConfNode[];
  file: string;
  line: number;
}

export interface VrrpInstanceSpec {
  name: string;
  state: 'MASTER' | 'BACKUP';
  iface?: string;
  vrid: number;
  priority: number;
  advertIntMs: number;
  version: 2 | 3;
  nopreempt: boolean;
  preemptDelayMs: number;
  /** virtual_ipaddress lines: "ADDR[/LEN] [dev IFACE] [label L]..." */
  vips: string[];
  authPass?: string;
  unicastSrc?: string;
  unicastPeers: string[];
  notifyMaster?: string;
  notifyBackup?: string;
  notifyFault?: string;
  notify?: string;
  garpMasterDelayMs: number;
}

/** global_defs lvs_sync_daemon IFACE VRRP_INSTANCE [id N] [maxlen L] [port P] [ttl T] [group IP]. */
export interface SyncDaemonSpec {
  iface: string;
  /** The sync daemon is master while this instance is MASTER, backup otherwise. */
  instance?: string;
  syncid: number;
  port?: number;
  ttl?: number;
  group?: string;
  /** lvsd extension (lvs_sync_auth KEY in global_defs): HMAC-authenticated sync messages. */
  authKey?: string;
}

export interface KeepalivedConfig {
  routerId?: string;
  syncDaemon?: SyncDaemonSpec;
  virtualServers: VirtualServerSpec[];
  vrrpInstances: VrrpInstanceSpec[];
  vrrpSyncGroups: Array<{ name: string; group: string[] }>;
  warnings: string[];
}

const MAX_INCLUDE_DEPTH = 8;

export type ReadFile = (path: string) => string;

function globFiles(pattern: string): string[] {
  if (!/[*?[]/.test(basename(pattern))) return [pattern];
  const dir = dirname(pattern);
  const re = new RegExp('^' + basename(pattern).replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => re.test(n)).sort().map((n) => join(dir, n));
}

/** Splits one file into tokens, splicing in `include` lines. */
function tokenize(file: string, read: ReadFile, depth: number, out: Token[], from?: Token): void {
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    const where = from ?? { file, line: 0 };
    throw new ConfigError(where.file, where.line, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const lines = text.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln];
    const toks: Token[] = [];
    let i = 0;
    while (i < line.length) {
      const ch = line[i];
      if (ch === ' ' || ch === '\t') { i++; continue; }
      if (ch === '#' || ch === '!') break;
      if (ch === '{' || ch === '}') {
        toks.push({ text: ch, quoted: false, file, line: ln + 1 });
        i++;
        continue;
      }
      if (ch === '"') {
        const end = line.indexOf('"', i + 1);
        if (end < 0) throw new ConfigError(file, ln + 1, 'unterminated quoted string');
        toks.push({ text: line.slice(i + 1, end), quoted: true, file, line: ln + 1 });
        i = end + 1;
        continue;
      }
      let j = i;
      while (j < line.length && !' \t{}"'.includes(line[j])) j++;
      toks.push({ text: line.slice(i, j), quoted: false, file, line: ln + 1 });
      i = j;
    }
    if (toks.length > 0 && toks[0].text === 'include' && !toks[0].quoted) {
      if (toks.length !== 2) throw new ConfigError(file, ln + 1, 'include takes one file name or pattern');
      if (depth >= MAX_INCLUDE_DEPTH) throw new ConfigError(file, ln + 1, `includes nested deeper than ${MAX_INCLUDE_DEPTH}`);
      const pattern = resolve(dirname(file), toks[1].text);
      const files = globFiles(pattern);
      if (files.length === 0 && !/[*?[]/.test(pattern)) throw new ConfigError(file, ln + 1, `cannot read ${pattern}`);
      for (const f of files) tokenize(f, read, depth + 1, out, toks[0]);
      continue;
    }
    out.push(...toks);
  }
}

/** Builds the statement tree; braces must balance. */
function buildTree(toks: Token[]): ConfNode[] {
  let pos = 0;
  function block(open: Token | undefined): ConfNode[] {
    const nodes: ConfNode[] = [];
    while (pos < toks.length) {
      const t = toks[pos++];
      if (!t.quoted && t.text === '}') {
        if (open) return nodes;
        throw new ConfigError(t.file, t.line, "unexpected '}'");
      }
      if (!t.quoted && t.text === '{') throw new ConfigError(t.file, t.line, "unexpected '{' without a keyword");
      const node: ConfNode = { kw: t.text, args: [], file: t.file, line: t.line };
      while (pos < toks.length && toks[pos].file === t.file && toks[pos].line === t.line
        && (toks[pos].quoted || (toks[pos].text !== '{' && toks[pos].text !== '}'))) {
        node.args.push(toks[pos++].text);
      }
      if (pos < toks.length && !toks[pos].quoted && toks[pos].text === '{') {
        const o = toks[pos++];
        node.block = block(o);
      }
      nodes.push(node);
    }
    if (open) throw new ConfigError(open.file, open.line, "block opened here is not closed ('}' missing)");
    return nodes;
  }
  return block(undefined);
}

/** Reads and parses a configuration file (with its includes). */
export function parseKeepalivedFile(path: string, read: ReadFile = (p) => readFileSync(p, 'utf8')): KeepalivedConfig {
  const toks: Token[] = [];
  tokenize(resolve(path), read, 0, toks);
  return interpret(buildTree(toks));
}

/** Parses configuration text; `name` is the file name used in messages and for includes. */
export function parseKeepalived(text: string, name = 'keepalived.conf', read?: ReadFile): KeepalivedConfig {
  const file = resolve(name);
  const reader: ReadFile = (p) => (p === file ? text : (read ?? ((q) => readFileSync(q, 'utf8')))(p));
  const toks: Token[] = [];
  tokenize(file, reader, 0, toks);
  return interpret(buildTree(toks));
}

// ---------------------------------------------------------------------------------------------
// Values

class Ctx {
  readonly warnings: string[] = [];
  warn(n: ConfNode, msg: string): void {
    this.warnings.push(`${n.file}:${n.line}: ${msg}`);
  }
}

function err(n: ConfNode, msg: string): never {
  throw new ConfigError(n.file, n.line, msg);
}

function arg(n: ConfNode, i = 0): string {
  const v = n.args[i];
  if (v === undefined) err(n, `${n.kw}: missing value`);
  return v;
}

function int(n: ConfNode, min: number, max: number, i = 0): number {
  const v = arg(n, i);
  if (!/^-?\d+$/.test(v) || Number(v) < min || Number(v) > max) err(n, `${n.kw}: '${v}' is not an integer in ${min}..${max}`);
  return Number(v);
}

/** Seconds (decimals allowed) → milliseconds. */
function secs(n: ConfNode, i = 0): number {
  const v = arg(n, i);
  if (!/^\d+(\.\d+)?$/.test(v)) err(n, `${n.kw}: '${v}' is not a number of seconds`);
  return Math.round(Number(v) * 1000);
}

function ip(n: ConfNode, i = 0): string {
  const v = arg(n, i);
  if (ipFromString(v) < 0) err(n, `${n.kw}: '${v}' is not an IPv4 address`);
  return v;
}

function port(n: ConfNode, i: number): number {
  return int(n, 0, 65535, i);
}

const LB_KIND: Record<string, FwdName> = { NAT: 'masq', DR: 'route', TUN: 'tunnel' };

function fwd(n: ConfNode): FwdName {
  const v = arg(n).toUpperCase();
  const f = LB_KIND[v];
  if (!f) err(n, `${n.kw}: '${arg(n)}' is not NAT, DR or TUN`);
  return f;
}

/** Walks a block with a keyword table; unknown keywords warn. */
function walk(ctx: Ctx, nodes: ConfNode[] | undefined, where: string, table: Record<string, (n: ConfNode) => void>): void {
  for (const n of nodes ?? []) {
    const h = Object.hasOwn(table, n.kw) ? table[n.kw] : undefined;
    if (h) h(n);
    else ctx.warn(n, `unknown keyword '${n.kw}' in ${where}, ignored`);
  }
}

const ignore = (): void => undefined;

/** Keywords accepted and not acted upon (they configure things lvsd does not do: mail, SNMP, DBus...). */
function ignored(names: string[]): Record<string, (n: ConfNode) => void> {
  const t: Record<string, (n: ConfNode) => void> = {};
  for (const k of names) t[k] = ignore;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Sections

/** Checker defaults inherited virtual_server → real_server → checker (keepalived 2.x). */
interface Inherit {
  connectTimeoutMs: number;
  retry: number;
  delayBeforeRetryMs: number;
  delayLoopMs: number;
  warmupMs: number;
}

function inheritHandlers(d: Inherit): Record<string, (n: ConfNode) => void> {
  return {
    connect_timeout: (n) => { d.connectTimeoutMs = secs(n); },
    retry: (n) => { d.retry = int(n, 0, 1 << 30); },
    nb_get_retry: (n) => { d.retry = int(n, 0, 1 << 30); },
    delay_before_retry: (n) => { d.delayBeforeRetryMs = secs(n); },
    delay_loop: (n) => { d.delayLoopMs = secs(n); },
    warmup: (n) => { d.warmupMs = secs(n); },
  };
}

const CHECKER_KINDS = new Set(['TCP_CHECK', 'HTTP_GET', 'UDP_CHECK', 'PING_CHECK', 'ICMP_CHECK', 'MISC_CHECK']);
const UNSUPPORTED_CHECKERS = new Set(['SSL_GET', 'SMTP_CHECK', 'DNS_CHECK', 'BFD_CHECK', 'FILE_CHECK']);

function statusCodes(n: ConfNode): number[] {
  const out: number[] = [];
  for (const a of n.args) {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(a);
    if (!m) err(n, `status_code: '${a}' is not a status code or range`);
    const lo = Number(m[1]);
    const hi = m[2] ? Number(m[2]) : lo;
    if (lo < 100 || hi > 599 || lo > hi) err(n, `status_code: '${a}' is out of 100..599`);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  if (out.length === 0) err(n, 'status_code: missing value');
  return out;
}

function parseChecker(ctx: Ctx, n: ConfNode, defaults: Inherit): CheckSpec {
  const kind = n.kw === 'ICMP_CHECK' ? 'PING_CHECK' : n.kw;
  const d: Inherit = { ...defaults };
  const c: Partial<CheckCommon> = {};
  const common: Record<string, (x: ConfNode) => void> = {
    ...inheritHandlers(d),
    connect_ip: (x) => { c.connectIp = ip(x); },
    connect_port: (x) => { c.connectPort = port(x, 0); },
    bindto: (x) => { c.bindIp = ip(x); },
    bind_port: (x) => { c.bindPort = port(x, 0); },
    ...ignored(['bind_if', 'fwmark', 'log_all_failures', 'dynamic']),
  };
  const urls: HttpUrl[] = [];
  let virtualhost: string | undefined;
  let payload = Buffer.from([0]);
  let requireReply = false;
  let path: string | undefined;
  let timeoutMs: number | undefined;
  let dynamic = false;
  const extra: Record<string, Record<string, (x: ConfNode) => void>> = {
    HTTP_GET: {
      virtualhost: (x) => { virtualhost = arg(x); },
      ...ignored(['http_protocol', 'enable_sni', 'fast_recovery']),
      url: (x) => {
        const u: HttpUrl = { path: '/', statusCodes: [] };
        let hasPath = false;
        walk(ctx, x.block, 'url', {
          path: (y) => { u.path = arg(y); hasPath = true; },
          digest: (y) => {
            const v = arg(y);
            if (!/^[0-9a-fA-F]{32}$/.test(v)) err(y, `digest: '${v}' is not an md5 digest (32 hex digits)`);
            u.digest = v.toLowerCase();
          },
          status_code: (y) => { u.statusCodes.push(...statusCodes(y)); },
          regex: (y) => {
            try {
              new RegExp(arg(y));
            } catch (e) {
              err(y, `regex: ${(e as Error).message}`);
            }
            u.regex = arg(y);
          },
          virtualhost: (y) => { u.virtualhost = arg(y); },
          ...ignored(['regex_no_match', 'regex_options', 'regex_stack', 'regex_min_offset', 'regex_max_offset', 'digest_only']),
        });
        if (!hasPath) err(x, 'url: path missing');
        urls.push(u);
      },
    },
    UDP_CHECK: {
      payload: (x) => {
        const v = arg(x).replace(/^0x/i, '');
        if (!/^([0-9a-fA-F]{2})+$/.test(v)) err(x, `payload: '${arg(x)}' is not hex bytes`);
        payload = Buffer.from(v, 'hex');
      },
      require_reply: () => { requireReply = true; },
      ...ignored(['min_reply_length', 'max_reply_length']),
    },
    PING_CHECK: {},
    TCP_CHECK: {},
    MISC_CHECK: {
      misc_path: (x) => { path = x.args.join(' '); if (!path) err(x, 'misc_path: missing value'); },
      misc_timeout: (x) => { timeoutMs = secs(x); },
      misc_dynamic: () => { dynamic = true; },
      ...ignored(['user']),
    },
  };
  walk(ctx, n.block, kind, { ...common, ...extra[kind] });
  const base = {
    ...c, connectTimeoutMs: d.connectTimeoutMs, retry: d.retry, delayBeforeRetryMs: d.delayBeforeRetryMs,
    delayLoopMs: d.delayLoopMs, warmupMs: d.warmupMs,
  };
  switch (kind) {
    case 'HTTP_GET':
      if (urls.length === 0) err(n, 'HTTP_GET: no url block');
      return { ...base, kind, urls, virtualhost };
    case 'UDP_CHECK':
      return { ...base, kind, payload, requireReply };
    case 'MISC_CHECK':
      if (path === undefined) err(n, 'MISC_CHECK: misc_path missing');
      return { ...base, kind, path, timeoutMs: timeoutMs ?? d.delayLoopMs, dynamic };
    case 'TCP_CHECK':
    case 'PING_CHECK':
      return { ...base, kind };
    default:
      return err(n, `unknown checker ${n.kw}`);
  }
}

function parseRealServer(ctx: Ctx, n: ConfNode, vsFwd: FwdName, inh: Inherit, inhibitDefault: boolean): RealServerSpec {
  const rs: RealServerSpec = {
    addr: ip(n, 0), port: n.args.length > 1 ? port(n, 1) : 0, weight: 1, fwd: vsFwd,
    inhibitOnFailure: inhibitDefault, checks: [],
  };
  if (n.args.length < 2) err(n, 'real_server: address and port expected');
  const d: Inherit = { ...inh };
  const checkers: ConfNode[] = [];
  walk(ctx, n.block, 'real_server', {
    ...inheritHandlers(d),
    weight: (x) => { rs.weight = int(x, 0, 65535); },
    inhibit_on_failure: () => { rs.inhibitOnFailure = true; },
    notify_up: (x) => { rs.notifyUp = x.args.join(' '); },
    notify_down: (x) => { rs.notifyDown = x.args.join(' '); },
    uthreshold: (x) => { rs.upper = int(x, 0, 0x7fffffff); },
    lthreshold: (x) => { rs.lower = int(x, 0, 0x7fffffff); },
    lb_kind: (x) => { rs.fwd = fwd(x); },
    lvs_method: (x) => { rs.fwd = fwd(x); },
    ...ignored(['smtp_alert', 'virtualhost', 'alpha', 'tunnel_encap', 'tunnel_port']),
    ...Object.fromEntries([...CHECKER_KINDS].map((k) => [k, (x: ConfNode) => { checkers.push(x); }])),
    ...Object.fromEntries([...UNSUPPORTED_CHECKERS].map((k) => [k, (x: ConfNode) => {
      ctx.warn(x, `${k} is not supported by lvsd; this checker is ignored`);
    }])),
  });
  // Checkers inherit the real server's defaults whatever the order of the lines.
  for (const x of checkers) rs.checks.push(parseChecker(ctx, x, d));
  return rs;
}

interface GroupMember { addr: string; port: number }

function parseGroup(ctx: Ctx, n: ConfNode): GroupMember[] {
  const out: GroupMember[] = [];
  for (const m of n.block ?? []) {
    if (m.kw === 'fwmark') {
      ctx.warn(m, 'fwmark members are not supported by lvsd; ignored');
      continue;
    }
    const r = /^(\d+\.\d+\.\d+\.)(\d+)(?:-(\d+))?$/.exec(m.kw);
    if (!r || ipFromString(r[1] + r[2]) < 0) err(m, `virtual_server_group ${arg(n)}: '${m.kw}' is not an address or range`);
    const p = port(m, 0);
    const lo = Number(r[2]);
    const hi = r[3] !== undefined ? Number(r[3]) : lo;
    if (hi > 255 || hi < lo) err(m, `virtual_server_group: bad range '${m.kw}'`);
    for (let i = lo; i <= hi; i++) out.push({ addr: `${r[1]}${i}`, port: p });
  }
  return out;
}

function parseVirtualServer(ctx: Ctx, n: ConfNode, groups: Map<string, GroupMember[]>): VirtualServerSpec[] {
  let members: GroupMember[];
  if (n.args[0] === 'group') {
    const g = groups.get(arg(n, 1));
    if (!g) err(n, `virtual_server group '${arg(n, 1)}' is not defined (virtual_server_group must come first)`);
    members = g;
  } else if (n.args[0] === 'fwmark') {
    ctx.warn(n, 'firewall-mark virtual servers are not supported by lvsd; ignored');
    return [];
  } else {
    if (n.args.length < 2) err(n, 'virtual_server: address and port expected');
    members = [{ addr: ip(n, 0), port: port(n, 1) }];
  }
  const inh: Inherit = { ...CHECK_DEFAULTS };
  const base: Omit<VirtualServerSpec, 'addr' | 'port'> = {
    proto: 'tcp', scheduler: 'wlc', persistent: 0, ops: false, quorum: 1, hysteresis: 0, alpha: false, reals: [],
  };
  let vsFwd: FwdName = 'masq';
  let inhibit = false;
  let sorryInhibit = false;
  let sorryFwd: FwdName | undefined;
  let sorry: { addr: string; port: number } | undefined;
  const reals: ConfNode[] = [];
  walk(ctx, n.block, 'virtual_server', {
    ...inheritHandlers(inh),
    lb_algo: (x) => { base.scheduler = sched(x); },
    lvs_sched: (x) => { base.scheduler = sched(x); },
    lb_kind: (x) => { vsFwd = fwd(x); },
    lvs_method: (x) => { vsFwd = fwd(x); },
    protocol: (x) => {
      const p = arg(x).toUpperCase();
      if (p !== 'TCP' && p !== 'UDP') err(x, `protocol: '${arg(x)}' is not supported (TCP or UDP)`);
      base.proto = p.toLowerCase() as ProtoName;
    },
    persistence_timeout: (x) => { base.persistent = x.args.length ? int(x, 1, 0x7fffffff) : 360; },
    persistence_granularity: (x) => {
      if (ipFromString(arg(x)) < 0) err(x, `persistence_granularity: '${arg(x)}' is not a netmask`);
      base.netmask = arg(x);
    },
    ops: () => { base.ops = true; },
    quorum: (x) => { base.quorum = int(x, 0, 0x7fffffff); },
    hysteresis: (x) => { base.hysteresis = int(x, 0, 0x7fffffff); },
    quorum_up: (x) => { base.quorumUp = x.args.join(' '); },
    quorum_down: (x) => { base.quorumDown = x.args.join(' '); },
    alpha: () => { base.alpha = true; },
    inhibit_on_failure: () => { inhibit = true; },
    sorry_server: (x) => { sorry = { addr: ip(x, 0), port: port(x, 1) }; },
    sorry_server_inhibit: () => { sorryInhibit = true; },
    sorry_server_lvs_method: (x) => { sorryFwd = fwd(x); },
    real_server: (x) => { reals.push(x); },
    ...ignored(['ha_suspend', 'virtualhost', 'smtp_alert', 'omega', 'retry_on_failure']),
  });
  base.reals = reals.map((x) => parseRealServer(ctx, x, vsFwd, inh, inhibit));
  if (sorry) base.sorry = { ...sorry, fwd: sorryFwd ?? vsFwd, inhibit: sorryInhibit };
  return members.map((m) => ({
    ...base, addr: m.addr, port: m.port,
    // ipvsadm: a real server port 0 means "the virtual port".
    reals: base.reals.map((r) => ({ ...r, port: r.port || m.port })),
  }));
}

function sched(n: ConfNode): string {
  const v = arg(n);
  if (!schedulerNames().includes(v)) err(n, `${n.kw}: unknown scheduler '${v}' (known: ${schedulerNames().join(', ')})`);
  return v;
}

function parseVrrp(ctx: Ctx, n: ConfNode): VrrpInstanceSpec {
  const v: VrrpInstanceSpec = {
    name: arg(n), state: 'BACKUP', vrid: 0, priority: 100, advertIntMs: 1000, version: 2, nopreempt: false,
    preemptDelayMs: 0, vips: [], unicastPeers: [], garpMasterDelayMs: 5000,
  };
  const list = (x: ConfNode): string[] => (x.block ?? []).map((y) => [y.kw, ...y.args].join(' '));
  walk(ctx, n.block, 'vrrp_instance', {
    state: (x) => {
      const s = arg(x).toUpperCase();
      if (s !== 'MASTER' && s !== 'BACKUP') err(x, `state: '${arg(x)}' is not MASTER or BACKUP`);
      v.state = s;
    },
    interface: (x) => { v.iface = arg(x); },
    virtual_router_id: (x) => { v.vrid = int(x, 1, 255); },
    priority: (x) => { v.priority = int(x, 1, 255); },
    advert_int: (x) => { v.advertIntMs = secs(x); },
    version: (x) => { v.version = int(x, 2, 3) as 2 | 3; },
    nopreempt: () => { v.nopreempt = true; },
    preempt_delay: (x) => { v.preemptDelayMs = secs(x); },
    garp_master_delay: (x) => { v.garpMasterDelayMs = secs(x); },
    virtual_ipaddress: (x) => { v.vips.push(...list(x)); },
    unicast_src_ip: (x) => { v.unicastSrc = ip(x); },
    unicast_peer: (x) => { v.unicastPeers.push(...list(x)); },
    authentication: (x) => walk(ctx, x.block, 'authentication', {
      auth_type: ignore,
      auth_pass: (y) => { v.authPass = arg(y); },
    }),
    notify_master: (x) => { v.notifyMaster = x.args.join(' '); },
    notify_backup: (x) => { v.notifyBackup = x.args.join(' '); },
    notify_fault: (x) => { v.notifyFault = x.args.join(' '); },
    notify: (x) => { v.notify = x.args.join(' '); },
    ...ignored([
      'virtual_ipaddress_excluded', 'virtual_routes', 'virtual_rules', 'track_interface', 'track_script',
      'track_file', 'lvs_sync_daemon_interface', 'smtp_alert', 'dont_track_primary', 'garp_master_repeat',
      'garp_master_refresh', 'garp_lower_prio_delay', 'garp_lower_prio_repeat', 'mcast_src_ip', 'debug',
      'accept', 'no_accept', 'strict_mode', 'use_vmac', 'vmac_xmit_base', 'native_ipv6', 'notify_stop',
    ]),
  });
  if (v.vrid === 0) err(n, `vrrp_instance ${v.name}: virtual_router_id missing`);
  return v;
}

function parseSyncDaemon(n: ConfNode): SyncDaemonSpec {
  const d: SyncDaemonSpec = { iface: arg(n, 0), syncid: 0 };
  let i = 1;
  if (n.args[1] !== undefined && !['id', 'maxlen', 'port', 'ttl', 'group'].includes(n.args[1])) {
    d.instance = n.args[1];
    i = 2;
  }
  for (; i < n.args.length; i += 2) {
    switch (n.args[i]) {
      case 'id': d.syncid = int(n, 0, 255, i + 1); break;
      case 'maxlen': int(n, 1, 65507, i + 1); break;
      case 'port': d.port = port(n, i + 1); break;
      case 'ttl': d.ttl = int(n, 1, 255, i + 1); break;
      case 'group': d.group = ip(n, i + 1); break;
      default: err(n, `lvs_sync_daemon: unknown option '${n.args[i]}'`);
    }
  }
  return d;
}

function interpret(tree: ConfNode[]): KeepalivedConfig {
  const ctx = new Ctx();
  const cfg: KeepalivedConfig = { virtualServers: [], vrrpInstances: [], vrrpSyncGroups: [], warnings: ctx.warnings };
  const groups = new Map<string, GroupMember[]>();
  const seen = new Set<string>();
  walk(ctx, tree, 'the top level', {
    global_defs: (n) => walk(ctx, n.block, 'global_defs', {
      router_id: (x) => { cfg.routerId = arg(x); },
      lvs_sync_daemon: (x) => { cfg.syncDaemon = { ...parseSyncDaemon(x), authKey: cfg.syncDaemon?.authKey }; },
      lvs_sync_auth: (x) => {
        cfg.syncDaemon = { ...(cfg.syncDaemon ?? { iface: '', syncid: 0 }), authKey: arg(x) };
      },
      ...ignored([
        'notification_email', 'notification_email_from', 'smtp_server', 'smtp_connect_timeout', 'smtp_helo_name',
        'enable_traps', 'enable_script_security', 'script_user', 'vrrp_skip_check_adv_addr', 'vrrp_strict',
        'vrrp_garp_interval', 'vrrp_gna_interval', 'vrrp_mcast_group4', 'vrrp_version', 'lvs_id', 'max_auto_priority',
        'vrrp_garp_master_delay', 'vrrp_garp_master_repeat', 'checker_process_name',
        'vrrp_process_name', 'dynamic_interfaces', 'lvs_timeouts', 'lvs_flush', 'vrrp_no_swap', 'checker_no_swap',
      ]),
    }),
    virtual_server_group: (n) => { groups.set(arg(n), parseGroup(ctx, n)); },
    virtual_server: (n) => {
      for (const vs of parseVirtualServer(ctx, n, groups)) {
        const k = `${vs.proto}:${vs.addr}:${vs.port}`;
        if (seen.has(k)) err(n, `virtual server ${vs.addr}:${vs.port} (${vs.proto}) is defined twice`);
        seen.add(k);
        cfg.virtualServers.push(vs);
      }
    },
    vrrp_instance: (n) => { cfg.vrrpInstances.push(parseVrrp(ctx, n)); },
    vrrp_sync_group: (n) => {
      const g = { name: arg(n), group: [] as string[] };
      walk(ctx, n.block, 'vrrp_sync_group', {
        group: (x) => { g.group.push(...(x.block ?? []).map((y) => y.kw)); },
        ...ignored(['notify_master', 'notify_backup', 'notify_fault', 'notify', 'smtp_alert', 'global_tracking', 'track_script']),
      });
      cfg.vrrpSyncGroups.push(g);
    },
    ...ignored(['vrrp_script', 'static_ipaddress', 'static_routes', 'static_rules', 'linkbeat_use_polling', 'garp_group']),
  });
  if (cfg.syncDaemon && !cfg.syncDaemon.iface) {
    ctx.warnings.push('lvs_sync_auth without lvs_sync_daemon: no sync daemon runs');
    cfg.syncDaemon = undefined;
  }
  if (cfg.syncDaemon?.instance && !cfg.vrrpInstances.some((v) => v.name === cfg.syncDaemon?.instance)) {
    ctx.warnings.push(`lvs_sync_daemon: vrrp_instance '${cfg.syncDaemon.instance}' is not defined; the daemon runs as backup`);
  }
  for (const g of cfg.vrrpSyncGroups) {
    for (const name of g.group) {
      if (!cfg.vrrpInstances.some((v) => v.name === name)) {
        ctx.warnings.push(`vrrp_sync_group ${g.name}: instance '${name}' is not defined`);
      }
    }
  }
  return cfg;
}
