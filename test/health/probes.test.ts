/** Each probe against real servers on loopback. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildEchoRequest, judgeUrl, parseHttpResponse, probeHttp, probeMisc, probeTcp, probeUdp } from '../../src/health/probes';
import type { HttpCheck, MiscCheck, TcpCheck, UdpCheck } from '../../src/control/checks';
import { csumPartial, csumFold } from '../../src/wire/checksum';

const common = { connectTimeoutMs: 1000, retry: 0, delayBeforeRetryMs: 10, delayLoopMs: 10, warmupMs: 0 };
const tcp: TcpCheck = { kind: 'TCP_CHECK', ...common };

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

test('TCP_CHECK: up against a listener, down with ECONNREFUSED against a closed port', async () => {
  const s = net.createServer((c) => c.destroy());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  assert.equal((await probeTcp({ addr: '127.0.0.1', port }, tcp)).ok, true);
  await new Promise<void>((r) => s.close(() => r()));
  const o = await probeTcp({ addr: '127.0.0.1', port }, tcp);
  assert.deepEqual([o.ok, o.detail], [false, 'ECONNREFUSED']);
});

test('HTTP_GET: status codes, md5 digest as genhash prints it, regex, and a 500', async () => {
  let status = 200;
  const seenHosts: string[] = [];
  const srv = http.createServer((req, res) => {
    seenHosts.push(req.headers.host ?? '');
    res.writeHead(req.url === '/broken' ? 500 : status, { 'content-type': 'text/plain' });
    res.end('hello world\n');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const t = { addr: '127.0.0.1', port: (srv.address() as AddressInfo).port };
  // md5("hello world\n") computed independently: `printf 'hello world\n' | md5sum`.
  const digest = '6f5902ac237024bdd0c176cb93063dc4';
  assert.equal(createHash('md5').update('hello world\n').digest('hex'), digest);
  const mk = (url: Partial<HttpCheck['urls'][0]>): HttpCheck => ({
    kind: 'HTTP_GET', ...common, virtualhost: 'www.example.test', urls: [{ path: '/', statusCodes: [], ...url }],
  });
  try {
    assert.equal((await probeHttp(t, mk({ digest }))).ok, true);
    assert.equal((await probeHttp(t, mk({ regex: '^hello w' }))).ok, true);
    assert.equal((await probeHttp(t, mk({ regex: 'bye' }))).ok, false);
    assert.equal((await probeHttp(t, mk({ digest: '0'.repeat(32) }))).ok, false);
    const broken = await probeHttp(t, mk({ path: '/broken' }));
    assert.deepEqual([broken.ok, broken.detail], [false, '/broken: HTTP status 500']);
    assert.equal((await probeHttp(t, mk({ path: '/broken', statusCodes: [500] }))).ok, true);
    status = 302;
    assert.equal((await probeHttp(t, mk({}))).ok, false, 'without status_code only 2xx passes');
    assert.equal(seenHosts[0], 'www.example.test');
  } finally {
    srv.close();
  }
});

test('parseHttpResponse and judgeUrl on fixed bytes', () => {
  const r = parseHttpResponse(Buffer.from('HTTP/1.1 204 No Content\r\nX: y\r\n\r\nabc'));
  assert.equal(r?.status, 204);
  assert.equal(r?.body.toString(), 'abc');
  assert.equal(parseHttpResponse(Buffer.from('garbage\r\n\r\n')), undefined);
  assert.equal(judgeUrl({ path: '/', statusCodes: [] }, 299, Buffer.alloc(0)).ok, true);
  assert.equal(judgeUrl({ path: '/', statusCodes: [] }, 300, Buffer.alloc(0)).ok, false);
});

test('MISC_CHECK: exit 0 up, 1 down, misc_dynamic 2..255 weight = status - 2, timeout kills', async () => {
  const mk = (path: string, dynamic = false, timeoutMs = 2000): MiscCheck => ({ kind: 'MISC_CHECK', ...common, path, dynamic, timeoutMs });
  assert.deepEqual(await probeMisc(mk('exit 0')), { ok: true, detail: 'exit 0', weight: undefined });
  assert.equal((await probeMisc(mk('exit 1'))).ok, false);
  assert.equal((await probeMisc(mk('exit 7'))).ok, false, 'without misc_dynamic any non-zero status is down');
  assert.deepEqual(await probeMisc(mk('exit 7', true)), { ok: true, detail: 'exit 7', weight: 5 });
  assert.deepEqual(await probeMisc(mk('exit 2', true)), { ok: true, detail: 'exit 2', weight: 0 });
  const t0 = Date.now();
  assert.deepEqual(await probeMisc(mk('sleep 5', false, 200)), { ok: false, detail: 'timeout' });
  assert.ok(Date.now() - t0 < 2000);
});

test('UDP_CHECK: ICMP port unreachable is down, silence is up, require_reply needs an answer', async () => {
  const port = await freePort();
  const mk = (requireReply: boolean): UdpCheck => ({ kind: 'UDP_CHECK', ...common, connectTimeoutMs: 300, payload: Buffer.from('ping'), requireReply });
  assert.equal((await probeUdp({ addr: '127.0.0.1', port }, mk(false))).ok, false);
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  const sp = silent.address().port;
  assert.equal((await probeUdp({ addr: '127.0.0.1', port: sp }, mk(false))).ok, true);
  assert.equal((await probeUdp({ addr: '127.0.0.1', port: sp }, mk(true))).ok, false);
  silent.on('message', (m, rinfo) => silent.send(m, rinfo.port, rinfo.address));
  assert.equal((await probeUdp({ addr: '127.0.0.1', port: sp }, mk(true))).ok, true);
  silent.close();
});

test('ICMP echo request: type 8, id/seq in place, checksum verifies', () => {
  const b = buildEchoRequest(0x1234, 0xbeef);
  assert.equal(b[0], 8);
  assert.equal(b[1], 0);
  assert.equal(b.readUInt16BE(4), 0x1234);
  assert.equal(b.readUInt16BE(6), 0xbeef);
  assert.equal(csumFold(csumPartial(b, 0, b.length)), 0xffff);
});

test('SMTP_CHECK: 220 greeting, HELO answered 250, QUIT (keepalived check_smtp.c); a bad greeting or HELO reply fails', async () => {
  const { probeSmtp } = await import('../../src/health/probes');
  const net = await import('node:net');
  const serve = async (greeting: string, heloReply: string): Promise<{ port: number; helo: string[]; close: () => void }> => {
    const helo: string[] = [];
    const srv = net.createServer((s) => {
      s.write(greeting);
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\r\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (line.startsWith('HELO ')) { helo.push(line); s.write(heloReply); } else if (line === 'QUIT') s.end('221 bye\r\n');
        }
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return { port: (srv.address() as import('node:net').AddressInfo).port, helo, close: () => srv.close() };
  };
  const spec = { kind: 'SMTP_CHECK' as const, heloName: 'lb.example.test', connectTimeoutMs: 1000, retry: 0, delayBeforeRetryMs: 0, delayLoopMs: 1000, warmupMs: 0 };
  const good = await serve('220 mail.example.test ESMTP\r\n', '250 mail.example.test\r\n');
  const badGreeting = await serve('554 go away\r\n', '250 ok\r\n');
  const multi = await serve('220-first\r\n220 second\r\n', '250 ok\r\n');
  const badHelo = await serve('220 ok\r\n', '501 no\r\n');
  try {
    assert.deepEqual(await probeSmtp({ addr: '127.0.0.1', port: good.port }, spec), { ok: true, detail: 'SMTP HELO 250', weight: undefined });
    assert.deepEqual(good.helo, ['HELO lb.example.test']);
    assert.match((await probeSmtp({ addr: '127.0.0.1', port: badGreeting.port }, spec)).detail, /^bad greeting: 554/);
    assert.match((await probeSmtp({ addr: '127.0.0.1', port: multi.port }, spec)).detail, /^bad greeting: 220-first/);
    assert.match((await probeSmtp({ addr: '127.0.0.1', port: badHelo.port }, spec)).detail, /^bad HELO response: 501/);
  } finally {
    for (const s of [good, badGreeting, multi, badHelo]) s.close();
  }
});

test('DNS_CHECK: a reply with the query ID, QR set and RCODE 0 passes; other IDs are ignored; RCODE 3 fails (check_dns.c)', async () => {
  const { probeDns } = await import('../../src/health/probes');
  const dgram = await import('node:dgram');
  const serve = async (rcode: number, wrongIdFirst: boolean): Promise<{ port: number; qs: Buffer[]; close: () => void }> => {
    const qs: Buffer[] = [];
    const s = dgram.createSocket('udp4');
    s.on('message', (q, rinfo) => {
      qs.push(q);
      const reply = Buffer.from(q);
      reply.writeUInt16BE(0x8180 | rcode, 2);
      if (wrongIdFirst) {
        const other = Buffer.from(reply);
        other.writeUInt16BE((q.readUInt16BE(0) + 1) & 0xffff, 0);
        s.send(other, rinfo.port, rinfo.address);
      }
      s.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    return { port: s.address().port, qs, close: () => s.close() };
  };
  const spec = { kind: 'DNS_CHECK' as const, name: 'example.test', type: 'A', connectTimeoutMs: 1000, retry: 0, delayBeforeRetryMs: 0, delayLoopMs: 1000, warmupMs: 0 };
  const ok = await serve(0, true);
  const nx = await serve(3, false);
  try {
    assert.deepEqual(await probeDns({ addr: '127.0.0.1', port: ok.port }, spec), { ok: true, detail: 'DNS example.test A: NOERROR', weight: undefined });
    // The question asked: example.test, type A (1), class IN (1), recursion desired.
    assert.equal(ok.qs[0].subarray(12).toString('hex'), '076578616d706c6504746573740000010001');
    assert.equal(ok.qs[0].readUInt16BE(2), 0x0100);
    assert.deepEqual(await probeDns({ addr: '127.0.0.1', port: nx.port }, spec), { ok: false, detail: 'DNS example.test A: rcode 3' });
  } finally {
    ok.close();
    nx.close();
  }
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  try {
    assert.deepEqual(await probeDns({ addr: '127.0.0.1', port: silent.address().port }, { ...spec, connectTimeoutMs: 200 }), { ok: false, detail: 'no DNS reply' });
  } finally {
    silent.close();
  }
});
