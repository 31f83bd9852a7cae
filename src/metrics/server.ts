/**
 * The metrics listener (lvsd --metrics-listen, lvs-dlm --metrics-listen): plain HTTP/1.1,
 * read-only, GET and HEAD only.
 *
 *   GET /metrics        Prometheus text format (prom-client)
 *   GET /               the live page (web/, bundled into dist/web by npm run build)
 *   GET /app.js /app.css its script and styles
 *   GET /events         server-sent events: "history" once, then a "sample" every second
 *   GET /api/snapshot   the page's JSON snapshot
 *   anything else       404
 *
 * It shares the packet thread's event loop, so it must never hold it: a scrape is
 * O(services + real servers) and gives the loop back between metric families (exposition()),
 * the page data is serialised once per second for all clients, and
 * untrusted clients are bounded (LIMITS): request headers at most MAX_HEADER_BYTES (431
 * beyond), the headers within HEADERS_TIMEOUT_MS, a whole request within REQUEST_TIMEOUT_MS, an
 * idle socket closed after IDLE_TIMEOUT_MS, at most MAX_CONNECTIONS sockets (further ones are
 * closed at once) and MAX_EVENT_STREAMS event streams (503 beyond).
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { PageAssets } from './assets';
import type { PageFeed } from './feed';
import type { ListenAddr } from './listen';
import { exposition } from './registry';

export const LIMITS = {
  MAX_HEADER_BYTES: 16 * 1024,
  // Generous for a loaded machine (the clock runs from the accept, not from the first byte),
  // short enough that a slow client holds a slot for seconds, not minutes.
  HEADERS_TIMEOUT_MS: 10_000,
  REQUEST_TIMEOUT_MS: 20_000,
  IDLE_TIMEOUT_MS: 10_000,
  MAX_CONNECTIONS: 256,
  MAX_EVENT_STREAMS: 32,
};
export type Limits = typeof LIMITS;

/** Status lines for the errors node's HTTP parser reports before a request exists. */
const CLIENT_ERRORS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

export interface MetricsServerOptions {
  listen: ListenAddr;
  /** Absent until serve(): requests are answered 503 while the daemon starts. */
  registry?: Registry;
  /** The live page; without it / and /events are 404 (lvs-dlm). */
  page?: { assets: PageAssets; feed: PageFeed };
  /** Tests shorten the timeouts; the daemons use LIMITS. */
  limits?: Partial<Limits>;
}

export class MetricsServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly streams = new Set<ServerResponse>();
  private registry: Registry | undefined;
  private page: MetricsServerOptions['page'];
  private refresh: (() => Promise<void>) | undefined;
  private readonly limits: Limits;

  constructor(private readonly opts: MetricsServerOptions) {
    this.registry = opts.registry;
    this.page = opts.page;
    const l = this.limits = { ...LIMITS, ...opts.limits };
    this.server = createServer({
      maxHeaderSize: l.MAX_HEADER_BYTES,
      headersTimeout: l.HEADERS_TIMEOUT_MS,
      requestTimeout: l.REQUEST_TIMEOUT_MS,
      keepAliveTimeout: l.IDLE_TIMEOUT_MS,
      connectionsCheckingInterval: Math.min(1000, l.HEADERS_TIMEOUT_MS),
    }, (req, res) => this.route(req, res));
    this.server.maxConnections = l.MAX_CONNECTIONS;
    // Inactivity on a socket (a client that connects and sends nothing, or stops reading).
    this.server.setTimeout(l.IDLE_TIMEOUT_MS, (sock) => sock.destroy());
    this.server.on('connection', (sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    this.server.on('clientError', (err, sock) => {
      if (sock.writable && !sock.writableEnded) {
        const status = CLIENT_ERRORS[(err as NodeJS.ErrnoException).code ?? ''] ?? '400 Bad Request';
        sock.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      }
      sock.destroy();
    });
  }

  /** Binds; rejects with the socket error (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.opts.listen.host, port: this.opts.listen.port, backlog: 511 }, () => {
        this.server.removeListener('error', onError);
        resolve();
      });
    });
  }

  /** Starts answering with `registry` (and the page), once the daemon's state exists. */
  /** `refresh` runs before each scrape (packet workers' counters gathered). */
  serve(registry: Registry, page?: MetricsServerOptions['page'], refresh?: () => Promise<void>): void {
    this.registry = registry;
    this.page = page;
    this.refresh = refresh;
  }

  /** The bound port (useful with port 0 in tests). */
  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  get connections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const r of this.streams) r.end();
    this.streams.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 }).end();
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0];
    const registry = this.registry;
    if (!registry) {
      send(res, 503, 'text/plain; charset=utf-8', 'starting\n');
      return;
    }
    if (path === '/metrics') {
      (this.refresh ? this.refresh() : Promise.resolve()).then(() => exposition(registry)).then(
        (text) => send(res, 200, registry.contentType, text),
        (err: Error) => send(res, 500, 'text/plain; charset=utf-8', `${err.message}\n`),
      );
      return;
    }
    const page = this.page;
    if (page) {
      const asset = page.assets.get(path);
      if (asset) {
        send(res, 200, asset.type, asset.body);
        return;
      }
      if (path === '/events') {
        this.events(req, res, page.feed);
        return;
      }
      if (path === '/api/snapshot') {
        send(res, 200, 'application/json', JSON.stringify(page.feed.snapshot()));
        return;
      }
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  }

  private events(req: IncomingMessage, res: ServerResponse, feed: PageFeed): void {
    if (this.streams.size >= this.limits.MAX_EVENT_STREAMS) {
      send(res, 503, 'text/plain; charset=utf-8', 'too many event streams\n');
      return;
    }
    // A stream is written every second: the idle timeout does not apply, a peer that stops
    // reading is cut off once its unsent data passes the socket's high-water mark.
    req.socket.setTimeout(0);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    this.streams.add(res);
    res.write(`event: history\ndata: ${JSON.stringify(feed.history())}\n\n`);
    res.write(`event: snapshot\ndata: ${JSON.stringify(feed.snapshot())}\n\n`);
    const off = feed.subscribe((sample, snap) => {
      if (res.writableNeedDrain) {
        res.destroy();
        return;
      }
      res.write(`event: sample\ndata: ${JSON.stringify(sample)}\n\nevent: snapshot\ndata: ${snap}\n\n`);
    });
    res.on('close', () => {
      off();
      this.streams.delete(res);
    });
  }
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
