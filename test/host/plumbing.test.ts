/**
 * Runtime plumbing (src/host/plumbing.ts) with a recording runner: services and NAT replies
 * become set elements, the steering table and its two rules come with the first element and
 * go with the last, the state file names the table before it exists, and a failed kernel
 * change fails the command that caused it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Plumbing, replyMark, serviceMark, steeringRuleset, tunnelIcmpMark } from '../../src/host/plumbing';
import type { Tool } from '../../src/host/batch';
import { ipFromString } from '../../src/ipvs/types';

const VIP = ipFromString('198.18.100.1');
const RIP = ipFromString('198.19.0.11');
const quiet = { info: () => undefined, warn: () => undefined };

function setup(fail: (lines: string[]) => boolean = () => false) {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-plumbing-'));
  const stateFile = join(dir, 'lvsd.sock.plumbing.json');
  const runs: Array<{ tool: Tool; lines: string[]; state: string }> = [];
  const p = new Plumbing({
    tun: 'lvs0', table: 4040, stateFile,
    runner: async (tool, lines) => {
      let state = '';
      try {
        state = readFileSync(stateFile, 'utf8');
      } catch {
        /* not written yet */
      }
      runs.push({ tool, lines, state });
      if (fail(lines)) throw new Error('Error: Could not process rule: No such file or directory');
    },
  }, quiet);
  return { p, runs, stateFile, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('marks: "LS", "LR" and "LV" with the table number', () => {
  assert.equal(serviceMark(4040), 0x4c530fc8);
  assert.equal(replyMark(4040), 0x4c520fc8);
  assert.equal(tunnelIcmpMark(4040), 0x4c560fc8);
  const rs = steeringRuleset('lvsd_4040', 4040);
  assert.match(rs, /^add table ip lvsd_4040\ndelete table ip lvsd_4040\ntable ip lvsd_4040 \{/, 'recreated, never merged');
  // Reply marks first, the service marks after them, the tunnel mark last: the later wins.
  const order = ['@reply meta mark set 0x4c520fc8', '@svc meta mark set 0x4c530fc8', 'frag-needed @th,136,8 4 meta mark set 0x4c560fc8'];
  const at = order.map((s) => rs.indexOf(s));
  assert.ok(at.every((i) => i > 0) && at[0] < at[1] && at[1] < at[2], JSON.stringify(at));
});

test('the first service creates the table and two rules (state file first), then elements; the last removes them', async () => {
  const { p, runs, done } = setup();
  try {
    await p.applied(() => {
      p.serviceRule(true, 6, VIP, 80);
      p.serviceRule(true, 6, VIP, 443);
      p.replyRule(true, 6, RIP, 80);
      p.icmpReplyRule(true, RIP);
    });
    assert.equal(runs[0].tool, 'nft');
    assert.match(runs[0].lines[0], /^add table ip lvsd_4040/);
    assert.equal(JSON.parse(runs[0].state).nftTable, 'lvsd_4040', 'the state file names the table before it is created');
    assert.deepEqual(runs[1], { tool: 'ip', state: runs[1].state, lines: [
      'rule add pref 100 fwmark 0x4c530fc8/0xffffffff lookup 4040',
      'rule add pref 300 fwmark 0x4c520fc8/0xffffffff lookup 4040'] });
    assert.deepEqual(runs[2].lines, [
      'add element ip lvsd_4040 svc { 198.18.100.1 . tcp . 80 }',
      'add element ip lvsd_4040 icmp_to { 198.18.100.1 }',
      'add element ip lvsd_4040 svc { 198.18.100.1 . tcp . 443 }',
      'add element ip lvsd_4040 reply { 198.19.0.11 . tcp . 80 }',
      'add element ip lvsd_4040 icmp_from { 198.19.0.11 }',
    ], 'the VIP\'s ICMP element is added once for both services');
    runs.length = 0;
    await p.applied(() => p.serviceRule(false, 6, VIP, 80));
    assert.deepEqual(runs.flatMap((r) => r.lines), ['delete element ip lvsd_4040 svc { 198.18.100.1 . tcp . 80 }']);
    runs.length = 0;
    await p.applied(() => {
      p.serviceRule(false, 6, VIP, 443);
      p.replyRule(false, 6, RIP, 80);
      p.icmpReplyRule(false, RIP);
    });
    const lines = runs.flatMap((r) => r.lines);
    assert.deepEqual(lines.slice(-3), [
      'rule del pref 100 fwmark 0x4c530fc8/0xffffffff lookup 4040',
      'rule del pref 300 fwmark 0x4c520fc8/0xffffffff lookup 4040',
      'delete table ip lvsd_4040',
    ]);
  } finally {
    done();
  }
});

test('port-0 services and NAT real servers use the sets without a port', async () => {
  const { p, runs, done } = setup();
  try {
    await p.applied(() => {
      p.serviceRule(true, 17, VIP, 0);
      p.replyRule(true, 17, RIP, 0);
    });
    const lines = runs.flatMap((r) => r.lines);
    assert.ok(lines.includes('add element ip lvsd_4040 svc_any { 198.18.100.1 . udp }'));
    assert.ok(lines.includes('add element ip lvsd_4040 reply_any { 198.19.0.11 . udp }'));
  } finally {
    done();
  }
});

test('a kernel change that fails fails the command that queued it, with the kernel\'s message', async () => {
  const { p, done } = setup((lines) => lines.some((l) => l.includes('198.18.100.9')));
  try {
    await p.applied(() => p.serviceRule(true, 6, VIP, 80));
    await assert.rejects(p.applied(() => p.serviceRule(true, 6, ipFromString('198.18.100.9'), 80)),
      (err: Error & { code?: string }) => err.code === 'EKERNEL' && /kernel plumbing failed: .*No such file/.test(err.message));
    assert.equal(await p.applied(() => 'no kernel change'), 'no kernel change', 'a query waits for nothing and fails on nothing');
  } finally {
    done();
  }
});
