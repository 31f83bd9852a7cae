import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LvsadmError } from '../../src/control/errors';
import { formatSysctl } from '../../src/control/format';
import { parseArgs } from '../../src/control/ipvsadm-args';
import { createKnobs, knobError, parseKnob } from '../../src/ipvs/knobs';

test('lvsadm --sysctl lists; --sysctl NAME=VALUE ... sets, net.ipv4.vs. prefix accepted', () => {
  assert.deepEqual(parseArgs(['--sysctl']), { kind: 'sysctl' });
  assert.deepEqual(parseArgs(['--sysctl', 'sloppy_tcp=1', 'net.ipv4.vs.expire_nodest_conn=1']), {
    kind: 'commands',
    commands: [
      { op: 'set-sysctl', name: 'sloppy_tcp', value: 1 },
      { op: 'set-sysctl', name: 'expire_nodest_conn', value: 1 },
    ],
  });
  assert.throws(() => parseArgs(['--sysctl', 'sloppy_tcp']), LvsadmError);
  assert.throws(() => parseArgs(['--sysctl', '-t', '1.2.3.4:80']), LvsadmError);
});

test('knobs: defaults as the kernel, ranges enforced', () => {
  assert.deepEqual(createKnobs(), {
    expire_nodest_conn: 0, expire_quiescent_template: 0, conn_reuse_mode: 1, sloppy_tcp: 0, max_half_open: 65536,
  });
  assert.equal(knobError('sloppy_tcp', 1), null);
  assert.match(knobError('sloppy_tcp', 2) ?? '', /Illegal value/);
  assert.match(knobError('drop_entry', 1) ?? '', /Unknown sysctl/);
  assert.match(knobError('toString', 0) ?? '', /Unknown sysctl/);
  assert.deepEqual(parseKnob('max_half_open=1000'), { name: 'max_half_open', value: 1000 });
  assert.deepEqual(parseKnob('net.ipv4.vs.conn_reuse_mode=2'), { name: 'conn_reuse_mode', value: 2 });
  assert.throws(() => parseKnob('conn_reuse_mode=3'), /Illegal value/);
  assert.throws(() => parseKnob('x'), /NAME=VALUE/);
});

test('formatSysctl: sysctl(8) style lines in table order', () => {
  assert.equal(formatSysctl({ sloppy_tcp: 1, max_half_open: 65536 }), 'sloppy_tcp = 1\nmax_half_open = 65536\n');
});
