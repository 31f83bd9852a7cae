/**
 * Fuzz target: the control protocol's commands as the daemon takes them. The input bytes
 * drive a generator of request objects (ops, field names and values drawn from what lvsadm
 * sends plus hostile values: wrong types, out-of-range numbers, unknown names), which go
 * through the control socket's schema (validateCommands) and, when it accepts them, through
 * Director.handle, as a control request would.
 *
 * Contract checked: the schema answers every input with commands or one line; every accepted
 * batch the director refuses fails with a coded error (an object with string `code` and
 * `message`, what the socket sends back), never another exception; and a refused batch
 * changes nothing (the rules listed are the same before and after).
 */
import { MemoryDevice } from '../../../src/phy/memory';
import { Director } from '../../../src/ipvs/director';
import { validateCommands } from '../../../src/control/schema';

const OPS = ['add-service', 'edit-service', 'delete-service', 'clear', 'add-server', 'edit-server', 'delete-server',
  'zero', 'set-timeout', 'list-services', 'list-conns', 'get-timeout', 'status', 'list-checks', 'start-daemon',
  'stop-daemon', 'list-daemons', 'set-sysctl', 'get-sysctl', 'bogus'];
const KEYS = ['proto', 'addr', 'port', 'fwmark', 'scheduler', 'persistent', 'netmask', 'schedFlags', 'ops', 'fwd',
  'weight', 'upper', 'lower', 'tcp', 'tcpfin', 'udp', 'state', 'mcastIfn', 'syncid', 'name', 'value', 'af', '__proto__'];
const STRINGS = ['tcp', 'udp', 'icmp', 'sctp', '198.18.100.1', '198.19.0.11', '0.0.0.0', '255.255.255.255', '::1',
  '[2001:2::1]', 'rr', 'wlc', 'mh', 'sh', 'nope', 'masq', 'route', 'tunnel', 'master', 'backup', 'abc', 'sh-port',
  '255.255.255.0', '', 'expire_nodest_conn', 'sloppy_tcp', 'x'.repeat(300)];
const NUMBERS = [0, 1, 80, 8080, 65535, 65536, 99999, -1, 0.5, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER, 1e309, NaN];

class Bytes {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  get done(): boolean {
    return this.at >= this.b.length;
  }
  next(): number {
    return this.at < this.b.length ? this.b[this.at++] : 0;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.next() % xs.length];
  }
}

function value(r: Bytes, depth: number): unknown {
  switch (r.next() % 9) {
    case 0: case 1: return r.pick(STRINGS);
    case 2: case 3: return r.pick(NUMBERS);
    case 4: return r.next() & 1 ? true : null;
    case 5: return depth > 2 ? [] : [value(r, depth + 1), value(r, depth + 1)].slice(0, r.next() % 3);
    case 6: return depth > 2 ? {} : object(r, depth + 1);
    case 7: return r.pick(STRINGS).split('');
    default: return undefined;
  }
}

function object(r: Bytes, depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let n = r.next() % 6; n > 0; n--) Object.defineProperty(o, r.pick(KEYS), { value: value(r, depth), enumerable: true, configurable: true, writable: true });
  return o;
}

function command(r: Bytes): Record<string, unknown> {
  const c: Record<string, unknown> = { op: r.pick(OPS) };
  const sel = r.next();
  if (sel & 1) c.service = object(r, 1);
  if (sel & 2) c.dest = object(r, 1);
  if (sel & 4) c.daemon = object(r, 1);
  if (sel & 8) Object.assign(c, object(r, 1));
  return c;
}

function rules(dir: Director): string {
  return JSON.stringify(dir.handle([{ op: 'list-services' }]));
}

const dir = new Director(new MemoryDevice({ batch: 4, scratchSlots: 2 }), { clock: () => 1000, seed: 5, maxConns: 64 });

export function fuzz(data: Buffer): void {
  dir.handle([{ op: 'clear' }]);
  const r = new Bytes(data);
  while (!r.done) {
    const batch: unknown[] = [];
    for (let n = 1 + (r.next() % 4); n > 0 && !r.done; n--) batch.push(command(r));
    const checked = validateCommands(batch);
    if (!checked.ok) {
      if (typeof checked.message !== 'string' || checked.message.length === 0 || checked.message.includes('\n')) {
        throw new Error(`schema refusal is not one line: ${JSON.stringify(checked.message)}`);
      }
      continue;
    }
    const before = rules(dir);
    try {
      dir.handle(checked.commands);
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      if (e === null || typeof e !== 'object' || typeof e.code !== 'string' || typeof e.message !== 'string') throw err;
      const after = rules(dir);
      if (after !== before) throw new Error(`a refused batch (${e.code}: ${e.message}) changed the rules`);
    }
  }
}
