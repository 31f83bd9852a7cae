// Builds the live page into dist/web: web/app.ts and uPlot (from node_modules) bundled by
// esbuild into app.js and app.css, index.html copied. Runs after tsc in `npm run build`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = dirname(fileURLToPath(import.meta.url));
const out = join(web, '..', 'dist', 'web');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(web, 'app.ts') },
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  outdir: out,
  logLevel: 'warning',
});
copyFileSync(join(web, 'index.html'), join(out, 'index.html'));
