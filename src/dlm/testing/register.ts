/**
 * The shared resource of the Jepsen-style test: a TCP "register" holding one integer per key
 * and, per key, the highest fencing token seen. Line protocol (one request per line):
 *
 *   R <key> <token> <client>          → "OK <value>"  | "REJ <highest>"
 *   W <key> <token> <value> <client>  → "OK"          | "REJ <highest>"
 *
 * With fencing on, a request whose token is below the highest token seen for the key is
 * rejected, reads included (a read raises the mark: a holder that read with an old token
 * can no longer write after a newer holder has read). With fencing off everything is
 * accepted. Every request is logged in arrival order; SIGTERM writes the log as JSON lines
 * (checker.RegisterEvent) to --history and exits. Progress "count N" (writes) goes to stdout.
 *
 *   node dist/src/dlm/testing/register.js --listen ADDR:PORT --fencing on|off --history FILE
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { RegisterEvent } from '../checker';
import { parseHostPort } from '../protocol';

export interface RegisterState {
  fencing: boolean;
  values: Map<string, number>;
  highest: Map<string, bigint>;
  log: RegisterEvent[];
}

/** Applies one request line; returns the reply line. Exported for tests. */
export function applyLine(st: RegisterState, line: string): string {
  const p = line.trim().split(' ');
  const isRead = p[0] === 'R' && p.length === 4;
  const isWrite = p[0] === 'W' && p.length === 5;
  if (!isRead && !isWrite) return 'ERR';
  const key = p[1];
  let token: bigint;
  try {
    token = BigInt(p[2]);
  } catch {
    return 'ERR';
  }
  const high = st.highest.get(key) ?? -1n;
  const accepted = !st.fencing || token >= high;
  if (accepted && token > high) st.highest.set(key, token);
  const seq = st.log.length + 1;
  if (isRead) {
    const value = st.values.get(key) ?? 0;
    st.log.push({ seq, client: p[3], op: 'read', key, token: p[2], value, accepted });
    return accepted ? `OK ${value}` : `REJ ${high}`;
  }
  const value = Number(p[3]);
  if (!Number.isSafeInteger(value)) return 'ERR';
  st.log.push({ seq, client: p[4], op: 'write', key, token: p[2], value, accepted });
  if (accepted) st.values.set(key, value);
  return accepted ? 'OK' : `REJ ${high}`;
}

function main(): void {
  const args = process.argv.slice(2);
  const get = (n: string): string => {
    const i = args.indexOf(`--${n}`);
    if (i < 0 || i + 1 >= args.length) throw new Error(`--${n} required`);
    return args[i + 1];
  };
  const { host, port } = parseHostPort(get('listen'));
  const history = get('history');
  const st: RegisterState = { fencing: get('fencing') === 'on', values: new Map(), highest: new Map(), log: [] };
  let writes = 0;
  const srv = createServer({ noDelay: true }, (sock) => {
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.length > 4096) return sock.destroy();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('W')) writes++;
        sock.write(applyLine(st, line) + '\n');
      }
    });
  });
  srv.listen(port, host, () => process.stdout.write(`listening ${host}:${port}\n`));
  const progress = setInterval(() => process.stdout.write(`count ${writes}\n`), 250);
  process.on('SIGTERM', () => {
    clearInterval(progress);
    writeFileSync(history, st.log.map((e) => JSON.stringify(e)).join('\n') + '\n');
    process.exit(0);
  });
}

if (require.main === module) main();
