import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LvsadmError } from '../../src/control/errors';
import { defaultListOpts, namesFrom, parseArgs, type ParsedInvocation } from '../../src/control/ipvsadm-args';

const NAMES = namesFrom(
  '127.0.0.1 localhost\n198.18.100.1 vip\n198.19.0.11 rs1 rs1.example\n',
  'http 80/tcp www\nhttp 80/udp\ndomain 53/udp\nhttps 443/tcp\n',
);
const p = (line: string): ParsedInvocation => parseArgs(line.split(' ').filter((w) => w.length > 0), NAMES);

function fails(line: string, code: string, message: string, exitCode?: number): void {
  assert.throws(() => p(line), (err: unknown) => {
    assert.ok(err instanceof LvsadmError, String(err));
    assert.equal(err.message, message, line);
    assert.equal(err.code, code, line);
    if (exitCode !== undefined) assert.equal(err.exitCode, exitCode, line);
    return true;
  });
}

const VIP = { proto: 'tcp', addr: '198.18.100.1', port: 80 } as const;

test('add-service: short, long, grouped, defaults', () => {
  const expected = { kind: 'commands', commands: [{ op: 'add-service', service: { ...VIP, scheduler: 'wlc' } }] };
  assert.deepEqual(p('-A -t 198.18.100.1:80'), expected);
  assert.deepEqual(p('--add-service --tcp-service 198.18.100.1:80'), expected);
  assert.deepEqual(p('--add-service --tcp-service=198.18.100.1:80'), expected);
  assert.deepEqual(p('-At 198.18.100.1:80'), expected);
  assert.deepEqual(p('-At198.18.100.1:80'), expected);
  assert.deepEqual(p('-A -t vip:http'), expected);
  assert.deepEqual(p('-A -t vip:www'), expected);
});

test('add-service with every service option', () => {
  assert.deepEqual(p('-A -u 198.18.100.1:53 -s sh -p 600 -M 255.255.255.0 -b sh-port,sh-fallback -o'), {
    kind: 'commands',
    commands: [{
      op: 'add-service',
      service: {
        proto: 'udp', addr: '198.18.100.1', port: 53, scheduler: 'sh', persistent: 600,
        netmask: '255.255.255.0', schedFlags: ['sh-port', 'sh-fallback'], ops: true,
      },
    }],
  });
  assert.deepEqual(
    p('--add-service --udp-service vip:domain --scheduler rr --persistent --netmask 255.255.0.0 --sched-flags sh-port --ops'),
    {
      kind: 'commands',
      commands: [{
        op: 'add-service',
        service: { proto: 'udp', addr: '198.18.100.1', port: 53, scheduler: 'rr', persistent: 300, netmask: '255.255.0.0', schedFlags: ['sh-port'], ops: true },
      }],
    },
  );
});

test('-p takes the next word only when it is a number', () => {
  const svc = (line: string) => {
    const r = p(line);
    assert.equal(r.kind, 'commands');
    const c = r.commands[0];
    assert.equal(c.op, 'add-service');
    return c.service;
  };
  assert.equal(svc('-A -t vip:80 -p').persistent, 300);
  assert.equal(svc('-A -t vip:80 -p 900').persistent, 900);
  assert.equal(svc('-A -t vip:80 -p900').persistent, 900);
  assert.equal(svc('-A -t vip:80 --persistent=42').persistent, 42);
  const s = svc('-A -t vip:80 -p -M 255.255.255.0');
  assert.equal(s.persistent, 300);
  assert.equal(s.netmask, '255.255.255.0');
  assert.equal(svc('-A -t vip:80 -p -s rr').scheduler, 'rr');
  assert.equal(svc('-Ap -t vip:0').port, 0);
  fails('-A -t vip:80 -p rr', 'EUSAGE', 'unexpected argument rr');
  fails('-A -t vip:80 -p 0', 'EUSAGE', "invalid timeout value `0' specified");
  fails('-A -t vip:80 -p 2678401', 'EUSAGE', "invalid timeout value `2678401' specified");
});

