/**
 * keepalived.conf line semantics (src/control/keepalived/reader.ts, tree.ts), each rule as
 * keepalived 2.2's lib/parser.c applies it: decomment(), @id lines, $NAME definitions and
 * expansion with the built-ins, ~SEQ, include with globs, brace splitting, block nesting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError, Diagnostics, type FileAccess, NODE_FILES, decomment, formatDiagnostic, glob, readStatements, splitBraces,
} from '../../src/control/keepalived/reader';
import { buildTree, MAX_BLOCK_DEPTH } from '../../src/control/keepalived/tree';
import { MAX_ERRORS } from '../../src/control/keepalived/reader';

/** An in-memory file system: path -> text. */
function memfs(files: Record<string, string>): FileAccess {
  return {
    stat: async (p) => (p in files ? { regular: true, size: files[p].length, executable: false, key: p } : undefined),
    read: async (p) => files[p],
    readdir: async (d) => Object.keys(files).filter((p) => p.startsWith(d + '/') && !p.slice(d.length + 1).includes('/'))
      .map((p) => p.slice(d.length + 1)),
  };
}

async function lines(text: string, opts: { configId?: string; extra?: Record<string, string> } = {}): Promise<{ words: string[][]; diags: string[] }> {
  const d = new Diagnostics();
  const ls = await readStatements('/k/keepalived.conf', d, {
    configId: opts.configId, files: memfs({ '/k/keepalived.conf': text, ...opts.extra }), random: () => 0.5,
  });
  return { words: ls.map((l) => l.words), diags: d.list.map(formatDiagnostic) };
}

test('decomment: ! and # start a comment anywhere outside double quotes (parser.c decomment)', async () => {
  assert.deepEqual(decomment('  auth_pass Test123!'), { text: 'auth_pass Test123', cont: false });
  assert.deepEqual(decomment('auth_pass abc#def'), { text: 'auth_pass abc', cont: false });
  assert.deepEqual(decomment('misc_path "/bin/check #1 !x"  # trailing'), { text: 'misc_path "/bin/check #1 !x"', cont: false });
  // \! and \# outside quotes are the characters themselves.
  assert.deepEqual(decomment('auth_pass Test123\\!'), { text: 'auth_pass Test123!', cont: false });
  assert.deepEqual(decomment('$X=a \\'), { text: '$X=a\\', cont: true });
  assert.deepEqual((await lines('auth_pass Test123!\n')).words, [['auth_pass', 'Test123']]);
});

test('@id lines: kept only for the matching --config-id; @^id only when it does not match', async () => {
  const text = '@lb1 priority 150\n@lb2 priority 100\n@^lb1 state BACKUP\nrouter_id x\n';
  assert.deepEqual((await lines(text, { configId: 'lb1' })).words, [['priority', '150'], ['router_id', 'x']]);
  assert.deepEqual((await lines(text, { configId: 'lb2' })).words, [['priority', '100'], ['state', 'BACKUP'], ['router_id', 'x']]);
  // No config id: every @ID line goes, every @^ID line stays.
  assert.deepEqual((await lines(text)).words, [['state', 'BACKUP'], ['router_id', 'x']]);
});

test('$NAME=value definitions; $NAME and ${NAME} expansion; built-ins _BANG _HASH _INSTANCE _RANDOM _PWD', async () => {
  const r = await lines([
    '$VIP=198.18.100.1',
    '$PORT = 80',
    'virtual_server $VIP ${PORT}',
    'real_server ${VIP}1 $PORT',
    'x $VIPx ${NOPE}',
    'auth_pass a${_BANG}b',
    'auth_pass a\\${_BANG}b "c${_BANG}d"',
    'pwd ${_PWD} ${_INSTANCE} ${_RANDOM 10 20}',
  ].join('\n'), { configId: 'node7' });
  assert.deepEqual(r.words, [
    ['virtual_server', '198.18.100.1', '80'],
    ['real_server', '198.18.100.11', '80'],
    // $VIPx is not $VIP followed by x (a definition name ends at a blank, ',', ')' or the end);
    // an undefined ${NOPE} stays, and its braces are statements as any others.
    ['x', '$VIPx', '$'], ['{'], ['NOPE'], ['}'],
    // The expanded line is decommented again: an expanded ! starts a comment unless escaped
    // or quoted.
    ['auth_pass', 'a'],
    ['auth_pass', 'a!b', 'c!d'],
    ['pwd', '/k', 'node7', '15'],
  ]);
  assert.deepEqual((await lines('a ${_HASH}b c\n')).words, [['a']]);
});

