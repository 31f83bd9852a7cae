/**
 * ipvsadm's command line, parsed into control-protocol Commands (src/ipvs/command.ts).
 *
 * Why hand-written and not a generic argument library: ipvsadm parses with popt and its
 * behaviour is part of the interface scripts depend on, and generic parsers differ in each
 * of these points:
 *  - `-p [timeout]` has an OPTIONAL argument (POPT_ARGFLAG_OPTIONAL) that is taken from the
 *    next word only when that word is a timeout, so `-p -M 255.255.255.0` and `-p 600` both work;
 *  - short options group as in popt: `-Ln`, `-At 1.2.3.4:80`, and an option with an argument
 *    takes the rest of its group as the argument (`-t1.2.3.4:80`, `-w0`);
 *  - the validity of an option depends on the command, per ipvsadm's commands_v_options table
 *    ('+' compulsory, 'x' illegal, '1' mutually exclusive), with ipvsadm's own error texts;
 *  - `--set tcp tcpfin udp` takes three positional words.
 * Sources: ipvsadm.c (parse_options, process_options, generic_opt_check, parse_service,
 * string_to_number, parse_timeout), ipvsadm(8).
 *
 * Differences from ipvsadm, all in the direction of accepting more or failing earlier:
 *  - the command option may appear anywhere, not only first;
 *  - `-r` is resolved after all options, so `-r host:name` may precede `-t`;
 *  - a real server of a gatewaying/tunneling destination with a port different from the
 *    virtual port is an error (ipvsadm silently replaces the port by the virtual port);
 *  - `-E` and `-e` send only the fields given (ipvsadm resets the others to defaults).
 * Host and port names come from /etc/hosts and /etc/services only (no DNS).
 */
import { readFileSync } from 'node:fs';
import type { Command, DestSpec, FwdName, ProtoName, ServiceKey, ServiceSpec } from '../ipvs/command';
import { LvsadmError, usageError } from './errors';

// ---------------------------------------------------------------------------------------------
// Names: /etc/hosts and /etc/services

/** Name lookups used for parsing (name → value) and for listings without -n (value → name). */
export interface NameDb {
  hostToAddr(name: string): string | undefined;
  addrToHost(addr: string): string | undefined;
  serviceToPort(name: string, proto: ProtoName): number | undefined;
  portToService(port: number, proto: ProtoName): string | undefined;
}

/** A NameDb over the texts of a hosts(5) and a services(5) file. First entry wins, as in libc. */
export function namesFrom(hostsText: string, servicesText: string): NameDb {
  const byName = new Map<string, string>();
  const byAddr = new Map<string, string>();
  for (const fields of tableLines(hostsText)) {
    const [addr, ...hostNames] = fields;
    if (addr === undefined || parseDottedQuad(addr) === undefined || hostNames.length === 0) continue;
    if (!byAddr.has(addr)) byAddr.set(addr, hostNames[0]);
    for (const n of hostNames) if (!byName.has(n)) byName.set(n, addr);
  }
  const portByName = new Map<string, number>();
  const nameByPort = new Map<string, string>();
  for (const fields of tableLines(servicesText)) {
    const [canonical, portProto, ...aliases] = fields;
    const m = /^(\d+)\/(tcp|udp)$/.exec(portProto ?? '');
    if (canonical === undefined || !m) continue;
    const port = Number(m[1]);
    if (port > 65535) continue;
    const key = `${port}/${m[2]}`;
    if (!nameByPort.has(key)) nameByPort.set(key, canonical);
    for (const n of [canonical, ...aliases]) {
      const nk = `${n}/${m[2]}`;
      if (!portByName.has(nk)) portByName.set(nk, port);
    }
  }
  return {
    hostToAddr: (name) => byName.get(name),
    addrToHost: (addr) => byAddr.get(addr),
    serviceToPort: (name, proto) => portByName.get(`${name}/${proto}`),
    portToService: (port, proto) => nameByPort.get(`${port}/${proto}`),
  };
}

/** Non-comment lines of a hosts/services style file, split into whitespace-separated fields. */
function tableLines(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    const line = hash >= 0 ? raw.slice(0, hash) : raw;
    const fields = line.trim().split(/\s+/).filter((f) => f.length > 0);
    if (fields.length > 0) out.push(fields);
  }
  return out;
}

let systemDb: NameDb | undefined;