test('edit-service sends only the given fields', () => {
  assert.deepEqual(p('-E -t vip:80 -s rr'), { kind: 'commands', commands: [{ op: 'edit-service', service: { ...VIP, scheduler: 'rr' } }] });
  assert.deepEqual(p('--edit-service -t vip:80 -p 60'), { kind: 'commands', commands: [{ op: 'edit-service', service: { ...VIP, persistent: 60 } }] });
});

test('delete-service, clear, zero, set', () => {
  assert.deepEqual(p('-D -t vip:80'), { kind: 'commands', commands: [{ op: 'delete-service', service: VIP }] });
  assert.deepEqual(p('--delete-service -t 198.18.100.1:80'), { kind: 'commands', commands: [{ op: 'delete-service', service: VIP }] });
  assert.deepEqual(p('-C'), { kind: 'commands', commands: [{ op: 'clear' }] });
  assert.deepEqual(p('--clear'), { kind: 'commands', commands: [{ op: 'clear' }] });
  assert.deepEqual(p('-Z'), { kind: 'commands', commands: [{ op: 'zero' }] });
  assert.deepEqual(p('--zero -t vip:80'), { kind: 'commands', commands: [{ op: 'zero', service: VIP }] });
  assert.deepEqual(p('--set 900 120 300'), { kind: 'commands', commands: [{ op: 'set-timeout', tcp: 900, tcpfin: 120, udp: 300 }] });
  fails('--set 900 120', 'EUSAGE', '--set option requires 3 timeout values');
  fails('--set 900 x 300', 'EUSAGE', "invalid timeout value `x' specified");
  fails('--set 1 2 3 4', 'EUSAGE', 'unexpected argument 4');
});

test('add-server: forwarding methods, weight, thresholds, port defaults', () => {
  const add = (line: string) => {
    const r = p(line);
    assert.equal(r.kind, 'commands');
    const c = r.commands[0];
    assert.equal(c.op, 'add-server');
    return c;
  };
  assert.deepEqual(add('-a -t vip:80 -r 198.19.0.11'), {
    op: 'add-server', service: VIP, dest: { addr: '198.19.0.11', port: 80, fwd: 'route', weight: 1 },
  });
  assert.deepEqual(add('-a -t vip:80 -r rs1:8080 -m -w 0 -x 100 -y 50').dest, {
    addr: '198.19.0.11', port: 8080, fwd: 'masq', weight: 0, upper: 100, lower: 50,
  });
  assert.deepEqual(
    add('--add-server --tcp-service vip:80 --real-server rs1.example:80 --ipip --weight 65535 --u-threshold 1 --l-threshold 0').dest,
    { addr: '198.19.0.11', port: 80, fwd: 'tunnel', weight: 65535, upper: 1, lower: 0 },
  );
  assert.equal(add('-a -t vip:80 -r rs1 --gatewaying').dest.fwd, 'route');
  assert.equal(add('-a -t vip:80 -r rs1 --masquerading').dest.fwd, 'masq');
  assert.equal(add('-at vip:80 -r rs1 -mw3').dest.weight, 3);
  // -r before -t is resolved against the service's protocol
  assert.deepEqual(add('-a -r rs1:http -t vip:80 -m').dest, { addr: '198.19.0.11', port: 80, fwd: 'masq', weight: 1 });
});

test('edit-server and delete-server', () => {
  assert.deepEqual(p('-e -t vip:80 -r rs1 -w 0'), {
    kind: 'commands', commands: [{ op: 'edit-server', service: VIP, dest: { addr: '198.19.0.11', port: 80, weight: 0 } }],
  });
  assert.deepEqual(p('--delete-server -t vip:80 -r rs1:8080'), {
    kind: 'commands', commands: [{ op: 'delete-server', service: VIP, dest: { addr: '198.19.0.11', port: 8080 } }],
  });
  assert.deepEqual(p('-d -t vip:80 -r rs1'), {
    kind: 'commands', commands: [{ op: 'delete-server', service: VIP, dest: { addr: '198.19.0.11', port: 80 } }],
  });
});

