/**
 * The ordered kernel-change queue (src/host/batch.ts) with a recording runner: merging of set
 * elements, order across tools, isolation of failures, and failures reported per caller.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelQueue, type Tool } from '../../src/host/batch';

function recorder(fail: (tool: Tool, lines: string[]) => string | undefined = () => undefined) {
  const runs: Array<{ tool: Tool; lines: string[] }> = [];
  const runner = async (tool: Tool, lines: string[]): Promise<void> => {
    runs.push({ tool, lines: [...lines] });
    const msg = fail(tool, lines);
    if (msg !== undefined) throw new Error(msg);
  };
  return { runs, runner };
}

const quiet = { warn: () => undefined };

test('consecutive elements of one set are one statement; tools run in the order queued', async () => {
  const { runs, runner } = recorder();
  const q = new KernelQueue(quiet, runner);
  for (let i = 1; i <= 3; i++) q.tool('nft', `add element ip t s { 10.0.0.${i} }`, { group: 'add element ip t s', item: `10.0.0.${i}` });
  q.tool('nft', 'add element ip t r { 1 }', { group: 'add element ip t r', item: '1' });
  q.tool('ip', 'rule add pref 100 fwmark 1 lookup 9');
  q.tool('nft', 'delete element ip t s { 10.0.0.1 }', { group: 'delete element ip t s', item: '10.0.0.1' });
  assert.deepEqual(await q.settled(), []);
  assert.deepEqual(runs, [
    { tool: 'nft', lines: ['add element ip t s { 10.0.0.1, 10.0.0.2, 10.0.0.3 }', 'add element ip t r { 1 }'] },
    { tool: 'ip', lines: ['rule add pref 100 fwmark 1 lookup 9'] },
    { tool: 'nft', lines: ['delete element ip t s { 10.0.0.1 }'] },
  ]);
});

test('a failed nft transaction is split until the failing operation is isolated; the others are applied', async () => {
  const { runs, runner } = recorder((tool, lines) => (lines.some((l) => l.includes('bad')) ? 'Error: No such file or directory' : undefined));
  const q = new KernelQueue(quiet, runner);
  q.tool('nft', 'add element ip t s { a }');
  q.tool('nft', 'add element ip t s { bad }');
  q.tool('nft', 'add element ip t s { c }');
  q.tool('nft', 'add element ip t s { d }');
  const errs = await q.settled();
  assert.equal(errs.length, 1);
  assert.match(errs[0].message, /No such file/);
  const applied = runs.filter((r) => !r.lines.some((l) => l.includes('bad'))).flatMap((r) => r.lines);
  assert.deepEqual(applied.sort(), ['add element ip t s { a }', 'add element ip t s { c }', 'add element ip t s { d }']);
});

test('a failed ip batch: the lines before the named one took effect, the ones after run again', async () => {
  let first = true;
  const { runs, runner } = recorder((tool, lines) => {
    if (first && lines.length === 3) {
      first = false;
      return 'RTNETLINK answers: File exists\nCommand failed -:2';
    }
    return undefined;
  });
  const q = new KernelQueue(quiet, runner);
  q.tool('ip', 'rule add a');
  q.tool('ip', 'rule add b');
  q.tool('ip', 'rule add c');
  const errs = await q.settled();
  assert.equal(errs.length, 1);
  assert.deepEqual(runs.map((r) => r.lines), [['rule add a', 'rule add b', 'rule add c'], ['rule add c']]);
});

test('settled(from) reports only the failures of operations queued from `from` on', async () => {
  const { runner } = recorder((_t, lines) => (lines.includes('x') ? `boom\nCommand failed -:${lines.indexOf('x') + 1}` : undefined));
  const q = new KernelQueue(quiet, runner);
  q.tool('ip', 'x');
  const mine = q.mark();
  q.tool('ip', 'y');
  assert.deepEqual(await q.settled(mine), []);
  assert.equal((await q.settled(1)).length, 1);
});

test('calls run after what was queued before them, and the queue is idle afterwards', async () => {
  const { runs, runner } = recorder();
  const q = new KernelQueue(quiet, runner);
  const seen: number[] = [];
  q.tool('ip', 'one');
  q.call(() => seen.push(runs.length));
  q.tool('ip', 'two');
  await q.settled();
  assert.deepEqual(seen, [1]);
  assert.equal(q.idle, true);
});

test('a batch that fails everywhere is not split into a run per operation', async () => {
  const { runs, runner } = recorder(() => 'Error: No such file or directory');
  const q = new KernelQueue(quiet, runner);
  for (let i = 0; i < 10000; i++) q.tool('nft', `add element ip gone s { ${i} }`);
  const errs = await q.settled();
  assert.ok(runs.length <= 65, `${runs.length} runs`);
  assert.ok(errs.length >= 1);
  const mine = q.mark();
  q.tool('nft', 'add element ip gone s { x }');
  assert.equal((await q.settled(mine)).length, 1, 'a later command still sees its own failure');
});
