/**
 * VRRP tracking (src/ha/track.ts) against keepalived's rules: vrrp_scheduler.c
 * vrrp_script_child_thread() (rise/fall counter), vrrp_track.c process_script_update_priority(),
 * initialise_*_tracking_priorities(), vrrp_set_effective_priority(), track_file.c.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScriptResult, type Tracked, evaluate, trackFileValue } from '../../src/ha/track';

/** Statuses after each result of `runs` ('1' success, '0' failure). */
function run(r: ScriptResult, runs: string): string[] {
  return [...runs].map((c) => { r.report(c === '1'); return r.status; });
}

test('rise/fall: starts "init"; the first result decides at once (one success is enough), then fall failures / rise successes in a row', () => {
  assert.deepEqual(run(new ScriptResult(3, 2), '1'), ['ok']);
  assert.deepEqual(run(new ScriptResult(3, 2), '0'), ['fail'], 'a first failure is down at once');
  // Up: 2 failures in a row to go down; an interrupting success starts the count again.
  assert.deepEqual(run(new ScriptResult(3, 2), '101001'), ['ok', 'ok', 'ok', 'ok', 'fail', 'fail']);
  // Down: 3 successes in a row to come up.
  assert.deepEqual(run(new ScriptResult(3, 2), '0110111'), ['fail', 'fail', 'fail', 'fail', 'fail', 'fail', 'ok']);
  assert.deepEqual(run(new ScriptResult(1, 1), '1010'), ['ok', 'fail', 'ok', 'fail']);
});

test('init_fail: failed from the start, rise successes to come up', () => {
  const r = new ScriptResult(2, 1, true);
  assert.equal(r.status, 'fail');
  assert.deepEqual(run(r, '11'), ['fail', 'ok']);
});

test('report() says whether the status changed', () => {
  const r = new ScriptResult(1, 2);
  assert.deepEqual([r.report(true), r.report(true), r.report(false), r.report(false), r.report(false)], [true, false, false, true, false]);
});

const S = (status: 'init' | 'ok' | 'fail', weight: number, reverse = false): Tracked => ({ kind: 'script', name: 'chk', weight, reverse, status });
const I = (up: boolean, weight: number, reverse = false): Tracked => ({ kind: 'interface', name: 'eth1', weight, reverse, up });
const F = (value: number, weight: number, reverse = false): Tracked => ({ kind: 'file', name: 'tf', weight, reverse, value });

test('weights: positive adds while up, negative subtracts while down, reverse turns the direction; "init" adds nothing', () => {
  assert.equal(evaluate(100, [S('ok', 20)]).priority, 120);
  assert.equal(evaluate(100, [S('fail', 20)]).priority, 100);
  assert.equal(evaluate(100, [S('ok', -20)]).priority, 100);
  assert.equal(evaluate(100, [S('fail', -20)]).priority, 80);
  assert.equal(evaluate(100, [S('ok', 20, true)]).priority, 80);
  assert.equal(evaluate(100, [S('fail', -20, true)]).priority, 120);
  assert.equal(evaluate(100, [S('init', 20), S('init', -20)]).priority, 100);
  assert.equal(evaluate(100, [I(false, -30), I(true, 5)]).priority, 75);
});

test('effective priority is clamped to 1..254, and an address owner (255) never moves', () => {
  assert.equal(evaluate(200, [S('ok', 100)]).priority, 254);
  assert.equal(evaluate(20, [S('fail', -100)]).priority, 1);
  assert.equal(evaluate(255, [S('fail', -100)]).priority, 255);
});

test('unweighted: a failed script, a down interface, a non-zero file put the instance in FAULT (reverse: the opposite)', () => {
  assert.match(evaluate(100, [S('fail', 0)]).fault ?? '', /script chk failed/);
  assert.equal(evaluate(100, [S('ok', 0)]).fault, undefined);
  assert.match(evaluate(100, [S('ok', 0, true)]).fault ?? '', /reverse/);
  assert.match(evaluate(100, [I(false, 0)]).fault ?? '', /eth1 down/);
  assert.equal(evaluate(100, [I(true, 0)]).fault, undefined);
  assert.match(evaluate(100, [F(3, 0)]).fault ?? '', /tf has status 3/);
  assert.equal(evaluate(100, [F(0, 0)]).fault, undefined);
  assert.match(evaluate(100, [F(0, 0, true)]).fault ?? '', /status 0/);
  const w = evaluate(100, [S('init', 0)]);
  assert.equal(w.fault, undefined);
  assert.match(w.waiting ?? '', /not run yet/);
});

test('track_file: value × weight (× -1 reverse), clamped to [-254, 253]; -254 is FAULT', () => {
  assert.equal(evaluate(100, [F(5, 2)]).priority, 110);
  assert.equal(evaluate(100, [F(5, 2, true)]).priority, 90);
  assert.equal(evaluate(100, [F(-7, 1)]).priority, 93);
  assert.equal(evaluate(100, [F(1000, 1)]).priority, 254);
  assert.match(evaluate(100, [F(-1000, 1)]).fault ?? '', /weighted -254/);
  assert.equal(evaluate(100, [F(-253, 1)]).fault, undefined);
});

test('track_file values read as strtol(buf, NULL, 0): decimal, hex, octal, sign, blanks, trailing text; empty or missing 0', () => {
  assert.deepEqual(['42\n', ' -3', '0x10', '010', '7 apples', '', 'abc', '+5'].map(trackFileValue), [42, -3, 16, 8, 7, 0, 0, 5]);
  assert.equal(trackFileValue(undefined), 0);
  assert.equal(trackFileValue('99999999999'), undefined, 'outside 32 bits: ignored, the previous value stays');
});
