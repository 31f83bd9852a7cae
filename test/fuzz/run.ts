/**
 * `npm run fuzz`: runs each coverage-guided fuzz target (test/fuzz/targets/) with jsfuzz
 * until it has executed --execs inputs or --seconds have passed, starting from the seed corpus
 * (seeds.ts) and the kept regressions. An input that fails a target is copied to
 * test/fuzz/regressions/TARGET/ (a regression test from then on) and the run exits 1.
 *
 *   node dist/test/fuzz/run.js [--seconds S] [--execs N] [--jobs J] [--no-keep] [TARGET ...]
 *
 * Prints one line per target: executions, executions per second, coverage points, corpus
 * size, failures. The working corpus lives in a temporary directory removed at the end.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { regressionsFor, seedsFor, type Target, TARGETS } from './seeds';

const ROOT = join(__dirname, '..', '..', '..');
const JSFUZZ = require.resolve('jsfuzz/build/src/index.js');
const TEXT_TARGETS: ReadonlySet<Target> = new Set(['lvsadm']);

export interface FuzzResult {
  target: Target;
  execs: number;
  execsPerSec: number;
  coverage: number;
  corpus: number;
  crashes: number;
  seconds: number;
  detail: string;
}

function runTarget(t: Target, seconds: number, execs: number, keep: boolean): Promise<FuzzResult> {
  const work = mkdtempSync(join(tmpdir(), `lvs-fuzz-${t}-`));
  const corpus = join(work, 'corpus');
  mkdirSync(corpus);
  const inputs = [...seedsFor(t), ...regressionsFor(t).map((r) => r.data)];
  inputs.forEach((b, i) => writeFileSync(join(corpus, `seed-${i}`), b));
  const artifact = join(work, 'crash');
  const target = join(ROOT, 'dist', 'test', 'fuzz', 'targets', `${t}.js`);
  const started = Date.now();
  // jsfuzz's versifier learns the structure of text inputs; on binary ones it only costs time.
  const versifier = TEXT_TARGETS.has(t) ? 'true' : 'false';
  // --timeout: one input's limit; the first input also loads (and instruments) the target's
  // modules, which on a loaded machine took longer than 10 s for the control target.
  const child = spawn(process.execPath, [JSFUZZ, relative(work, target), corpus, '--exact-artifact-path', artifact,
    '--rss-limit-mb', '1024', '--timeout', '30', '--versifier', versifier],
    // Its own process group: jsfuzz forks a worker that must end with it (an orphan would keep
    // the output pipes, and so this run, open).
    { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const res: FuzzResult = { target: t, execs: 0, execsPerSec: 0, coverage: 0, corpus: 0, crashes: 0, seconds: 0, detail: '' };
  let tail = '';
  let stopping = false;
  const group = (sig: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      /* already gone */
    }
  };
  let killer: NodeJS.Timeout | undefined;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    group('SIGINT');
    killer = setTimeout(() => group('SIGKILL'), 5000);
  };
  const timer = setTimeout(stop, seconds * 1000);
  const onLine = (line: string) => {
    const m = /^#(\d+) (?:PULSE|NEW)\s+cov: (\d+) corp: (\d+) exec\/s: (\d+)/.exec(line);
    if (m) {
      res.execs = Number(m[1]);
      res.coverage = Number(m[2]);
      res.corpus = Number(m[3]);
      if (res.execs >= execs) stop();
    } else if (line.trim().length > 0 && !line.startsWith('#')) {
      tail = (tail + line + '\n').slice(-4000);
    }
  };
  let buffered = '';
  const feed = (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    lines.forEach(onLine);
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  return new Promise((resolve) => {
    child.on('close', () => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      group('SIGKILL');
      res.seconds = (Date.now() - started) / 1000;
      res.execsPerSec = Math.round(res.execs / Math.max(res.seconds, 0.001));
      if (existsSync(artifact)) {
        res.crashes = 1;
        res.detail = tail;
        if (keep) {
          const dir = join(ROOT, 'test', 'fuzz', 'regressions', t);
          mkdirSync(dir, { recursive: true });
          const name = `crash-${createHash('sha256').update(require('node:fs').readFileSync(artifact)).digest('hex').slice(0, 16)}`;
          copyFileSync(artifact, join(dir, name));
          res.detail += `kept as test/fuzz/regressions/${t}/${name}\n`;
        }
      } else if (!stopping) {
        res.crashes = 1;
        res.detail = `jsfuzz ended by itself\n${tail}`;
      }
      rmSync(work, { recursive: true, force: true });
      resolve(res);
    });
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      seconds: { type: 'string', default: '600' },
      execs: { type: 'string', default: '1000000' },
      jobs: { type: 'string', default: '2' },
      'no-keep': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
    allowPositionals: true,
  });
  const seconds = Number(values.seconds);
  const execs = Number(values.execs);
  const jobs = Number(values.jobs);
  if (!(seconds > 0) || !(execs > 0) || !(Number.isInteger(jobs) && jobs > 0)) {
    process.stderr.write('fuzz: --seconds, --execs and --jobs must be positive numbers\n');
    process.exit(2);
  }
  const unknown = positionals.filter((p) => !(TARGETS as readonly string[]).includes(p));
  if (unknown.length) {
    process.stderr.write(`fuzz: unknown target ${unknown.join(', ')}; targets: ${TARGETS.join(' ')}\n`);
    process.exit(2);
  }
  const todo = (positionals.length ? positionals : [...TARGETS]) as Target[];
  const results: FuzzResult[] = [];
  const queue = [...todo];
  await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      const r = await runTarget(t, seconds, execs, !values['no-keep']);
      results.push(r);
      process.stdout.write(`fuzz ${r.target}: ${r.execs} executions in ${r.seconds.toFixed(0)} s (${r.execsPerSec}/s), `
        + `coverage ${r.coverage}, corpus ${r.corpus}, ${r.crashes} failures\n`);
      if (r.crashes) process.stdout.write(r.detail.replace(/^/gm, `  ${r.target}| `) + '\n');
    }
  }));
  if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2) + '\n');
  process.exit(results.some((r) => r.crashes > 0) ? 1 : 0);
}

void main();
