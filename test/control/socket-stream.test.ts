import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command, ConnInfo } from '../../src/ipvs/command';
import { LvsadmError } from '../../src/control/errors';
import { ControlServer, MAX_LINE_BYTES, request } from '../../src/control/socket';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), `lvsd-stream-${process.pid}-`));
}

function conn(i: number): ConnInfo {
  return { proto: 'tcp', expires: 900, state: 'ESTABLISHED', caddr: `198.18.${(i >> 8) & 255}.${i & 255}`, cport: 1024 + (i % 60000),
    vaddr: '198.18.100.1', vport: 80, daddr: '198.19.0.11', dport: 80 };
}

async function* synthetic(n: number, chunk: number): AsyncGenerator<ConnInfo[]> {
  for (let i = 0; i < n; i += chunk) {
    const rows: ConnInfo[] = [];
    for (let j = i; j < Math.min(n, i + chunk); j++) rows.push(conn(j));
    yield rows;
  }
}

test('a listing of 300,000 connections streams in bounded frames; a 100,000-command batch is one handler call', async () => {
  const dir = tempDir();
  const path = join(dir, 'lvsd.sock');
  const batches: Command[][] = [];
  const server = new ControlServer(path, (cmds) => {
    if (cmds[0]?.op === 'list-conns') return { kind: 'stream', of: 'conns', rows: synthetic(300_000, 4096) };
    batches.push(cmds);
    return { kind: 'done' };
  });
  await server.listen();
  try {
    const r = await request(path, [{ op: 'list-conns' }], 30_000);
    assert.equal(r.kind, 'conns');
    if (r.kind === 'conns') {
      assert.equal(r.conns.length, 300_000);
      assert.deepEqual(r.conns[299_999], conn(299_999));
    }
    // The longest frame on the wire, read raw.
    const longest = await new Promise<number>((resolve, reject) => {
      const sock = createConnection(path);
      let buf = '';
      let max = 0;
      sock.on('connect', () => sock.write('{"id":9,"commands":[{"op":"list-conns"}]}\n'));
      sock.on('data', (d) => {
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          max = Math.max(max, nl);
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.includes('"end":true')) {
            sock.destroy();
            resolve(max);
          }
        }
      });
      sock.on('error', reject);
    });
    assert.ok(longest < MAX_LINE_BYTES / 4, `longest frame ${longest} bytes`);

    let rowsSeen = 0;
    await request(path, [{ op: 'list-conns' }], { timeoutMs: 30_000, onRows: (rows) => { rowsSeen += rows.length; } });
    assert.equal(rowsSeen, 300_000, 'onRows sees every row');

    const restore: Command[] = [];
    for (let i = 0; i < 100_000; i++) {
      restore.push({ op: 'add-server', service: { proto: 'tcp', addr: '198.18.100.1', port: 80 },
        dest: { addr: `198.19.${(i >> 8) & 255}.${i & 255}`, port: 1 + (i % 60000), fwd: 'route', weight: 1 } });
    }
    assert.deepEqual(await request(path, restore, 30_000), { kind: 'done' });
    assert.equal(batches.length, 1, 'one handler call');
    assert.equal(batches[0].length, 100_000);
    assert.deepEqual(batches[0][99_999], restore[99_999]);

    // A bad command in a late frame refuses the whole batch: the handler sees none of it.
    const bad = [...restore.slice(0, 5000), { op: 'add-service', service: { proto: 'icmp', addr: '198.18.100.1', port: 80 } }] as Command[];
    await assert.rejects(request(path, bad, 30_000), (e: unknown) => e instanceof LvsadmError && e.code === 'EPROTO' &&
      /commands\[1000\]\.service\.proto/.test(e.message));
    assert.equal(batches.length, 1, 'nothing of the refused batch was applied');
    assert.deepEqual(await request(path, [{ op: 'clear' }]), { kind: 'done' }, 'the connection state is clean afterwards');
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('peer credentials: uid 0 and the control group change rules, other peers may only read', async () => {
  const dir = tempDir();
  const path = join(dir, 'lvsd.sock');
  let peer = { pid: 4242, uid: 1000, gid: 1000, groups: [1000] };
  const calls: string[] = [];
  const server = new ControlServer(path, (cmds, p) => {
    calls.push(`${p.uid}:${cmds[0].op}`);
    return cmds[0].op === 'get-timeout' ? { kind: 'timeout', timeout: { tcp: 900, tcpfin: 120, udp: 300 } } : { kind: 'done' };
  }, { group: 2000, credentials: () => peer });
  await server.listen();
  try {
    assert.equal((await request(path, [{ op: 'get-timeout' }])).kind, 'timeout', 'reading is allowed');
    await assert.rejects(request(path, [{ op: 'get-timeout' }, { op: 'clear' }]),
      (e: unknown) => e instanceof LvsadmError && e.code === 'EPERM' && /uid 1000 may only read/.test(e.message));
    peer = { ...peer, groups: [1000, 2000] };
    assert.deepEqual(await request(path, [{ op: 'clear' }]), { kind: 'done' }, 'a member of the control group may write');
    peer = { pid: 1, uid: 0, gid: 0, groups: [] };
    assert.deepEqual(await request(path, [{ op: 'clear' }]), { kind: 'done' }, 'root may write');
    assert.deepEqual(calls, ['1000:get-timeout', '1000:clear', '0:clear']);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

test('a client that sends and never reads cannot grow the server beyond a bound', async () => {
  const dir = tempDir();
  const path = join(dir, 'lvsd.sock');
  // The ControlServer alone in a child, answering every request with a 3,000-row listing (a
  // plain result, and a stream for -L -c).
  const code = `
    const { ControlServer } = require(${JSON.stringify(join(__dirname, '../../src/control/socket.js'))});
    const row = (j) => ({ proto: 'tcp', expires: 900, state: 'ESTABLISHED', caddr: '198.18.0.' + (j & 255), cport: j,
      vaddr: '198.18.100.1', vport: 80, daddr: '198.19.0.11', dport: 80 });
    async function* rows() { for (let i = 0; i < 3; i++) yield Array.from({ length: 1000 }, (_, j) => row(j)); }
    const s = new ControlServer(${JSON.stringify(path)}, (cmds) => cmds[0].op === 'list-conns'
      ? { kind: 'stream', of: 'conns', rows: rows() }
      : { kind: 'conns', conns: Array.from({ length: 3000 }, (_, j) => row(j)) });
    s.listen().then(() => process.stdout.write('ready\\n'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server child not ready')), 10_000);
      child.stdout.once('data', () => { clearTimeout(t); resolve(); });
    });
    await new Promise((r) => setTimeout(r, 300));
    const before = rssKb(child.pid as number);
    // 200,000 requests (600 million rows asked for), written without waiting, never read.
    const sock = createConnection(path);
    sock.pause();
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    for (let i = 1; i <= 200_000; i++) {
      const op = i % 2 === 0 ? 'list-conns' : 'list-services';
      sock.write(`{"id":${i},"commands":[{"op":"${op}"}]}\n`);
      if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 2000));
    const after = rssKb(child.pid as number);
    sock.destroy();
    assert.ok(after - before < 48 * 1024, `server RSS grew from ${before} kB to ${after} kB`);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a request split across reads while a large answer waits unread is still answered', async () => {
  const dir = tempDir();
  const path = join(dir, 'lvsd.sock');
  // A plain answer of about 600 KB: more than the per-client high-water mark.
  const big = Array.from({ length: 4000 }, (_, i) => conn(i));
  const server = new ControlServer(path, (cmds) => (cmds[0].op === 'list-conns' ? { kind: 'conns', conns: big } : { kind: 'done' }));
  await server.listen();
  try {
    const answers = await new Promise<string[]>((resolve, reject) => {
      const sock = createConnection(path);
      let buf = '';
      const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no second answer; got ${buf.length} bytes`)); }, 10_000);
      sock.pause();
      sock.on('connect', () => {
        sock.write('{"id":1,"commands":[{"op":"list-conns"}]}\n');
        // The first part of the next request arrives while the answer waits to be read.
        setTimeout(() => sock.write('{"id":2,'), 150);
        setTimeout(() => {
          sock.on('data', (d) => {
            buf += d.toString();
            const lines = buf.split('\n').filter((l) => l.length > 0);
            if (lines.length >= 2) {
              clearTimeout(timer);
              sock.destroy();
              resolve(lines);
            }
          });
          sock.resume();
          setTimeout(() => sock.write('"commands":[{"op":"clear"}]}\n'), 200);
        }, 300);
      });
      sock.on('error', reject);
    });
    assert.equal(JSON.parse(answers[0]).result.conns.length, 4000);
    assert.deepEqual(JSON.parse(answers[1]), { id: 2, ok: true, result: { kind: 'done' } });
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