/** /etc/hosts and /etc/services of this machine, read once; a missing file counts as empty. */
export function systemNames(): NameDb {
  if (!systemDb) systemDb = namesFrom(readOr('/etc/hosts'), readOr('/etc/services'));
  return systemDb;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Strict dotted quad → canonical text, or undefined. */
export function parseDottedQuad(text: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1, 5).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.join('.');
}

/** Dotted quad → unsigned 32-bit number (for sorting). */
export function addrToNumber(addr: string): number {
  const p = addr.split('.').map(Number);
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

// ---------------------------------------------------------------------------------------------
// Parsed forms

/** Listing options (-L/-l). */
export interface ListOpts {
  numeric: boolean;
  connection: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  exact: boolean;
  timeout: boolean;
  daemon: boolean;
  nosort: boolean;
}

export function defaultListOpts(): ListOpts {
  return {
    numeric: false,
    connection: false,
    stats: false,
    rate: false,
    thresholds: false,
    persistentConn: false,
    exact: false,
    timeout: false,
    daemon: false,
    nosort: false,
  };
}

/** `socket` is set when --socket PATH was given. */
export type ParsedInvocation = (
  | { kind: 'commands'; commands: Command[] }
  | { kind: 'list'; service?: ServiceKey; opts: ListOpts }
  | { kind: 'save'; numeric: boolean }
  | { kind: 'restore' }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'status' }
  | { kind: 'sysctl' }
) & { socket?: string };

// ---------------------------------------------------------------------------------------------
// Commands and options, in ipvsadm's order and with ipvsadm's names (used in messages)

const CMDS = [
  'add-service',
  'edit-service',
  'delete-service',
  'flush',
  'list',
  'add-server',
  'delete-server',
  'edit-server',
  'set',
  'start-daemon',
  'stop-daemon',
  'restore',
  'save',
  'zero',
  // lvsadm's own
  'help',
  'version',
  'status',
  'sysctl',
] as const;
type Cmd = (typeof CMDS)[number];

const OPTS = [
  'numeric',
  'connection',
  'service-address',
  'scheduler',
  'persistent',
  'netmask',
  'real-server',
  'forwarding-method',
  'weight',
  'u-threshold',
  'l-threshold',
  'mcast-interface',
  'timeout',
  'daemon',
  'stats',
  'rate',
  'thresholds',
  'persistent-conn',
  'nosort',
  'syncid',
  'exact',
  'ops',
  'sched-flags',
] as const;
type Opt = (typeof OPTS)[number];

/**
 * commands_v_options of ipvsadm.c, one column per entry of OPTS:
 * '+' compulsory, 'x' illegal, '1' at most one of the '1' options, ' ' optional.
 * The sched-flags column is as in ipvsadm ≥ 1.28 (optional only with -A/-E).
 */
//                          -n   -c   svc  -s   -p   -M   -r   fwd  -w   -x   -y   mc   tot  dmn  st   rt   thr  pc   srt  sid  ex   ops  -b
const COMPAT: Record<Cmd, string> = {
  'add-service':    /* */ 'xx+   xxxxxxxxxxxxxxx  ',
  'edit-service':   /* */ 'xx+   xxxxxxxxxxxxxxx  ',
  'delete-service': /* */ 'xx+xxxxxxxxxxxxxxxxxxxx',
  flush:            /* */ 'xxxxxxxxxxxxxxxxxxxxxxx',
  list:             /* */ ' 11xxxxxxxxx11       xx',
  'add-server':     /* */ 'xx+xxx+    xxxxxxxxxxxx',
  'delete-server':  /* */ 'xx+xxx+xxxxxxxxxxxxxxxx',
  'edit-server':    /* */ 'xx+xxx+    xxxxxxxxxxxx',
  set:              /* */ 'xxxxxxxxxxxxxxxxxxxxxxx',
  'start-daemon':   /* */ 'xxxxxxxxxxx xxxxxxx xxx',
  'stop-daemon':    /* */ 'xxxxxxxxxxxxxxxxxxx xxx',
  restore:          /* */ 'xxxxxxxxxxxxxxxxxxxxxxx',
  save:             /* */ ' xxxxxxxxxxxxxxxxxxxxxx',
  zero:             /* */ 'xx xxxxxxxxxxxxxxxxxxxx',
  help:             /* */ 'xxxxxxxxxxxxxxxxxxxxxxx',
  version:          /* */ 'xxxxxxxxxxxxxxxxxxxxxxx',
  status:           /* */ 'xxxxxxxxxxxxxxxxxxxxxxx',
  sysctl:           /* */ 'xxxxxxxxxxxxxxxxxxxxxxx',
};

