/**
 * keepalived.conf interpretation (src/control/keepalived.ts): each case reads as keepalived
 * 2.2 reads it (check_parser.c, check_data.c validate_check_config(), vrrp_parser.c,
 * vrrp.c vrrp_complete_instance()), with a diagnostic naming the line wherever keepalived
 * logs one or lvsd does not act on a line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, type KeepalivedConfig, parseKeepalived } from '../../src/control/keepalived';

const F = '/x/k.conf';
const parse = (text: string, configId?: string): Promise<KeepalivedConfig> => parseKeepalived(text, F, { configId });
const msgs = (cfg: KeepalivedConfig): string[] => cfg.warnings.map((w) => w.slice(F.length + 1));

/** A virtual server block; with lb_kind NAT unless the body sets a forwarding method (lines 2-4). */
function vsText(body: string, head = '198.18.100.1 80'): string {
  const kind = /lb_kind|lvs_method/.test(body) ? '' : '    lb_kind NAT';
  return `virtual_server ${head} {\n    lb_algo rr\n    protocol TCP${kind ? '\n' + kind : ''}\n${body}\n}\n`;
}

test('a keepalived 1.x/2.x LVS configuration maps to the health model', async () => {
  const cfg = await parse(`global_defs {
   router_id LVS_DEVEL
}
virtual_server 198.18.100.1 80 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    quorum 2
    hysteresis 1
    sorry_server 198.19.0.99 80
    real_server 198.19.0.11 80 {
        weight 3
        HTTP_GET {
            url {
              path /health
              digest 6f5902ac237024bdd0c176cb93063dc4
              status_code 200-204
            }
            connect_timeout 3
            retry 3
            delay_before_retry 2
        }
    }
    real_server 198.19.0.12 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_port 8080
            connect_timeout 2
        }
        MISC_CHECK {
            misc_path "/usr/local/bin/check.sh 198.19.0.12"
            misc_timeout 4
            misc_dynamic
        }
    }
}
virtual_server_group DNS {
    198.18.100.1 53
    198.18.100.2-3 53
}
virtual_server group DNS {
    lvs_sched wlc
    lvs_method NAT
    protocol UDP
    retry 2
    real_server 198.19.0.13 5353 {
        UDP_CHECK {
            payload 0001
            require_reply
        }
        PING_CHECK {
        }
    }
}
`);
  assert.deepEqual(cfg.warnings, []);
  assert.equal(cfg.routerId, 'LVS_DEVEL');
  assert.equal(cfg.virtualServers.length, 4);
  const web = cfg.virtualServers[0];
  assert.deepEqual([web.proto, web.addr, web.port, web.scheduler, web.persistent, web.quorum, web.hysteresis],
    ['tcp', '198.18.100.1', 80, 'rr', 50, 2, 1]);
  assert.deepEqual(web.sorry, { addr: '198.19.0.99', port: 80, fwd: 'masq', inhibit: false });
  const [r1, r2] = web.reals;
  const h = r1.checks[0];
  assert.ok(h.kind === 'HTTP_GET');
  assert.deepEqual(h.urls, [{ path: '/health', statusCodes: [200, 201, 202, 203, 204], digest: '6f5902ac237024bdd0c176cb93063dc4' }]);
  assert.deepEqual([h.connectTimeoutMs, h.retry, h.delayBeforeRetryMs, h.delayLoopMs, h.warmupMs], [3000, 3, 2000, 6000, 6000]);
  assert.equal(r2.inhibitOnFailure, true);
  assert.deepEqual(r2.checks.map((c) => c.kind), ['TCP_CHECK', 'MISC_CHECK']);
  const m = r2.checks[1];
  assert.ok(m.kind === 'MISC_CHECK' && m.path === '/usr/local/bin/check.sh 198.19.0.12' && m.dynamic && m.timeoutMs === 4000);
  const dns = cfg.virtualServers.slice(1);
  assert.deepEqual(dns.map((v) => `${v.proto}:${v.addr}:${v.port}:${v.scheduler}`),
    ['udp:198.18.100.1:53:wlc', 'udp:198.18.100.2:53:wlc', 'udp:198.18.100.3:53:wlc']);
  const u = dns[0].reals[0].checks[0];
  assert.ok(u.kind === 'UDP_CHECK' && u.requireReply && u.payload.equals(Buffer.from([0, 1])) && u.retry === 2);
});