test('multi-line definitions: a value ending in \\ continues; the name alone on a line expands to its lines', async () => {
  const r = await lines([
    '$RS=real_server 198.19.0.1 80 { \\',
    '  weight 2 \\',
    '}',
    '$RS',
  ].join('\n'));
  assert.deepEqual(r.words, [['real_server', '198.19.0.1', '80'], ['{'], ['weight', '2'], ['}']]);
});

test('~SEQ(var, start, step, end) repeats the rest of the line with $var set', async () => {
  assert.deepEqual((await lines('~SEQ(i, 1, 3) real_server 198.19.0.$i 80\n')).words,
    [['real_server', '198.19.0.1', '80'], ['real_server', '198.19.0.2', '80'], ['real_server', '198.19.0.3', '80']]);
  assert.deepEqual((await lines('~SEQ(i, 10, -5, 0) w $i\n')).words, [['w', '10'], ['w', '5'], ['w', '0']]);
  assert.deepEqual((await lines('~SEQ(i, 2) w $i\n')).words, [['w', '1'], ['w', '2']]);
  assert.deepEqual((await lines('~SEQx(i, 9, 11) w $i\n')).words, [['w', '9'], ['w', 'a'], ['w', 'b']]);
  const bad = await lines('~SEQ(i, 1, -1, 3) w $i\n');
  assert.deepEqual(bad.words, []);
  assert.match(bad.diags[0], /^\/k\/keepalived\.conf:1: Invalid ~SEQ/);
  await assert.rejects(lines('~SEQ(i, 1, 100000000) w $i\n'), (e: unknown) => e instanceof ConfigError && e.line === 1);
});

test('braces outside quotes are statements of their own; quoted strings are one word', async () => {
  assert.deepEqual(splitBraces('real_server 1.2.3.4 80 { weight 1 }'), ['real_server 1.2.3.4 80', '{', 'weight 1', '}']);
  assert.deepEqual(splitBraces('misc_path "/bin/x {a}"'), ['misc_path "/bin/x {a}"']);
  assert.deepEqual((await lines('misc_path "/bin/check.sh 1 2" x\n')).words, [['misc_path', '/bin/check.sh 1 2', 'x']]);
});