test('list options, grouped and long', () => {
  const opts = (over: Partial<ReturnType<typeof defaultListOpts>>) => ({ ...defaultListOpts(), ...over });
  assert.deepEqual(p('-L'), { kind: 'list', opts: opts({}) });
  assert.deepEqual(p(''), { kind: 'list', opts: opts({}) });
  assert.deepEqual(p('-Ln'), { kind: 'list', opts: opts({ numeric: true }) });
  assert.deepEqual(p('-l -n'), { kind: 'list', opts: opts({ numeric: true }) });
  assert.deepEqual(p('-Lnc'), { kind: 'list', opts: opts({ numeric: true, connection: true }) });
  assert.deepEqual(p('--list --numeric --connection'), { kind: 'list', opts: opts({ numeric: true, connection: true }) });
  assert.deepEqual(p('-L -n --stats --exact'), { kind: 'list', opts: opts({ numeric: true, stats: true, exact: true }) });
  assert.deepEqual(p('-L -X --rate'), { kind: 'list', opts: opts({ exact: true, rate: true }) });
  assert.deepEqual(p('-L --thresholds --sort'), { kind: 'list', opts: opts({ thresholds: true }) });
  assert.deepEqual(p('-L --persistent-conn --nosort'), { kind: 'list', opts: opts({ persistentConn: true, nosort: true }) });
  assert.deepEqual(p('-L --timeout'), { kind: 'list', opts: opts({ timeout: true }) });
  assert.deepEqual(p('-L --daemon'), { kind: 'list', opts: opts({ daemon: true }) });
  assert.deepEqual(p('-L -n -t vip:80'), { kind: 'list', service: VIP, opts: opts({ numeric: true }) });
  assert.deepEqual(p('-Ln --socket /tmp/x.sock'), { kind: 'list', opts: opts({ numeric: true }), socket: '/tmp/x.sock' });
});

test('save, restore, help, version, status', () => {
  assert.deepEqual(p('-S'), { kind: 'save', numeric: false });
  assert.deepEqual(p('-Sn'), { kind: 'save', numeric: true });
  assert.deepEqual(p('--save --numeric'), { kind: 'save', numeric: true });
  assert.deepEqual(p('-R'), { kind: 'restore' });
  assert.deepEqual(p('--restore'), { kind: 'restore' });
  assert.deepEqual(p('-h'), { kind: 'help' });
  assert.deepEqual(p('--help'), { kind: 'help' });
  assert.deepEqual(p('-v'), { kind: 'version' });
  assert.deepEqual(p('--version'), { kind: 'version' });
  assert.deepEqual(p('--status'), { kind: 'status' });
  assert.deepEqual(p('--drops'), { kind: 'status' });
});

