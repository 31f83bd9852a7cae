/**
 * The live page's files, read once at start from dist/web (built by `npm run build` from web/
 * with esbuild; uPlot bundled in, nothing fetched at run time) and served from memory.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** dist/web, beside dist/src. */
export const WEB_DIR = join(__dirname, '..', '..', 'web');

const FILES: ReadonlyArray<{ path: string; file: string; type: string }> = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { path: '/app.css', file: 'app.css', type: 'text/css; charset=utf-8' },
];

export class PageAssets {
  private constructor(private readonly byPath: ReadonlyMap<string, { type: string; body: Buffer }>) {}

  /** Reads every file; throws Error naming the missing one. Start-up only (synchronous reads). */
  static load(dir = WEB_DIR): PageAssets {
    const m = new Map<string, { type: string; body: Buffer }>();
    for (const f of FILES) {
      try {
        m.set(f.path, { type: f.type, body: readFileSync(join(dir, f.file)) });
      } catch {
        throw new Error(`live page: ${join(dir, f.file)} missing (built by npm run build)`);
      }
    }
    return new PageAssets(m);
  }

  get(path: string): { type: string; body: Buffer } | undefined {
    return this.byPath.get(path === '/index.html' ? '/' : path);
  }
}
