/**
 * One "real server" application of the Jepsen-style test. Loops until SIGTERM:
 *   lock reg-<k> → R k token → W k token value+1 → unlock
 * against the register (register.ts), recording each grant as a JSON line
 * (checker.GrantEvent) in --history. SIGUSR1 arms a self-pause: right after the next
 * successful read the process stops itself (SIGSTOP), so the nemesis's pause lands between
 * read and write, the window in which a stale holder does damage; the nemesis sends SIGCONT.
 * The loop never checks its lease before writing: only fencing at the register protects it.
 *
 *   node dist/src/dlm/testing/jepsen-client.js --id c1 --servers A:P,B:P --secret-file F
 *        --register ADDR:PORT --keys N --lease-ms N --history FILE
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { readSecretFile } from '../auth';
import { DlmClient } from '../client';
import { parseHostPort } from '../protocol';

function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

class RegisterConn {
  private sock: Socket | null = null;
  private buf = '';
  private waiting: ((line: string) => void) | null = null;
  constructor(private readonly host: string, private readonly port: number) {}
  private open(): Promise<Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    return new Promise((resolve, reject) => {
      const s = connect({ host: this.host, port: this.port, noDelay: true });
      s.once('connect', () => {
        this.sock = s;
        resolve(s);
      });
      s.once('error', reject);
      s.on('close', () => {
        if (this.sock === s) this.sock = null;
        this.waiting?.('CLOSED');
        this.waiting = null;
      });
      s.on('data', (d) => {
        this.buf += d.toString('latin1');
        const nl = this.buf.indexOf('\n');
        if (nl >= 0 && this.waiting) {
          const line = this.buf.slice(0, nl);
          this.buf = this.buf.slice(nl + 1);
          const w = this.waiting;
          this.waiting = null;
          w(line);
        }
      });
    });
  }
  async call(line: string): Promise<string> {
    const s = await this.open();
    return new Promise((resolve) => {
      this.waiting = resolve;
      s.write(line + '\n');
    });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const get = (n: string, d?: string): string => {
    const i = args.indexOf(`--${n}`);
    if (i >= 0 && i + 1 < args.length) return args[i + 1];
    if (d !== undefined) return d;
    throw new Error(`--${n} required`);
  };
  const id = get('id');
  const keys = Number(get('keys', '2'));
  const reg = parseHostPort(get('register'));
  const fd = openSync(get('history'), 'a');
  const client = new DlmClient({
    servers: get('servers').split(','),
    secret: readSecretFile(get('secret-file')),
    leaseMs: Number(get('lease-ms', '400')),
    connectTimeoutMs: 300,
    retryDelayMs: 50,
  });
  client.on('error', () => undefined);
  const register = new RegisterConn(reg.host, reg.port);
  let pauseArmed = false;
  let stopping = false;
  process.on('SIGUSR1', () => (pauseArmed = true));
  process.on('SIGTERM', () => (stopping = true));
  let k = Math.floor(Math.random() * keys);
  while (!stopping) {
    k = (k + 1 + Math.floor(Math.random() * keys)) % keys;
    const lock = `reg-${k}`;
    const invokeTime = nowUs();
    let h;
    try {
      h = await client.lock(lock, { timeoutMs: 3000 });
    } catch {
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    const okTime = nowUs();
    writeSync(fd, JSON.stringify({ client: id, lock, token: h.token.toString(), invokeTime, okTime }) + '\n');
    try {
      const r = await register.call(`R ${k} ${h.token} ${id}`);
      if (r.startsWith('OK ')) {
        const v = Number(r.slice(3));
        if (pauseArmed) {
          pauseArmed = false;
          process.kill(process.pid, 'SIGSTOP');
        }
        await register.call(`W ${k} ${h.token} ${v + 1} ${id}`);
      }
    } catch {
      // register unreachable: give the lock back and go on
    }
    await h.unlock().catch(() => undefined);
  }
  await client.close();
  closeSync(fd);
  process.exit(0);
}

void main();
