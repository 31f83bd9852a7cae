/**
 * The corpus: keepalived.conf files from public repositories (test/fixtures/keepalived-corpus,
 * verbatim, sources in SOURCES). For each, Debian's keepalived is the oracle: `keepalived -t`
 * (in its own network namespace, with its own pid files, so it touches nothing) and `lvsd -t`
 * must agree on whether the file loads, and lvsd must name every line it does not act on.
 *
 * keepalived -t exit codes (keepalived/core/main.c config_test_exit()): 0 no diagnostic,
 * 5 diagnostics but it would run, 6 script security, 4 cannot run (file missing, fatal), and 2
 * when a keyword lacks its parameter (lib/parser.c null_strvec()). lvsd -t: 0 loads, 1 refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Diagnostics, readStatements } from '../../src/control/keepalived/reader';
import { ConfigError } from '../../src/control/keepalived';
import { loadKeepalivedConfig } from '../../src/health/load';
import { buildTree, type ConfNode } from '../../src/control/keepalived/tree';

const run = promisify(execFile);
const ROOT = join(__dirname, '../../..');
const DIR = join(ROOT, 'test/fixtures/keepalived-corpus');
const LVSD = join(ROOT, 'dist/src/cli/lvsd.js');
const KEEPALIVED = ['/usr/sbin/keepalived', '/usr/local/sbin/keepalived'].find((p) => existsSync(p));
const files = readdirSync(DIR).filter((f) => f !== 'SOURCES').sort();

async function exitCode(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(cmd, args, { timeout: 30_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, out: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

/** keepalived -t on `file`, isolated: a new network namespace when root, pid files in a temp dir. */
async function oracle(file: string, tmp: string): Promise<number> {
  const pids = ['-p', join(tmp, 'k.pid'), '-r', join(tmp, 'v.pid'), '-c', join(tmp, 'c.pid'), '-b', join(tmp, 'b.pid')];
  const args = ['-t', '-f', file, ...pids];
  const root = process.getuid?.() === 0;
  return (await (root ? exitCode('unshare', ['-n', KEEPALIVED!, ...args]) : exitCode(KEEPALIVED!, args))).code;
}

test('the corpus: at least 40 files, each with its source', () => {
  assert.ok(files.length >= 40, `${files.length} files`);
  const sources = readFileSync(join(DIR, 'SOURCES'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  const listed = new Map(sources.map((l) => l.split('\t')).map(([f, repo, path, commit]) => [f, { repo, path, commit }]));
  for (const f of files) {
    const s = listed.get(f);
    assert.ok(s, `${f} has no SOURCES line`);
    assert.match(s.commit, /^[0-9a-f]{40}$/, f);
    assert.match(s.repo, /^[^/\s]+\/[^/\s]+$/, f);
  }
});

const needOracle = !KEEPALIVED && process.env.CI !== 'true' ? 'keepalived not installed (netns/deps.sh installs it)' : false;

test('keepalived -t and lvsd -t agree on every corpus file', { skip: needOracle, timeout: 600_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ka-oracle-'));
  try {
    assert.ok(KEEPALIVED, 'keepalived is installed');
    const disagree: string[] = [];
    let refusedBoth = 0;
    for (const f of files) {
      const path = join(DIR, f);
      const k = await oracle(path, tmp);
      const l = await exitCode(process.execPath, [LVSD, '-t', '-f', path]);
      const kaLoads = k === 0 || k === 5 || k === 6;
      assert.ok([0, 1].includes(l.code), `${f}: lvsd -t exit ${l.code}\n${l.out}`);
      if (kaLoads !== (l.code === 0)) disagree.push(`${f}: keepalived -t ${k}, lvsd -t ${l.code}\n${l.out}`);
      if (!kaLoads) refusedBoth++;
      // Every line lvsd prints names a file and a line of it.
      for (const line of l.out.trim().split('\n')) assert.match(line, new RegExp(`^${path.replace(/[.+]/g, '\\$&')}(:\\d+)?: `), `${f}: ${line}`);
    }
    assert.deepEqual(disagree, []);
    // The corpus has both kinds (some files are templates keepalived refuses).
    assert.ok(refusedBoth > 0 && refusedBoth < files.length);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

/** Every node of the tree with the block range of each. */
function* nodes(tree: ConfNode[]): Generator<ConfNode> {
  const stack = [...tree].reverse();
  while (stack.length) {
    const n = stack.pop()!;
    yield n;
    if (n.block) stack.push(...[...n.block].reverse());
  }
}

const GOLDEN = join(ROOT, 'test/fixtures/keepalived-golden');

test('lvsd names every corpus line it does not act on (and every line of the golden files)', async () => {
  const all = [...files.map((f) => join(DIR, f)), ...readdirSync(GOLDEN).filter((f) => f.endsWith('.conf')).map((f) => join(GOLDEN, f))];
  for (const path of all) {
    const f = path.slice(ROOT.length + 1);
    let cfg;
    try {
      cfg = await loadKeepalivedConfig(path);
    } catch (err) {
      if (err instanceof ConfigError) continue;
      throw err;
    }
    const d = new Diagnostics();
    const tree = buildTree(await readStatements(path, d), d);
    const diagLines = new Set(cfg.diagnostics.map((x) => `${x.file}:${x.line}`));
    // A diagnostic on a block's first line covers the whole block.
    const covered = new Set<string>();
    for (const n of nodes(tree)) {
      if (n.block && diagLines.has(`${n.file}:${n.line}`)) {
        for (const m of nodes(n.block)) covered.add(`${m.file}:${m.line}`);
      }
    }
    const silent: string[] = [];
    for (const n of nodes(tree)) {
      const k = `${n.file}:${n.line}`;
      if (!cfg.visited.has(k) && !diagLines.has(k) && !covered.has(k)) silent.push(`${f}:${n.line}: ${n.kw} ${n.args.join(' ')}`);
    }
    assert.deepEqual(silent, [], `${f}: lines neither acted on nor named`);
  }
});
