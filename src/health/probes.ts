/**
 * One probe of each keepalived checker kind (keepalived check_tcp.c, check_http.c,
 * check_udp.c, check_ping.c, check_misc.c). A probe resolves, never rejects: its outcome
 * says whether the target passed and, for misc_dynamic, the weight the script asked for.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { fetchUrl } from './http-fetch';
import { csumFinish, csumPartial } from '../wire/checksum';
import type { CheckSpec, DnsCheck, HttpCheck, HttpUrl, MiscCheck, SmtpCheck, UdpCheck } from '../control/checks';
import { buildDnsQuery, dnsReplyRcode } from './dns-query';

export interface ProbeOutcome {
  ok: boolean;
  /** misc_dynamic: the weight requested by the script's exit status. */
  weight?: number;
  /** Why it failed, or what passed (for logs and lvsadm --checks). */
  detail: string;
}

export interface ProbeTarget {
  addr: string;
  port: number;
}

const pass = (detail: string, weight?: number): ProbeOutcome => ({ ok: true, detail, weight });
const failed = (detail: string): ProbeOutcome => ({ ok: false, detail });

/** Connects a TCP socket with the checker's bind address and deadline. */
function connect(t: ProbeTarget, c: CheckSpec): net.Socket {
  return net.connect({
    host: t.addr, port: t.port,
    localAddress: c.bindIp, localPort: c.bindPort,
    timeout: c.connectTimeoutMs,
  });
}

/** TCP_CHECK: the three-way handshake completes within connect_timeout. */
export function probeTcp(t: ProbeTarget, c: CheckSpec): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const s = connect(t, c);
    const timer = setTimeout(() => done(failed('connect timeout')), c.connectTimeoutMs);
    function done(o: ProbeOutcome): void {
      clearTimeout(timer);
      s.destroy();
      resolve(o);
    }
    s.once('connect', () => done(pass('connected')));
    s.once('error', (err: NodeJS.ErrnoException) => done(failed(err.code ?? err.message)));
  });
}

/** Splits an HTTP/1.x response into status code and body (no chunked coding: HTTP/1.0 request). */
export function parseHttpResponse(raw: Buffer): { status: number; body: Buffer } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(raw.subarray(0, Math.min(end, 64)).toString('latin1'));
  if (!m) return undefined;
  return { status: Number(m[1]), body: raw.subarray(end + 4) };
}

/** Whether one url's expectations hold for a response (keepalived check_http.c semantics). */
export function judgeUrl(url: HttpUrl, status: number, body: Buffer): ProbeOutcome {
  const statusOk = url.statusCodes.length > 0 ? url.statusCodes.includes(status) : status >= 200 && status <= 299;
  if (!statusOk) return failed(`${url.path}: HTTP status ${status}`);
  if (url.digest !== undefined) {
    const got = createHash('md5').update(body).digest('hex');
    if (got !== url.digest.toLowerCase()) return failed(`${url.path}: digest ${got} differs`);
  }
  if (url.regex !== undefined && !new RegExp(url.regex).test(body.toString('latin1'))) {
    return failed(`${url.path}: body does not match /${url.regex}/`);
  }
  return pass(`${url.path}: HTTP ${status}`);
}

async function httpOne(t: ProbeTarget, c: HttpCheck, url: HttpUrl): Promise<ProbeOutcome> {
  try {
    const r = await fetchUrl({
      addr: t.addr, port: t.port, path: url.path, host: url.virtualhost ?? c.virtualhost, protocol: c.protocol,
      tls: c.kind === 'SSL_GET', servername: c.enableSni ? (url.virtualhost ?? c.sniHost) : undefined,
      bindIp: c.bindIp, bindPort: c.bindPort, timeoutMs: c.connectTimeoutMs,
    });
    return judgeUrl(url, r.status, r.body);
  } catch (err) {
    return failed(`${url.path}: ${(err as Error).message}`);
  }
}

/** HTTP_GET and SSL_GET: every url answers as expected. */
export async function probeHttp(t: ProbeTarget, c: HttpCheck): Promise<ProbeOutcome> {
  let last = failed('no url');
  for (const url of c.urls) {
    last = await httpOne(t, c, url);
    if (!last.ok) return last;
  }
  return last;
}

