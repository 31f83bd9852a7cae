/**
 * keepalived.conf interpreter (keepalived.conf(5), keepalived 2.2.x with the 1.x names it
 * still reads): global_defs, virtual_server(_group), real_server with checkers, vrrp_instance,
 * vrrp_sync_group. Lines are read by ./keepalived/reader.ts and nested by ./keepalived/tree.ts.
 *
 * keepalived's rule for a bad line is to log it and go on; so is lvsd's: every such line gets a
 * diagnostic `FILE:LINE: message` and the value keepalived falls back to (check_parser.c,
 * check_data.c validate_check_config(), vrrp_parser.c, vrrp.c vrrp_complete_instance()). Every
 * line lvsd does not act on gets a warning naming it. Only what keepalived cannot run at all (the
 * main file missing) and lvsd's own size limits refuse the file (ConfigError).
 */
import type { FwdName, ProtoName } from '../ipvs/command';
import {
  type CheckCommon, type CheckSpec, type HttpUrl, type RealServerSpec, type VirtualServerSpec,
} from './checks';
import { ipFromString } from '../ipvs/types';
import { schedulerNames } from '../sched/index';
import {
  ConfigError, type Diagnostic, Diagnostics, type FileAccess, formatDiagnostic, readStatements,
} from './keepalived/reader';
import { type ConfNode, buildTree } from './keepalived/tree';
import { DNS_TYPES } from './checks';

export { ConfigError, type ConfNode, type Diagnostic, formatDiagnostic };

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
  /** virtual_ipaddress lines: "ADDR[/LEN] [dev IFACE] [label L]..." (IPv4 only). */
  vips: string[];
  /** Sent and required when the instance authenticates with PASS (keepalived's rules applied). */
  authPass?: string;
  unicastSrc?: string;
  unicastPeers: string[];
  /** Run on entering MASTER / BACKUP; notify gets INSTANCE NAME STATE PRIORITY (vrrp-node.ts). */
  notifyMaster?: string;
  notifyBackup?: string;
  /** Run on entering FAULT (an interface of the instance is down: src/ha/vrrp-node.ts). */
  notifyFault?: string;
  notify?: string;
  /** Run when the instance stops (lvsd's SIGTERM, or the instance removed by a reload). */
  notifyStop?: string;
  /** User (and group) notify scripts of this instance run as: the script's own, else script_user. */
  notifyUser?: ScriptUser;
  garpMasterDelayMs: number;
  /** vrrp_strict / strict_mode (keepalived's rules are applied when reading; see completeVrrp). */
  strict: boolean;
  /** `auth_type AH` with this password (zero-padded to 8 bytes, keepalived's auth_data): IPSEC-AH. */
  authAh?: string;
  /** track_script entries, each with its vrrp_script and the weight in effect (src/ha/track.ts). */
  trackScripts: Array<{ script: VrrpScriptSpec; weight: number; reverse: boolean }>;
  /** track_interface entries: weight 0 means FAULT while the interface is down. */
  trackInterfaces: Array<{ iface: string; weight: number; reverse: boolean }>;
  /** track_file entries: the file's integer × weight is added to the priority (0: FAULT if non-zero). */
  trackFiles: Array<{ name: string; path: string; weight: number; reverse: boolean }>;
  /** virtual_routes / virtual_rules lines, as `ip route` / `ip rule` arguments (added as MASTER). */
  virtualRoutes: string[];
  virtualRules: string[];
  /** enable_script_security: notify and track scripts writable by non-root users are not run. */
  scriptSecurity?: boolean;
}

/**
 * vrrp_sync_group: its members are MASTER together, BACKUP together, FAULT together. Its
 * track_* objects are added to every member (unweighted unless sync_group_tracking_weight);
 * its notify scripts get `GROUP NAME STATE PRIORITY`.
 */
export interface SyncGroupSpec {
  name: string;
  group: string[];
  notifyMaster?: string;
  notifyBackup?: string;
  notifyFault?: string;
  notifyStop?: string;
  notify?: string;
  notifyUser?: ScriptUser;
}

/** script_user USER [GROUP], or a script's own user (names resolved when the scripts start). */
export interface ScriptUser { user: string; group?: string }

/** vrrp_script NAME { script; interval; timeout; weight [reverse]; rise; fall; user; init_fail } */
export interface VrrpScriptSpec {
  name: string;
  /** The program and its arguments, split as keepalived splits a quoted script string. */
  argv: string[];
  intervalMs: number;
  timeoutMs: number;
  weight: number;
  reverse: boolean;
  rise: number;
  fall: number;
  /** The script's `user`, else global script_user; undefined: keepalived_script if it exists, else lvsd's user. */
  user?: ScriptUser;
  /** init_fail: the script counts as failed until it first succeeds. */
  initFail: boolean;
  /** enable_script_security: a script writable by a non-root user is not run. */
  secure: boolean;
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
  vrrpSyncGroups: SyncGroupSpec[];
  /** vrrp_rt_priority / checker_rt_priority: the SCHED_RR priority asked for (lvsd's --rt-priority). */
  rtPriority?: number;
  /** Every diagnostic, formatted `FILE:LINE: message`, in file order. */
  warnings: string[];
  diagnostics: Diagnostic[];
  /** FILE:LINE of every statement a keyword handler read (for the corpus test's accounting). */
  visited: Set<string>;
}

export interface LoadOptions {
  /** keepalived's --config-id (`@ID` lines). */
  configId?: string;
  files?: FileAccess;
  random?: () => number;
}

/** Reads, nests and interprets `path`. Throws ConfigError when the file cannot be loaded. */
export async function loadKeepalivedFile(path: string, opts: LoadOptions = {}): Promise<KeepalivedConfig> {
  const diags = new Diagnostics();
  try {
    const lines = await readStatements(path, diags, opts);
    const tree = buildTree(lines, diags);
    return interpret(tree, diags, path);
  } catch (err) {
    // What was reported before the refusal goes with it (lvsd -t prints it all).
    if (err instanceof ConfigError) {
      sortDiagnostics(diags.list);
      err.diagnostics = diags.list;
    }
    throw err;
  }
}

/** Test helper: `text` as file `name` (includes are read from the real file system). */
export async function parseKeepalived(text: string, name = '/etc/keepalived/keepalived.conf', opts: LoadOptions = {}): Promise<KeepalivedConfig> {
  const { NODE_FILES } = await import('./keepalived/reader');
  const base = opts.files ?? NODE_FILES;
  const files: FileAccess = {
    stat: async (p) => (p === name ? { regular: true, size: text.length, executable: false, key: 'main' } : base.stat(p)),
    read: async (p, max) => (p === name ? text : base.read(p, max)),
    readdir: (p) => base.readdir(p),
  };
  return loadKeepalivedFile(name, { ...opts, files });
}

/** File order: files in the order they were first reported, lines ascending, stable. */
export function sortDiagnostics(list: Diagnostic[]): void {
  const fileRank = new Map<string, number>();
  for (const d of list) if (!fileRank.has(d.file)) fileRank.set(d.file, fileRank.size);
  const idx = new Map(list.map((d, i) => [d, i]));
  list.sort((a, b) => (fileRank.get(a.file)! - fileRank.get(b.file)!) || (a.line - b.line) || (idx.get(a)! - idx.get(b)!));
}

// ---------------------------------------------------------------------------------------------
// Values, as keepalived's read_unsigned / read_timer read them

class Ctx {
  /** FILE:LINE of every statement a handler read (acted on, or reported by it). */
  readonly visited = new Set<string>();
  constructor(readonly d: Diagnostics) {}
  /** A line keepalived reports and goes on from. */
  error(n: { file: string; line: number }, msg: string): void { this.d.error(n, msg); }
  /** A line lvsd does not act on. */
  notActed(n: ConfNode, what: string): void {
    const range = n.block && n.endLine && n.endLine !== n.line ? ` (block to line ${n.endLine})` : '';
    this.d.warn(n, `'${n.kw}'${range} is not acted on by lvsd: ${what}`);
  }
  warn(n: { file: string; line: number }, msg: string): void { this.d.warn(n, msg); }
  /** Marks a line of a value block (addresses, group members) as read. */
  seen(n: ConfNode): void { this.visited.add(`${n.file}:${n.line}`); }
}

function u32(v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return n >= min && n <= max ? n : undefined;
}

/** keepalived's read_timer: decimal seconds (up to 6 decimals) into milliseconds. */
function timer(v: string | undefined, minMs: number, maxMs = 2 ** 31): number | undefined {
  if (v === undefined || !/^\d+(\.\d{1,6})?$/.test(v)) return undefined;
  const ms = Number(v) * 1000;
  return ms >= minMs && ms <= maxMs ? ms : undefined;
}

/** check_true_false: on/true/yes, off/false/no; a bare keyword is true. */
function bool(ctx: Ctx, n: ConfNode): boolean | undefined {
  const v = n.args[0];
  if (v === undefined) return true;
  if (['true', 'on', 'yes'].includes(v)) return true;
  if (['false', 'off', 'no'].includes(v)) return false;
  ctx.error(n, `invalid ${n.kw} parameter '${v}' - ignoring`);
  return undefined;
}

const isIpv6 = (s: string): boolean => s.includes(':');

const LB_KIND: Record<string, FwdName> = { NAT: 'masq', DR: 'route', TUN: 'tunnel' };

/** svr_forwarding_handler: NAT, DR or TUN exactly (case matters); anything else leaves it unset. */
function fwdOf(ctx: Ctx, n: ConfNode, who: string): FwdName | undefined {
  const v = n.args[0] ?? '';
  const f = Object.hasOwn(LB_KIND, v) ? LB_KIND[v] : undefined;
  if (!f) {
    ctx.error(n, `unknown [${v}] routing method for ${who} server (keepalived takes NAT, DR or TUN, upper case) - ignoring`);
    return undefined;
  }
  if (n.args.length > 1) ctx.notActed(n, `tunnel options '${n.args.slice(1).join(' ')}' (lvsd tunnels with IPIP only)`);
  return f;
}

type Handler = (n: ConfNode) => void;
type Table = Record<string, Handler>;

/**
 * Keywords whose handler in keepalived reads its first parameter unconditionally: without one,
 * keepalived stops ("Configuration line starting `KW` is missing a parameter after keyword
 * `KW` at word position 2", lib/parser.c null_strvec(), exit 2) and so does lvsd.
 */
const NEEDS_ARG = new Set([
  'vrrp_instance', 'vrrp_script', 'vrrp_sync_group', 'virtual_server', 'virtual_server_group', 'real_server', 'sorry_server',
  'state', 'interface', 'virtual_router_id', 'priority', 'advert_int', 'auth_type', 'auth_pass', 'version',
  'lb_algo', 'lvs_sched', 'lb_kind', 'lvs_method', 'sorry_server_lvs_method', 'protocol', 'delay_loop', 'connect_timeout',
  'retry', 'nb_get_retry', 'delay_before_retry', 'warmup', 'weight', 'persistence_granularity', 'quorum', 'hysteresis',
  'connect_port', 'connect_ip', 'bindto', 'bind_port', 'path', 'digest', 'misc_timeout', 'uthreshold', 'lthreshold',
  'unicast_src_ip', 'lvs_sync_daemon', 'lvs_sync_daemon_interface', 'preempt_delay', 'garp_master_delay', 'mcast_src_ip',
  'script', 'interval', 'fall', 'rise', 'vrrp_version', 'ip_family', 'virtualhost', 'payload', 'helo_name',
]);

