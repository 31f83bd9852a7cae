/**
 * The health-checking model of a virtual server, as keepalived's check_data.h describes it:
 * virtual servers with their real servers, each real server with zero or more checkers.
 * Times are in milliseconds here (keepalived.conf gives seconds; the parser converts).
 */
import type { FwdName, ProtoName } from '../ipvs/command';

/** DNS_CHECK's `type` keyword: the RR types keepalived's check_dns.c knows, with their codes. */
export const DNS_TYPE_CODES: Readonly<Record<string, number>> = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, RRSIG: 46, DNSKEY: 48,
};
export const DNS_TYPES = Object.keys(DNS_TYPE_CODES);

export type CheckKind = 'TCP_CHECK' | 'HTTP_GET' | 'SSL_GET' | 'SMTP_CHECK' | 'DNS_CHECK' | 'UDP_CHECK' | 'PING_CHECK' | 'MISC_CHECK';

/** Parameters every checker has (keepalived check_api.c defaults). */
export interface CheckCommon {
  kind: CheckKind;
  /** connect_ip / connect_port: where to probe; default the real server's address/port. */
  connectIp?: string;
  connectPort?: number;
  /** bindto / bind_port: source of the probe. */
  bindIp?: string;
  bindPort?: number;
  /** connect_timeout: one probe's deadline. */
  connectTimeoutMs: number;
  /** retry (nb_get_retry): failed probes retried this many times before the checker goes down. */
  retry: number;
  /** delay_before_retry: pause between a failed probe and its retry. */
  delayBeforeRetryMs: number;
  /** delay_loop: pause between probes while nothing fails. */
  delayLoopMs: number;
  /** warmup: the first probe starts after a random delay in [0, warmup] (keepalived's default: delay_loop). */
  warmupMs: number;
  /** alpha: the checker starts failed until its first passing probe (checker, real or virtual server level). */
  alpha?: boolean;
}

/** One url block of HTTP_GET: all urls of a checker must pass. */
export interface HttpUrl {
  path: string;
  /** status_code: accepted codes; empty = any 2xx (keepalived's default). */
  statusCodes: number[];
  /** digest: md5 of the body in lower-case hex, as keepalived's genhash prints it. */
  digest?: string;
  /** regex: the body must match. */
  regex?: string;
  virtualhost?: string;
}

export interface TcpCheck extends CheckCommon { kind: 'TCP_CHECK' }
/** HTTP_GET, and SSL_GET (the same over TLS, keepalived check_ssl.c). */
export interface HttpCheck extends CheckCommon {
  kind: 'HTTP_GET' | 'SSL_GET';
  urls: HttpUrl[];
  /** Host header when the url has none: the checker's, the real server's, the virtual server's. */
  virtualhost?: string;
  /** http_protocol: 1.0 (default), 1.0C (1.0 with Connection: close), 1.1 (with Connection: close). */
  protocol?: '1.0' | '1.0C' | '1.1';
  /** SSL_GET enable_sni: SNI is the url's virtualhost, else this (checker's, else virtual server's). */
  enableSni?: boolean;
  sniHost?: string;
}
export interface UdpCheck extends CheckCommon {
  kind: 'UDP_CHECK';
  /** payload: bytes sent (hex in the config); default one zero byte. */
  payload: Buffer;
  /** require_reply: without it, silence counts as up and only an ICMP error as down. */
  requireReply: boolean;
}
export interface PingCheck extends CheckCommon { kind: 'PING_CHECK' }
export interface MiscCheck extends CheckCommon {
  kind: 'MISC_CHECK';
  /** misc_path: run by /bin/sh -c. */
  path: string;
  /** misc_timeout: the script is killed after this; default delay_loop. */
  timeoutMs: number;
  /** misc_dynamic: exit 2..255 means up with weight (status - 2). */
  dynamic: boolean;
}

/** SMTP_CHECK (keepalived check_smtp.c): greeting 220, `HELO helo_name` answered 250, QUIT. */
export interface SmtpCheck extends CheckCommon {
  kind: 'SMTP_CHECK';
  /** helo_name; keepalived's default smtpchecker.keepalived.org. */
  heloName: string;
}

/** DNS_CHECK (keepalived check_dns.c): a UDP query for name/type; passes on a reply with RCODE 0. */
export interface DnsCheck extends CheckCommon {
  kind: 'DNS_CHECK';
  name: string;
  type: string;
}

export type CheckSpec = TcpCheck | HttpCheck | SmtpCheck | DnsCheck | UdpCheck | PingCheck | MiscCheck;

export interface RealServerSpec {
  addr: string;
  port: number;
  weight: number;
  fwd: FwdName;
  upper?: number;
  lower?: number;
  /** inhibit_on_failure: a failed server stays in the table with weight 0. */
  inhibitOnFailure: boolean;
  notifyUp?: string;
  notifyDown?: string;
  checks: CheckSpec[];
  /** alpha at real_server level (else the virtual server's). */
  alpha?: boolean;
  /** A checker lvsd does not implement (FILE_CHECK, ...): the server is never given traffic. */
  heldDown?: string;
  /** FILE:LINE of its real_server line, for logs. */
  where?: string;
}

export interface VirtualServerSpec {
  proto: ProtoName;
  addr: string;
  port: number;
  /** `virtual_server fwmark N`: a firewall-mark service (then addr 0.0.0.0, port 0, TCP, as ipvsadm -f). */
  fwmark?: number;
  scheduler: string;
  /** persistence_timeout in seconds; 0 = none. */
  persistent: number;
  netmask?: string;
  ops: boolean;
  /** quorum: minimum live weight sum; default 1. */
  quorum: number;
  hysteresis: number;
  /** alpha: real servers start down until their first successful check. */
  alpha: boolean;
  sorry?: { addr: string; port: number; fwd: FwdName; inhibit: boolean };
  quorumUp?: string;
  quorumDown?: string;
  reals: RealServerSpec[];
  /** FILE:LINE of its virtual_server line, for logs. */
  where?: string;
}

/**
 * Defaults of keepalived 2.2 (check_data.c, check_api.c): connect_timeout 5 s, delay_loop 60 s,
 * retry 1 (MISC_CHECK 0), delay_before_retry 1 s (HTTP_GET/SSL_GET 3 s), warmup = delay_loop.
 * The keepalived.conf reader applies them; these are the values of a TCP_CHECK with none set.
 */
export const CHECK_DEFAULTS = {
  connectTimeoutMs: 5000,
  retry: 1,
  delayBeforeRetryMs: 1000,
  delayLoopMs: 60000,
  warmupMs: 60000,
} as const;

export function vsKey(vs: { proto: ProtoName; addr: string; port: number; fwmark?: number }): string {
  return vs.fwmark ? `fwm:${vs.fwmark}` : `${vs.proto}:${vs.addr}:${vs.port}`;
}

/** The service table's key of a virtual server. */
export function vsServiceKey(vs: VirtualServerSpec): { proto: ProtoName; addr: string; port: number; fwmark?: number } {
  return vs.fwmark ? { proto: vs.proto, addr: vs.addr, port: vs.port, fwmark: vs.fwmark } : { proto: vs.proto, addr: vs.addr, port: vs.port };
}

/** A virtual server as keepalived names it in its messages: `FWM 1` or `198.18.100.1:80`. */
export function vsName(vs: VirtualServerSpec): string {
  return vs.fwmark ? `FWM ${vs.fwmark}` : `${vs.addr}:${vs.port}`;
}

export function rsKey(rs: { addr: string; port: number }): string {
  return `${rs.addr}:${rs.port}`;
}