type ArgKind = 'none' | 'required' | 'optional';

interface OptionDef {
  long: string;
  short?: string;
  arg: ArgKind;
  /** The command this option selects. */
  cmd?: Cmd;
  /** The option bit it sets (for COMPAT and "multiple ... options"). */
  opt?: Opt;
  /** Stores the argument; runs in argv order. */
  apply?: (st: State, value: string | undefined) => void;
}

/** Parser state, filled while walking argv. */
interface State {
  cmd?: Cmd;
  opts: Set<Opt>;
  names: NameDb;
  proto?: ProtoName;
  serviceArg?: string;
  fwmark?: number;
  scheduler?: string;
  persistent?: number;
  netmask?: string;
  schedFlags?: string[];
  ops: boolean;
  serverArg?: string;
  fwd?: FwdName;
  weight?: number;
  upper?: number;
  lower?: number;
  list: ListOpts;
  socket?: string;
  positional: string[];
}

/** Maximum timeout ipvsadm accepts: MAX_TIMEOUT = 86400*31 (31 days). */
export const MAX_TIMEOUT = 86400 * 31;
/** IPVS_SVC_PERSISTENT_TIMEOUT: -p without a value. */
export const DEFAULT_PERSISTENT_TIMEOUT = 300;
/** DEF_SCHED */
export const DEFAULT_SCHEDULER = 'wlc';
const INT_MAX = 2147483647;

/** Scheduler flags ipvsadm ≥ 1.28 accepts for -b. */
const SCHED_FLAGS = new Set(['flag-1', 'flag-2', 'flag-3', 'sh-fallback', 'sh-port', 'mh-fallback', 'mh-port']);

/** ipvsadm's string_to_number: whole decimal string within [min, max], else undefined. */
function toNumber(text: string, min: number, max: number): number | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

function timeoutValue(text: string, min: number): number {
  const n = toNumber(text, min, MAX_TIMEOUT);
  if (n === undefined) throw usageError(`invalid timeout value \`${text}' specified`);
  return n;
}

const setFwd = (fwd: FwdName) => (st: State) => {
  st.fwd = fwd;
};
const listFlag = (key: keyof ListOpts) => (st: State) => {
  st.list[key] = true;
};
const unsupported = (what: string) => () => {
  throw new LvsadmError('EUNSUPPORTED', `${what} is not supported by lvsd yet`);
};