/**
 * SMTP_CHECK (keepalived check_smtp.c): the greeting's status must be 220, the answer to
 * `HELO helo_name` 250 (a status is three digits followed by a space or the end of the line,
 * so a multi-line `220-` reply fails as in keepalived), then QUIT and its reply line. One
 * connect_timeout for the whole dialogue; lines longer than 512 bytes fail.
 */
export function probeSmtp(t: ProbeTarget, c: SmtpCheck): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const s = connect(t, c);
    let buf = '';
    let step: 'greeting' | 'helo' | 'quit' = 'greeting';
    let finished = false;
    const timer = setTimeout(() => done(failed(`timeout waiting for the ${step} reply`)), c.connectTimeoutMs);
    function done(o: ProbeOutcome): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      s.destroy();
      resolve(o);
    }
    const status = (line: string): number => (/^\d{3}( |$)/.test(line) ? Number(line.slice(0, 3)) : -1);
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      for (;;) {
        const eol = buf.indexOf('\n');
        if (eol < 0) {
          if (buf.length > 512) done(failed('SMTP line longer than 512 bytes'));
          return;
        }
        const line = buf.slice(0, eol).replace(/\r$/, '');
        buf = buf.slice(eol + 1);
        if (step === 'greeting') {
          if (status(line) !== 220) return done(failed(`bad greeting: ${line.slice(0, 80)}`));
          step = 'helo';
          s.write(`HELO ${c.heloName}\r\n`);
        } else if (step === 'helo') {
          if (status(line) !== 250) return done(failed(`bad HELO response: ${line.slice(0, 80)}`));
          step = 'quit';
          s.write('QUIT\r\n');
        } else {
          return done(pass('SMTP HELO 250'));
        }
      }
    });
    s.once('end', () => done(step === 'quit' ? pass('SMTP HELO 250') : failed(`connection closed before the ${step} reply`)));
    s.once('error', (err: NodeJS.ErrnoException) => done(failed(err.code ?? err.message)));
  });
}

/**
 * UDP_CHECK: a datagram to the target. A connected socket learns of ICMP port unreachable as
 * ECONNREFUSED; without require_reply, silence until connect_timeout counts as up.
 */
export function probeUdp(t: ProbeTarget, c: UdpCheck): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    let finished = false;
    const timer = setTimeout(
      () => done(c.requireReply ? failed('no reply') : pass('no ICMP error')), c.connectTimeoutMs);
    function done(o: ProbeOutcome): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      try { s.close(); } catch { /* already closed */ }
      resolve(o);
    }
    s.on('error', (err: NodeJS.ErrnoException) => done(failed(err.code ?? err.message)));
    s.on('message', () => done(pass('reply')));
    const go = (): void => {
      s.connect(t.port, t.addr, () => {
        s.send(c.payload, (err) => {
          if (err) done(failed((err as NodeJS.ErrnoException).code ?? err.message));
        });
      });
    };
    if (c.bindIp !== undefined || c.bindPort !== undefined) s.bind({ address: c.bindIp, port: c.bindPort }, go);
    else go();
  });
}

/** DNS_CHECK: the query to the target over UDP; a matching reply with RCODE 0 within connect_timeout. */
export function probeDns(t: ProbeTarget, c: DnsCheck): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const query = buildDnsQuery(c.name, c.type, Math.floor(Math.random() * 0x10000));
    const s = dgram.createSocket('udp4');
    let finished = false;
    const timer = setTimeout(() => done(failed('no DNS reply')), c.connectTimeoutMs);
    function done(o: ProbeOutcome): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      try { s.close(); } catch { /* already closed */ }
      resolve(o);
    }
    s.on('error', (err: NodeJS.ErrnoException) => done(failed(err.code ?? err.message)));
    s.on('message', (m: Buffer) => {
      const rc = dnsReplyRcode(query, m);
      if (rc === undefined) return;
      done(rc === 0 ? pass(`DNS ${c.name} ${c.type}: NOERROR`) : failed(`DNS ${c.name} ${c.type}: rcode ${rc}`));
    });
    const go = (): void => {
      s.connect(t.port, t.addr, () => {
        s.send(query, (err) => { if (err) done(failed((err as NodeJS.ErrnoException).code ?? err.message)); });
      });
    };
    if (c.bindIp !== undefined || c.bindPort !== undefined) s.bind({ address: c.bindIp, port: c.bindPort }, go);
    else go();
  });
}