/** Walks a block with a keyword table; unknown keywords and unexpected blocks are reported. */
function walk(ctx: Ctx, nodes: ConfNode[] | undefined, where: string, table: Table, blocks: Set<string> = new Set()): void {
  for (const n of nodes ?? []) {
    if (n.args.length === 0 && NEEDS_ARG.has(n.kw) && Object.hasOwn(table, n.kw)) {
      throw new ConfigError(n.file, n.line, `Configuration line starting \`${n.kw}\` is missing a parameter after keyword \`${n.kw}\` at word position 2`);
    }
    const h = Object.hasOwn(table, n.kw) ? table[n.kw] : undefined;
    if (!h) {
      ctx.error(n, `Unknown keyword '${n.kw}' in ${where}${n.block ? ' (its block is ignored too)' : ''}`);
      continue;
    }
    if (n.block && !blocks.has(n.kw)) {
      ctx.error(n, `'${n.kw}' takes no block; the block to line ${n.endLine ?? '?'} is ignored`);
    }
    ctx.visited.add(`${n.file}:${n.line}`);
    h(n);
  }
}

function notActedTable(ctx: Ctx, names: string[], why: string): Table {
  const t: Table = {};
  for (const k of names) t[k] = (n) => ctx.notActed(n, why);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Checkers

/** Set-or-unset values inherited virtual_server -> real_server -> checker (check_data.c). */
interface Inherit {
  connectTimeoutMs?: number;
  retry?: number;
  delayBeforeRetryMs?: number;
  delayLoopMs?: number;
  warmupMs?: number;
  alpha?: boolean;
}

function inheritTable(ctx: Ctx, d: Inherit, who: string): Table {
  return {
    connect_timeout: (n) => {
      const v = timer(n.args[0], 1);
      if (v === undefined) ctx.error(n, `${who} connect_timeout '${n.args[0] ?? ''}' invalid - ignoring`);
      else d.connectTimeoutMs = v;
    },
    retry: (n) => {
      const v = u32(n.args[0], who === 'checker' ? 0 : 1, 0xffffffff);
      if (v === undefined) ctx.error(n, `${who} retry '${n.args[0] ?? ''}' invalid - ignoring`);
      else d.retry = v;
    },
    delay_before_retry: (n) => {
      const v = timer(n.args[0], 0);
      if (v === undefined) ctx.error(n, `${who} delay_before_retry '${n.args[0] ?? ''}' invalid - ignoring`);
      else d.delayBeforeRetryMs = v;
    },
    delay_loop: (n) => {
      const v = timer(n.args[0], 1);
      if (v === undefined) ctx.error(n, `${who} delay_loop '${n.args[0] ?? ''}' invalid - ignoring`);
      else d.delayLoopMs = v;
    },
    warmup: (n) => {
      const v = timer(n.args[0], 0);
      if (v === undefined) ctx.error(n, `${who} warmup '${n.args[0] ?? ''}' invalid - ignoring`);
      else d.warmupMs = v;
    },
    alpha: (n) => {
      const v = bool(ctx, n);
      if (v !== undefined) d.alpha = v;
    },
  };
}

function statusCodes(ctx: Ctx, n: ConfNode): number[] {
  const out: number[] = [];
  for (const a of n.args) {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(a);
    const lo = m ? Number(m[1]) : 0;
    const hi = m?.[2] ? Number(m[2]) : lo;
    if (!m || lo < 100 || hi > 599 || lo > hi) {
      ctx.error(n, `status_code '${a}' invalid - ignoring`);
      continue;
    }
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}

interface RawChecker { node: ConfNode; own: Inherit; build: (d: Required<Omit<Inherit, 'alpha'>> & { alpha?: boolean }) => CheckSpec | undefined }

/** Parses one checker block; its timing is completed once the real server is read. */
function parseChecker(ctx: Ctx, n: ConfNode): (RawChecker & { defaults?: { retry: number; dbrMs: number } }) | undefined {
  const own: Inherit = {};
  const c: Partial<CheckCommon> = {};
  const conn: Table = {
    connect_ip: (x) => {
      if (x.args[0] !== undefined && isIpv6(x.args[0])) ctx.warn(x, 'IPv6 connect_ip is not supported yet - ignoring');
      else if (x.args[0] === undefined || ipFromString(x.args[0]) < 0) ctx.error(x, `invalid connect_ip '${x.args[0] ?? ''}' - ignoring`);
      else c.connectIp = x.args[0];
    },
    connect_port: (x) => {
      const v = u32(x.args[0], 0, 65535);
      if (v === undefined) ctx.error(x, `invalid connect_port '${x.args[0] ?? ''}' - ignoring`);
      else c.connectPort = v;
    },
    bindto: (x) => {
      if (x.args[0] === undefined || ipFromString(x.args[0]) < 0) ctx.error(x, `invalid bindto '${x.args[0] ?? ''}' - ignoring`);
      else c.bindIp = x.args[0];
    },
    bind_port: (x) => {
      const v = u32(x.args[0], 0, 65535);
      if (v === undefined) ctx.error(x, `invalid bind_port '${x.args[0] ?? ''}' - ignoring`);
      else c.bindPort = v;
    },
    ...notActedTable(ctx, ['bind_if', 'fwmark'], 'probes are not bound to an interface or marked'),
  };
  const common: Table = {
    ...inheritTable(ctx, own, 'checker'),
    log_all_failures: () => undefined,
  };
  const kind = n.kw;
  let defaultRetry = 1;
  let defaultDbrMs = 1000;
  switch (kind) {
    case 'TCP_CHECK':
    case 'PING_CHECK': {
      walk(ctx, n.block, kind, { ...common, ...conn });
      return { node: n, own, build: (d) => ({ ...c, ...d, kind }) };
    }
    case 'HTTP_GET':
    case 'SSL_GET': {
      defaultDbrMs = 3000;
      const urls: HttpUrl[] = [];
      let virtualhost: string | undefined;
      let protocol: '1.0' | '1.0C' | '1.1' | undefined;
      let enableSni = false;
      walk(ctx, n.block, kind, {
        ...common, ...conn,
        nb_get_retry: (x) => {
          ctx.error(x, "nb_get_retry is deprecated - please use 'retry'");
          const v = u32(x.args[0], 0, 0xffffffff);
          if (v === undefined) ctx.error(x, `Invalid nb_get_retry value '${x.args[0] ?? ''}'`);
          else own.retry = v;
        },
        virtualhost: (x) => { virtualhost = x.args[0]; },
        http_protocol: (x) => {
          const v = x.args[0];
          if (v === '1.0' || v === '1.1') protocol = v;
          else if (v === '1.0C' || v === '1.0c') protocol = '1.0C';
          else ctx.error(x, `Invalid http_protocol version ${v ?? ''}`);
        },
        enable_sni: (x) => {
          const b = bool(ctx, x);
          if (b !== undefined) enableSni = b;
          if (kind === 'HTTP_GET') ctx.notActed(x, 'SNI is for SSL_GET');
        },
        fast_recovery: (x) => ctx.notActed(x, 'failed checks always wait for retry'),
        url: (x) => {
          const u: HttpUrl = { path: '', statusCodes: [] };
          walk(ctx, x.block, 'url', {
            path: (y) => { u.path = y.args[0] ?? ''; },
            digest: (y) => {
              const v = y.args[0] ?? '';
              if (!/^[0-9a-fA-F]{32}$/.test(v)) ctx.error(y, `digest '${v}' is not an MD5 digest - ignoring`);
              else u.digest = v.toLowerCase();
            },
            status_code: (y) => { u.statusCodes.push(...statusCodes(ctx, y)); },
            virtualhost: (y) => { u.virtualhost = y.args[0]; },
            regex: (y) => {
              try {
                new RegExp(y.args[0] ?? '');
                u.regex = y.args[0] ?? '';
              } catch (e) {
                ctx.error(y, `regex invalid: ${(e as Error).message} - ignoring`);
              }
            },
            ...notActedTable(ctx, ['regex_no_match', 'regex_options', 'regex_stack', 'regex_min_offset', 'regex_max_offset'],
              'only a plain regex match is checked'),
          });
          if (!u.path) ctx.error(x, 'url without path - ignoring');
          else urls.push(u);
        },
      }, new Set(['url']));
      if (urls.length === 0) {
        ctx.error(n, `${kind} has no url - the checker is ignored (keepalived removes it)`);
        return undefined;
      }
      return {
        node: n, own,
        build: (d) => ({
          ...c, ...d, kind, urls, virtualhost, protocol, enableSni: kind === 'SSL_GET' ? enableSni : undefined,
          sniHost: kind === 'SSL_GET' && enableSni ? virtualhost : undefined,
        }),
        ...withDefaults(defaultRetry, defaultDbrMs),
      };
    }
    case 'UDP_CHECK': {
      let payload = Buffer.from([0]);
      let requireReply = false;
      walk(ctx, n.block, kind, {
        ...common, ...conn,
        payload: (x) => {
          const v = (x.args[0] ?? '').replace(/^0x/i, '');
          if (!/^([0-9a-fA-F]{2})+$/.test(v)) ctx.error(x, `payload '${x.args[0] ?? ''}' is not hex bytes - ignoring`);
          else payload = Buffer.from(v, 'hex');
        },
        require_reply: (x) => {
          if (x.args.length > 0) ctx.notActed(x, 'the reply is not compared with a pattern');
          requireReply = true;
        },
        ...notActedTable(ctx, ['min_reply_length', 'max_reply_length'], 'reply lengths are not checked'),
      });
      return { node: n, own, build: (d) => ({ ...c, ...d, kind, payload, requireReply }) };
    }
    case 'MISC_CHECK': {
      defaultRetry = 0;
      let path: string | undefined;
      let timeoutMs: number | undefined;
      let dynamic = false;
      walk(ctx, n.block, kind, {
        ...common,
        misc_path: (x) => { path = x.args.join(' '); },
        misc_timeout: (x) => {
          const v = timer(x.args[0], 1);
          if (v === undefined) ctx.error(x, `misc_timeout '${x.args[0] ?? ''}' invalid - ignoring`);
          else timeoutMs = v;
        },
        misc_dynamic: () => { dynamic = true; },
        user: (x) => ctx.notActed(x, 'scripts run as the user lvsd runs as'),
      });
      if (!path) {
        ctx.error(n, 'MISC_CHECK without misc_path - the checker is ignored');
        return undefined;
      }
      const p = path;
      return {
        node: n, own,
        build: (d) => ({ ...c, ...d, kind, path: p, timeoutMs: timeoutMs ?? d.delayLoopMs, dynamic }),
        ...withDefaults(defaultRetry, defaultDbrMs),
      };
    }
    case 'SMTP_CHECK': {
      let heloName = 'smtpchecker.keepalived.org';
      walk(ctx, n.block, kind, {
        ...common, ...conn,
        helo_name: (x) => { heloName = x.args[0] ?? heloName; },
        host: (x) => ctx.notActed(x, 'the deprecated host block is not read: the checker probes its connect_ip/connect_port (default the real server)'),
      }, new Set(['host']));
      return { node: n, own, build: (d) => ({ ...c, ...d, kind: 'SMTP_CHECK' as const, heloName }) };
    }
    case 'DNS_CHECK': {
      let type = 'SOA';
      let name = '.';
      walk(ctx, n.block, kind, {
        ...common, ...conn,
        type: (x) => {
          const t = (x.args[0] ?? '').toUpperCase();
          if (DNS_TYPES.includes(t)) type = t;
          else ctx.error(x, `DNS_CHECK: unknown type '${x.args[0] ?? ''}' - ignoring`);
        },
        name: (x) => {
          const v = x.args[0] ?? '.';
          if (v !== '.' && !/^([A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?$/.test(v)) ctx.error(x, `DNS_CHECK: invalid name '${v}' - ignoring`);
          else name = v;
        },
      });
      return { node: n, own, build: (d) => ({ ...c, ...d, kind: 'DNS_CHECK' as const, name, type }), ...withDefaults(3, 0) };
    }
    default:
      return undefined;
  }
}

function withDefaults(retry: number, dbrMs: number): { defaults: { retry: number; dbrMs: number } } {
  return { defaults: { retry, dbrMs } };
}

const CHECKERS = new Set(['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'UDP_CHECK', 'PING_CHECK', 'MISC_CHECK', 'SMTP_CHECK', 'DNS_CHECK']);
const HELD_DOWN = new Set(['FILE_CHECK', 'BFD_CHECK']);

// ---------------------------------------------------------------------------------------------
// Virtual and real servers

interface RsDraft {
  node: ConfNode;
  addr: string;
  port: number;
  fwd?: FwdName;
  weight?: number;
  upper?: number;
  lower?: number;
  inhibit?: boolean;
  notifyUp?: string;
  notifyDown?: string;
  virtualhost?: string;
  own: Inherit;
  checkers: Array<RawChecker & { defaults?: { retry: number; dbrMs: number } }>;
  heldDown?: string;
}

/** A virtual server address (and port), or a firewall mark (then addr 0.0.0.0, port 0). */
interface GroupMember { addr: string; port: number; fwmark?: number }

const MAX_FWMARK = 0xffffffff;

function parseGroup(ctx: Ctx, n: ConfNode): GroupMember[] {
  const out: GroupMember[] = [];
  for (const m of n.block ?? []) {
    ctx.seen(m);
    if (m.kw === 'fwmark') {
      const mark = u32(m.args[0], 1, MAX_FWMARK);
      if (mark === undefined) ctx.error(m, `virtual server group ${n.args[0] ?? ''}: invalid fwmark '${m.args[0] ?? ''}' - ignoring`);
      else out.push({ addr: '0.0.0.0', port: 0, fwmark: mark });
      continue;
    }
    if (isIpv6(m.kw)) {
      ctx.warn(m, 'IPv6 services are not supported yet; this group member is ignored');
      continue;
    }
    const r = /^(\d+\.\d+\.\d+\.)(\d+)(?:-(\d+))?$/.exec(m.kw);
    const lo = r ? Number(r[2]) : 0;
    const hi = r?.[3] !== undefined ? Number(r[3]) : lo;
    const port = m.args[0] === undefined ? 0 : u32(m.args[0], 0, 65535);
    if (!r || ipFromString(r[1] + r[2]) < 0 || hi > 255 || hi < lo || port === undefined) {
      ctx.error(m, `virtual server group ${n.args[0] ?? ''}: invalid entry '${[m.kw, ...m.args].join(' ')}' - ignoring`);
      continue;
    }
    for (let i = lo; i <= hi; i++) out.push({ addr: `${r[1]}${i}`, port });
  }
  if (out.length === 0) ctx.error(n, `virtual server group ${n.args[0] ?? ''} has no entries - removing`);
  return out;
}

function parseVirtualServer(ctx: Ctx, n: ConfNode, groups: Map<string, GroupMember[]>): VirtualServerSpec[] {
  let members: GroupMember[];
  const a0 = n.args[0];
  if (a0 === 'group') {
    const g = groups.get(n.args[1] ?? '');
    if (!g) {
      ctx.error(n, `virtual server group '${n.args[1] ?? ''}' is not defined - virtual server ignored`);
      return [];
    }
    members = g;
  } else if (a0 === 'fwmark') {
    const mark = u32(n.args[1], 1, MAX_FWMARK);
    if (mark === undefined) {
      ctx.error(n, `Invalid virtual server fwmark '${n.args[1] ?? ''}' - skipping`);
      return [];
    }
    members = [{ addr: '0.0.0.0', port: 0, fwmark: mark }];
  } else if (a0 !== undefined && isIpv6(a0)) {
    ctx.warn(n, 'IPv6 services are not supported yet; this virtual_server and its block are ignored');
    return [];
  } else {
    const port = n.args[1] === undefined ? 0 : u32(n.args[1], 0, 65535);
    if (a0 === undefined || ipFromString(a0) < 0 || port === undefined) {
      ctx.error(n, `Invalid virtual server IP address/port ${n.args.join(' ')} - skipping`);
      return [];
    }
    members = [{ addr: a0, port }];
  }
  const inh: Inherit = {};
  let delayLoopMs = 60_000;
  let connectTimeoutMs = 5000;
  let proto: ProtoName | undefined;
  let scheduler: string | undefined;
  let fwd: FwdName | undefined;
  let persistent = 0;
  let netmask: string | undefined;
  let ops = false;
  let quorum = 1;
  let hysteresis = 0;
  let vsAlpha = false;
  let vsInhibit = false;
  let vsWeight = 1;
  let vsVirtualhost: string | undefined;
  let quorumUp: string | undefined;
  let quorumDown: string | undefined;
  let sorry: { node: ConfNode; addr: string; port: number; fwd?: FwdName; inhibit: boolean } | undefined;
  const reals: RsDraft[] = [];
  const vsTable: Table = {
    ...inheritTable(ctx, inh, 'virtual server'),
    delay_loop: (x) => {
      const v = timer(x.args[0], 1);
      if (v === undefined) ctx.error(x, `virtual server delay loop '${x.args[0] ?? ''}' invalid - ignoring`);
      else delayLoopMs = v;
    },
    connect_timeout: (x) => {
      const v = timer(x.args[0], 1);
      if (v === undefined) ctx.error(x, `virtual server connect_timeout '${x.args[0] ?? ''}' invalid - ignoring`);
      else connectTimeoutMs = v;
    },
    alpha: (x) => { const v = bool(ctx, x); if (v !== undefined) vsAlpha = v; },
    inhibit_on_failure: (x) => { const v = bool(ctx, x); if (v !== undefined) vsInhibit = v; },
    lb_algo: (x) => { scheduler = sched(ctx, x) ?? scheduler; },
    lvs_sched: (x) => { scheduler = sched(ctx, x) ?? scheduler; },
    lb_kind: (x) => { fwd = fwdOf(ctx, x, 'virtual') ?? fwd; },
    lvs_method: (x) => { fwd = fwdOf(ctx, x, 'virtual') ?? fwd; },
    protocol: (x) => {
      const p = (x.args[0] ?? '').toUpperCase();
      if (p === 'TCP' || p === 'UDP') proto = p.toLowerCase() as ProtoName;
      else if (p === 'SCTP') ctx.warn(x, 'SCTP services are not supported by lvsd; protocol ignored');
      else ctx.error(x, `Unknown protocol ${x.args[0] ?? ''} - ignoring`);
    },
    persistence_timeout: (x) => {
      if (x.args.length === 0) { persistent = 360; return; }
      const v = u32(x.args[0], 1, 2678400);
      if (v === undefined) ctx.error(x, `persistence_timeout '${x.args[0]}' invalid (1..2678400) - ignoring, the service has no persistence`);
      else persistent = v;
    },
    persistence_granularity: (x) => {
      if (x.args[0] === undefined || ipFromString(x.args[0]) < 0) ctx.error(x, `invalid persistence_granularity '${x.args[0] ?? ''}' - ignoring`);
      else netmask = x.args[0];
    },
    persistence_engine: (x) => ctx.notActed(x, 'no persistence engines (sip) in lvsd'),
    ops: () => { ops = true; },
    hashed: (x) => ctx.notActed(x, 'scheduler flags are not applied from keepalived.conf'),
    ...notActedTable(ctx, ['flag-1', 'flag-2', 'flag-3', 'sh-port', 'sh-fallback', 'mh-port', 'mh-fallback'],
      'scheduler flags are not applied from keepalived.conf'),
    quorum: (x) => {
      const v = u32(x.args[0], 1, 0xffffffff);
      if (v === undefined) ctx.error(x, `quorum '${x.args[0] ?? ''}' invalid - ignoring`);
      else quorum = v;
    },
    hysteresis: (x) => {
      const v = u32(x.args[0], 0, 0xffffffff);
      if (v === undefined) ctx.error(x, `Hysteresis ${x.args[0] ?? ''} must be in [0, 4294967295] - ignoring`);
      else hysteresis = v;
    },
    weight: (x) => {
      const v = u32(x.args[0], 1, 65535);
      if (v === undefined) ctx.error(x, `Virtual server weight ${x.args[0] ?? ''} is outside range 1-65535`);
      else vsWeight = v;
    },
    quorum_up: (x) => { quorumUp = x.args.join(' '); },
    quorum_down: (x) => { quorumDown = x.args.join(' '); },
    virtualhost: (x) => { vsVirtualhost = x.args[0]; },
    omega: (x) => ctx.notActed(x, 'quorum_down is not run at shutdown'),
    ha_suspend: (x) => ctx.notActed(x, 'checkers run whether or not the VIP is present'),
    smtp_alert: (x) => ctx.notActed(x, 'lvsd sends no mail'),
    snmp_name: (x) => ctx.notActed(x, 'no SNMP in lvsd'),
    ip_family: (x) => {
      if (x.args[0] === 'inet6') ctx.warn(x, 'IPv6 services are not supported yet');
      else if (x.args[0] !== 'inet') ctx.error(x, `unknown address family ${x.args[0] ?? ''}`);
    },
    sorry_server: (x) => {
      const addr = x.args[0];
      const port = x.args[1] === undefined ? 0 : u32(x.args[1], 0, 65535);
      if (addr !== undefined && isIpv6(addr)) ctx.warn(x, 'IPv6 sorry servers are not supported yet - ignoring');
      else if (addr === undefined || ipFromString(addr) < 0 || port === undefined) ctx.error(x, `Invalid sorry server ip address/port ${x.args.join(' ')} - skipping`);
      else sorry = { node: x, addr, port, fwd, inhibit: false };
    },
    sorry_server_inhibit: (x) => {
      if (sorry) sorry.inhibit = true;
      else ctx.error(x, 'Ignoring sorry_server inhibit used before or without sorry_server');
    },
    sorry_server_lvs_method: (x) => {
      if (!sorry) { ctx.error(x, 'sorry_server forwarding used without sorry_server'); return; }
      sorry.fwd = fwdOf(ctx, x, 'sorry') ?? sorry.fwd;
    },
    real_server: (x) => {
      const r = parseRealServer(ctx, x, fwd);
      if (r) reals.push(r);
    },
  };
  walk(ctx, n.block, 'virtual_server', vsTable, new Set(['real_server']));

  // validate_check_config(), in keepalived's order.
  const what = `virtual server ${n.args.join(' ')}`;
  if (reals.length === 0) {
    ctx.error(n, `${what} has no real servers - ignoring`);
    return [];
  }
  // Checks of a virtual server given by address (check_data.c): a fwmark one takes any protocol.
  const byAddr = members.some((m) => m.fwmark === undefined);
  if (proto && members.every((m) => m.fwmark !== undefined)) {
    ctx.error(n, `Warning: ${what}: protocol specified for fwmark - protocol will be ignored`);
  }
  if (byAddr && !proto) {
    ctx.error(n, `${what}: no protocol set - defaulting to UDP`);
    proto = 'udp';
  }
  if (byAddr && ops && proto !== 'udp') {
    ctx.error(n, `${what}: one packet scheduling requires UDP - resetting`);
    ops = false;
  }
  if (persistent === 0 && a0 !== 'group' && a0 !== 'fwmark' && members[0].port === 0) {
    ctx.error(n, `${what}: zero port only valid for persistent services - setting persistence_timeout 360`);
    persistent = 360;
  }
  if (persistent === 0 && a0 === 'group' && members.some((m) => m.fwmark === undefined && m.port === 0)) {
    ctx.error(n, `${what}: zero port only valid for persistent services - setting persistence_timeout 360`);
    persistent = 360;
  }
  if (!scheduler) {
    ctx.error(n, `${what}: no scheduler set, setting default 'wlc'`);
    scheduler = 'wlc';
  }
  const seen = new Set<string>();
  const uniq: RsDraft[] = [];
  for (const r of reals) {
    const k = `${r.addr}:${r.port}`;
    if (seen.has(k)) {
      ctx.error(r.node, `${what}: real server ${k} is duplicated - removing second rs`);
      continue;
    }
    seen.add(k);
    uniq.push(r);
  }
  if (uniq.some((r) => r.fwd === undefined) || (sorry && sorry.fwd === undefined)) {
    if (fwd === undefined) {
      ctx.error(n, `${what}: no forwarding method set, setting default NAT`);
      fwd = 'masq';
    }
  }
  let weightSum = 0;
  for (const r of uniq) weightSum += r.weight ?? vsWeight;
  if (quorum > weightSum) {
    ctx.error(n, `${what}: quorum ${quorum} exceeds total weight of real servers ${weightSum}, reducing quorum to ${weightSum}`);
    quorum = weightSum;
  }
  if (hysteresis >= quorum && !(hysteresis === 0 && quorum === 0)) {
    const h = Math.max(0, quorum - 1);
    ctx.error(n, `${what}: hysteresis ${hysteresis} >= quorum ${quorum}; setting hysteresis to ${h}`);
    hysteresis = h;
  }

  const out: VirtualServerSpec[] = [];
  const groupPortWarned = new Set<RsDraft>();
  for (const m of members) {
    const realsOut: RealServerSpec[] = [];
    for (const r of uniq) {
      const rfwd = r.fwd ?? fwd ?? 'masq';
      let port = r.port;
      // A firewall-mark service: a NAT real server keeps its port (0: the packet's own); with
      // DR/TUN the port is cleared, and the checkers still probe the configured one.
      let probePort: number | undefined;
      if (m.fwmark !== undefined) {
        if (rfwd !== 'masq' && port !== 0 && a0 === 'fwmark') {
          ctx.error(r.node, `WARNING - fwmark ${what}, real server ${r.addr}:${r.port} has port specified - clearing`);
          probePort = port;
          port = 0;
        } else if (rfwd !== 'masq' && port !== 0 && !groupPortWarned.has(r)) {
          // In a group keepalived keeps the port and says so (once per real server).
          groupPortWarned.add(r);
          ctx.error(r.node, `WARNING - fwmark ${what}, real server ${r.addr}:${r.port} has port specified - port will be ignored`);
        }
      } else if (port === 0) port = m.port;
      else if (rfwd !== 'masq' && port !== m.port) {
        ctx.error(r.node, `WARNING - ${what} and real server ${r.addr}:${r.port} ports don't match - resetting to ${m.port}`);
        port = m.port;
      }
      const rsAlpha = r.own.alpha ?? vsAlpha;
      const checks: CheckSpec[] = [];
      for (const ck of r.checkers) {
        const dflt = ck.defaults ?? { retry: 1, dbrMs: 1000 };
        const rsDelay = r.own.delayLoopMs ?? delayLoopMs;
        const delay = ck.own.delayLoopMs ?? rsDelay;
        const spec = ck.build({
          connectTimeoutMs: ck.own.connectTimeoutMs ?? r.own.connectTimeoutMs ?? connectTimeoutMs,
          retry: ck.own.retry ?? r.own.retry ?? inh.retry ?? dflt.retry,
          delayBeforeRetryMs: ck.own.delayBeforeRetryMs ?? r.own.delayBeforeRetryMs ?? inh.delayBeforeRetryMs ?? (dflt.dbrMs || delay),
          delayLoopMs: delay,
          warmupMs: ck.own.warmupMs ?? r.own.warmupMs ?? inh.warmupMs ?? delay,
          alpha: ck.own.alpha ?? rsAlpha,
        });
        if (spec) {
          if (probePort !== undefined && spec.connectPort === undefined) spec.connectPort = probePort;
          checks.push(spec);
        }
      }
      const rs: RealServerSpec = {
        addr: r.addr, port, weight: r.weight ?? vsWeight, fwd: rfwd,
        upper: r.upper, lower: r.lower,
        inhibitOnFailure: r.inhibit ?? vsInhibit,
        notifyUp: r.notifyUp, notifyDown: r.notifyDown,
        alpha: rsAlpha,
        heldDown: r.heldDown,
        where: `${r.node.file}:${r.node.line}`,
        checks,
      };
      // Host: the checker's virtualhost, else the real server's, else the virtual server's
      // (check_http.c); SNI (SSL_GET enable_sni): the checker's, else the virtual server's (check_ssl.c).
      const vh = r.virtualhost ?? vsVirtualhost;
      for (const c of checks) {
        if (c.kind !== 'HTTP_GET' && c.kind !== 'SSL_GET') continue;
        if (c.enableSni && c.sniHost === undefined) c.sniHost = vsVirtualhost;
        if (c.virtualhost === undefined && vh !== undefined) c.virtualhost = vh;
      }
      realsOut.push(rs);
    }
    let sorryOut: VirtualServerSpec['sorry'];
    if (sorry) {
      const sfwd = sorry.fwd ?? fwd ?? 'masq';
      let port = sorry.port;
      if (m.fwmark !== undefined) {
        if (sfwd !== 'masq' && port !== 0) {
          ctx.error(sorry.node, `WARNING - ${what}, sorry server has port specified - clearing`);
          port = 0;
        }
      } else if (port === 0) port = m.port;
      else if (sfwd !== 'masq' && port !== m.port) {
        ctx.error(sorry.node, `WARNING - ${what} and sorry server ports don't match - resetting to ${m.port}`);
        port = m.port;
      }
      sorryOut = { addr: sorry.addr, port, fwd: sfwd, inhibit: sorry.inhibit };
    }
    out.push({
      proto: m.fwmark !== undefined ? 'tcp' : (proto ?? 'udp'), addr: m.addr, port: m.port,
      ...(m.fwmark !== undefined ? { fwmark: m.fwmark } : {}), scheduler, persistent, netmask, ops, quorum, hysteresis,
      alpha: vsAlpha, sorry: sorryOut, quorumUp, quorumDown, reals: realsOut, where: `${n.file}:${n.line}`,
    });
  }
  return out;
}

function sched(ctx: Ctx, n: ConfNode): string | undefined {
  const v = n.args[0] ?? '';
  const known = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'sh', 'mh', 'dh', 'fo', 'ovf', 'lblcr', 'sed', 'nq', 'twos'];
  if (!known.includes(v)) {
    ctx.error(n, `Invalid lvs_scheduler '${v}' - ignoring`);
    return undefined;
  }
  if (!schedulerNames().includes(v)) {
    ctx.error(n, `scheduler '${v}' is not implemented by lvsd - ignoring`);
    return undefined;
  }
  return v;
}

function parseRealServer(ctx: Ctx, n: ConfNode, vsFwd: FwdName | undefined): RsDraft | undefined {
  const addr = n.args[0];
  const port = n.args[1] === undefined ? 0 : u32(n.args[1], 0, 65535);
  if (addr !== undefined && isIpv6(addr)) {
    ctx.warn(n, 'IPv6 real servers are not supported yet; this real_server and its block are ignored');
    return undefined;
  }
  if (addr === undefined || ipFromString(addr) < 0 || port === undefined) {
    ctx.error(n, `Invalid real server ip address/port ${n.args.join(' ')} - skipping`);
    return undefined;
  }
  const r: RsDraft = { node: n, addr, port, fwd: vsFwd, own: {}, checkers: [] };
  const checkerNodes: ConfNode[] = [];
  const table: Table = {
    ...inheritTable(ctx, r.own, 'real server'),
    weight: (x) => {
      const v = u32(x.args[0], 0, 65535);
      if (v === undefined) ctx.error(x, `Real server weight ${x.args[0] ?? ''} is outside range 0-65535 - ignoring`);
      else r.weight = v;
    },
    lvs_method: (x) => { r.fwd = fwdOf(ctx, x, 'real') ?? r.fwd; },
    uthreshold: (x) => {
      const v = u32(x.args[0], 0, 0x7fffffff);
      if (v === undefined) ctx.error(x, `Invalid uthreshold '${x.args[0] ?? ''}' - ignoring`);
      else r.upper = v;
    },
    lthreshold: (x) => {
      const v = u32(x.args[0], 0, 0x7fffffff);
      if (v === undefined) ctx.error(x, `Invalid lthreshold '${x.args[0] ?? ''}' - ignoring`);
      else r.lower = v;
    },
    inhibit_on_failure: (x) => { const v = bool(ctx, x); if (v !== undefined) r.inhibit = v; },
    notify_up: (x) => { r.notifyUp = x.args.join(' '); },
    notify_down: (x) => { r.notifyDown = x.args.join(' '); },
    virtualhost: (x) => { r.virtualhost = x.args[0]; },
    smtp_alert: (x) => ctx.notActed(x, 'lvsd sends no mail'),
    snmp_name: (x) => ctx.notActed(x, 'no SNMP in lvsd'),
    tunnel_encap: (x) => ctx.notActed(x, 'lvsd tunnels with IPIP only'),
    ...Object.fromEntries([...CHECKERS].map((k) => [k, (x: ConfNode) => { checkerNodes.push(x); }])),
    ...Object.fromEntries([...HELD_DOWN].map((k) => [k, (x: ConfNode) => {
      ctx.warn(x, `${k} is not implemented by lvsd yet: this real server is held out of service (never given traffic) rather than run unchecked`);
      r.heldDown = k;
    }])),
    track_file: (x) => {
      ctx.warn(x, 'track_file is not implemented by lvsd yet: this real server is held out of service rather than run unchecked');
      r.heldDown = 'track_file';
    },
    track_bfd: (x) => {
      ctx.warn(x, 'track_bfd is not implemented by lvsd yet: this real server is held out of service rather than run unchecked');
      r.heldDown = 'track_bfd';
    },
  };
  walk(ctx, n.block, 'real_server', table, new Set([...CHECKERS, ...HELD_DOWN, 'track_file', 'track_bfd']));
  for (const x of checkerNodes) {
    const c = parseChecker(ctx, x);
    if (c) r.checkers.push(c);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// VRRP

interface VrrpDraft {
  spec: VrrpInstanceSpec;
  node: ConfNode;
  priority?: number;
  state?: 'MASTER' | 'BACKUP';
  authType?: 'PASS' | 'AH';
  authNode?: ConfNode;
  pass?: string;
  strict?: boolean;
  version?: 2 | 3;
  /** Lines of settings completeVrrp may reset (keepalived's messages name them). */
  nopreemptNode?: ConfNode;
  preemptDelayNode?: ConfNode;
  /** track_* lines with a weight, for the sync group / address owner rules. */
  weighted: Array<{ node: ConfNode; kind: 'script' | 'interface' | 'file'; name: string; explicit: boolean }>;
  /** Line of each track_interface entry. */
  ifNodes: Map<string, ConfNode>;
  strictNode?: ConfNode;
}

/** vrrp_script and track_file blocks read so far (keepalived resolves names when it reads track_*). */
interface TrackDefs {
  scripts: Map<string, VrrpScriptSpec>;
  files: Map<string, { path: string; weight: number; reverse: boolean }>;
}

/**
 * Splits a script string into words as keepalived's alloc_strvec_quoted_escaped does: blanks
 * separate words, '...' and "..." quote, a backslash escapes the next character (\n \t \r
 * are control characters). Returns undefined for an unterminated quote.
 */
export function scriptWords(s: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= s.length) break;
    let w = '';
    let q = '';
    for (; i < s.length; i++) {
      const c = s[i];
      if (c === '\\' && i + 1 < s.length) {
        const e = s[++i];
        w += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
      } else if (q) {
        if (c === q) q = '';
        else w += c;
      } else if (c === '"' || c === "'") q = c;
      else if (c === ' ' || c === '\t') break;
      else w += c;
    }
    if (q) return undefined;
    out.push(w);
  }
  return out;
}

/** read_int_strvec for tracking weights: -254..254, +/-254 made +/-253 (vrrp_track.c). */
function trackWeight(ctx: Ctx, y: ConfNode, who: string, what: string, dflt: number, limit = 253): number | undefined {
  const raw = y.args[1];
  if (raw === undefined) {
    ctx.error(y, `(${who}) weight without value specified for ${what} ${y.kw} - ignoring`);
    return undefined;
  }
  if (!/^[-+]?\d+$/.test(raw) || Math.abs(Number(raw)) > 254) {
    ctx.error(y, `(${who}) weight ${raw} for ${what} ${y.kw} must be between [-${limit}..${limit}] inclusive - using ${dflt}`);
    return dflt;
  }
  const w = Number(raw);
  if (Math.abs(w) === 254 && limit === 253) {
    ctx.error(y, `(${who}) weight for ${y.kw} cannot be +/-254. Setting to +/-253`);
    return w < 0 ? -253 : 253;
  }
  return w;
}

/**
 * A track_script / track_interface / track_file value block (vrrp_track.c alloc_track_*):
 * `NAME [weight W [reverse|noreverse]]`, one per line; unknown names, duplicates and bad
 * options are reported and skipped as keepalived skips them.
 */
function trackList(
  ctx: Ctx, x: ConfNode, who: string, what: 'track script' | 'track_interface' | 'track file',
  resolve: (name: string) => { weight: number; reverse: boolean } | undefined,
  limit = 253,
): Array<{ name: string; weight: number; reverse: boolean; node: ConfNode; explicit: boolean }> {
  const out: Array<{ name: string; weight: number; reverse: boolean; node: ConfNode; explicit: boolean }> = [];
  for (const y of x.block ?? []) {
    ctx.seen(y);
    const base = resolve(y.kw);
    if (!base) {
      ctx.error(y, `(${who}) ${what} ${y.kw} not found, ignoring...`);
      continue;
    }
    if (out.some((o) => o.name === y.kw)) {
      ctx.error(y, `(${who}) duplicate ${what.replace(' ', '_')} ${y.kw} - ignoring`);
      continue;
    }
    let { weight, reverse } = base;
    let explicit = false;
    if (y.args.length > 0) {
      if (y.args[0] !== 'weight') {
        ctx.error(y, `(${who}) unknown ${what} ${y.kw} option ${y.args[0]} - ignoring`);
        continue;
      }
      const w = trackWeight(ctx, y, who, what, base.weight, limit);
      if (w === undefined) continue;
      weight = w;
      explicit = true;
      const opt = y.args[2];
      if (opt === 'reverse') reverse = true;
      else if (opt === 'noreverse') reverse = false;
      else if (opt !== undefined) ctx.error(y, `(${who}) unknown ${what} ${y.kw} weight option ${opt} - ignoring`);
    }
    out.push({ name: y.kw, weight, reverse, node: y, explicit });
  }
  return out;
}

/** Where a notify line's script and its optional [username [groupname]] are. */
function notifyLine(x: ConfNode): { cmd: string; user?: ScriptUser } {
  return { cmd: x.args[0] ?? '', user: x.args[1] !== undefined ? { user: x.args[1], group: x.args[2] } : undefined };
}

/** vrrp_script NAME { ... } (vrrp_parser.c vrrp_vscript_*_handler, vrrp_data.c alloc_vrrp_script). */
function parseVrrpScript(ctx: Ctx, n: ConfNode): VrrpScriptSpec | undefined {
  const name = n.args[0] ?? '';
  const sc: VrrpScriptSpec = {
    name, argv: [], intervalMs: 1000, timeoutMs: 0, weight: 0, reverse: false, rise: 1, fall: 1, initFail: false, secure: false,
  };
  let userBad = false;
  walk(ctx, n.block, 'vrrp_script', {
    script: (x) => {
      const w = scriptWords(x.args[0] ?? '');
      if (!w) ctx.error(x, `(${name}) script '${x.args[0]}': missing terminating quote`);
      else sc.argv = w;
      if (x.args.length > 1) ctx.warn(x, `(${name}) only the first word is the script (keepalived reads one, quote the command with its arguments): '${x.args.slice(1).join(' ')}' is ignored`);
    },
    interval: (x) => {
      const v = u32(x.args[0], 0, 4294967);
      if (v === undefined) ctx.error(x, `(${name}): vrrp script interval '${x.args[0]}' must be between 1 and 4294967 - ignoring`);
      else if (v === 0) { ctx.error(x, `(${name}): vrrp script interval must be greater than 0, setting to 1`); sc.intervalMs = 1000; }
      else sc.intervalMs = v * 1000;
    },
    timeout: (x) => {
      const v = u32(x.args[0], 0, 4294967);
      if (v === undefined) ctx.error(x, `(${name}): vrrp script timeout '${x.args[0]}' invalid - ignoring`);
      else if (v === 0) { ctx.error(x, `(${name}): vrrp script timeout must be greater than 0, setting to 1`); sc.timeoutMs = 1000; }
      else sc.timeoutMs = v * 1000;
    },
    weight: (x) => {
      const raw = x.args[0] ?? '';
      if (!/^[-+]?\d+$/.test(raw) || Math.abs(Number(raw)) > 253) {
        ctx.error(x, `vrrp_script ${name} weight ${raw} must be in [-253, 253]`);
        sc.weight = 0;
      } else sc.weight = Number(raw);
      if (x.args[1] === 'reverse') sc.reverse = true;
      else if (x.args[1] !== undefined) ctx.error(x, `vrrp_script ${name} unknown weight option ${x.args[1]}`);
    },
    rise: (x) => {
      const v = u32(x.args[0], 1, 2 ** 31 - 1);
      if (v === undefined) { ctx.error(x, `(${name}): vrrp script rise value '${x.args[0]}' invalid, defaulting to 1`); sc.rise = 1; } else sc.rise = v;
    },
    fall: (x) => {
      const v = u32(x.args[0], 1, 2 ** 31 - 1);
      if (v === undefined) { ctx.error(x, `(${name}): vrrp script fall value '${x.args[0]}' invalid, defaulting to 1`); sc.fall = 1; } else sc.fall = v;
    },
    user: (x) => {
      if (!x.args[0] || !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(x.args[0]) || (x.args[1] !== undefined && !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(x.args[1]))) {
        ctx.error(x, `Unable to set uid/gid for script ${sc.argv.join(' ')}`);
        userBad = true;
      } else {
        userBad = false;
        sc.user = { user: x.args[0], group: x.args[1] };
      }
    },
    init_fail: () => { sc.initFail = true; },
  });
  if (sc.argv.length === 0 || !sc.argv[0]) {
    ctx.error({ file: n.file, line: n.endLine ?? n.line }, `No script set for vrrp_script ${name} - removing`);
    return undefined;
  }
  if (userBad) return undefined;
  if (sc.timeoutMs === 0) sc.timeoutMs = sc.intervalMs;
  return sc;
}

/** track_file NAME { file PATH; weight W [reverse]; init_file [VALUE] [overwrite] } (track_file.c). */
function parseTrackFile(ctx: Ctx, n: ConfNode, defs: TrackDefs): void {
  const name = n.args[0] ?? '';
  const f = { path: '', weight: 1, reverse: false };
  walk(ctx, n.block, n.kw, {
    file: (x) => { f.path = x.args[0] ?? ''; },
    weight: (x) => {
      const raw = x.args[0] ?? '';
      if (!/^[-+]?\d+$/.test(raw) || Math.abs(Number(raw)) > 254) ctx.error(x, `Track file ${name} weight must be in [-254..254] - ignoring`);
      else f.weight = Number(raw);
      if (x.args[1] === 'reverse') f.reverse = true;
      else if (x.args[1] !== undefined) ctx.error(x, `Track file ${name} unknown weight option ${x.args[1]}`);
    },
    init_file: (x) => ctx.notActed(x, 'the file is not created: a missing file reads as 0, as keepalived reads it'),
  });
  if (!f.path) {
    ctx.error(n, `No file set for track_file ${name} - removing`);
    return;
  }
  if (n.kw === 'vrrp_track_file') ctx.warn(n, `vrrp_track_file is deprecated: use track_file (read the same)`);
  if (defs.files.has(name)) {
    ctx.error(n, `track_file ${name} already defined - ignoring`);
    return;
  }
  defs.files.set(name, f);
}

function parseVrrp(ctx: Ctx, n: ConfNode, cfg: KeepalivedConfig, defs: TrackDefs): VrrpDraft {
  const v: VrrpInstanceSpec = {
    name: n.args[0] ?? '', state: 'BACKUP', vrid: 0, priority: 100, advertIntMs: 1000, version: 2, nopreempt: false,
    preemptDelayMs: 0, vips: [], unicastPeers: [], garpMasterDelayMs: 5000, strict: false,
    trackScripts: [], trackInterfaces: [], trackFiles: [], virtualRoutes: [], virtualRules: [],
  };
  const d: VrrpDraft = { spec: v, node: n, weighted: [], ifNodes: new Map() };
  const ipList = (x: ConfNode, into: string[], what: string): void => {
    for (const y of x.block ?? []) {
      ctx.seen(y);
      const addr = y.kw.split('/')[0];
      if (isIpv6(addr)) ctx.warn(y, `IPv6 ${what} are not supported yet - ignored`);
      else if (ipFromString(addr) < 0) ctx.error(y, `invalid ${what} address '${y.kw}' - skipping`);
      else into.push([y.kw, ...y.args].join(' '));
    }
  };
  const vrrpNotActed = (why: string) => (x: ConfNode) => ctx.notActed(x, why);
  walk(ctx, n.block, 'vrrp_instance', {
    state: (x) => {
      const s = x.args[0];
      if (s === 'MASTER' || s === 'BACKUP') d.state = s;
      else ctx.error(x, `(${v.name}) unknown state '${s ?? ''}', defaulting to BACKUP`);
    },
    interface: (x) => { v.iface = x.args[0]; },
    virtual_router_id: (x) => {
      const id = u32(x.args[0], 1, 255);
      if (id === undefined) ctx.error(x, `(${v.name}) VRID not valid - must be between 1 & 255. reconfigure !`);
      else v.vrid = id;
    },
    priority: (x) => {
      const p = u32(x.args[0], 1, 255);
      if (p === undefined) {
        ctx.error(x, `(${v.name}) Priority '${x.args[0] ?? ''}' not valid! must be between 1 & 255. Using default 100`);
        d.priority = 100;
      } else d.priority = p;
    },
    advert_int: (x) => {
      const t = timer(x.args[0], 10, 255_000);
      if (t === undefined) ctx.error(x, `(${v.name}) Advert interval (in sec) not valid! must be between 0.01 & 255 - using default 1`);
      else v.advertIntMs = t;
    },
    version: (x) => {
      const ver = u32(x.args[0], 2, 3);
      if (ver === undefined) ctx.error(x, `(${v.name}) Version must be either 2 or 3`);
      else d.version = ver as 2 | 3;
    },
    nopreempt: (x) => { v.nopreempt = true; d.nopreemptNode = x; },
    preempt: () => { v.nopreempt = false; },
    preempt_delay: (x) => {
      const t = timer(x.args[0], 0, 1000_000);
      if (t === undefined) ctx.error(x, `(${v.name}) preempt_delay not valid! must be between 0-1000 - ignoring`);
      else { v.preemptDelayMs = t; d.preemptDelayNode = x; }
    },
    garp_master_delay: (x) => {
      const t = u32(x.args[0], 0, 4294);
      if (t === undefined) ctx.error(x, `(${v.name}): garp_master_delay '${x.args[0] ?? ''}' invalid - ignoring`);
      else v.garpMasterDelayMs = t * 1000;
    },
    virtual_ipaddress: (x) => ipList(x, v.vips, 'virtual addresses'),
    unicast_src_ip: (x) => {
      if (x.args[0] === undefined || ipFromString(x.args[0]) < 0) ctx.error(x, `invalid unicast_src_ip '${x.args[0] ?? ''}' - ignoring`);
      else v.unicastSrc = x.args[0];
    },
    unicast_peer: (x) => ipList(x, v.unicastPeers, 'unicast peers'),
    authentication: (x) => walk(ctx, x.block, 'authentication', {
      auth_type: (y) => {
        const t = y.args[0];
        if (t === 'PASS' || t === 'AH') { d.authType = t; d.authNode = y; } else ctx.error(y, `(${v.name}) unknown authentication type '${t ?? ''}'`);
      },
      auth_pass: (y) => {
        let p = y.args[0] ?? '';
        if (p.length > 8) {
          ctx.error(y, 'Truncating auth_pass to 8 characters');
          p = p.slice(0, 8);
        }
        d.pass = p;
      },
    }),
    strict_mode: (x) => { const b = bool(ctx, x); if (b !== undefined) { d.strict = b; d.strictNode = x; } },
    lvs_sync_daemon_interface: (x) => {
      ctx.error(x, `(${v.name}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated. Please use global lvs_sync_daemon`);
      if (cfg.syncDaemon?.iface) ctx.error(x, `(${v.name}) lvs_sync_daemon_interface has already been specified as ${cfg.syncDaemon.iface} - ignoring`);
      else if (x.args[0]) cfg.syncDaemon = { ...(cfg.syncDaemon ?? { syncid: 0 }), iface: x.args[0], instance: v.name };
    },
    // keepalived.conf(5): `notify_* SCRIPT [username [groupname]]`; the instance's scripts run
    // as the last user given (lvsd keeps one per instance), else script_user.
    ...Object.fromEntries((['notify_master', 'notify_backup', 'notify', 'notify_fault', 'notify_stop'] as const).map((k) => [k, (x: ConfNode) => {
      const l = notifyLine(x);
      const key = ({ notify_master: 'notifyMaster', notify_backup: 'notifyBackup', notify: 'notify', notify_fault: 'notifyFault', notify_stop: 'notifyStop' } as const)[k];
      v[key] = l.cmd;
      if (l.user) v.notifyUser = l.user;
    }])),
    ...Object.fromEntries(['notify_deleted', 'notify_master_rx_lower_pri']
      .map((k) => [k, vrrpNotActed('lvsd has no DELETED or MASTER_RX_LOWER_PRI notification; the script is not run')])),
    track_script: (x) => {
      for (const t of trackList(ctx, x, v.name, 'track script', (nm) => defs.scripts.get(nm))) {
        v.trackScripts.push({ script: defs.scripts.get(t.name)!, weight: t.weight, reverse: t.reverse });
        if (t.weight !== 0) d.weighted.push({ node: t.node, kind: 'script', name: t.name, explicit: t.explicit });
      }
    },
    track_interface: (x) => {
      for (const t of trackList(ctx, x, v.name, 'track_interface', () => ({ weight: 0, reverse: false }))) {
        v.trackInterfaces.push({ iface: t.name, weight: t.weight, reverse: t.reverse });
        d.ifNodes.set(t.name, t.node);
        if (t.weight !== 0) d.weighted.push({ node: t.node, kind: 'interface', name: t.name, explicit: t.explicit });
      }
    },
    track_file: (x) => {
      for (const t of trackList(ctx, x, v.name, 'track file', (nm) => defs.files.get(nm), 254)) {
        v.trackFiles.push({ name: t.name, path: defs.files.get(t.name)!.path, weight: t.weight, reverse: t.reverse });
        if (t.weight !== 0) d.weighted.push({ node: t.node, kind: 'file', name: t.name, explicit: t.explicit });
      }
    },
    track_process: vrrpNotActed('process tracking is not implemented yet'),
    track_bfd: vrrpNotActed('BFD tracking is not implemented'),
    use_vmac: vrrpNotActed('no VRRP virtual MAC interface: the VIPs stay on the interface'),
    vmac_xmit_base: vrrpNotActed('no VRRP virtual MAC interface'),
    virtual_routes: (x) => routeList(ctx, x, v.name, 'route', v.virtualRoutes),
    virtual_rules: (x) => routeList(ctx, x, v.name, 'rule', v.virtualRules),
    virtual_ipaddress_excluded: vrrpNotActed('excluded addresses are not installed'),
    smtp_alert: vrrpNotActed('lvsd sends no mail'),
    ...Object.fromEntries(['dont_track_primary', 'garp_master_repeat', 'garp_master_refresh', 'garp_master_refresh_repeat',
      'garp_lower_prio_delay', 'garp_lower_prio_repeat', 'mcast_src_ip', 'debug', 'accept', 'no_accept', 'native_ipv6',
      'skip_check_adv_addr', 'lower_prio_no_advert', 'higher_prio_send_advert', 'kernel_rx_buf_size', 'unicast_ttl',
      'vrrp_garp_interval', 'vrrp_gna_interval', 'check_unicast_src', 'unicast_fault_no_peer', 'ttl', 'down_timer_adverts',
      'use_vmac_addr', 'iptable', 'nftables', 'unicast_src_port', 'notify_priority_changes', 'linkbeat_use_polling']
      .map((k) => [k, vrrpNotActed('option of keepalived\'s VRRP not implemented by lvsd')])),
  }, new Set(['virtual_ipaddress', 'unicast_peer', 'authentication', 'track_script', 'track_interface', 'track_file',
    'track_process', 'track_bfd', 'virtual_routes', 'virtual_rules', 'virtual_ipaddress_excluded']));
  return d;
}

/**
 * virtual_routes / virtual_rules value blocks: each line is `ip route` / `ip rule` arguments
 * (keepalived's syntax is ip's: `[src ADDR] [to] PREFIX [via ADDR] [dev IF] [table T] [metric M]
 * ...`, `blackhole PREFIX`, `from PREFIX table T`). lvsd hands them to `ip` when the instance
 * becomes MASTER and deletes them when it leaves MASTER; a word ip could take as an option is
 * refused here.
 */
function routeList(ctx: Ctx, x: ConfNode, who: string, what: 'route' | 'rule', into: string[]): void {
  for (const y of x.block ?? []) {
    ctx.seen(y);
    const words = [y.kw, ...y.args];
    if (words.some((w) => !/^[A-Za-z0-9_.:/][A-Za-z0-9_.:/-]*$/.test(w)) || words.length > 24) {
      ctx.error(y, `(${who}) invalid virtual ${what} '${words.join(' ')}' - ignoring`);
      continue;
    }
    if (words.some((w) => w.includes(':'))) {
      ctx.warn(y, `(${who}) IPv6 virtual ${what}s are not supported yet - ignored`);
      continue;
    }
    into.push(words.join(' '));
  }
}

/** vrrp_complete_instance(): priority from state, state from priority, authentication rules. */
function completeVrrp(ctx: Ctx, d: VrrpDraft, globalStrict: boolean, globalVersion: 2 | 3): VrrpInstanceSpec | undefined {
  const v = d.spec;
  if (v.vrid === 0) {
    ctx.error(d.node, `(${v.name}) the virtual router id must be set - instance ignored`);
    return undefined;
  }
  const strict = d.strict ?? globalStrict;
  v.strict = strict;
  v.version = d.version ?? globalVersion;
  if (v.vips.length === 0) {
    if (v.version === 3 || strict) {
      ctx.error(d.node, `(${v.name}) No VIP specified; at least one is required - instance ignored`);
      return undefined;
    }
    ctx.error(d.node, `(${v.name}) No VIP specified; at least one is sensible`);
  }
  v.priority = d.priority ?? (d.state === 'MASTER' ? 255 : 100);
  v.state = d.state ?? (v.priority === 255 ? 'MASTER' : 'BACKUP');
  if (strict && (v.state === 'MASTER') !== (v.priority === 255) && d.state !== undefined) {
    ctx.error(d.node, `(${v.name}) State MASTER must match being address owner`);
    v.state = v.priority === 255 ? 'MASTER' : 'BACKUP';
  }
  const at = d.authNode ?? d.node;
  if (d.authType === undefined) {
    if (d.pass !== undefined) ctx.warn(at, `(${v.name}) auth_pass without auth_type: keepalived then sends no authentication, nor does lvsd`);
  } else if (strict) {
    ctx.error(at, `(${v.name}) Strict mode does not support authentication. Ignoring.`);
  } else if (v.version === 3) {
    ctx.error(at, `(${v.name}) VRRP version 3 does not support authentication. Ignoring.`);
  } else if (!d.pass) {
    ctx.error(at, `(${v.name}) Authentication specified but no password given. Ignoring`);
  } else if (d.authType === 'AH') {
    v.authAh = d.pass;
    if (v.state === 'MASTER' && v.priority !== 255) {
      // The AH sequence number is learnt from the master's adverts before taking over.
      ctx.error(at, `(${v.name}) Initial state master is incompatible with AH authentication - clearing`);
      v.state = 'BACKUP';
    }
  } else {
    v.authPass = d.pass;
  }
  if (strict && v.unicastPeers.length > 0) {
    ctx.error(d.node, `(${v.name}) Unicast peers are not supported in strict mode - instance ignored`);
    return undefined;
  }
  if (v.priority === 255 && v.nopreempt) {
    ctx.error(d.nopreemptNode ?? d.node, `(${v.name}) nopreempt is incompatible with priority 255. resetting nopreempt`);
    v.nopreempt = false;
  }
  if (v.state === 'MASTER' && v.nopreempt) {
    ctx.error(d.nopreemptNode ?? d.node, `(${v.name}) Warning - nopreempt will not work with initial state MASTER - clearing`);
    v.nopreempt = false;
  }
  if (v.state === 'MASTER' && v.preemptDelayMs > 0) {
    ctx.error(d.preemptDelayNode ?? d.node, `(${v.name}) Warning - preempt delay will not work with initial state MASTER - clearing`);
    v.preemptDelayMs = 0;
  }
  if (v.preemptDelayMs > 0 && strict) {
    ctx.error(d.preemptDelayNode ?? d.node, `(${v.name}) preempt_delay is incompatible with strict mode - resetting`);
    v.preemptDelayMs = 0;
  }
  if (v.preemptDelayMs > 0 && v.nopreempt) {
    ctx.error(d.preemptDelayNode ?? d.node, `(${v.name}) preempt_delay is incompatible with nopreempt mode - resetting`);
    v.preemptDelayMs = 0;
  }
  // The instance's own interface is always tracked (FAULT when down): an entry for it goes.
  if (v.iface !== undefined && v.trackInterfaces.some((t) => t.iface === v.iface)) {
    ctx.error(d.ifNodes.get(v.iface) ?? d.node, `(${v.name}) Ignoring track_interface ${v.iface} since own interface`);
    v.trackInterfaces = v.trackInterfaces.filter((t) => t.iface !== v.iface);
    d.weighted = d.weighted.filter((w) => !(w.kind === 'interface' && w.name === v.iface));
  }
  return v;
}

/**
 * vrrp.c vrrp_complete_instance(): in a sync group without sync_group_tracking_weight, or as
 * address owner (priority 255), weighted tracking is not used: tracked interfaces and files
 * with the default weight become unweighted (FAULT on failure) in a sync group, weighted
 * scripts and files with an explicit weight are dropped, each with keepalived's message.
 */
function dropWeights(ctx: Ctx, d: VrrpDraft, v: VrrpInstanceSpec, syncNoWeight: boolean): void {
  if (!syncNoWeight && v.priority !== 255) return;
  const why = syncNoWeight ? 'SYNC group' : 'address owner';
  const whyScript = syncNoWeight ? 'SYNC group' : 'address_owner';
  for (const w of d.weighted) {
    if (w.kind === 'interface') {
      ctx.error(w.node, `(${v.name}) ignoring ${w.name} tracked interface ${syncNoWeight ? 'weight ' : ''}due to ${why}`);
      if (syncNoWeight) for (const t of v.trackInterfaces) { if (t.iface === w.name) t.weight = 0; }
      else v.trackInterfaces = v.trackInterfaces.filter((t) => t.iface !== w.name);
    } else if (w.kind === 'script') {
      ctx.error(w.node, `(${v.name}) ignoring tracked script ${w.name} with weights due to ${whyScript}`);
      v.trackScripts = v.trackScripts.filter((t) => t.script.name !== w.name);
    } else {
      const t = v.trackFiles.find((f) => f.name === w.name);
      if (t && t.weight === 1) {
        ctx.error(w.node, `(${v.name}) ignoring weight from tracked file ${w.name} due to ${whyScript}. specify weight 0`);
        t.weight = 0;
      } else if (t) {
        ctx.error(w.node, `(${v.name}) ignoring tracked file ${w.name} with weight ${t.weight} due to ${whyScript}`);
        v.trackFiles = v.trackFiles.filter((f) => f !== t);
      }
    }
  }
}

function parseSyncDaemon(ctx: Ctx, n: ConfNode): SyncDaemonSpec | undefined {
  if (!n.args[0]) {
    ctx.error(n, 'lvs_sync_daemon requires interface - ignoring');
    return undefined;
  }
  const d: SyncDaemonSpec = { iface: n.args[0], syncid: 0 };
  let i = 1;
  if (n.args[1] !== undefined && !['id', 'maxlen', 'port', 'ttl', 'group'].includes(n.args[1])) {
    d.instance = n.args[1];
    i = 2;
  }
  for (; i < n.args.length; i += 2) {
    const val = n.args[i + 1];
    switch (n.args[i]) {
      case 'id': { const x = u32(val, 0, 255); if (x === undefined) ctx.error(n, `lvs_sync_daemon id '${val ?? ''}' invalid - ignoring`); else d.syncid = x; break; }
      case 'maxlen': if (u32(val, 1, 65507) === undefined) ctx.error(n, `lvs_sync_daemon maxlen '${val ?? ''}' invalid - ignoring`); else ctx.warn(n, 'lvs_sync_daemon maxlen is not acted on: lvsd sizes sync messages itself'); break;
      case 'port': { const x = u32(val, 1, 65535); if (x === undefined) ctx.error(n, `lvs_sync_daemon port '${val ?? ''}' invalid - ignoring`); else d.port = x; break; }
      case 'ttl': { const x = u32(val, 1, 255); if (x === undefined) ctx.error(n, `lvs_sync_daemon ttl '${val ?? ''}' invalid - ignoring`); else d.ttl = x; break; }
      case 'group': if (val === undefined || ipFromString(val) < 0) ctx.error(n, `lvs_sync_daemon group '${val ?? ''}' invalid - ignoring`); else d.group = val; break;
      default: ctx.error(n, `Unknown lvs_sync_daemon option '${n.args[i]}'`); i--;
    }
  }
  return d;
}

// ---------------------------------------------------------------------------------------------

const GLOBAL_NOT_ACTED: Array<[string[], string]> = [
  [['notification_email', 'notification_email_from', 'smtp_server', 'smtp_connect_timeout', 'smtp_helo_name',
    'smtp_alert', 'smtp_alert_vrrp', 'smtp_alert_checker', 'email_faults'], 'lvsd sends no mail'],
  [['enable_traps', 'enable_snmp_keepalived', 'enable_snmp_vrrp', 'enable_snmp_checker', 'enable_snmp_rfc',
    'enable_snmp_rfcv2', 'enable_snmp_rfcv3', 'snmp_socket'], 'no SNMP in lvsd'],
  [['enable_dbus', 'enable_dbus_get_interface'], 'no D-Bus in lvsd'],
  [['vrrp_skip_check_adv_addr', 'vrrp_garp_interval', 'vrrp_gna_interval', 'vrrp_mcast_group4', 'vrrp_mcast_group6',
    'vrrp_garp_master_delay', 'vrrp_garp_master_repeat', 'vrrp_garp_master_refresh', 'vrrp_garp_master_refresh_repeat',
    'vrrp_garp_lower_prio_delay', 'vrrp_garp_lower_prio_repeat', 'vrrp_lower_prio_no_advert', 'vrrp_higher_prio_send_advert',
    'vrrp_iptables', 'vrrp_ipsets', 'nftables', 'nftables_priority', 'nftables_counters', 'nftables_ifindex',
    'vrrp_check_unicast_src', 'vrrp_priority', 'vrrp_no_swap', 'vrrp_cpu_affinity', 'vrrp_rlimit_rttime',
    'vrrp_startup_delay', 'vrrp_netlink_cmd_rcv_bufs', 'vrrp_netlink_cmd_rcv_bufs_force', 'vrrp_netlink_monitor_rcv_bufs',
    'vrrp_netlink_monitor_rcv_bufs_force', 'vrrp_rx_bufs_policy', 'vrrp_rx_bufs_multiplier', 'vrrp_min_garp',
    'vrrp_garp_extra_if', 'vrrp_notify_fifo', 'vrrp_notify_fifo_script', 'vrrp_process_name',
    'vrrp_dont_release_vips'], 'VRRP option not implemented by lvsd'],
  [['checker_process_name', 'checker_priority', 'checker_no_swap', 'checker_cpu_affinity',
    'checker_rlimit_rttime', 'checker_log_all_failures', 'lvs_timeouts', 'lvs_flush', 'lvs_flush_onstop',
    'lvs_notify_fifo', 'lvs_notify_fifo_script', 'lvs_netlink_cmd_rcv_bufs', 'lvs_netlink_cmd_rcv_bufs_force',
    'lvs_netlink_monitor_rcv_bufs', 'lvs_netlink_monitor_rcv_bufs_force', 'rs_init_notifies', 'no_checker_emails',
    'bfd_process_name', 'bfd_priority', 'bfd_no_swap', 'bfd_rt_priority', 'bfd_rlimit_rttime', 'bfd_cpu_affinity'],
  'checker-process option not implemented by lvsd'],
  [['dynamic_interfaces', 'process_names', 'process_name', 'linkbeat_use_polling', 'notify_fifo', 'notify_fifo_script',
    'max_auto_priority', 'min_auto_priority_delay', 'net_namespace', 'net_namespace_ipvs', 'namespace_with_ipsets',
    'instance', 'use_pid_dir', 'startup_script', 'startup_script_timeout', 'shutdown_script', 'shutdown_script_timeout',
    'script_timeout', 'umask', 'random_seed', 'reload_check_config', 'reload_time_file', 'reload_repeat', 'reload_file',
    'config_save_dir', 'data_use_instance', 'tmp_config_directory', 'local_name', 'default_interface', 'disable_local_igmp',
    'fifo_write_vrrp_states_on_reload', 'vrrp_strict_mode', 'lvs_id'], 'global option not implemented by lvsd'],
];

function interpret(tree: ConfNode[], diags: Diagnostics, mainFile: string): KeepalivedConfig {
  const ctx = new Ctx(diags);
  const cfg: KeepalivedConfig = {
    virtualServers: [], vrrpInstances: [], vrrpSyncGroups: [], warnings: [], diagnostics: diags.list,
    visited: ctx.visited,
  };
  const groups = new Map<string, GroupMember[]>();
  const seen = new Map<string, ConfNode>();
  for (const n of tree) {
    if (n.kw !== 'virtual_server_group') continue;
    if (n.args.length === 0) throw new ConfigError(n.file, n.line, 'Configuration line starting `virtual_server_group` is missing a parameter after keyword `virtual_server_group` at word position 2');
    ctx.seen(n);
    const m = parseGroup(ctx, n);
    if (m.length > 0) groups.set(n.args[0], m);
  }
  const vrrpDrafts: VrrpDraft[] = [];
  const defs: TrackDefs = { scripts: new Map(), files: new Map() };
  let scriptUser: ScriptUser | undefined;
  let security = false;
  /** Sync groups' tracking (added to their members) and whether weights are kept. */
  const groupTrack = new Map<SyncGroupSpec, { draft: VrrpDraft; weights: boolean }>();
  let strict = false;
  let strictAt: ConfNode | undefined;
  let vrrpVersion: 2 | 3 = 2;
  const groupAt = new Map<{ name: string; group: string[] }, ConfNode>();
  let syncAt: ConfNode | undefined;
  let authAt: ConfNode | undefined;
  const globalTable: Table = {
    router_id: (x) => { cfg.routerId = x.args[0]; },
    lvs_sync_daemon: (x) => {
      syncAt = x;
      const d = parseSyncDaemon(ctx, x);
      if (d) cfg.syncDaemon = { ...d, authKey: cfg.syncDaemon?.authKey };
    },
    lvs_sync_auth: (x) => { authAt = x; cfg.syncDaemon = { ...(cfg.syncDaemon ?? { iface: '', syncid: 0 }), authKey: x.args[0] }; },
    vrrp_strict: (x) => { strict = true; strictAt = x; },
    script_user: (x) => {
      if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(x.args[0] ?? '') || (x.args[1] !== undefined && !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(x.args[1]))) {
        ctx.error(x, `Unable to set default user '${x.args.join(' ')}'`);
      } else scriptUser = { user: x.args[0], group: x.args[1] };
    },
    enable_script_security: () => { security = true; },
    // keepalived runs its VRRP and checker processes under SCHED_RR at these priorities;
    // lvsd is one process: the highest one given is its --rt-priority (packet threads).
    ...Object.fromEntries(['vrrp_rt_priority', 'checker_rt_priority'].map((k) => [k, (x: ConfNode) => {
      const p = u32(x.args[0], 1, 99);
      if (p === undefined) ctx.error(x, `${k} ${x.args[0] ?? ''} is outside range 1..99 - ignoring`);
      else cfg.rtPriority = Math.max(cfg.rtPriority ?? 0, p);
    }])),
    vrrp_version: (x) => {
      const v = u32(x.args[0], 2, 3);
      if (v === undefined) ctx.error(x, 'Unknown VRRP version - ignoring');
      else vrrpVersion = v as 2 | 3;
    },
  };
  for (const [names, why] of GLOBAL_NOT_ACTED) Object.assign(globalTable, notActedTable(ctx, names, why));
  walk(ctx, tree, 'the top level', {
    global_defs: (n) => walk(ctx, n.block, 'global_defs', globalTable, new Set(['notification_email'])),
    // Groups are resolved by name when the configuration is complete (check_data.c), so a
    // group may follow the virtual servers that use it: they are read first.
    virtual_server_group: () => undefined,
    virtual_server: (n) => {
      for (const vs of parseVirtualServer(ctx, n, groups)) {
        const k = `${vs.proto}:${vs.addr}:${vs.port}`;
        if (seen.has(k)) {
          ctx.error(n, `virtual server ${vs.addr}:${vs.port} (${vs.proto}) is defined twice (first at line ${seen.get(k)!.line}) - ignoring this one`);
          continue;
        }
        seen.set(k, n);
        cfg.virtualServers.push(vs);
      }
    },
    vrrp_instance: (n) => { vrrpDrafts.push(parseVrrp(ctx, n, cfg, defs)); },
    vrrp_sync_group: (n) => {
      const g: SyncGroupSpec = { name: n.args[0] ?? '', group: [] };
      // The group's track_* blocks are read as an instance's would be, then given to its members.
      const draft = parseVrrp(ctx, { ...n, block: [] }, cfg, defs);
      const tr = { draft, weights: false };
      const memberTable = (x: ConfNode): void => {
        const sub = parseVrrp(ctx, { ...n, args: [g.name], block: [x] }, cfg, defs);
        draft.spec.trackScripts.push(...sub.spec.trackScripts);
        draft.spec.trackInterfaces.push(...sub.spec.trackInterfaces);
        draft.spec.trackFiles.push(...sub.spec.trackFiles);
        draft.weighted.push(...sub.weighted);
      };
      walk(ctx, n.block, 'vrrp_sync_group', {
        group: (x) => {
          // A value block: every word of every line is an instance name (read_value_block).
          for (const y of x.block ?? []) {
            ctx.seen(y);
            g.group.push(y.kw, ...y.args);
          }
        },
        ...Object.fromEntries((['notify_master', 'notify_backup', 'notify_fault', 'notify_stop', 'notify'] as const).map((k) => [k, (x: ConfNode) => {
          const l = notifyLine(x);
          const key = ({ notify_master: 'notifyMaster', notify_backup: 'notifyBackup', notify: 'notify', notify_fault: 'notifyFault', notify_stop: 'notifyStop' } as const)[k];
          g[key] = l.cmd;
          if (l.user) g.notifyUser = l.user;
        }])),
        smtp_alert: (x) => ctx.notActed(x, 'lvsd sends no mail'),
        global_tracking: (x) => {
          ctx.warn(x, `(${g.name}) global_tracking is deprecated - use sync_group_tracking_weight (read the same)`);
          tr.weights = true;
        },
        sync_group_tracking_weight: () => { tr.weights = true; },
        track_script: memberTable,
        track_interface: memberTable,
        track_file: memberTable,
      }, new Set(['group', 'track_script', 'track_interface', 'track_file']));
      cfg.vrrpSyncGroups.push(g);
      groupAt.set(g, n);
      groupTrack.set(g, tr);
    },
    vrrp_script: (n) => {
      const sc = parseVrrpScript(ctx, n);
      if (!sc) return;
      if (defs.scripts.has(sc.name)) ctx.error(n, `vrrp_script ${sc.name} is defined twice - ignoring this one`);
      else defs.scripts.set(sc.name, sc);
    },
    track_file: (n) => parseTrackFile(ctx, n, defs),
    vrrp_track_file: (n) => parseTrackFile(ctx, n, defs),
    ...notActedTable(ctx, ['static_ipaddress', 'static_routes', 'static_rules', 'linkbeat_interfaces', 'garp_group',
      'vrrp_track_process', 'track_process', 'bfd_instance', 'SSL', 'track_group',
      'interface_up_down_delays'], 'not implemented by lvsd'),
  }, new Set(['global_defs', 'virtual_server_group', 'virtual_server', 'vrrp_instance', 'vrrp_sync_group', 'vrrp_script',
    'static_ipaddress', 'static_routes', 'static_rules', 'linkbeat_interfaces', 'garp_group', 'vrrp_track_file', 'track_file',
    'vrrp_track_process', 'track_process', 'bfd_instance', 'SSL', 'track_group', 'interface_up_down_delays']));
  // Scripts run as their own user, else script_user (keepalived's default when neither is
  // given is keepalived_script if it exists, else its own user: lvsd's is its own user).
  for (const sc of defs.scripts.values()) {
    sc.user ??= scriptUser;
    sc.secure = security;
  }
  const memberOf = new Map<string, SyncGroupSpec>();
  for (const g of cfg.vrrpSyncGroups) for (const m of g.group) if (!memberOf.has(m)) memberOf.set(m, g);
  const names = new Set<string>();
  const strictWarned = new Set<ConfNode>();
  for (const d of vrrpDrafts) {
    const v = completeVrrp(ctx, d, strict, vrrpVersion);
    if (!v) continue;
    const g = memberOf.get(v.name);
    const gt = g ? groupTrack.get(g) : undefined;
    if (gt) {
      // sync_group_tracking_init(): the group's objects join the member's, under the same rules.
      const gs = gt.draft.spec;
      for (const t of gs.trackScripts) if (!v.trackScripts.some((x) => x.script.name === t.script.name)) v.trackScripts.push({ ...t });
      for (const t of gs.trackInterfaces) if (!v.trackInterfaces.some((x) => x.iface === t.iface)) v.trackInterfaces.push({ ...t });
      for (const t of gs.trackFiles) if (!v.trackFiles.some((x) => x.name === t.name)) v.trackFiles.push({ ...t });
      d.weighted.push(...gt.draft.weighted);
    }
    dropWeights(ctx, d, v, gt !== undefined && !gt.weights);
    v.notifyUser ??= scriptUser;
    v.scriptSecurity = security;
    if (names.has(v.name)) {
      ctx.error(d.node, `vrrp_instance ${v.name} is defined twice - ignoring this one`);
      continue;
    }
    names.add(v.name);
    cfg.vrrpInstances.push(v);
    // keepalived's strict mode also means no_accept: a firewall rule drops traffic to the
    // addresses of a non-owner. An LVS director serves its VIPs, so lvsd installs none.
    const sAt = v.strict && v.priority !== 255 ? (d.strictNode ?? strictAt) : undefined;
    if (sAt && !strictWarned.has(sAt)) {
      strictWarned.add(sAt);
      ctx.warn(sAt, `'${sAt.kw}' is not acted on by lvsd for no_accept: no firewall rule drops traffic to the virtual addresses (the director serves them); the other strict-mode rules apply`);
    }
  }
  if (cfg.syncDaemon && !cfg.syncDaemon.iface) {
    diags.warn(authAt ?? { file: mainFile, line: 0 }, 'lvs_sync_auth without lvs_sync_daemon: no sync daemon runs');
    cfg.syncDaemon = undefined;
  }
  if (cfg.syncDaemon?.instance && !names.has(cfg.syncDaemon.instance)) {
    diags.warn(syncAt ?? { file: mainFile, line: 0 }, `lvs_sync_daemon: vrrp_instance '${cfg.syncDaemon.instance}' is not defined; the daemon runs as backup`);
  }
  for (const g of cfg.vrrpSyncGroups) {
    for (const name of g.group) {
      if (!names.has(name)) diags.warn(groupAt.get(g) ?? { file: mainFile, line: 0 }, `vrrp_sync_group ${g.name}: instance '${name}' is not defined`);
    }
    const members = g.group.filter((m) => names.has(m)).length;
    if (members === 0) diags.warn(groupAt.get(g) ?? { file: mainFile, line: 0 }, `Sync group ${g.name} has no virtual router(s). removing`);
    else if (members === 1) diags.warn(groupAt.get(g) ?? { file: mainFile, line: 0 }, `Sync group ${g.name} has only 1 virtual router(s) - this probably isn't what you want`);
    g.notifyUser ??= g.notify || g.notifyMaster || g.notifyBackup || g.notifyFault || g.notifyStop ? scriptUser : undefined;
    if (g.notifyUser === undefined) delete g.notifyUser;
  }
  sortDiagnostics(diags.list);
  cfg.warnings = diags.list.map(formatDiagnostic);
  return cfg;
}
