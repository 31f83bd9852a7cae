/**
 * lvsd's metrics listener as the daemon uses it: bound first (a port in use fails lvsd before
 * the TUN device or any rule exists), then attached to the director once it runs.
 */
import { PageAssets } from './assets';
import { PageFeed } from './feed';
import type { ListenAddr } from './listen';
import { createRegistry } from './registry';
import { MetricsServer } from './server';
import type { MetricsSources } from './sources';

export class DirectorMetrics {
  private feed: PageFeed | undefined;

  private constructor(readonly server: MetricsServer, private readonly assets: PageAssets) {}

  /** Loads the page and binds; throws Error with a one-line message on failure. */
  static async bind(listen: ListenAddr): Promise<DirectorMetrics> {
    const assets = PageAssets.load();
    const server = new MetricsServer({ listen });
    try {
      await server.listen();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'address already in use' : code ?? (err as Error).message;
      throw new Error(`--metrics-listen ${listen.host}:${listen.port}: ${why}`);
    }
    return new DirectorMetrics(server, assets);
  }

  attach(sources: MetricsSources): void {
    this.feed = new PageFeed(sources);
    this.server.serve(createRegistry(sources), { assets: this.assets, feed: this.feed }, sources.refresh);
    this.feed.start();
  }

  async close(): Promise<void> {
    this.feed?.stop();
    await this.server.close();
  }
}
