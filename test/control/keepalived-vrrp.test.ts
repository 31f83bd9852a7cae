/**
 * keepalived.conf VRRP rules (src/control/keepalived.ts), each as keepalived 2.2.7 reads it:
 * vrrp_parser.c (vrrp_script keywords), vrrp_track.c (alloc_track_script/_if), track_file.c,
 * vrrp.c vrrp_complete_instance() (AH, strict, nopreempt, sync group and owner weights),
 * keepalived.conf(5) (notify users, script_user, enable_script_security). Messages are
 * keepalived's where it has one; several were compared with `keepalived -t` output
 * (test/fixtures/keepalived-golden/vrrp.conf).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type KeepalivedConfig, parseKeepalived, scriptWords } from '../../src/control/keepalived';

const F = '/x/k.conf';
const parse = (text: string): Promise<KeepalivedConfig> => parseKeepalived(text, F);
const msgs = (cfg: KeepalivedConfig): string[] => cfg.warnings.map((w) => w.slice(F.length + 1));

const inst = (name: string, vrid: number, body: string): string =>
  `vrrp_instance ${name} {\n    interface eth0\n    virtual_router_id ${vrid}\n${body}\n    virtual_ipaddress {\n        198.18.100.${vrid}/24\n    }\n}\n`;

test('vrrp_script defaults: interval 1 s, timeout = interval, weight 0, rise 1, fall 1 (vrrp_data.c alloc_vrrp_script, vrrp_scheduler.c)', async () => {
  const cfg = await parse(`vrrp_script s {\n    script /bin/true\n}\n${inst('V', 1, '    track_script {\n        s\n    }')}`);
  const t = cfg.vrrpInstances[0].trackScripts[0];
  assert.deepEqual([t.script.argv, t.script.intervalMs, t.script.timeoutMs, t.script.weight, t.script.rise, t.script.fall, t.weight],
    [['/bin/true'], 1000, 1000, 0, 1, 1, 0]);
  assert.deepEqual(msgs(cfg), []);
});

test('script: the first word, quoted with its arguments, split as keepalived splits it (quotes, escapes); extra words are ignored with a warning', async () => {
  assert.deepEqual(scriptWords(`/usr/bin/killall -0 "ha proxy" it\\'s 'a b'`), ['/usr/bin/killall', '-0', 'ha proxy', "it's", 'a b']);
  assert.equal(scriptWords('"unterminated'), undefined);
  const cfg = await parse('vrrp_script s {\n    script "/usr/bin/pgrep -x nginx"\n}\nvrrp_script t {\n    script /usr/bin/pgrep nginx\n}\n');
  assert.match(msgs(cfg)[0], /^5: \(t\) only the first word is the script/);
});

test('vrrp_script bad values: keepalived\'s messages and fallbacks; no script removes it', async () => {
  const cfg = await parse('vrrp_script s {\n    interval 0\n    timeout x\n    rise 0\n    fall -1\n    weight 254\n}\n');
  assert.deepEqual(msgs(cfg), [
    '2: (s): vrrp script interval must be greater than 0, setting to 1',
    "3: (s): vrrp script timeout 'x' invalid - ignoring",
    "4: (s): vrrp script rise value '0' invalid, defaulting to 1",
    "5: (s): vrrp script fall value '-1' invalid, defaulting to 1",
    '6: vrrp_script s weight 254 must be in [-253, 253]',
    '7: No script set for vrrp_script s - removing',
  ]);
});

test('track_script: weight overrides the script\'s, reverse/noreverse, +/-254 becomes +/-253, unknown and duplicate names skipped (vrrp_track.c alloc_track_script)', async () => {
  const cfg = await parse(`vrrp_script s {\n    script /bin/true\n    weight -10 reverse\n}\nvrrp_script u {\n    script /bin/true\n}\n${inst('V', 1, `    track_script {
        s
        u weight 254 noreverse
        nope
        s weight 5
    }`)}`);
  const ts = cfg.vrrpInstances[0].trackScripts.map((t) => [t.script.name, t.weight, t.reverse]);
  assert.deepEqual(ts, [['s', -10, true], ['u', 253, false]]);
  assert.deepEqual(msgs(cfg), [
    '13: (V) weight for u cannot be +/-254. Setting to +/-253',
    '14: (V) track script nope not found, ignoring...',
    '15: (V) duplicate track_script s - ignoring',
  ]);
});

test('a vrrp_script must come before the track_script naming it, as keepalived resolves names while reading', async () => {
  const cfg = await parse(`${inst('V', 1, '    track_script {\n        late\n    }')}vrrp_script late {\n    script /bin/true\n}\n`);
  assert.deepEqual(cfg.vrrpInstances[0].trackScripts, []);
  assert.match(msgs(cfg)[0], /track script late not found/);
});

test('track_interface: unweighted by default; the instance\'s own interface is ignored (always tracked)', async () => {
  const cfg = await parse(inst('V', 1, '    track_interface {\n        eth1\n        eth2 weight -20 reverse\n        eth0 weight 10\n    }'));
  assert.deepEqual(cfg.vrrpInstances[0].trackInterfaces, [
    { iface: 'eth1', weight: 0, reverse: false }, { iface: 'eth2', weight: -20, reverse: true }]);
  assert.deepEqual(msgs(cfg), ['7: (V) Ignoring track_interface eth0 since own interface']);
});

test('track_file: weight 1 by default, the instance can set its own; vrrp_track_file is the old name (track_file.c)', async () => {
  const cfg = await parse(`track_file a {\n    file /run/a\n}\nvrrp_track_file b {\n    file /run/b\n    weight -5\n}\n${inst('V', 1, '    track_file {\n        a\n        b weight 3 reverse\n    }')}`);
  assert.deepEqual(cfg.vrrpInstances[0].trackFiles, [
    { name: 'a', path: '/run/a', weight: 1, reverse: false }, { name: 'b', path: '/run/b', weight: 3, reverse: true }]);
  assert.match(msgs(cfg)[0], /^4: vrrp_track_file is deprecated/);
});

test('sync group without sync_group_tracking_weight: weighted scripts dropped, default-weight files unweighted, interfaces unweighted (vrrp.c)', async () => {
  const text = `vrrp_script s {\n    script /bin/true\n    weight 10\n}\ntrack_file f {\n    file /run/f\n}\n${inst('A', 1, '    track_script {\n        s\n    }\n    track_file {\n        f\n    }\n    track_interface {\n        eth1 weight 5\n    }')}${inst('B', 2, '')}vrrp_sync_group G {\n    group {\n        A\n        B\n    }\n    TRACKING\n}\n`;
  const off = await parse(text.replace('TRACKING', ''));
  const a = off.vrrpInstances[0];
  assert.deepEqual([a.trackScripts.length, a.trackFiles[0].weight, a.trackInterfaces[0].weight], [0, 0, 0]);
  assert.deepEqual(msgs(off).map((m) => m.replace(/^\d+: /, '')), [
    '(A) ignoring tracked script s with weights due to SYNC group',
    '(A) ignoring weight from tracked file f due to SYNC group. specify weight 0',
    '(A) ignoring eth1 tracked interface weight due to SYNC group',
  ]);
  const on = await parse(text.replace('TRACKING', 'sync_group_tracking_weight'));
  const b = on.vrrpInstances[0];
  assert.deepEqual([b.trackScripts[0].weight, b.trackFiles[0].weight, b.trackInterfaces[0].weight], [10, 1, 5]);
  assert.deepEqual(msgs(on), []);
});

test("a sync group's track_script applies to every member", async () => {
  const cfg = await parse(`vrrp_script s {\n    script /bin/true\n}\n${inst('A', 1, '')}${inst('B', 2, '')}vrrp_sync_group G {\n    group {\n        A B\n    }\n    track_script {\n        s\n    }\n    notify "/bin/echo g" nobody\n}\n`);
  assert.deepEqual(cfg.vrrpInstances.map((v) => v.trackScripts.map((t) => t.script.name)), [['s'], ['s']]);
  assert.deepEqual(cfg.vrrpSyncGroups[0], { name: 'G', group: ['A', 'B'], notify: '/bin/echo g', notifyUser: { user: 'nobody', group: undefined } });
});

test('address owner (255): weighted tracking is ignored ("address_owner"), unweighted kept', async () => {
  const cfg = await parse(`vrrp_script s {\n    script /bin/true\n    weight 10\n}\nvrrp_script z {\n    script /bin/true\n}\n${inst('V', 1, '    priority 255\n    track_script {\n        s\n        z\n    }')}`);
  assert.deepEqual(cfg.vrrpInstances[0].trackScripts.map((t) => t.script.name), ['z']);
  assert.match(msgs(cfg)[0], /\(V\) ignoring tracked script s with weights due to address_owner/);
});

test('auth_type AH: the password (8 bytes) for IPSEC-AH; initial state MASTER cleared unless owner; strict and version 3 drop it', async () => {
  const auth = '    authentication {\n        auth_type AH\n        auth_pass "pa!ss"\n    }';
  const a = await parse(inst('V', 1, `    state MASTER\n    priority 150\n${auth}`));
  assert.deepEqual([a.vrrpInstances[0].authAh, a.vrrpInstances[0].authPass, a.vrrpInstances[0].state], ['pa!ss', undefined, 'BACKUP']);
  assert.match(msgs(a)[0], /Initial state master is incompatible with AH authentication - clearing/);
  const owner = await parse(inst('V', 1, `    state MASTER\n${auth}`));
  assert.equal(owner.vrrpInstances[0].state, 'MASTER');
  const strict = await parse(`global_defs {\n    vrrp_strict\n}\n${inst('V', 1, auth)}`);
  assert.equal(strict.vrrpInstances[0].authAh, undefined);
  const v3 = await parse(inst('V', 1, `    version 3\n${auth}`));
  assert.equal(v3.vrrpInstances[0].authAh, undefined);
});

test('auth_pass with "!": quoted or escaped it is part of the password, bare it starts a comment (lib/parser.c)', async () => {
  const pass = (p: string) => parse(inst('V', 1, `    authentication {\n        auth_type PASS\n        auth_pass ${p}\n    }`)).then((c) => c.vrrpInstances[0].authPass);
  assert.equal(await pass('"ab!cd"'), 'ab!cd');
  assert.equal(await pass('ab\\!cd'), 'ab!cd');
  assert.equal(await pass('ab!cd'), 'ab');
});

test('vrrp_strict: unicast peers refuse the instance; preempt_delay reset (vrrp.c)', async () => {
  const s = (body: string) => parse(`global_defs {\n    vrrp_strict\n}\n${inst('V', 1, body)}`);
  const u = await s('    unicast_peer {\n        198.18.0.12\n    }');
  assert.equal(u.vrrpInstances.length, 0);
  assert.match(msgs(u)[0], /Unicast peers are not supported in strict mode/);
  const p = await s('    preempt_delay 10');
  assert.equal(p.vrrpInstances[0].preemptDelayMs, 0);
  const pm = msgs(p);
  assert.equal(pm.length, 2);
  assert.match(pm[0], /^2: 'vrrp_strict' is not acted on by lvsd for no_accept/);
  assert.match(pm[1], /^7: \(V\) preempt_delay is incompatible with strict mode - resetting/);
  assert.equal(p.vrrpInstances[0].strict, true);
});

test('nopreempt: reset for priority 255 and for state MASTER; preempt_delay with nopreempt reset (vrrp.c)', async () => {
  const o = await parse(inst('V', 1, '    priority 255\n    nopreempt'));
  assert.equal(o.vrrpInstances[0].nopreempt, false);
  assert.match(msgs(o)[0], /^5: \(V\) nopreempt is incompatible with priority 255/);
  const m = await parse(inst('V', 1, '    state MASTER\n    priority 150\n    nopreempt'));
  assert.equal(m.vrrpInstances[0].nopreempt, false);
  assert.match(msgs(m)[0], /nopreempt will not work with initial state MASTER/);
  const d = await parse(inst('V', 1, '    nopreempt\n    preempt_delay 5'));
  assert.deepEqual([d.vrrpInstances[0].nopreempt, d.vrrpInstances[0].preemptDelayMs], [true, 0]);
  assert.match(msgs(d)[0], /^5: \(V\) preempt_delay is incompatible with nopreempt mode/);
});

test('notify lines: SCRIPT [username [groupname]]; notify_stop is run; script_user is the default user; enable_script_security is kept', async () => {
  const cfg = await parse(`global_defs {\n    script_user nobody nogroup\n    enable_script_security\n}\nvrrp_script s {\n    script /bin/true\n}\nvrrp_script t {\n    script /bin/true\n    user daemon\n}\n${inst('V', 1, '    notify_master "/bin/echo m" root\n    notify_stop /bin/stop.sh\n    track_script {\n        s\n        t\n    }')}${inst('W', 2, '    notify /bin/n.sh')}`);
  const [v, w] = cfg.vrrpInstances;
  assert.deepEqual([v.notifyMaster, v.notifyStop, v.notifyUser], ['/bin/echo m', '/bin/stop.sh', { user: 'root', group: undefined }]);
  assert.deepEqual(w.notifyUser, { user: 'nobody', group: 'nogroup' });
  assert.deepEqual(v.trackScripts.map((t) => [t.script.user, t.script.secure]), [[{ user: 'nobody', group: 'nogroup' }, true], [{ user: 'daemon', group: undefined }, true]]);
  assert.equal(v.scriptSecurity, true);
  assert.deepEqual(msgs(cfg), []);
});

test('virtual_routes / virtual_rules are kept as ip arguments; a word ip could read as an option or shell text is refused', async () => {
  const cfg = await parse(inst('V', 1, '    virtual_routes {\n        198.18.200.0/24 via 198.18.100.254 dev eth0\n        blackhole 198.18.201.0/24\n        198.18.202.0/24 dev $(x)\n        198.18.203.0/24 -force\n    }\n    virtual_rules {\n        from 198.18.100.0/24 table 100\n    }'));
  const v = cfg.vrrpInstances[0];
  assert.deepEqual(v.virtualRoutes, ['198.18.200.0/24 via 198.18.100.254 dev eth0', 'blackhole 198.18.201.0/24']);
  assert.deepEqual(v.virtualRules, ['from 198.18.100.0/24 table 100']);
  assert.deepEqual(msgs(cfg).map((m) => m.split(':')[0]), ['7', '8']);
});

test('vrrp_rt_priority / checker_rt_priority: the higher is the realtime priority; out of 1..99 ignored', async () => {
  const cfg = await parse('global_defs {\n    vrrp_rt_priority 30\n    checker_rt_priority 50\n    vrrp_rt_priority 120\n}\n');
  assert.equal(cfg.rtPriority, 50);
  assert.match(msgs(cfg)[0], /^4: vrrp_rt_priority 120 is outside range 1..99/);
});