test('checker defaults: delay_before_retry 1 s (HTTP_GET 3 s), retry 1 (MISC_CHECK 0), warmup = delay_loop (check_api.c, check_http.c, check_misc.c)', async () => {
  const cfg = await parse(vsText(`    delay_loop 10
    real_server 198.19.0.11 80 {
        TCP_CHECK {
        }
        HTTP_GET {
            url {
                path /
            }
        }
        MISC_CHECK {
            misc_path /bin/true
        }
    }`));
  const [t, h, m] = cfg.virtualServers[0].reals[0].checks;
  assert.deepEqual([t.kind, t.retry, t.delayBeforeRetryMs, t.warmupMs, t.connectTimeoutMs, t.delayLoopMs], ['TCP_CHECK', 1, 1000, 10000, 5000, 10000]);
  assert.deepEqual([h.kind, h.retry, h.delayBeforeRetryMs], ['HTTP_GET', 1, 3000]);
  assert.deepEqual([m.kind, m.retry, m.delayBeforeRetryMs], ['MISC_CHECK', 0, 1000]);
  assert.ok(m.kind === 'MISC_CHECK' && m.timeoutMs === 10000);
  // Values set at the virtual or real server level win over the checker's defaults.
  const cfg2 = await parse(vsText(`    retry 4
    real_server 198.19.0.11 80 {
        delay_before_retry 7
        MISC_CHECK {
            misc_path /bin/true
        }
    }`));
  const m2 = cfg2.virtualServers[0].reals[0].checks[0];
  assert.deepEqual([m2.retry, m2.delayBeforeRetryMs], [4, 7000]);
});

test('nb_get_retry: deprecated in HTTP_GET (still read), unknown in TCP_CHECK and at virtual_server level', async () => {
  const cfg = await parse(vsText(`    nb_get_retry 5
    real_server 198.19.0.11 80 {
        TCP_CHECK {
            nb_get_retry 3
        }
        HTTP_GET {
            url {
                path /
            }
            nb_get_retry 2
        }
    }`));
  const [t, h] = cfg.virtualServers[0].reals[0].checks;
  assert.equal(t.retry, 1);
  assert.equal(h.retry, 2);
  assert.deepEqual(msgs(cfg), [
    "5: Unknown keyword 'nb_get_retry' in virtual_server",
    "8: Unknown keyword 'nb_get_retry' in TCP_CHECK",
    "14: nb_get_retry is deprecated - please use 'retry'",
  ]);
});

test('persistence_timeout 0 is invalid: logged, the service runs without persistence', async () => {
  const rs = '\n    real_server 198.19.0.11 80 {\n    }';
  const cfg = await parse(vsText('    persistence_timeout 0' + rs));
  assert.equal(cfg.virtualServers[0].persistent, 0);
  assert.deepEqual(msgs(cfg), ["5: persistence_timeout '0' invalid (1..2678400) - ignoring, the service has no persistence"]);
  assert.equal((await parse(vsText('    persistence_timeout' + rs))).virtualServers[0].persistent, 360);
});

test('virtual_server without a port: port 0, made persistent (360 s); real and sorry servers without a port take the virtual port', async () => {
  const a = await parse(vsText('    real_server 198.19.0.11 {\n    }', '198.18.100.1'));
  assert.deepEqual([a.virtualServers[0].port, a.virtualServers[0].persistent, a.virtualServers[0].reals[0].port], [0, 360, 0]);
  assert.deepEqual(msgs(a), ['1: virtual server 198.18.100.1: zero port only valid for persistent services - setting persistence_timeout 360']);
  const b = await parse(vsText('    lb_kind DR\n    sorry_server 198.19.0.99\n    real_server 198.19.0.11 {\n    }'));
  assert.deepEqual([b.virtualServers[0].reals[0].port, b.virtualServers[0].sorry?.port], [80, 80]);
  assert.deepEqual(b.warnings, []);
});

