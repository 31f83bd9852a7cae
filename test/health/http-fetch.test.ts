/**
 * HTTP_GET/SSL_GET requests and digests as keepalived sends and computes them
 * (src/health/http-fetch.ts), against node servers on loopback; lvs-genhash against
 * keepalived's own genhash (`keepalived -T`) where it is installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildRequest, fetchUrl, md5hex, splitResponse } from '../../src/health/http-fetch';
import { probeHttp } from '../../src/health/probes';
import type { HttpCheck } from '../../src/control/checks';

const run = promisify(execFile);
const ROOT = join(__dirname, '../../..');
const TLS = { cert: readFileSync(join(ROOT, 'test/fixtures/tls/cert.pem')), key: readFileSync(join(ROOT, 'test/fixtures/tls/key.pem')) };

test("the request is keepalived's (check_http.c request_template): User-Agent, Host = virtualhost or ADDR:PORT", () => {
  assert.equal(buildRequest({ addr: '198.19.0.11', port: 8080, path: '/h' }),
    'GET /h HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 198.19.0.11:8080\r\n\r\n');
  assert.equal(buildRequest({ addr: '198.19.0.11', port: 80, path: '/', host: 'www.example.test', protocol: '1.1' }),
    'GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.test\r\n\r\n');
  assert.match(buildRequest({ addr: 'a', port: 1, path: '/', protocol: '1.0C' }), /^GET \/ HTTP\/1\.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\n/);
});

test('the body digest is cut at Content-Length (lib/html.c), status from the first line', () => {
  const r = splitResponse(Buffer.from('HTTP/1.1 203 Fine\r\nContent-Length: 5\r\n\r\nhelloEXTRA'));
  assert.ok(r);
  assert.deepEqual([r.status, r.body.toString(), md5hex(r.body)], [203, 'hello', '5d41402abc4b2a76b9719d911017c592']);
  const n = splitResponse(Buffer.from('HTTP/1.0 200 OK\r\n\r\nall of it'));
  assert.equal(n?.body.toString(), 'all of it');
  assert.equal(splitResponse(Buffer.from('HTTP/1.0 200 OK\r\n')), undefined);
});

/** A TLS server answering `body`; records each request's SNI and Host. */
async function tlsServer(body: string): Promise<{ port: number; seen: Array<{ sni: string | false; host: string }>; close: () => void }> {
  const seen: Array<{ sni: string | false; host: string }> = [];
  const srv = tls.createServer(TLS, (s) => {
    let req = '';
    s.on('data', (d) => {
      req += d.toString();
      if (!req.includes('\r\n\r\n')) return;
      seen.push({ sni: (s as tls.TLSSocket & { servername?: string | false }).servername ?? false, host: /\r\nHost: ([^\r]*)/.exec(req)?.[1] ?? '' });
      s.end(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, seen, close: () => srv.close() };
}

const sslCheck = (extra: Partial<HttpCheck>): HttpCheck => ({
  kind: 'SSL_GET', urls: [{ path: '/', statusCodes: [], digest: md5hex(Buffer.from('secure\n')) }],
  connectTimeoutMs: 2000, retry: 0, delayBeforeRetryMs: 0, delayLoopMs: 1000, warmupMs: 0, ...extra,
});

test('SSL_GET: TLS without certificate verification, digest checked, SNI only with enable_sni', async () => {
  const s = await tlsServer('secure\n');
  try {
    const t = { addr: '127.0.0.1', port: s.port };
    assert.deepEqual(await probeHttp(t, sslCheck({ virtualhost: 'www.example.test' })), { ok: true, detail: '/: HTTP 200', weight: undefined });
    assert.ok((await probeHttp(t, sslCheck({ virtualhost: 'www.example.test', enableSni: true, sniHost: 'www.example.test' }))).ok);
    const bad = await probeHttp(t, sslCheck({ urls: [{ path: '/', statusCodes: [], digest: '0'.repeat(32) }] }));
    assert.equal(bad.ok, false);
    assert.match(bad.detail, /digest .* differs/);
    assert.deepEqual(s.seen, [
      { sni: false, host: 'www.example.test' },
      { sni: 'www.example.test', host: 'www.example.test' },
      { sni: false, host: `127.0.0.1:${s.port}` },
    ]);
    // A plain HTTP probe of a TLS port fails.
    assert.equal((await probeHttp(t, sslCheck({ kind: 'HTTP_GET', connectTimeoutMs: 500 }))).ok, false);
  } finally {
    s.close();
  }
});

const GENHASH = ['/usr/bin/genhash', '/usr/sbin/keepalived'].find((p) => existsSync(p));

test('lvs-genhash prints what keepalived\'s genhash prints (HTTP and SSL, virtualhost)', { skip: !GENHASH && process.env.CI !== 'true' ? 'keepalived not installed' : false }, async () => {
  const body = 'x'.repeat(3000) + '\nlast line';
  const plain = net.createServer((s) => {
    s.on('data', () => s.end(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length - 4}\r\n\r\n${body}`));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  const s = await tlsServer(body);
  try {
    const hp = String((plain.address() as net.AddressInfo).port);
    const genhash = GENHASH!.endsWith('keepalived') ? [GENHASH!, '-T'] : [GENHASH!];
    const cases = [['-s', '127.0.0.1', '-p', hp, '-u', '/a'], ['-S', '-s', '127.0.0.1', '-p', String(s.port), '-u', '/b', '-V', 'www.example.test']];
    for (const args of cases) {
      const theirs = (await run(genhash[0], [...genhash.slice(1), ...args])).stdout;
      const ours = (await run(process.execPath, [join(ROOT, 'dist/src/cli/lvs-genhash.js'), ...args])).stdout;
      assert.match(ours, /^[0-9a-f]{32}\n$/);
      assert.equal(ours, theirs, args.join(' '));
    }
    assert.equal((await run(process.execPath, [join(ROOT, 'dist/src/cli/lvs-genhash.js'), '-s', '127.0.0.1', '-p', hp, '-u', '/'])).stdout,
      md5hex(Buffer.from(body.slice(0, -4))) + '\n');
  } finally {
    plain.close();
    s.close();
  }
});

test('fetchUrl: a refused connection and a silent server are errors, never hangs', async () => {
  const srv = net.createServer(() => undefined);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    await assert.rejects(fetchUrl({ addr: '127.0.0.1', port, path: '/', timeoutMs: 200 }), /timeout/);
  } finally {
    srv.close();
  }
  await assert.rejects(fetchUrl({ addr: '127.0.0.1', port, path: '/', timeoutMs: 1000 }), /ECONNREFUSED/);
});
