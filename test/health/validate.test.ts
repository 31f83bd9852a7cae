/** Load-time validation of the health manager's table changes (src/health/validate.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateVirtualServers } from '../../src/health/validate';
import type { VirtualServerSpec } from '../../src/control/checks';

const vs = (extra: Partial<VirtualServerSpec>): VirtualServerSpec => ({
  proto: 'tcp', addr: '198.18.100.1', port: 80, scheduler: 'rr', persistent: 0, ops: false, quorum: 1, hysteresis: 0,
  alpha: false, reals: [], where: '/k.conf:1', ...extra,
});

test('servers the service table would refuse are taken out at load, with the line', () => {
  const r = validateVirtualServers([vs({
    reals: [
      { addr: '198.19.0.11', port: 8080, weight: 1, fwd: 'tunnel', inhibitOnFailure: false, checks: [], where: '/k.conf:3' },
      { addr: '198.19.0.12', port: 80, weight: 1, fwd: 'route', inhibitOnFailure: false, checks: [], where: '/k.conf:5' },
    ],
    sorry: { addr: '198.19.0.99', port: 8081, fwd: 'route', inhibit: false },
  }), vs({ port: 0, reals: [] })]);
  assert.deepEqual(r.problems.map((p) => p.where), ['/k.conf:3', '/k.conf:1', '/k.conf:1']);
  assert.match(r.problems[0].message, /^real server 198\.19\.0\.11:8080 refused by the service table: The real server port must equal/);
  assert.match(r.problems[1].message, /^sorry server 198\.19\.0\.99:8081 refused/);
  assert.match(r.problems[2].message, /^virtual server 198\.18\.100\.1:0 refused by the service table: Zero port/);
  assert.equal(r.specs.length, 1);
  assert.deepEqual(r.specs[0].reals.map((x) => x.addr), ['198.19.0.12']);
  assert.equal(r.specs[0].sorry, undefined);
});