test('DR/TUN real and sorry servers on another port: "ports don\'t match - resetting" to the virtual port; NAT keeps its port', async () => {
  const cfg = await parse(vsText(`    lb_kind TUN
    alpha
    sorry_server 198.19.0.99 8080
    real_server 198.19.0.11 8080 {
    }
    real_server 198.19.0.12 8081 {
        lvs_method NAT
    }`));
  const vs = cfg.virtualServers[0];
  assert.deepEqual(vs.reals.map((r) => `${r.addr}:${r.port}/${r.fwd}`), ['198.19.0.11:80/tunnel', '198.19.0.12:8081/masq']);
  assert.deepEqual(vs.sorry, { addr: '198.19.0.99', port: 80, fwd: 'tunnel', inhibit: false });
  assert.deepEqual(msgs(cfg), [
    '6: WARNING - virtual server 198.18.100.1 80 and sorry server ports don\'t match - resetting to 80',
    '7: WARNING - virtual server 198.18.100.1 80 and real server 198.19.0.11:8080 ports don\'t match - resetting to 80',
  ]);
});

test('a virtual_server line missing its { still reads as a virtual server', async () => {
  const cfg = await parse('virtual_server 198.18.100.1 80\n    lb_algo rr\n    protocol TCP\n    real_server 198.19.0.11 80 {\n    }\n}\n');
  assert.equal(cfg.virtualServers[0].reals.length, 1);
  assert.deepEqual(msgs(cfg), ["1: Missing '{' at beginning of configuration block 'virtual_server'", '1: virtual server 198.18.100.1 80: no forwarding method set, setting default NAT']);
});

test('lb_kind is case-sensitive: "dr" is unknown and the service defaults to NAT', async () => {
  const cfg = await parse(vsText('    lb_kind dr\n    real_server 198.19.0.11 80 {\n    }'));
  assert.equal(cfg.virtualServers[0].reals[0].fwd, 'masq');
  assert.deepEqual(msgs(cfg), [
    '1: virtual server 198.18.100.1 80: no forwarding method set, setting default NAT',
    '4: unknown [dr] routing method for virtual server (keepalived takes NAT, DR or TUN, upper case) - ignoring']);
});

test('no protocol: keepalived defaults to UDP, with an error; no scheduler: wlc', async () => {
  const cfg = await parse('virtual_server 198.18.100.1 53 {\n    lb_kind NAT\n    real_server 198.19.0.11 53 {\n    }\n}\n');
  assert.deepEqual([cfg.virtualServers[0].proto, cfg.virtualServers[0].scheduler], ['udp', 'wlc']);
  assert.deepEqual(msgs(cfg), ['1: virtual server 198.18.100.1 53: no protocol set - defaulting to UDP',
    "1: virtual server 198.18.100.1 53: no scheduler set, setting default 'wlc'"]);
});

test('a virtual server without real servers is ignored (check_data.c), even with a sorry server', async () => {
  const cfg = await parse(vsText('    sorry_server 198.19.0.99 80'));
  assert.deepEqual(cfg.virtualServers, []);
  assert.deepEqual(msgs(cfg), ['1: virtual server 198.18.100.1 80 has no real servers - ignoring']);
});

test('inhibit_on_failure and alpha take true/false/on/off/yes/no; bare means true; real_server alpha', async () => {
  const cfg = await parse(vsText(`    inhibit_on_failure false
    real_server 198.19.0.11 80 {
        alpha
        inhibit_on_failure on
        TCP_CHECK {
        }
    }
    real_server 198.19.0.12 80 {
        TCP_CHECK {
            alpha yes
        }
    }
    real_server 198.19.0.13 80 {
        inhibit_on_failure maybe
    }`));
  const [a, b, c] = cfg.virtualServers[0].reals;
  assert.deepEqual([a.inhibitOnFailure, a.alpha, a.checks[0].alpha], [true, true, true]);
  assert.deepEqual([b.inhibitOnFailure, b.alpha, b.checks[0].alpha], [false, false, true]);
  assert.equal(c.inhibitOnFailure, false);
  assert.deepEqual(msgs(cfg), ["18: invalid inhibit_on_failure parameter 'maybe' - ignoring"]);
});

