/**
 * contrib/grafana/lvsd.json against the registries: every series a panel queries is one that
 * lvsd or lvs-dlm exports (a renamed metric cannot leave a silently empty panel), and the
 * dashboard covers node_exporter's IPVS series.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryDevice } from '../../src/phy/memory';
import { Director } from '../../src/ipvs/director';
import { createRegistry } from '../../src/metrics/registry';
import { createDlmRegistry } from '../../src/metrics/dlm';
import { directorSources } from '../../src/metrics/sources';
import type { DlmServer } from '../../src/dlm/server';

const ROOT = join(__dirname, '..', '..', '..');

interface Panel { id: number; type: string; targets?: Array<{ expr: string }> }

test('every series in the Grafana dashboard is exported; the node_ipvs_* series are all used', async () => {
  const dash = JSON.parse(readFileSync(join(ROOT, 'contrib', 'grafana', 'lvsd.json'), 'utf8')) as {
    panels: Panel[]; templating: { list: Array<{ definition?: string }> };
  };
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  for (const v of dash.templating.list) if (v.definition) exprs.push(v.definition);
  const used = new Set(exprs.flatMap((e) => e.match(/\b(?:node_ipvs|lvsd)_[a-z_]+/g) ?? []));

  const reg = createRegistry(directorSources(new Director(new MemoryDevice({ batch: 4 }))));
  const fakeDlm = { lockCount: 0, waiterCount: 0, sessionCount: 0, connectionCount: 0, role: 'primary', granting: true, epoch: 1,
    counters: { grants: 0, expiredSessions: 0, badFrames: 0, authFailures: 0, refusedConnections: 0 } } as unknown as DlmServer;
  const text = (await reg.metrics()) + (await createDlmRegistry(fakeDlm).metrics());
  const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
  for (const name of used) assert.ok(exported.has(name), `${name} is queried by the dashboard but not exported`);
  for (const name of exported) {
    if (name.startsWith('node_ipvs_')) assert.ok(used.has(name), `${name} has no panel`);
  }
  const ids = dash.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
});