/** Every option of ipvsadm (popt table of ipvsadm.c) plus lvsadm's own. */
const OPTION_TABLE: readonly OptionDef[] = [
  // commands
  { long: 'add-service', short: 'A', arg: 'none', cmd: 'add-service' },
  { long: 'edit-service', short: 'E', arg: 'none', cmd: 'edit-service' },
  { long: 'delete-service', short: 'D', arg: 'none', cmd: 'delete-service' },
  { long: 'clear', short: 'C', arg: 'none', cmd: 'flush' },
  { long: 'list', short: 'L', arg: 'none', cmd: 'list' },
  { long: 'list', short: 'l', arg: 'none', cmd: 'list' },
  { long: 'zero', short: 'Z', arg: 'none', cmd: 'zero' },
  { long: 'add-server', short: 'a', arg: 'none', cmd: 'add-server' },
  { long: 'edit-server', short: 'e', arg: 'none', cmd: 'edit-server' },
  { long: 'delete-server', short: 'd', arg: 'none', cmd: 'delete-server' },
  { long: 'set', arg: 'none', cmd: 'set' },
  { long: 'help', short: 'h', arg: 'none', cmd: 'help' },
  { long: 'version', short: 'v', arg: 'none', cmd: 'version' },
  { long: 'restore', short: 'R', arg: 'none', cmd: 'restore' },
  { long: 'save', short: 'S', arg: 'none', cmd: 'save' },
  { long: 'start-daemon', arg: 'required', cmd: 'start-daemon', apply: unsupported('the connection sync daemon') },
  { long: 'stop-daemon', arg: 'required', cmd: 'stop-daemon', apply: unsupported('the connection sync daemon') },
  { long: 'status', arg: 'none', cmd: 'status' },
  { long: 'drops', arg: 'none', cmd: 'status' },
  { long: 'sysctl', arg: 'none', cmd: 'sysctl' },
  // options
  {
    long: 'tcp-service', short: 't', arg: 'required', opt: 'service-address',
    apply: (st, v) => { st.proto = 'tcp'; st.serviceArg = v; },
  },
  {
    long: 'udp-service', short: 'u', arg: 'required', opt: 'service-address',
    apply: (st, v) => { st.proto = 'udp'; st.serviceArg = v; },
  },
  {
    long: 'fwmark-service', short: 'f', arg: 'required', opt: 'service-address',
    apply: (st, v) => {
      const text = v ?? '';
      const mark = toNumber(text, 1, 0xffffffff);
      if (mark === undefined) throw usageError(`invalid fwmark value \`${text}' specified`);
      st.fwmark = mark;
      st.serviceArg = text;
    },
  },
  { long: 'ipv6', short: '6', arg: 'none', apply: unsupported('IPv6 (-6)') },
  { long: 'scheduler', short: 's', arg: 'required', opt: 'scheduler', apply: (st, v) => { st.scheduler = v; } },
  {
    long: 'persistent', short: 'p', arg: 'optional', opt: 'persistent',
    apply: (st, v) => { st.persistent = v === undefined ? DEFAULT_PERSISTENT_TIMEOUT : timeoutValue(v, 1); },
  },
  {
    long: 'netmask', short: 'M', arg: 'required', opt: 'netmask',
    apply: (st, v) => {
      const mask = parseDottedQuad(v ?? '') ?? st.names.hostToAddr(v ?? '');
      if (mask === undefined) throw usageError('illegal virtual server persistent mask specified');
      st.netmask = mask;
    },
  },
  {
    long: 'sched-flags', short: 'b', arg: 'required', opt: 'sched-flags',
    apply: (st, v) => {
      const flags = (v ?? '').split(',');
      for (const f of flags) if (!SCHED_FLAGS.has(f)) throw usageError(`invalid scheduler flag \`${f}'`);
      st.schedFlags = flags;
    },
  },
  { long: 'real-server', short: 'r', arg: 'required', opt: 'real-server', apply: (st, v) => { st.serverArg = v; } },
  { long: 'gatewaying', short: 'g', arg: 'none', opt: 'forwarding-method', apply: setFwd('route') },
  { long: 'ipip', short: 'i', arg: 'none', opt: 'forwarding-method', apply: setFwd('tunnel') },
  { long: 'masquerading', short: 'm', arg: 'none', opt: 'forwarding-method', apply: setFwd('masq') },
  {
    long: 'weight', short: 'w', arg: 'required', opt: 'weight',
    apply: (st, v) => {
      st.weight = toNumber(v ?? '', 0, 65535);
      if (st.weight === undefined) throw usageError('illegal weight specified');
    },
  },
  {
    long: 'u-threshold', short: 'x', arg: 'required', opt: 'u-threshold',
    apply: (st, v) => {
      st.upper = toNumber(v ?? '', 0, INT_MAX);
      if (st.upper === undefined) throw usageError('illegal u_threshold specified');
    },
  },
  {
    long: 'l-threshold', short: 'y', arg: 'required', opt: 'l-threshold',
    apply: (st, v) => {
      st.lower = toNumber(v ?? '', 0, INT_MAX);
      if (st.lower === undefined) throw usageError('illegal l_threshold specified');
    },
  },
  { long: 'numeric', short: 'n', arg: 'none', opt: 'numeric', apply: listFlag('numeric') },
  { long: 'connection', short: 'c', arg: 'none', opt: 'connection', apply: listFlag('connection') },
  { long: 'mcast-interface', arg: 'required', opt: 'mcast-interface' },
  { long: 'syncid', arg: 'required', opt: 'syncid' },
  { long: 'timeout', arg: 'none', opt: 'timeout', apply: listFlag('timeout') },
  { long: 'daemon', arg: 'none', opt: 'daemon', apply: listFlag('daemon') },
  { long: 'stats', arg: 'none', opt: 'stats', apply: listFlag('stats') },
  { long: 'rate', arg: 'none', opt: 'rate', apply: listFlag('rate') },
  { long: 'thresholds', arg: 'none', opt: 'thresholds', apply: listFlag('thresholds') },
  { long: 'persistent-conn', arg: 'none', opt: 'persistent-conn', apply: listFlag('persistentConn') },
  { long: 'nosort', arg: 'none', opt: 'nosort', apply: listFlag('nosort') },
  /** Sorting is the default; --sort is accepted for compatibility and does nothing. */
  { long: 'sort', arg: 'none' },
  { long: 'exact', short: 'X', arg: 'none', opt: 'exact', apply: listFlag('exact') },
  { long: 'ops', short: 'o', arg: 'none', opt: 'ops', apply: (st) => { st.ops = true; } },
  // lvsadm's own
  { long: 'socket', arg: 'required', apply: (st, v) => { st.socket = v; } },
];

