/**
 * Logging shared by the daemons (lvsd, lvs-realserver, lvs-dlm): pino, one JSON object per
 * line with an ISO 8601 `time` and the level by name (`"level":"info"`), or with
 * `--log-format pretty` the same records through pino-pretty as coloured one-line text.
 *
 * Values in records are what an administrator reads in ipvsadm's listings: addresses as
 * dotted quads with `:port`, a service as `TCP 198.18.100.1:80` or `FWM 1`, a forwarding
 * method as ipvsadm names it (Masq, Tunnel, Route, Local); the helpers below produce them.
 */
import pino from 'pino';
import pretty from 'pino-pretty';

export type Log = pino.Logger;

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOptions {
  /** json (default) or pretty. */
  format?: LogFormat;
  /** File descriptor the records go to: 1 (default) or 2 (when stdout carries data, --pcap -). */
  fd?: 1 | 2;
}

/** The pino options every daemon uses: ISO times, level names, the pid. */
export function logOptions(name: string, level: string): pino.LoggerOptions {
  return {
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
}

/** The record stream for `opts`: synchronous writes, so a record is out before an exit. */
export function logStream(opts: LogOptions = {}): pino.DestinationStream {
  const fd = opts.fd ?? 1;
  if (opts.format === 'pretty') {
    return pretty({ destination: fd, sync: true, colorize: false, translateTime: 'SYS:standard', ignore: 'hostname' });
  }
  return pino.destination({ dest: fd, sync: true });
}

export function createLog(name: string, level = process.env.LVSD_LOG_LEVEL ?? 'info', opts: LogOptions = {}): Log {
  return pino(logOptions(name, level), logStream(opts));
}

/** Checks a --log-format value; returns an error text or undefined. */
export function logFormatError(v: string): string | undefined {
  return (LOG_FORMATS as readonly string[]).includes(v) ? undefined : `--log-format must be json or pretty, got '${v}'`;
}

// ---------------------------------------------------------------------------------------------
// Values as ipvsadm prints them

/** An IPv4 address held as an unsigned 32-bit number, as a dotted quad. */
export function addrText(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** `a.b.c.d:port`; `addr` is a dotted quad or a 32-bit number. */
export function endpointText(addr: number | string, port: number): string {
  return `${typeof addr === 'number' ? addrText(addr) : addr}:${port}`;
}

const PROTO_NAMES: Record<string | number, string> = { 6: 'TCP', 17: 'UDP', tcp: 'TCP', udp: 'UDP' };

/** A virtual service as ipvsadm -L -n heads it: `TCP 198.18.100.1:80`, `UDP ...`, `FWM 7`. */
export function serviceText(s: { proto: number | string; addr: number | string; port: number; fwmark?: number }): string {
  if (s.fwmark !== undefined && s.fwmark !== 0) return `FWM ${s.fwmark}`;
  return `${PROTO_NAMES[s.proto] ?? `proto ${s.proto}`} ${endpointText(s.addr, s.port)}`;
}

/** Forwarding methods by ipvsadm's names; keys are the IP_VS_CONN_F_* numbers and lvsadm's words. */
const FWD_NAMES: Record<string | number, string> = {
  0: 'Masq', 1: 'Local', 2: 'Tunnel', 3: 'Route',
  masq: 'Masq', local: 'Local', tunnel: 'Tunnel', route: 'Route',
};

export function fwdText(f: number | string): string {
  return FWD_NAMES[f] ?? `unknown(${f})`;
}
