/**
 * ipvsadm's listing formats, byte for byte, as pure functions of control-protocol snapshots.
 * Source of every format string: ipvsadm.c (print_title, print_service_entry, print_largenum,
 * list_conn/print_conn, list_timeout, list_all). The C format each line imitates is quoted
 * next to it. Without `numeric`, addresses and ports are printed as names from /etc/hosts and
 * /etc/services where they resolve (NameDb); no DNS is consulted, so a listing never waits on
 * the network.
 */
import type { ConnInfo, DestInfo, FwdName, ProtoName, ServiceInfo, StatusInfo, TimeoutInfo } from '../ipvs/command';
import { addrToNumber, type ListOpts, type NameDb, systemNames } from './ipvsadm-args';

/** The IPVS version ipvsadm prints in its header (IP_VS_VERSION_CODE 0x010201). */
export const IPVS_VERSION = '1.2.1';

/** printf("%-Ns"): pad on the right to at least `width`. */
export function padRight(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** printf("%Ns"): pad on the left to at least `width`. */
export function padLeft(text: string, width: number): string {
  return text.length >= width ? text : ' '.repeat(width - text.length) + text;
}

/** Whole, non-negative integer text of a counter (counters are integral doubles). */
function uint(n: number): string {
  return Math.max(0, Math.trunc(n)).toString();
}

/**
 * print_largenum: a counter in a 9-character field. Below 10^8 it prints whole ("%9llu");
 * above, it is divided and suffixed ("%8llu" + K|M|G|T) with the thresholds below.
 * --exact prints whole in a field of max(9, digits+1).
 */
const LARGENUM_STEPS: ReadonlyArray<{ below: number; divisor: number; suffix: string }> = [
  { below: 1e9, divisor: 1e3, suffix: 'K' },
  { below: 1e11, divisor: 1e6, suffix: 'M' },
  { below: 1e14, divisor: 1e9, suffix: 'G' },
  { below: Infinity, divisor: 1e12, suffix: 'T' },
];

export function formatLargeNum(n: number, exact: boolean): string {
  const v = Math.max(0, Math.trunc(n));
  if (exact) {
    const digits = uint(v);
    return padLeft(digits, digits.length <= 8 ? 9 : digits.length + 1);
  }
  if (v < 1e8) return padLeft(uint(v), 9);
  for (const step of LARGENUM_STEPS) {
    if (v < step.below) return padLeft(uint(Math.floor(v / step.divisor)), 8) + step.suffix;
  }
  /* unreachable: the last step has no upper bound */
  return padLeft(uint(v), 9);
}

/** fwd_name() of ipvsadm.c. */
const FWD_NAMES: Record<FwdName, string> = { masq: 'Masq', tunnel: 'Tunnel', route: 'Route' };
/** Protocol names as printed in listings. */
const PROTO_NAMES: Record<ProtoName | 'ip', string> = { tcp: 'TCP', udp: 'UDP', ip: 'IP' };
/** Protocol order of ipvs_cmp_services: by IP protocol number. */
const PROTO_NUMBERS: Record<ProtoName, number> = { tcp: 6, udp: 17 };

/** Options of the formatters: ListOpts of -L, plus whether one service was asked for. */
export type FormatOpts = Partial<ListOpts> & {
  /** -L -t svc: ipvsadm's list_service prints no version header. */
  oneService?: boolean;
};

/** addrport_to_anyname: "addr:port" with -n, else "host:service" where names resolve. */
export function addrPort(addr: string, port: number, proto: ProtoName | 'ip', numeric: boolean, names: NameDb): string {
  if (numeric) return `${addr}:${port}`;
  const service = proto === 'ip' ? undefined : names.portToService(port, proto);
  return `${names.addrToHost(addr) ?? addr}:${service ?? port}`;
}

/** ipvs_cmp_services: fwmark (so firewall-mark services follow the others), protocol, address, port. */
export function compareServices(a: ServiceInfo, b: ServiceInfo): number {
  return (
    (a.fwmark ?? 0) - (b.fwmark ?? 0) ||
    PROTO_NUMBERS[a.proto] - PROTO_NUMBERS[b.proto] ||
    addrToNumber(a.addr) - addrToNumber(b.addr) ||
    a.port - b.port
  );
}

/** ipvs_cmp_dests: address, port. */
export function compareDests(a: DestInfo, b: DestInfo): number {
  return addrToNumber(a.addr) - addrToNumber(b.addr) || a.port - b.port;
}

/** Services (and their dests) in the order ipvsadm prints them; `nosort` keeps table order. */
export function sortedServices(services: readonly ServiceInfo[], nosort: boolean): ServiceInfo[] {
  const out = services.map((s) => ({ ...s, dests: nosort ? s.dests.slice() : s.dests.slice().sort(compareDests) }));
  return nosort ? out : out.sort(compareServices);
}

/** The version line of -L (list_all). */
export function formatHeader(tableSize: number): string {
  return `IP Virtual Server version ${IPVS_VERSION} (size=${tableSize})\n`;
}

/** print_title */
function title(o: FormatOpts): string {
  const sub = '  -> RemoteAddress:Port\n';
  const first = padRight('Prot LocalAddress:Port', 33);
  if (o.stats) return `${first} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((h) => padLeft(h, 8)).join(' ')}\n${sub}`;
  if (o.rate) return `${first} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((h) => padLeft(h, 8)).join(' ')}\n${sub}`;
  if (o.thresholds) {
    return `${first} ${['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'].map((h) => padRight(h, 10)).join(' ')}\n${sub}`;
  }
  if (o.persistentConn) {
    return `${first} ${padRight('Weight', 9)} ${padRight('PersistConn', 11)} ${padRight('ActiveConn', 10)} ${padRight('InActConn', 10)}\n${sub}`;
  }
  return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
}

const FULL_MASK = '255.255.255.255';

/** print_service_entry: the service line and its destination lines. */
function serviceEntry(svc: ServiceInfo, o: FormatOpts, names: NameDb): string {
  const numeric = o.numeric ?? false;
  const exact = o.exact ?? false;
  // sprintf("FWM  %d"), or sprintf("%s  %s") truncated at 33 characters (svc_name[33] = '\0').
  const svcName = svc.fwmark
    ? `FWM  ${svc.fwmark}`
    : `${PROTO_NAMES[svc.proto]}  ${addrPort(svc.addr, svc.port, svc.proto, numeric, names)}`.slice(0, 33);
  let out: string;
  if (o.stats) {
    const s = svc.stats;
    out = padRight(svcName, 33) + [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes].map((n) => formatLargeNum(n, exact)).join('');
  } else if (o.rate) {
    const r = svc.rates;
    out = padRight(svcName, 33) + [r.conns, r.inpkts, r.outpkts, r.inbytes, r.outbytes].map((n) => formatLargeNum(n, exact)).join('');
  } else {
    out = `${svcName} ${svc.scheduler}`;
    if (svc.schedFlags.length > 0) out += ` (${svc.schedFlags.join(',')})`;
    if (svc.persistent !== undefined) {
      out += ` persistent ${uint(svc.persistent)}`;
      if (svc.netmask !== FULL_MASK) out += ` mask ${svc.netmask}`;
    }
    if (svc.ops) out += ' ops';
  }
  out += '\n';
  for (const d of svc.dests) {
    // dname[28] = '\0'
    const dname = padRight(addrPort(d.addr, d.port, svc.proto, numeric, names).slice(0, 28), 28);
    if (o.stats) {
      const s = d.stats;
      out += `  -> ${dname}${[s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes].map((n) => formatLargeNum(n, exact)).join('')}\n`;
    } else if (o.rate) {
      // "  -> %-28s %8u %8u %8u" then two largenums
      const r = d.rates;
      out += `  -> ${dname} ${[r.conns, r.inpkts, r.outpkts].map((n) => padLeft(uint(n), 8)).join(' ')}`;
      out += `${formatLargeNum(r.inbytes, exact)}${formatLargeNum(r.outbytes, exact)}\n`;
    } else if (o.thresholds) {
      // "  -> %-28s %-10u %-10u %-10u %-10u"
      out += `  -> ${dname} ${[d.upper, d.lower, d.activeConns, d.inactiveConns].map((n) => padRight(uint(n), 10)).join(' ')}\n`;
    } else if (o.persistentConn) {
      // "  -> %-28s %-9u %-11u %-10u %-10u"
      out += `  -> ${dname} ${padRight(uint(d.weight), 9)} ${padRight(uint(d.persistConns), 11)} `;
      out += `${padRight(uint(d.activeConns), 10)} ${padRight(uint(d.inactiveConns), 10)}\n`;
    } else {
      // "  -> %-28s %-7s %-6d %-10u %-10u"
      out += `  -> ${dname} ${padRight(FWD_NAMES[d.fwd], 7)} ${padRight(String(d.weight), 6)} `;
      out += `${padRight(uint(d.activeConns), 10)} ${padRight(uint(d.inactiveConns), 10)}\n`;
    }
  }
  return out;
}

/**
 * -L (list_all) or -L -t svc (list_service): the version header (list_all only), the title
 * for the chosen view, then each service with its destinations, sorted unless --nosort.
 */
export function formatServices(
  result: { tableSize: number; services: readonly ServiceInfo[] },
  opts: FormatOpts = {},
  names: NameDb = systemNames(),
): string {
  let out = opts.oneService ? '' : formatHeader(result.tableSize);
  out += title(opts);
  for (const svc of sortedServices(result.services, opts.nosort ?? false)) out += serviceEntry(svc, opts, names);
  return out;
}

/** print_conn's expire column: "%02d:%02d" of minutes and seconds. */
export function formatExpire(seconds: number): string {
  const s = Math.max(0, Math.trunc(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** -L -c (list_conn): entries in table order, as ipvsadm prints /proc/net/ip_vs_conn. */
export function formatConns(conns: readonly ConnInfo[], opts: FormatOpts = {}, names: NameDb = systemNames()): string {
  return formatConnsHeader() + formatConnRows(conns, opts, names);
}

/** The two title lines of -L -c. */
export function formatConnsHeader(): string {
  // "pro expire %-11s %-18s %-18s %s"
  return `IPVS connection entries\npro expire ${padRight('state', 11)} ${padRight('source', 18)} ${padRight('virtual', 18)} destination\n`;
}

/** Lines of -L -c for `conns` (a listing streams them a chunk at a time). */
export function formatConnRows(conns: readonly ConnInfo[], opts: FormatOpts = {}, names: NameDb = systemNames()): string {
  const numeric = opts.numeric ?? false;
  let out = '';
  for (const c of conns) {
    // "%-3s %-6s %-11s %-18s %-18s %s"
    out += `${padRight(PROTO_NAMES[c.proto], 3)} ${padRight(formatExpire(c.expires), 6)} ${padRight(c.state, 11)} `;
    out += `${padRight(addrPort(c.caddr, c.cport, c.proto, numeric, names), 18)} `;
    out += `${padRight(addrPort(c.vaddr, c.vport, c.proto, numeric, names), 18)} `;
    out += `${addrPort(c.daddr, c.dport, c.proto, numeric, names)}\n`;
  }
  return out;
}

export function formatTimeout(t: TimeoutInfo): string {
  return `Timeout (tcp tcpfin udp): ${uint(t.tcp)} ${uint(t.tcpfin)} ${uint(t.udp)}\n`;
}

/** lvsadm --sysctl: one `name = value` line per knob, as sysctl(8) prints them. */
export function formatSysctl(values: Record<string, number>): string {
  let out = '';
  for (const k of Object.keys(values)) out += `${k} = ${uint(values[k])}\n`;
  return out;
}

/** lvsadm --status: daemon facts, then named counters and drop reasons sorted by name. */
export function formatStatus(s: StatusInfo): string {
  let out = `lvsd ${s.version} on ${s.device}, up ${uint(s.uptime)} s, ${uint(s.conns)} connections\n`;
  const section = (heading: string, rec: Record<string, number>): void => {
    const keys = Object.keys(rec).sort();
    out += `${heading}:${keys.length === 0 ? ' none' : ''}\n`;
    const width = Math.max(0, ...keys.map((k) => k.length));
    for (const k of keys) out += `  ${padRight(k, width)} ${padLeft(uint(rec[k]), 12)}\n`;
  };
  section('Counters', s.counters);
  section('Drops', s.drops);
  return out;
}