const BY_LONG = new Map<string, OptionDef>(OPTION_TABLE.map((d) => [d.long, d]));
const BY_SHORT = new Map<string, OptionDef>(
  OPTION_TABLE.filter((d) => d.short !== undefined).map((d) => [d.short as string, d]),
);

/** Error in popt's form "<option as typed>: <popt error text>". */
function poptError(typed: string, what: 'unknown option' | 'missing argument' | 'option does not take an argument') {
  return new LvsadmError('EBADOPT', `${typed}: ${what}`);
}

/** A word that -p takes as its optional timeout. */
const TIMEOUT_WORD = /^\d+$/;

// ---------------------------------------------------------------------------------------------
// The walk over argv (popt semantics)

function applyOption(st: State, def: OptionDef, value: string | undefined): void {
  if (def.cmd) {
    if (st.cmd !== undefined) throw usageError('multiple commands specified');
    st.cmd = def.cmd;
  }
  if (def.opt) {
    if (st.opts.has(def.opt)) throw usageError(`multiple '${def.opt}' options specified`);
    st.opts.add(def.opt);
  }
  def.apply?.(st, value);
}

function walk(argv: readonly string[], st: State): void {
  let i = 0;
  let onlyPositional = false;
  const next = (): string | undefined => (i < argv.length ? argv[i++] : undefined);
  while (i < argv.length) {
    const word = argv[i++];
    if (onlyPositional || word === '-' || !word.startsWith('-')) {
      st.positional.push(word);
      continue;
    }
    if (word === '--') {
      onlyPositional = true;
      continue;
    }
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = eq >= 0 ? word.slice(2, eq) : word.slice(2);
      const typed = eq >= 0 ? word.slice(0, eq) : word;
      const def = BY_LONG.get(name);
      if (!def) throw poptError(typed, 'unknown option');
      let value: string | undefined = eq >= 0 ? word.slice(eq + 1) : undefined;
      if (def.arg === 'none' && value !== undefined) throw poptError(typed, 'option does not take an argument');
      if (def.arg === 'required' && value === undefined) {
        value = next();
        if (value === undefined) throw poptError(typed, 'missing argument');
      }
      if (def.arg === 'optional' && value === undefined && i < argv.length && TIMEOUT_WORD.test(argv[i])) {
        value = next();
      }
      applyOption(st, def, value);
      continue;
    }
    // A group of short options: each letter an option; one with an argument ends the group
    // and takes the rest of it, or else the next word.
    for (let k = 1; k < word.length; k++) {
      const letter = word[k];
      const def = BY_SHORT.get(letter);
      if (!def) throw poptError(`-${letter}`, 'unknown option');
      if (def.arg === 'none') {
        applyOption(st, def, undefined);
        continue;
      }
      const rest = word.slice(k + 1);
      let value: string | undefined = rest.length > 0 ? rest : undefined;
      if (value === undefined) {
        if (def.arg === 'required') {
          value = next();
          if (value === undefined) throw poptError(`-${letter}`, 'missing argument');
        } else if (i < argv.length && TIMEOUT_WORD.test(argv[i])) {
          value = next();
        }
      }
      applyOption(st, def, value);
      break;
    }
  }
}

/** Enforces commands_v_options; messages as ipvsadm's generic_opt_check. */
function checkCompat(cmd: Cmd, opts: Set<Opt>): void {
  const row = COMPAT[cmd];
  let firstExclusive: Opt | undefined;
  OPTS.forEach((opt, j) => {
    const rule = row[j];
    if (!opts.has(opt)) {
      if (rule === '+') throw usageError(`You need to supply the '${opt}' option for the '${cmd}' command`);
      return;
    }
    if (rule === 'x') throw usageError(`Illegal '${opt}' option with the '${cmd}' command`);
    if (rule === '1') {
      if (firstExclusive === undefined) firstExclusive = opt;
      else throw usageError(`The option '${opt}' conflicts with the '${firstExclusive}' option in the '${cmd}' command`);
    }
  });
}

/**
 * host[:port] as ipvsadm's parse_service: the host is a dotted quad or an /etc/hosts name,
 * the port a number 0..65535 or an /etc/services name for the protocol. An all-digit word is
 * rejected (it is neither). Returns undefined where ipvsadm returns SERVICE_NONE.
 */
