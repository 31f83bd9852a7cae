/**
 * The metrics listener against untrusted clients, on loopback with a real director behind it:
 * routes (404, 405, 503 while starting), oversized headers (431), slow and idle clients cut off
 * by the timeouts, the connection cap, the event stream of the live page and its cap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Socket, connect } from 'node:net';
import { request } from 'node:http';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { createRegistry } from '../../src/metrics/registry';
import { directorSources } from '../../src/metrics/sources';
import { MetricsServer, type Limits } from '../../src/metrics/server';
import { PageAssets } from '../../src/metrics/assets';
import { PageFeed } from '../../src/metrics/feed';

function director(): Director {
  const dir = new Director(new MemoryDevice({ batch: 4 }));
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: '198.18.100.1', port: 80 } },
    { op: 'add-server', service: { proto: 'tcp', addr: '198.18.100.1', port: 80 }, dest: { addr: '198.19.0.11', port: 80, fwd: 'masq' } },
  ]);
  return dir;
}

async function start(limits: Partial<Limits> = {}, serve = true) {
  const dir = director();
  const src = directorSources(dir);
  const feed = new PageFeed(src);
  const server = new MetricsServer({ listen: { host: '127.0.0.1', port: 0 }, limits });
  await server.listen();
  if (serve) server.serve(createRegistry(src), { assets: PageAssets.load(), feed });
  return { dir, feed, server, port: server.port };
}

function get(port: number, path: string, method = 'GET', headers: Record<string, string> = {}):
  Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the milliseconds until the server closed `sock`. */
function closedAfter(sock: Socket): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(Date.now() - t0));
    sock.resume();
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

test('routes: /metrics in the text format, / and its assets, 404, 405, 503 before serve()', async () => {
  const e = await start();
  try {
    const m = await get(e.port, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /^text\/plain; version=0\.0\.4/);
    assert.match(m.body, /^node_ipvs_backend_weight\{local_address="198\.18\.100\.1",local_port="80",remote_address="198\.19\.0\.11",remote_port="80",proto="TCP",local_mark=""\} 1$/m);
    const page = await get(e.port, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.body, /<script src="\/app\.js"><\/script>/);
    const js = await get(e.port, '/app.js');
    assert.equal(js.status, 200);
    assert.ok(js.body.length > 10_000, 'bundled script with uPlot');
    const css = await get(e.port, '/app.css');
    assert.equal(css.status, 200);
    assert.match(css.body, /\.uplot/, 'uPlot styles bundled');
    // Nothing fetched at run time: no absolute URL anywhere in the page.
    for (const body of [page.body, js.body, css.body]) assert.doesNotMatch(body, /https?:\/\//);
    const snap = JSON.parse((await get(e.port, '/api/snapshot')).body) as { services: Array<{ name: string }> };
    assert.deepEqual(snap.services.map((s) => s.name), ['TCP 198.18.100.1:80']);
    assert.equal((await get(e.port, '/nope')).status, 404);
    assert.equal((await get(e.port, '/metrics', 'POST')).status, 405);
  } finally {
    await e.server.close();
  }
  const s = await start({}, false);
  try {
    assert.equal((await get(s.port, '/metrics')).status, 503);
  } finally {
    await s.server.close();
  }
});

test('1 MB of request headers: 431 and the connection closed; the next scrape is served', async () => {
  const e = await start();
  try {
    const sock = await open(e.port);
    let reply = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => { reply += c; });
    const closed = closedAfter(sock);
    sock.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    sock.write(`X-Big: ${'a'.repeat(1 << 20)}\r\n\r\n`, () => undefined);
    await closed;
    assert.match(reply, /^HTTP\/1\.1 431 /);
    assert.equal((await get(e.port, '/metrics')).status, 200);
  } finally {
    await e.server.close();
  }
});

test('a client that trickles its headers and one that sends nothing are cut off by the timeouts', async () => {
  const e = await start({ HEADERS_TIMEOUT_MS: 800, IDLE_TIMEOUT_MS: 600 });
  try {
    const slow = await open(e.port);
    const idle = await open(e.port);
    const slowClosed = closedAfter(slow);
    const idleClosed = closedAfter(idle);
    slow.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => { if (!slow.destroyed) slow.write('X-A: b\r\n'); }, 100);
    try {
      assert.ok((await slowClosed) < 5000, 'slow client closed');
      assert.ok((await idleClosed) < 5000, 'idle client closed');
    } finally {
      clearInterval(trickle);
    }
    assert.equal((await get(e.port, '/metrics')).status, 200);
  } finally {
    await e.server.close();
  }
});

test('connection cap: beyond MAX_CONNECTIONS sockets are closed at once; scrapes resume after the idle timeout', async () => {
  const e = await start({ MAX_CONNECTIONS: 20, IDLE_TIMEOUT_MS: 700 });
  const socks: Socket[] = [];
  try {
    const closed: Array<Promise<number>> = [];
    for (let i = 0; i < 200; i++) {
      const s = await open(e.port);
      socks.push(s);
      closed.push(closedAfter(s));
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(e.server.connections <= 20, `at most 20 held, got ${e.server.connections}`);
    const times = await Promise.all(closed);
    assert.ok(times.filter((t) => t < 500).length >= 180, 'the sockets over the cap were closed at once');
    assert.equal((await get(e.port, '/metrics')).status, 200);
  } finally {
    for (const s of socks) s.destroy();
    await e.server.close();
  }
});

test('/events: history, then a sample and a snapshot per tick; streams beyond the cap get 503', async () => {
  const e = await start({ MAX_EVENT_STREAMS: 2 });
  try {
    e.feed.tick();
    const got: string[] = [];
    const req = request({ host: '127.0.0.1', port: e.port, path: '/events', agent: false });
    const first = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          got.push(...c.split('\n').filter((l) => l.startsWith('event: ')));
          if (got.includes('event: sample')) resolve();
        });
        res.on('error', () => undefined);
      });
    });
    req.end();
    await new Promise((r) => setTimeout(r, 100));
    const second = await new Promise<number>((resolve) => {
      const r2 = request({ host: '127.0.0.1', port: e.port, path: '/events', agent: false }, (res) => resolve(res.statusCode ?? 0));
      r2.on('error', () => undefined);
      r2.end();
    });
    assert.equal(second, 200);
    assert.equal((await get(e.port, '/events')).status, 503);
    e.dir.services.services()[0].stats.conns = 42;
    const s = e.feed.tick();
    assert.equal(s?.cps !== undefined, true);
    await first;
    assert.deepEqual(got.slice(0, 4), ['event: history', 'event: snapshot', 'event: sample', 'event: snapshot']);
    req.destroy();
  } finally {
    await e.server.close();
  }
});
