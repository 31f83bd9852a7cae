/**
 * One GET as keepalived's HTTP_GET/SSL_GET and genhash send it (check_http.c, check_ssl.c,
 * lib/html.c):
 *   GET PATH HTTP/1.0|1.1\r\nUser-Agent: KeepAliveClient\r\n[Connection: close\r\n]Host: HOST\r\n\r\n
 * HOST is the virtualhost, else ADDR:PORT. Over TLS (SSL_GET) the certificate is not verified
 * (keepalived verifies only with an SSL ca configured) and SNI is sent only when asked for.
 * The response is read to the end (at most maxBytes); the status is the second word of the
 * first line; the body starts after the first CRLFCRLF and, when the header has
 * `Content-Length:` (matched as keepalived matches it, case-sensitive), is cut there. The MD5 of
 * the body is the digest keepalived's genhash prints.
 */
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface FetchRequest {
  addr: string;
  port: number;
  path: string;
  host?: string;
  protocol?: '1.0' | '1.0C' | '1.1';
  tls?: boolean;
  /** TLS server name (SNI). */
  servername?: string;
  bindIp?: string;
  bindPort?: number;
  timeoutMs: number;
  maxBytes?: number;
}

export interface FetchResult {
  status: number;
  header: Buffer;
  body: Buffer;
  /** MD5 of the body, lower-case hex. */
  digest: string;
}

export const FETCH_MAX_BYTES = 1 << 20;

export function buildRequest(r: Pick<FetchRequest, 'addr' | 'port' | 'path' | 'host' | 'protocol'>): string {
  const minor = r.protocol === '1.1' ? 1 : 0;
  const close = r.protocol === '1.0C' || r.protocol === '1.1' ? 'Connection: close\r\n' : '';
  const host = r.host ?? `${r.addr}:${r.port}`;
  return `GET ${r.path} HTTP/1.${minor}\r\nUser-Agent: KeepAliveClient\r\n${close}Host: ${host}\r\n\r\n`;
}

/** Status (0 when the first line has none), header and body of a complete response. */
export function splitResponse(raw: Buffer): { status: number; header: Buffer; body: Buffer } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const header = raw.subarray(0, end + 4);
  const m = /^[^ \r]* (\d{3}) /.exec(header.toString('latin1'));
  let body = raw.subarray(end + 4);
  const cl = /Content-Length:[ \t]*(\d+)\r?\n/.exec(header.toString('latin1'));
  if (cl) body = body.subarray(0, Number(cl[1]));
  return { status: m ? Number(m[1]) : 0, header, body };
}

export function md5hex(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}

/** Resolves with the response, rejects with an Error whose message says what failed. */
export function fetchUrl(r: FetchRequest): Promise<FetchResult> {
  const max = r.maxBytes ?? FETCH_MAX_BYTES;
  return new Promise((resolve, reject) => {
    const opts = { host: r.addr, port: r.port, localAddress: r.bindIp, localPort: r.bindPort };
    const s: net.Socket = r.tls
      ? tls.connect({ ...opts, rejectUnauthorized: false, servername: r.servername })
      : net.connect(opts);
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const timer = setTimeout(() => done(new Error('timeout')), r.timeoutMs);
    function done(err: Error | undefined, res?: FetchResult): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(res!);
    }
    s.once(r.tls ? 'secureConnect' : 'connect', () => { s.write(buildRequest(r)); });
    s.on('data', (d: Buffer) => {
      size += d.length;
      if (size > max) done(new Error(`response larger than ${max} bytes`));
      else chunks.push(d);
    });
    s.once('end', () => {
      const raw = Buffer.concat(chunks);
      if (raw.length === 0) return done(new Error('no data received'));
      const p = splitResponse(raw);
      if (!p) return done(new Error('malformed HTTP response'));
      done(undefined, { ...p, digest: md5hex(p.body) });
    });
    s.once('error', (err: NodeJS.ErrnoException) => done(new Error(err.code ?? err.message)));
  });
}