function parseHostPort(text: string, proto: ProtoName, names: NameDb): { addr: string; port?: number } | undefined {
  if (text.length === 0 || /^\d+$/.test(text)) return undefined;
  const colon = text.lastIndexOf(':');
  const host = colon >= 0 ? text.slice(0, colon) : text;
  const addr = parseDottedQuad(host) ?? names.hostToAddr(host);
  if (addr === undefined) return undefined;
  if (colon < 0) return { addr };
  const portText = text.slice(colon + 1);
  const port = toNumber(portText, 0, 65535) ?? names.serviceToPort(portText, proto);
  if (port === undefined) return undefined;
  return { addr, port };
}

function serviceKey(st: State): ServiceKey {
  // -f: as ipvsadm fills the entry, protocol TCP (unused), address 0, port 0.
  if (st.fwmark !== undefined) return { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: st.fwmark };
  const proto = st.proto ?? 'tcp';
  const hp = parseHostPort(st.serviceArg ?? '', proto, st.names);
  if (!hp) throw usageError('illegal virtual server address[:port] specified');
  return { proto, addr: hp.addr, port: hp.port ?? 0 };
}

function serviceSpec(st: State, cmd: 'add-service' | 'edit-service'): ServiceSpec {
  const key = serviceKey(st);
  if (key.fwmark === undefined && key.port === 0 && st.persistent === undefined) {
    throw usageError('Zero port specified for non-persistent service');
  }
  if (st.ops && key.proto !== 'udp' && key.fwmark === undefined) throw usageError('One-Packet Scheduling is only for UDP virtual services');
  const spec: ServiceSpec = { ...key };
  // -A gets ipvsadm's defaults; -E sends only what was given (unset = keep, see command.ts).
  if (st.scheduler !== undefined || cmd === 'add-service') spec.scheduler = st.scheduler ?? DEFAULT_SCHEDULER;
  if (st.persistent !== undefined) spec.persistent = st.persistent;
  if (st.netmask !== undefined) spec.netmask = st.netmask;
  if (st.schedFlags !== undefined) spec.schedFlags = st.schedFlags;
  if (st.ops) spec.ops = true;
  return spec;
}

function serverAddr(st: State, svc: ServiceKey): { addr: string; port: number; portGiven: boolean } {
  const hp = parseHostPort(st.serverArg ?? '', svc.proto, st.names);
  if (!hp) throw usageError('illegal real server address[:port] specified');
  return { addr: hp.addr, port: hp.port ?? svc.port, portGiven: hp.port !== undefined };
}

function destSpec(st: State, svc: ServiceKey, cmd: 'add-server' | 'edit-server'): DestSpec {
  const server = serverAddr(st, svc);
  const fwd = st.fwd ?? (cmd === 'add-server' ? 'route' : undefined);
  // Only NAT rewrites the port; gatewaying and tunneling deliver to the virtual port.
  if (fwd !== undefined && fwd !== 'masq' && server.portGiven && server.port !== svc.port) {
    throw usageError(
      `illegal real server port ${server.port} for ${fwd === 'route' ? 'gatewaying' : 'tunneling'}: ` +
        `only masquerading (-m) can map virtual port ${svc.port} to another port`,
    );
  }
  const dest: DestSpec = { addr: server.addr, port: server.port };
  if (cmd === 'add-server') {
    dest.fwd = fwd;
    dest.weight = st.weight ?? 1;
  } else {
    if (fwd !== undefined) dest.fwd = fwd;
    if (st.weight !== undefined) dest.weight = st.weight;
  }
  if (st.upper !== undefined) dest.upper = st.upper;
  if (st.lower !== undefined) dest.lower = st.lower;
  return dest;
}