test('errors with ipvsadm texts and exit statuses', () => {
  fails('-A -t vip:70000', 'EUSAGE', 'illegal virtual server address[:port] specified', 2);
  fails('-A -t vip:nosuch', 'EUSAGE', 'illegal virtual server address[:port] specified');
  fails('-A -t 80', 'EUSAGE', 'illegal virtual server address[:port] specified');
  fails('-A -t 1.2.3.256:80', 'EUSAGE', 'illegal virtual server address[:port] specified');
  fails('-A -t nohost:80', 'EUSAGE', 'illegal virtual server address[:port] specified');
  fails('-a -t vip:80 -r rs1:99999', 'EUSAGE', 'illegal real server address[:port] specified');
  fails('-A -t vip', 'EUSAGE', 'Zero port specified for non-persistent service');
  fails('-A -t vip:80 -o', 'EUSAGE', 'One-Packet Scheduling is only for UDP virtual services');
  fails('-a -t vip:80 -r rs1 -w 65536', 'EUSAGE', 'illegal weight specified');
  fails('-a -t vip:80 -r rs1 -w -1', 'EUSAGE', 'illegal weight specified');
  fails('-a -t vip:80 -r rs1 -w 1x', 'EUSAGE', 'illegal weight specified');
  fails('-a -t vip:80 -r rs1 -x abc', 'EUSAGE', 'illegal u_threshold specified');
  fails('-a -t vip:80 -r rs1 -y -5', 'EUSAGE', 'illegal l_threshold specified');
  fails('-A -t vip:80 -M 255.255.255.300', 'EUSAGE', 'illegal virtual server persistent mask specified');
  fails('-A -t vip:80 -b sh-nonsense', 'EUSAGE', "invalid scheduler flag `sh-nonsense'");
  fails('-a -t vip:80 -r rs1:8080 -g', 'EUSAGE',
    'illegal real server port 8080 for gatewaying: only masquerading (-m) can map virtual port 80 to another port');
  fails('-a -t vip:80 -r rs1:8080', 'EUSAGE',
    'illegal real server port 8080 for gatewaying: only masquerading (-m) can map virtual port 80 to another port');
  fails('-a -t vip:80 -r rs1:8080 -i', 'EUSAGE',
    'illegal real server port 8080 for tunneling: only masquerading (-m) can map virtual port 80 to another port');
  fails('-A', 'EUSAGE', "You need to supply the 'service-address' option for the 'add-service' command");
  fails('-a -t vip:80', 'EUSAGE', "You need to supply the 'real-server' option for the 'add-server' command");
  fails('-A -t vip:80 -w 3', 'EUSAGE', "Illegal 'weight' option with the 'add-service' command");
  fails('-D -t vip:80 -s rr', 'EUSAGE', "Illegal 'scheduler' option with the 'delete-service' command");
  fails('-C -n', 'EUSAGE', "Illegal 'numeric' option with the 'flush' command");
  fails('-a -t vip:80 -r rs1 -p', 'EUSAGE', "Illegal 'persistent' option with the 'add-server' command");
  fails('-S -c', 'EUSAGE', "Illegal 'connection' option with the 'save' command");
  fails('-L -c --timeout', 'EUSAGE', "The option 'timeout' conflicts with the 'connection' option in the 'list' command");
  fails('-L -c --stats', 'EUSAGE', 'options conflicts in the list command');
  fails('-A -D -t vip:80', 'EUSAGE', 'multiple commands specified');
  fails('-A -t vip:80 -s rr -s wlc', 'EUSAGE', "multiple 'scheduler' options specified");
  fails('-a -t vip:80 -r rs1 -m -g', 'EUSAGE', "multiple 'forwarding-method' options specified");
  fails('-A -t vip:80 --frobnicate', 'EBADOPT', '--frobnicate: unknown option', 255);
  fails('-A -t vip:80 -q', 'EBADOPT', '-q: unknown option', 255);
  fails('-A -t', 'EBADOPT', '-t: missing argument', 255);
  fails('-A --tcp-service', 'EBADOPT', '--tcp-service: missing argument');
  fails('-L --numeric=yes', 'EBADOPT', '--numeric: option does not take an argument');
  fails('-n', 'EBADOPT', "no command specified; try `lvsadm -h' or 'lvsadm --help' for more information.");
  fails('-A -f 0', 'EUSAGE', "invalid fwmark value `0' specified");
  fails('-A -f 4294967296', 'EUSAGE', "invalid fwmark value `4294967296' specified");
  fails('-A -f 7 -t vip:80', 'EUSAGE', "multiple 'service-address' options specified");
  fails('--start-daemon master', 'EUNSUPPORTED', 'the connection sync daemon is not supported by lvsd yet');
});
