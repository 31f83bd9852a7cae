/** Log records (src/log.ts): ISO times, level names, values as ipvsadm prints them, both formats. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { addrText, endpointText, fwdText, logFormatError, logOptions, serviceText } from '../src/log';
import { FWD_LOCAL, FWD_MASQ, FWD_ROUTE, FWD_TUNNEL, ipFromString } from '../src/ipvs/types';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

function capture(): { log: pino.Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  const log = pino(logOptions('lvsd', 'info'), sink);
  return { log, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('records carry an ISO 8601 time and the level by name', () => {
  const { log, lines } = capture();
  const before = Date.now();
  log.warn({ a: 1 }, 'hello');
  log.info('second');
  const [w, i] = lines();
  assert.equal(w.level, 'warn');
  assert.equal(i.level, 'info');
  assert.equal(w.name, 'lvsd');
  assert.equal(w.pid, process.pid);
  assert.match(String(w.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Math.abs(Date.parse(String(w.time)) - before) < 5000);
  assert.equal(w.msg, 'hello');
});

test('addresses, services and forwarding methods as ipvsadm prints them', () => {
  const vip = ipFromString('198.18.100.1');
  assert.equal(addrText(vip), '198.18.100.1');
  assert.equal(addrText(ipFromString('255.0.0.254')), '255.0.0.254');
  assert.equal(endpointText(ipFromString('198.19.0.11'), 8080), '198.19.0.11:8080');
  assert.equal(endpointText('198.19.0.11', 80), '198.19.0.11:80');
  assert.equal(serviceText({ proto: 6, addr: vip, port: 80 }), 'TCP 198.18.100.1:80');
  assert.equal(serviceText({ proto: 17, addr: vip, port: 53, fwmark: 0 }), 'UDP 198.18.100.1:53');
  assert.equal(serviceText({ proto: 'tcp', addr: '198.18.100.1', port: 443 }), 'TCP 198.18.100.1:443');
  assert.equal(serviceText({ proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 7 }), 'FWM 7');
  assert.deepEqual([FWD_MASQ, FWD_TUNNEL, FWD_ROUTE, FWD_LOCAL].map(fwdText), ['Masq', 'Tunnel', 'Route', 'Local']);
  assert.deepEqual(['masq', 'tunnel', 'route'].map(fwdText), ['Masq', 'Tunnel', 'Route']);
  assert.equal(fwdText(9), 'unknown(9)');
});

test('--log-format accepts json and pretty only', () => {
  assert.equal(logFormatError('json'), undefined);
  assert.equal(logFormatError('pretty'), undefined);
  assert.match(logFormatError('xml') ?? '', /json or pretty, got 'xml'/);
});

test('createLog writes JSON to the chosen descriptor, or pretty text', () => {
  const mod = join(__dirname, '../src/log.js');
  const run = (format: string, fd: number): { stdout: string; stderr: string } => spawnSync(process.execPath, ['-e',
    `require(${JSON.stringify(mod)}).createLog('lvsd', 'info', { format: '${format}', fd: ${fd} })`
    + `.info({ service: 'TCP 198.18.100.1:80' }, 'virtual service added')`], { encoding: 'utf8' });
  const j = run('json', 2);
  assert.equal(j.stdout, '');
  const rec = JSON.parse(j.stderr) as Record<string, unknown>;
  assert.equal(rec.level, 'info');
  assert.equal(rec.service, 'TCP 198.18.100.1:80');
  const p = run('pretty', 1);
  assert.match(p.stdout, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d{4}\] INFO \(lvsd\/\d+\): virtual service added\n\s+service: "TCP 198\.18\.100\.1:80"/);
  assert.throws(() => JSON.parse(p.stdout));
});
