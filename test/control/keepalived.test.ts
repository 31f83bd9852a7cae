/** keepalived.conf reader: a configuration as keepalived users write it, errors with file:line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseKeepalived, parseKeepalivedFile } from '../../src/control/keepalived';

const CONF = `! Configuration File for keepalived
global_defs {
   notification_email {
     admin@example.test
   }
   router_id LVS_DEVEL
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        198.18.100.1/24 dev eth0
    }
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
            nb_get_retry 3
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
        PING_CHECK { }
    }
}
`;

test('a keepalived 1.x/2.x configuration maps to the health model', () => {
  const cfg = parseKeepalived(CONF, '/etc/keepalived/keepalived.conf');
  assert.deepEqual(cfg.warnings, []);
  assert.equal(cfg.routerId, 'LVS_DEVEL');
  assert.equal(cfg.virtualServers.length, 4);
  const web = cfg.virtualServers[0];
  assert.deepEqual(
    [web.proto, web.addr, web.port, web.scheduler, web.persistent, web.quorum, web.hysteresis],
    ['tcp', '198.18.100.1', 80, 'rr', 50, 2, 1]);
  assert.deepEqual(web.sorry, { addr: '198.19.0.99', port: 80, fwd: 'masq', inhibit: false });
  const [r1, r2] = web.reals;
  assert.equal(r1.weight, 3);
  const h = r1.checks[0];
  assert.equal(h.kind, 'HTTP_GET');
  if (h.kind !== 'HTTP_GET') return;
  assert.deepEqual(h.urls, [{ path: '/health', statusCodes: [200, 201, 202, 203, 204], digest: '6f5902ac237024bdd0c176cb93063dc4' }]);
  assert.deepEqual([h.connectTimeoutMs, h.retry, h.delayBeforeRetryMs, h.delayLoopMs], [3000, 3, 2000, 6000]);
  assert.equal(r2.inhibitOnFailure, true);
  assert.deepEqual(r2.checks.map((c) => c.kind), ['TCP_CHECK', 'MISC_CHECK']);
  assert.equal(r2.checks[0].connectPort, 8080);
  const m = r2.checks[1];
  assert.ok(m.kind === 'MISC_CHECK' && m.path === '/usr/local/bin/check.sh 198.19.0.12' && m.dynamic && m.timeoutMs === 4000);
  const dns = cfg.virtualServers.slice(1);
  assert.deepEqual(dns.map((v) => `${v.proto}:${v.addr}:${v.port}:${v.scheduler}`),
    ['udp:198.18.100.1:53:wlc', 'udp:198.18.100.2:53:wlc', 'udp:198.18.100.3:53:wlc']);
  const u = dns[0].reals[0].checks[0];
  assert.ok(u.kind === 'UDP_CHECK' && u.requireReply && u.payload.equals(Buffer.from([0, 1])) && u.retry === 2);
  assert.equal(dns[0].reals[0].checks[1].kind, 'PING_CHECK');
  assert.deepEqual(cfg.vrrpInstances[0], {
    name: 'VI_1', state: 'MASTER', iface: 'eth0', vrid: 51, priority: 150, advertIntMs: 1000, version: 2,
    nopreempt: false, preemptDelayMs: 0, vips: ['198.18.100.1/24 dev eth0'], authPass: '1111', unicastPeers: [],
    garpMasterDelayMs: 5000,
  });
});

function errorOf(text: string): ConfigError {
  try {
    parseKeepalived(text, '/x/k.conf');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail('no error');
}

test('syntax and value errors name file and line', () => {
  const missing = errorOf('virtual_server 198.18.100.1 80 {\n  lb_algo rr\n');
  assert.deepEqual([missing.file, missing.line], ['/x/k.conf', 1]);
  assert.match(missing.message, /^\/x\/k\.conf:1: .*not closed/);
  assert.equal(errorOf('global_defs {\n}\n}\n').line, 3);
  assert.equal(errorOf('virtual_server 198.18.100.1 80 {\n  delay_loop soon\n}\n').line, 2);
  assert.equal(errorOf('virtual_server 198.18.100.1 80 {\n lb_algo nosuch\n}\n').line, 2);
  assert.equal(errorOf('virtual_server 198.18.100.1 80 {\n real_server 198.19.0.300 80 {\n }\n}\n').line, 2);
  assert.equal(errorOf('virtual_server 1.2.3.4 80 {\n real_server 1.2.3.5 80 {\n  HTTP_GET {\n   url {\n    digest xyz\n    path /\n   }\n  }\n }\n}\n').line, 5);
  assert.equal(errorOf('x "unterminated\n').line, 1);
});

test('unknown keywords are warnings with file:line, not errors', () => {
  const cfg = parseKeepalived('virtual_server 198.18.100.1 80 {\n  frobnicate 3\n  real_server 198.19.0.11 80 {\n    SSL_GET {\n    }\n  }\n}\nwhatever\n', '/x/k.conf');
  assert.deepEqual(cfg.warnings, [
    "/x/k.conf:2: unknown keyword 'frobnicate' in virtual_server, ignored",
    '/x/k.conf:4: SSL_GET is not supported by lvsd; this checker is ignored',
    "/x/k.conf:8: unknown keyword 'whatever' in the top level, ignored",
  ]);
  assert.equal(cfg.virtualServers[0].reals[0].checks.length, 0);
});

test('include splices files relative to the including file; errors point into the included file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ka-'));
  try {
    writeFileSync(join(dir, 'keepalived.conf'), 'include conf.d/*.conf\n');
    const d = join(dir, 'conf.d');
    require('node:fs').mkdirSync(d);
    writeFileSync(join(d, 'a.conf'), 'virtual_server 198.18.100.1 80 {\n lb_algo rr\n}\n');
    writeFileSync(join(d, 'b.conf'), 'virtual_server 198.18.100.1 81 {\n lb_algo wrr\n}\n');
    const cfg = parseKeepalivedFile(join(dir, 'keepalived.conf'));
    assert.deepEqual(cfg.virtualServers.map((v) => `${v.port}/${v.scheduler}`), ['80/rr', '81/wrr']);
    writeFileSync(join(d, 'b.conf'), 'virtual_server 198.18.100.1 81 {\n lb_algo wrr\n\n delay_loop -1\n}\n');
    assert.throws(() => parseKeepalivedFile(join(dir, 'keepalived.conf')),
      (e: unknown) => e instanceof ConfigError && e.file === join(d, 'b.conf') && e.line === 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a virtual server defined twice is an error', () => {
  assert.equal(errorOf('virtual_server 1.2.3.4 80 {\n}\nvirtual_server 1.2.3.4 80 {\n}\n').line, 3);
});