test('virtualhost at virtual_server and real_server level is the Host of HTTP checks without their own', async () => {
  const cfg = await parse(vsText(`    virtualhost vs.example
    real_server 198.19.0.11 80 {
        HTTP_GET {
            url {
                path /
            }
        }
    }
    real_server 198.19.0.12 80 {
        virtualhost rs.example
        HTTP_GET {
            url {
                path /
            }
        }
    }
    real_server 198.19.0.13 80 {
        HTTP_GET {
            virtualhost own.example
            url {
                path /
            }
        }
    }`));
  assert.deepEqual(cfg.virtualServers[0].reals.map((r) => r.checks[0].kind === 'HTTP_GET' && r.checks[0].virtualhost),
    ['vs.example', 'rs.example', 'own.example']);
});

test('SSL_GET: an HTTP_GET over TLS; virtualhost is the Host (url, checker, real, virtual server) and with enable_sni the SNI (url, checker, virtual server)', async () => {
  const cfg = await parse(vsText(`    virtualhost vs.example
    real_server 198.19.0.11 443 {
        virtualhost rs.example
        SSL_GET {
            enable_sni
            http_protocol 1.0C
            url {
                path /
                digest 5d41402abc4b2a76b9719d911017c592
            }
        }
    }
    real_server 198.19.0.12 443 {
        SSL_GET {
            enable_sni
            virtualhost own.example
            url {
                path /
            }
        }
    }`));
  const [a, b] = cfg.virtualServers[0].reals.map((r) => r.checks[0]);
  assert.ok(a.kind === 'SSL_GET' && b.kind === 'SSL_GET');
  assert.deepEqual([a.virtualhost, a.sniHost, a.enableSni, a.protocol, a.delayBeforeRetryMs], ['rs.example', 'vs.example', true, '1.0C', 3000]);
  assert.deepEqual([b.virtualhost, b.sniHost], ['own.example', 'own.example']);
  assert.deepEqual(cfg.warnings, []);
});

test('SMTP_CHECK with helo_name, DNS_CHECK with name/type (retry 3, check_dns.c); FILE_CHECK (not implemented) holds the server down', async () => {
  const cfg = await parse(vsText(`    real_server 198.19.0.11 443 {
        TCP_CHECK {
        }
    }
    real_server 198.19.0.12 25 {
        SMTP_CHECK {
            connect_port 2525
            helo_name lb.example.test
        }
    }
    real_server 198.19.0.13 53 {
        DNS_CHECK {
            name example.test
            type A
        }
    }
    real_server 198.19.0.14 80 {
        FILE_CHECK {
            track_file f
        }
    }`));
  const [, m, d, f] = cfg.virtualServers[0].reals;
  const smtp = m.checks[0];
  assert.ok(smtp.kind === 'SMTP_CHECK');
  assert.deepEqual([smtp.connectPort, smtp.heloName, smtp.retry, smtp.delayBeforeRetryMs], [2525, 'lb.example.test', 1, 1000]);
  const q = d.checks[0];
  assert.ok(q.kind === 'DNS_CHECK');
  assert.deepEqual([q.name, q.type, q.retry], ['example.test', 'A', 3]);
  assert.deepEqual([f.heldDown, f.checks.length], ['FILE_CHECK', 0]);
  assert.deepEqual(msgs(cfg).map((x) => x.split(':')[0]), ['22']);
});

test('IPv6 addresses are accepted with a warning naming the line, not refused', async () => {
  const cfg = await parse(`${vsText('    real_server 2001:2::11 80 {\n    }\n    real_server 198.19.0.11 80 {\n    }')}${vsText('', '2001:2::1 80')}`);
  assert.equal(cfg.virtualServers.length, 1);
  assert.equal(cfg.virtualServers[0].reals.length, 1);
  assert.deepEqual(msgs(cfg), [
    '5: IPv6 real servers are not supported yet; this real_server and its block are ignored',
    '10: IPv6 services are not supported yet; this virtual_server and its block are ignored',
  ]);
});

test('a keyword without its parameter stops keepalived ("missing a parameter"), and lvsd refuses the file', async () => {
  await assert.rejects(parse('vrrp_instance V {\n    state {{STATE}}\n}\n'),
    (e: unknown) => e instanceof ConfigError && e.line === 2 && /missing a parameter after keyword `state`/.test(e.message));
});