test('include: globs (with braces) relative to the including file, in sorted order; missing files reported and skipped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ka-inc-'));
  try {
    mkdirSync(join(dir, 'conf.d'));
    writeFileSync(join(dir, 'keepalived.conf'), 'include conf.d/*.conf\ninclude none/{a,b}.conf\ninclude missing.conf\nlast\n');
    writeFileSync(join(dir, 'conf.d', 'b.conf'), 'b1\ninclude ../more/x.inc\n');
    writeFileSync(join(dir, 'conf.d', 'a.conf'), 'a1\n');
    writeFileSync(join(dir, 'conf.d', 'a.conf.bak'), 'nope\n');
    mkdirSync(join(dir, 'more'));
    writeFileSync(join(dir, 'more', 'x.inc'), 'x1\n');
    const d = new Diagnostics();
    const ls = await readStatements(join(dir, 'keepalived.conf'), d);
    assert.deepEqual(ls.map((l) => `${l.words[0]}@${l.file.slice(dir.length)}:${l.line}`),
      ['a1@/conf.d/a.conf:1', 'b1@/conf.d/b.conf:1', 'x1@/more/x.inc:1', `last@/keepalived.conf:4`]);
    assert.deepEqual(d.list.map((x) => `${x.line}: ${x.message}`), [
      "2: No config files matched 'none/{a,b}.conf'",
      "3: Config files missing 'missing.conf'; include skipped",
    ]);
    assert.deepEqual(await glob(join(dir, 'conf.d', '{b,a}.conf'), NODE_FILES), [join(dir, 'conf.d/b.conf'), join(dir, 'conf.d/a.conf')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad inputs end with one error naming file and line: include loop, /dev/zero, a 10 MB file, binary', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ka-bad-'));
  try {
    writeFileSync(join(dir, 'loop.conf'), 'a\ninclude loop2.conf\n');
    writeFileSync(join(dir, 'loop2.conf'), 'include loop.conf\n');
    await assert.rejects(readStatements(join(dir, 'loop.conf'), new Diagnostics()),
      (e: unknown) => e instanceof ConfigError && e.file === join(dir, 'loop2.conf') && e.line === 1 && /include loop/.test(e.message));
    // keepalived skips what is not a regular, non-executable file, with an error: so does lvsd.
    writeFileSync(join(dir, 'zero.conf'), 'include /dev/zero\nok\n');
    const d = new Diagnostics();
    const ls = await readStatements(join(dir, 'zero.conf'), d);
    assert.deepEqual(ls.map((l) => l.words[0]), ['ok']);
    assert.deepEqual(d.list.map(formatDiagnostic), [`${join(dir, 'zero.conf')}:1: Configuration file '/dev/zero' is not a regular non-executable file - skipping`]);
    await assert.rejects(readStatements('/dev/zero', new Diagnostics()), (e: unknown) => e instanceof ConfigError && /not a regular/.test(e.message));
    writeFileSync(join(dir, 'big.conf'), '! padding\n'.repeat(1_100_000));
    await assert.rejects(readStatements(join(dir, 'big.conf'), new Diagnostics()),
      (e: unknown) => e instanceof ConfigError && /larger than/.test(e.message));
    writeFileSync(join(dir, 'bin.conf'), Buffer.from([0x61, 0, 0x62]));
    await assert.rejects(readStatements(join(dir, 'bin.conf'), new Diagnostics()), (e: unknown) => e instanceof ConfigError && /NUL/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nesting: a missing { still opens a block keyword\'s block; unexpected { and extra } are reported; deep nesting refused', async () => {
  const parse = async (text: string) => {
    const d = new Diagnostics();
    const t = buildTree(await readStatements('/k/k.conf', d, { files: memfs({ '/k/k.conf': text }) }), d);
    return { t, diags: d.list.map(formatDiagnostic) };
  };
  const a = await parse('virtual_server 1.2.3.4 80\n  lb_algo rr\n}\n}\n');
  assert.equal(a.t[0].kw, 'virtual_server');
  assert.deepEqual(a.t[0].block?.map((n) => n.kw), ['lb_algo']);
  assert.deepEqual(a.diags, [
    "/k/k.conf:1: Missing '{' at beginning of configuration block 'virtual_server'",
    "/k/k.conf:4: Extra '}' found",
  ]);
  // keepalived: an unexpected { is ignored, what follows is read at the current level, and
  // its } closes the current level.
  const b = await parse('global_defs {\n router_id x {\n y\n }\n z\n}\n');
  assert.deepEqual(b.t.map((n) => n.kw), ['global_defs', 'z']);
  assert.deepEqual(b.t[0].block?.map((n) => n.kw), ['router_id', 'y']);
  const deep = 'virtual_server 1.2.3.4 80 {\n' + 'url {\n'.repeat(200_000);
  await assert.rejects(parse(deep), (e: unknown) => e instanceof ConfigError && e.line === MAX_BLOCK_DEPTH + 1 && /nested deeper/.test(e.message));
  // 200,000 lone braces: each is "Unexpected '{'"; lvsd gives up after MAX_ERRORS.
  await assert.rejects(parse('{\n'.repeat(200_000)),
    (e: unknown) => e instanceof ConfigError && e.line === MAX_ERRORS + 1 && /more than 200 errors/.test(e.message));
});