/** Builds the invocation for a command once argv is walked and COMPAT is satisfied. */
const BUILD: Record<Cmd, (st: State) => ParsedInvocation> = {
  'add-service': (st) => ({ kind: 'commands', commands: [{ op: 'add-service', service: serviceSpec(st, 'add-service') }] }),
  'edit-service': (st) => ({ kind: 'commands', commands: [{ op: 'edit-service', service: serviceSpec(st, 'edit-service') }] }),
  'delete-service': (st) => ({ kind: 'commands', commands: [{ op: 'delete-service', service: serviceKey(st) }] }),
  flush: () => ({ kind: 'commands', commands: [{ op: 'clear' }] }),
  list: (st) => {
    const l = st.list;
    if ((l.connection || l.timeout || l.daemon) && (l.stats || l.persistentConn || l.rate || l.thresholds)) {
      throw usageError('options conflicts in the list command');
    }
    return st.serviceArg !== undefined
      ? { kind: 'list', service: serviceKey(st), opts: l }
      : { kind: 'list', opts: l };
  },
  'add-server': (st) => {
    const service = serviceKey(st);
    return { kind: 'commands', commands: [{ op: 'add-server', service, dest: destSpec(st, service, 'add-server') }] };
  },
  'edit-server': (st) => {
    const service = serviceKey(st);
    return { kind: 'commands', commands: [{ op: 'edit-server', service, dest: destSpec(st, service, 'edit-server') }] };
  },
  'delete-server': (st) => {
    const service = serviceKey(st);
    const { addr, port } = serverAddr(st, service);
    return { kind: 'commands', commands: [{ op: 'delete-server', service, dest: { addr, port } }] };
  },
  set: (st) => {
    if (st.positional.length < 3) throw usageError('--set option requires 3 timeout values');
    const [tcp, tcpfin, udp] = st.positional.splice(0, 3).map((w) => timeoutValue(w, 0));
    return { kind: 'commands', commands: [{ op: 'set-timeout', tcp, tcpfin, udp }] };
  },
  'start-daemon': unsupported('the connection sync daemon'),
  'stop-daemon': unsupported('the connection sync daemon'),
  restore: () => ({ kind: 'restore' }),
  save: (st) => ({ kind: 'save', numeric: st.list.numeric }),
  zero: (st) =>
    st.serviceArg !== undefined
      ? { kind: 'commands', commands: [{ op: 'zero', service: serviceKey(st) }] }
      : { kind: 'commands', commands: [{ op: 'zero' }] },
  help: () => ({ kind: 'help' }),
  version: () => ({ kind: 'version' }),
  status: () => ({ kind: 'status' }),
  sysctl: (st) => {
    if (st.positional.length === 0) return { kind: 'sysctl' };
    const commands: Command[] = st.positional.splice(0).map((w) => {
      const m = /^([a-z_.0-9]+)=(\d+)$/.exec(w);
      if (!m) throw usageError(`invalid sysctl setting \`${w}' (expected NAME=VALUE)`);
      return { op: 'set-sysctl', name: m[1].replace(/^net\.ipv4\.vs\./, ''), value: Number(m[2]) };
    });
    return { kind: 'commands', commands };
  },
};

/**
 * Parses lvsadm/ipvsadm arguments (without the program name). An empty argv lists the table,
 * as ipvsadm without arguments does. Throws LvsadmError (see errors.ts for codes and exit
 * statuses) on anything ipvsadm would reject.
 */
export function parseArgs(argv: readonly string[], names: NameDb = systemNames()): ParsedInvocation {
  const st: State = { opts: new Set(), names, ops: false, list: defaultListOpts(), positional: [] };
  walk(argv, st);
  if (st.cmd === undefined) {
    if (argv.length === 0 || (st.socket !== undefined && st.opts.size === 0 && st.positional.length === 0)) {
      st.cmd = 'list';
    } else {
      throw new LvsadmError('EBADOPT', "no command specified; try `lvsadm -h' or 'lvsadm --help' for more information.");
    }
  }
  checkCompat(st.cmd, st.opts);
  const parsed = BUILD[st.cmd](st);
  if (st.positional.length > 0) throw usageError(`unexpected argument ${st.positional[0]}`);
  if (st.socket !== undefined) parsed.socket = st.socket;
  return parsed;
}

/** The usage text printed by -h (to stdout, exit 0). */
/** Every option of the parser's table (long name, short letter), for checking the usage text. */
export function optionNames(): ReadonlyArray<{ long: string; short?: string }> {
  return OPTION_TABLE.map((d) => ({ long: d.long, short: d.short }));
}