/** The parts of the raw-socket package used here (it ships no type declarations). */
interface RawSocket {
  on(ev: 'message', fn: (buf: Buffer, source: string) => void): void;
  on(ev: 'error', fn: (err: Error) => void): void;
  send(buf: Buffer, off: number, len: number, addr: string, cb: (err?: Error) => void): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(opts: { protocol: number }): RawSocket;
  Protocol: { ICMP: number };
}
let rawModule: RawSocketModule | undefined;
function rawSocket(): RawSocketModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  rawModule ??= require('raw-socket') as RawSocketModule;
  return rawModule;
}

const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_LEN = 16;
let pingSeq = 0;

/** Builds an ICMP echo request (RFC 792): type, code, checksum, identifier, sequence, payload. */
export function buildEchoRequest(id: number, seq: number): Buffer {
  const b = Buffer.alloc(ICMP_ECHO_LEN);
  b[0] = ICMP_ECHO_REQUEST;
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  b.write('lvsd-hc!', 8, 'latin1');
  b.writeUInt16BE(csumFinish(csumPartial(b, 0, b.length)), 2);
  return b;
}

/** PING_CHECK: an ICMP echo reply from the target within connect_timeout. Needs CAP_NET_RAW. */
export function probePing(t: ProbeTarget, c: CheckSpec): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let sock: RawSocket;
    try {
      const raw = rawSocket();
      sock = raw.createSocket({ protocol: raw.Protocol.ICMP });
    } catch (err) {
      resolve(failed(`raw socket: ${(err as Error).message}`));
      return;
    }
    const id = process.pid & 0xffff;
    const seq = (pingSeq = (pingSeq + 1) & 0xffff);
    let finished = false;
    const timer = setTimeout(() => done(failed('no echo reply')), c.connectTimeoutMs);
    function done(o: ProbeOutcome): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      try { sock.close(); } catch { /* closed */ }
      resolve(o);
    }
    sock.on('error', (err) => done(failed(err.message)));
    // An IPv4 raw socket delivers the IP header too: skip IHL·4 bytes.
    sock.on('message', (buf, source) => {
      if (source !== t.addr || buf.length < 20) return;
      const ihl = (buf[0] & 0x0f) * 4;
      if (buf.length < ihl + 8 || buf[ihl] !== ICMP_ECHO_REPLY) return;
      if (buf.readUInt16BE(ihl + 4) !== id || buf.readUInt16BE(ihl + 6) !== seq) return;
      done(pass('echo reply'));
    });
    const req = buildEchoRequest(id, seq);
    sock.send(req, 0, req.length, t.addr, (err) => {
      if (err) done(failed(err.message));
    });
  });
}

/**
 * MISC_CHECK: runs misc_path with /bin/sh -c. Exit 0 up, 1 down; with misc_dynamic an exit
 * status 2..255 means up with weight status - 2 (keepalived check_misc.c). Killed at misc_timeout.
 */
export function probeMisc(c: MiscCheck): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', c.path], { stdio: 'ignore', detached: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, c.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve(failed(`cannot run: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) resolve(failed('timeout'));
      else if (code === null) resolve(failed(`killed by ${signal}`));
      else if (code === 0) resolve(pass('exit 0'));
      else if (c.dynamic && code >= 2) resolve(pass(`exit ${code}`, code - 2));
      else resolve(failed(`exit ${code}`));
    });
  });
}

/** Runs the probe of checker `c` against `t`. */
export function runProbe(t: ProbeTarget, c: CheckSpec): Promise<ProbeOutcome> {
  const target = { addr: c.connectIp ?? t.addr, port: c.connectPort ?? t.port };
  switch (c.kind) {
    case 'TCP_CHECK': return probeTcp(target, c);
    case 'HTTP_GET':
    case 'SSL_GET': return probeHttp(target, c);
    case 'SMTP_CHECK': return probeSmtp(target, c);
    case 'DNS_CHECK': return probeDns(target, c);
    case 'UDP_CHECK': return probeUdp(target, c);
    case 'PING_CHECK': return probePing(target, c);
    case 'MISC_CHECK': return probeMisc(c);
  }
}