const VRRP = (body: string, global = ''): string => `global_defs {\n${global}\n}\nvrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n${body}\n    virtual_ipaddress {\n        198.18.100.1/24\n    }\n}\n`;

test('vrrp: priority 100, is invalid (default 100); no priority: 255 for MASTER; no state: from the priority', async () => {
  const a = await parse(VRRP('    state MASTER\n    priority 150,'));
  assert.deepEqual([a.vrrpInstances[0].priority, a.vrrpInstances[0].state], [100, 'MASTER']);
  assert.match(msgs(a)[0], /^8: \(VI_1\) Priority '150,' not valid/);
  const b = await parse(VRRP('    state MASTER'));
  assert.equal(b.vrrpInstances[0].priority, 255);
  const c = await parse(VRRP('    priority 255'));
  assert.equal(c.vrrpInstances[0].state, 'MASTER');
});

test('vrrp authentication: PASS sends the password as decommented; vrrp_strict and version 3 send none; AH keeps its password for IPSEC-AH, never PASS', async () => {
  const pass = await parse(VRRP('    authentication {\n        auth_type PASS\n        auth_pass Test123!\n    }'));
  assert.equal(pass.vrrpInstances[0].authPass, 'Test123');
  const strict = await parse(VRRP('    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }', '    vrrp_strict'));
  assert.equal(strict.vrrpInstances[0].authPass, undefined);
  assert.match(msgs(strict).join('\n'), /Strict mode does not support authentication/);
  const ah = await parse(VRRP('    authentication {\n        auth_type AH\n        auth_pass 1111\n    }'));
  assert.equal(ah.vrrpInstances[0].authPass, undefined);
  assert.equal(ah.vrrpInstances[0].authAh, '1111');
  assert.deepEqual(msgs(ah), []);
  const noType = await parse(VRRP('    authentication {\n        auth_pass 1111\n    }'));
  assert.equal(noType.vrrpInstances[0].authPass, undefined);
  const long = await parse(VRRP('    authentication {\n        auth_type PASS\n        auth_pass 0123456789\n    }'));
  assert.equal(long.vrrpInstances[0].authPass, '01234567');
});

test('lvs_sync_daemon_interface in a vrrp_instance starts the sync daemon tied to that instance (deprecated, still read)', async () => {
  const cfg = await parse(VRRP('    lvs_sync_daemon_interface eth1'));
  assert.deepEqual(cfg.syncDaemon, { syncid: 0, iface: 'eth1', instance: 'VI_1' });
  assert.match(msgs(cfg)[0], /^7: \(VI_1\) Specifying lvs_sync_daemon_interface against a vrrp is deprecated/);
});

test('what lvsd does not do is named with its line (use_vmac, excluded addresses, mail); tracking and virtual routes are read', async () => {
  const cfg = await parse(`vrrp_script chk {
    script "/bin/true"
    interval 2
}
${VRRP(`    use_vmac
    track_interface {
        eth1
    }
    track_script {
        chk
    }
    virtual_routes {
        198.18.0.0/16 via 198.18.100.254
    }
    virtual_ipaddress_excluded {
        198.18.100.9
    }`, '    notification_email {\n        root@example.test\n    }\n    smtp_server 127.0.0.1')}`);
  assert.deepEqual(msgs(cfg).map((m) => m.replace(/ is not acted on by lvsd: .*/, '')), [
    "6: 'notification_email' (block to line 8)",
    "9: 'smtp_server'",
    "14: 'use_vmac'",
    "24: 'virtual_ipaddress_excluded' (block to line 26)",
  ]);
  const v = cfg.vrrpInstances[0];
  assert.deepEqual(v.trackInterfaces, [{ iface: 'eth1', weight: 0, reverse: false }]);
  assert.deepEqual(v.trackScripts.map((t) => [t.script.name, t.script.argv, t.script.intervalMs, t.weight]), [['chk', ['/bin/true'], 2000, 0]]);
  assert.deepEqual(v.virtualRoutes, ['198.18.0.0/16 via 198.18.100.254']);
});