export function usageText(program = 'lvsadm'): string {
  const p = program;
  return [
    `Usage:`,
    `  ${p} -A|E -t|u|f service-address [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags] [-o]`,
    `  ${p} -D -t|u|f service-address`,
    `  ${p} -C`,
    `  ${p} -R`,
    `  ${p} -S [-n]`,
    `  ${p} -a|e -t|u|f service-address -r server-address [options]`,
    `  ${p} -d -t|u|f service-address -r server-address`,
    `  ${p} -L|l [-t|u|f service-address] [options]`,
    `  ${p} -Z [-t|u|f service-address]`,
    `  ${p} --set tcp tcpfin udp`,
    `  ${p} --start-daemon {master|backup} --mcast-interface interface [--syncid sid]`,
    `        [--mcast-group address] [--mcast-port port] [--mcast-ttl ttl]`,
    `  ${p} --stop-daemon {master|backup}`,
    `  ${p} --status`,
    `  ${p} --sysctl [NAME=VALUE ...]`,
    `  ${p} --checks`,
    `  ${p} --vrrp`,
    `  ${p} --drain -t|u service-address -r server-address [--deadline seconds]`,
    `  ${p} -h`,
    ``,
    `Commands:`,
    `Either long or short options are allowed.`,
    `  --add-service     -A        add virtual service with options`,
    `  --edit-service    -E        edit virtual service with options`,
    `  --delete-service  -D        delete virtual service`,
    `  --clear           -C        clear the whole table`,
    `  --restore         -R        restore rules from stdin`,
    `  --save            -S        save rules to stdout`,
    `  --add-server      -a        add real server with options`,
    `  --edit-server     -e        edit real server with options`,
    `  --delete-server   -d        delete real server`,
    `  --list            -L|-l     list the table`,
    `  --zero            -Z        zero counters in a service or all services`,
    `  --set tcp tcpfin udp        set connection timeout values`,
    `  --start-daemon              start connection sync daemon`,
    `  --stop-daemon               stop connection sync daemon`,
    `  --status, --drops           show daemon status and drop counters (lvsd)`,
    `  --sysctl [NAME=VALUE ...]   list or set knobs (lvsd; docs/KNOBS.md)`,
    `  --checks                    show health checker states (lvsd -f keepalived.conf)`,
    `  --vrrp                      show VRRP instance states (lvsd -f keepalived.conf)`,
    `  --drain                     weight 0, wait for the real server's connections to end, delete it`,
    `  --help            -h        display this help message`,
    `  --version         -v        display the version`,
    ``,
    `Options:`,
    `  --tcp-service  -t service-address   service-address is host[:port]`,
    `  --udp-service  -u service-address   service-address is host[:port]`,
    `  --fwmark-service  -f fwmark         fwmark is an integer greater than zero`,
    `  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|twos,`,
    `                                      the default scheduler is ${DEFAULT_SCHEDULER}.`,
    `  --persistent   -p [timeout]         persistent service (default ${DEFAULT_PERSISTENT_TIMEOUT} s)`,
    `  --netmask      -M netmask           persistent granularity mask`,
    `  --sched-flags  -b flags             scheduler flags (comma-separated)`,
    `  --real-server  -r server-address    server-address is host (and port)`,
    `  --gatewaying   -g                   gatewaying (direct routing) (default)`,
    `  --ipip         -i                   ipip encapsulation (tunneling)`,
    `  --masquerading -m                   masquerading (NAT)`,
    `  --weight       -w weight            capacity of real server`,
    `  --u-threshold  -x uthreshold        upper threshold of connections`,
    `  --l-threshold  -y lthreshold        lower threshold of connections`,
    `  --connection   -c                   output of current IPVS connections`,
    `  --timeout                           output of timeout (tcp tcpfin udp)`,
    `  --daemon                            output of daemon information`,
    `  --stats                             output of statistics information`,
    `  --rate                              output of rate information`,
    `  --exact        -X                   expand numbers (display exact values)`,
    `  --thresholds                        output of thresholds information`,
    `  --persistent-conn                   output of persistent connection info`,
    `  --nosort                            disable sorting output of service/server entries`,
    `  --sort                              does nothing, for backwards compatibility`,
    `  --ops          -o                   one-packet scheduling`,
    `  --numeric      -n                   numeric output of addresses and ports`,
    `  --ipv6         -6                   fwmark uses IPv6 (not supported by lvsd: an error)`,
    `  --mcast-interface interface         multicast interface for connection sync`,
    `  --syncid sid                        syncid for connection sync, 0..255 (default 0: a backup takes all)`,
    `  --mcast-group address               IPv4 multicast group for connection sync`,
    `  --mcast-port port                   UDP port for connection sync (default 8848)`,
    `  --mcast-ttl ttl                     multicast TTL for connection sync (default 1)`,
    `  --deadline seconds                  --drain: delete the server after this long anyway (default 300)`,
    `  --socket PATH                       control socket of lvsd (default $LVSD_SOCKET or /run/lvsd/lvsd.sock)`,
    ``,
  ].join('\n');
}
