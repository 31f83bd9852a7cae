/** The health manager against a real Director (memory device): removal, inhibit, quorum, sorry, reload. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { HealthManager } from '../../src/health/manager';
import type { RealServerSpec, VirtualServerSpec } from '../../src/control/checks';
import type { ProbeOutcome } from '../../src/health/probes';
import { createLog } from '../../src/log';

const log = createLog('test', 'silent');

function rs(addr: string, extra: Partial<RealServerSpec> = {}): RealServerSpec {
  return {
    addr, port: 80, weight: 1, fwd: 'masq', inhibitOnFailure: false,
    checks: [{ kind: 'TCP_CHECK', connectTimeoutMs: 10, retry: 0, delayBeforeRetryMs: 5, delayLoopMs: 5, warmupMs: 0 }],
    ...extra,
  };
}

function vs(reals: RealServerSpec[], extra: Partial<VirtualServerSpec> = {}): VirtualServerSpec {
  return {
    proto: 'tcp', addr: '198.18.100.1', port: 80, scheduler: 'rr', persistent: 0, ops: false,
    quorum: 1, hysteresis: 0, alpha: false, reals, ...extra,
  };
}

function setup() {
  const dir = new Director(new MemoryDevice({ batch: 8, scratchSlots: 2, vnetHdr: false }), { seed: 1 });
  const down = new Set<string>();
  const scripts: string[] = [];
  const m = new HealthManager(dir, log, {
    deps: {
      probe: async (t): Promise<ProbeOutcome> => ({ ok: !down.has(t.addr), detail: '' }),
      now: Date.now, random: () => 0,
    },
    runScript: (c) => scripts.push(c),
  });
  const table = (): string[] => {
    const r = dir.handle([{ op: 'list-services' }]);
    assert.equal(r.kind, 'services');
    if (r.kind !== 'services') return [];
    return r.services.flatMap((s) => s.dests.map((d) => `${s.port}>${d.addr}:${d.weight}`)).sort();
  };
  return { dir, m, down, table, scripts };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a failing server leaves the table and comes back; inhibit_on_failure keeps it at weight 0', async () => {
  const { m, down, table, scripts } = setup();
  m.apply([vs([rs('198.19.0.11', { notifyDown: 'down.sh' }), rs('198.19.0.12', { inhibitOnFailure: true, weight: 2 }), rs('198.19.0.13')])]);
  try {
    assert.deepEqual(table(), ['80>198.19.0.11:1', '80>198.19.0.12:2', '80>198.19.0.13:1']);
    down.add('198.19.0.11').add('198.19.0.12');
    await until(() => table().length === 2 && table().includes('80>198.19.0.12:0'), 'removal');
    assert.deepEqual(table(), ['80>198.19.0.12:0', '80>198.19.0.13:1']);
    assert.deepEqual(scripts, ['down.sh']);
    down.clear();
    await until(() => table().length === 3 && table().includes('80>198.19.0.12:2'), 'return');
    const snap = m.snapshot();
    assert.equal(snap[0].liveWeight, 4);
    assert.deepEqual(snap[0].alive, ['198.19.0.11:80', '198.19.0.12:80', '198.19.0.13:80']);
  } finally {
    m.stop();
  }
});

test('quorum with hysteresis: sorry server in when live weight < quorum - hysteresis, out at >= quorum + hysteresis', async () => {
  const { m, down, table, scripts } = setup();
  m.apply([vs([rs('198.19.0.11'), rs('198.19.0.12'), rs('198.19.0.13')], {
    quorum: 2, hysteresis: 1, sorry: { addr: '198.19.0.99', port: 80, fwd: 'masq', inhibit: false },
    quorumDown: 'qdown', quorumUp: 'qup',
  })]);
  try {
    down.add('198.19.0.11');
    await until(() => m.snapshot()[0].liveWeight === 2, 'one down');
    // W=2 is not < quorum - hysteresis = 1: quorum holds.
    assert.deepEqual(table(), ['80>198.19.0.12:1', '80>198.19.0.13:1']);
    down.add('198.19.0.12').add('198.19.0.13');
    await until(() => table().includes('80>198.19.0.99:1'), 'sorry in');
    assert.deepEqual(table(), ['80>198.19.0.99:1']);
    down.delete('198.19.0.12');
    down.delete('198.19.0.13');
    await until(() => m.snapshot()[0].liveWeight === 2, 'two back');
    await new Promise((r) => setTimeout(r, 30));
    // W=2 < quorum + hysteresis = 3: still the sorry server only.
    assert.deepEqual(table(), ['80>198.19.0.99:1']);
    down.clear();
    await until(() => !table().includes('80>198.19.0.99:1'), 'sorry out');
    assert.deepEqual(table(), ['80>198.19.0.11:1', '80>198.19.0.12:1', '80>198.19.0.13:1']);
    assert.deepEqual(scripts, ['qdown', 'qup']);
  } finally {
    m.stop();
  }
});

test('alpha: servers join only after a passing check', async () => {
  const { m, down, table } = setup();
  down.add('198.19.0.12');
  m.apply([vs([rs('198.19.0.11'), rs('198.19.0.12')], { alpha: true })]);
  try {
    assert.deepEqual(table(), []);
    await until(() => table().length === 1, 'first pass');
    assert.deepEqual(table(), ['80>198.19.0.11:1']);
  } finally {
    m.stop();
  }
});

test('reload applies the difference: kept servers keep their entry, removed ones go, scheduler edits in place', async () => {
  const { dir, m, table } = setup();
  m.apply([vs([rs('198.19.0.11'), rs('198.19.0.12')]), vs([rs('198.19.0.11')], { port: 81 })]);
  try {
    m.apply([vs([rs('198.19.0.11', { weight: 5 }), rs('198.19.0.13')], { scheduler: 'wrr' })]);
    assert.deepEqual(table(), ['80>198.19.0.11:5', '80>198.19.0.13:1']);
    const r = dir.handle([{ op: 'list-services' }]);
    assert.ok(r.kind === 'services' && r.services.length === 1 && r.services[0].scheduler === 'wrr');
  } finally {
    m.stop();
  }
});

test('a change the table refuses at run time is logged and counted, never thrown (the two configurations that ended lvsd)', async () => {
  // Specs as an unvalidated configuration would give them: a TUN service in alpha mode whose
  // real server port differs, and a DR sorry server on another port.
  const { m, down, table } = setup();
  m.apply([
    vs([rs('198.19.0.11', { port: 8080, fwd: 'tunnel' })], { alpha: true }),
    vs([rs('198.19.0.12', { fwd: 'route', port: 81 })], { port: 81, sorry: { addr: '198.19.0.99', port: 8081, fwd: 'route', inhibit: false } }),
  ]);
  try {
    await until(() => m.refusedChanges >= 1, 'first check passes, add-server refused');
    down.add('198.19.0.12');
    await until(() => m.refusedChanges >= 2, 'quorum lost, sorry server refused');
    // The table stays as it was for the refused batches: the DR server is still there.
    assert.ok(table().includes('81>198.19.0.12:1'), table().join());
    down.clear();
    await until(() => m.snapshot()[1].quorumUp, 'quorum regained');
  } finally {
    m.stop();
  }
});

test('real_server and checker alpha; a held-down server (unimplemented checker) never joins', async () => {
  const { m, down, table } = setup();
  down.add('198.19.0.12');
  m.apply([vs([
    rs('198.19.0.11', { alpha: true }),
    rs('198.19.0.12', { checks: [{ kind: 'TCP_CHECK', connectTimeoutMs: 10, retry: 0, delayBeforeRetryMs: 5, delayLoopMs: 5, warmupMs: 0, alpha: true }] }),
    rs('198.19.0.13', { checks: [], heldDown: 'FILE_CHECK' }),
  ])]);
  try {
    assert.deepEqual(table(), []);
    await until(() => table().length === 1, 'first pass');
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(table(), ['80>198.19.0.11:1']);
  } finally {
    m.stop();
  }
});