test('@id lines select per-node values (keepalived -i / --config-id)', async () => {
  const text = VRRP('@lb1 priority 150\n@lb2 priority 100');
  assert.equal((await parse(text, 'lb1')).vrrpInstances[0].priority, 150);
  assert.equal((await parse(text, 'lb2')).vrrpInstances[0].priority, 100);
});

test('quorum above the total weight is reduced to it; hysteresis >= quorum is reduced (check_data.c)', async () => {
  const cfg = await parse(vsText('    quorum 5\n    hysteresis 4\n    real_server 198.19.0.11 80 {\n        weight 2\n    }'));
  assert.deepEqual([cfg.virtualServers[0].quorum, cfg.virtualServers[0].hysteresis], [2, 1]);
});

test('vrrp_sync_group: group is a value block, one name per word, on one line or many (vrrp_parser.c read_value_block)', async () => {
  const two = VRRP('') + VRRP('').replace(/VI_1/g, 'VI_2').replace('virtual_router_id 51', 'virtual_router_id 52').replace(/^global_defs \{\n\n\}\n/, '');
  const a = await parse(`${two}vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n`);
  assert.deepEqual(a.vrrpSyncGroups, [{ name: 'G1', group: ['VI_1', 'VI_2'] }]);
  assert.deepEqual(a.warnings, []);
  const b = await parse(`${two}vrrp_sync_group G1 {\n    group { VI_1 VI_2 }\n}\n`);
  assert.deepEqual(b.vrrpSyncGroups, [{ name: 'G1', group: ['VI_1', 'VI_2'] }]);
  const c = await parse(`${two}vrrp_sync_group G1 {\n    group {\n        VI_3\n    }\n}\n`);
  const at = two.split('\n').length;
  assert.deepEqual(msgs(c), [`${at}: vrrp_sync_group G1: instance 'VI_3' is not defined`, `${at}: Sync group G1 has no virtual router(s). removing`]);
});

test('virtual_server fwmark N: a firewall-mark service; protocol ignored, DR/TUN real-server ports cleared and still probed (check_data.c)', async () => {
  const cfg = await parse(`virtual_server fwmark 7 {
    lb_algo wlc
    lb_kind DR
    persistence_timeout 600
    protocol TCP
    real_server 198.19.0.11 443 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 198.19.0.12 {
        lvs_method NAT
        TCP_CHECK {
            connect_port 8443
        }
    }
}
virtual_server fwmark 0 {
    lb_algo rr
    real_server 198.19.0.13 80 {
    }
}
`);
  assert.equal(cfg.virtualServers.length, 1);
  const vs = cfg.virtualServers[0];
  assert.deepEqual([vs.fwmark, vs.addr, vs.port, vs.proto, vs.persistent, vs.scheduler], [7, '0.0.0.0', 0, 'tcp', 600, 'wlc']);
  const [dr, nat] = vs.reals;
  assert.deepEqual([dr.addr, dr.port, dr.fwd], ['198.19.0.11', 0, 'route']);
  assert.equal(dr.checks[0].connectPort, 443, 'the checker probes the configured port');
  assert.deepEqual([nat.addr, nat.port, nat.fwd], ['198.19.0.12', 0, 'masq']);
  assert.equal(nat.checks[0].connectPort, 8443);
  assert.deepEqual(msgs(cfg), [
    '1: Warning: virtual server fwmark 7: protocol specified for fwmark - protocol will be ignored',
    '6: WARNING - fwmark virtual server fwmark 7, real server 198.19.0.11:443 has port specified - clearing',
    "18: Invalid virtual server fwmark '0' - skipping",
  ]);
});

test('virtual_server_group with fwmark members: one service per mark beside the address members', async () => {
  const cfg = await parse(`virtual_server_group G {
    198.18.100.1 80
    fwmark 3
    fwmark x
}
${vsText(`    real_server 198.19.0.11 80 {
    }`, 'group G')}`);
  assert.deepEqual(cfg.virtualServers.map((v) => [v.fwmark ?? 0, v.addr, v.port, v.proto]), [
    [0, '198.18.100.1', 80, 'tcp'],
    [3, '0.0.0.0', 0, 'tcp'],
  ]);
  assert.deepEqual(msgs(cfg), ["4: virtual server group G: invalid fwmark 'x' - ignoring"]);
});
