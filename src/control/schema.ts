/**
 * The schema of a control request (command.ts) as it arrives raw on the socket. Every field of
 * every command is checked for type, range and spelling, and unknown fields are refused, before
 * anything reaches the daemon: a request that does not match gets one EPROTO error naming the
 * first offending field ("commands[0].service.port: ...") and changes nothing.
 *
 * Ranges are ipvsadm's (ipvsadm.c parse_options / string_to_number): ports 0..65535, weight
 * 0..65535, thresholds 0..INT_MAX, fwmark 0..2^32-1, syncid 0..255, --mcast-ttl 1..255; the
 * protocols and forwarding methods those of IPVS (tcp/udp; masq/tunnel/route); scheduler
 * flags the names ipvsadm -b knows. Semantic checks (does the service exist, is the scheduler
 * known) stay with the service table.
 *
 * zod: a declared schema per command gives exact per-field messages and the static types from
 * one definition; see docs/SECURITY.md for why it was chosen.
 */
import { z } from 'zod';
import type { Command } from '../ipvs/command';

const INT_MAX = 2147483647;

const int = (min: number, max: number): z.ZodNumber => z.number().int().min(min).max(max);

const ipv4 = z.string().regex(/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/,
  'must be a dotted-quad IPv4 address');

const proto = z.enum(['tcp', 'udp']);
const port = int(0, 65535);

const serviceKey = z.strictObject({
  proto,
  addr: ipv4,
  port,
  fwmark: int(0, 0xffffffff).optional(),
});

const serviceSpec = z.strictObject({
  proto,
  addr: ipv4,
  port,
  fwmark: int(0, 0xffffffff).optional(),
  scheduler: z.string().regex(/^[a-z0-9]{1,16}$/, 'must be a scheduler name').optional(),
  persistent: int(1, INT_MAX).optional(),
  netmask: ipv4.optional(),
  schedFlags: z.array(z.enum(['flag-1', 'flag-2', 'flag-3', 'sh-fallback', 'sh-port', 'mh-fallback', 'mh-port']))
    .max(7).optional(),
  ops: z.boolean().optional(),
});

const destSpec = z.strictObject({
  addr: ipv4,
  port: port.optional(),
  fwd: z.enum(['masq', 'tunnel', 'route']).optional(),
  weight: int(0, 65535).optional(),
  upper: int(0, INT_MAX).optional(),
  lower: int(0, INT_MAX).optional(),
});

const syncState = z.enum(['master', 'backup']);

const commandSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('add-service'), service: serviceSpec }),
  z.strictObject({ op: z.literal('edit-service'), service: serviceSpec }),
  z.strictObject({ op: z.literal('delete-service'), service: serviceKey }),
  z.strictObject({ op: z.literal('clear') }),
  z.strictObject({ op: z.literal('add-server'), service: serviceKey, dest: destSpec }),
  z.strictObject({ op: z.literal('edit-server'), service: serviceKey, dest: destSpec }),
  z.strictObject({ op: z.literal('delete-server'), service: serviceKey, dest: z.strictObject({ addr: ipv4, port: port.optional() }) }),
  z.strictObject({ op: z.literal('zero'), service: serviceKey.optional() }),
  z.strictObject({ op: z.literal('set-timeout'), tcp: int(0, INT_MAX), tcpfin: int(0, INT_MAX), udp: int(0, INT_MAX) }),
  z.strictObject({ op: z.literal('list-services'), service: serviceKey.optional() }),
  z.strictObject({ op: z.literal('list-conns') }),
  z.strictObject({ op: z.literal('get-timeout') }),
  z.strictObject({ op: z.literal('status') }),
  z.strictObject({ op: z.literal('list-checks') }),
  z.strictObject({ op: z.literal('list-vrrp') }),
  z.strictObject({
    op: z.literal('start-daemon'),
    daemon: z.strictObject({
      state: syncState,
      mcastIface: z.string().regex(/^[A-Za-z0-9_.:-]{1,15}$/, 'must be an interface name'),
      syncid: int(0, 255),
      group: ipv4.optional(),
      port: int(1, 65535).optional(),
      ttl: int(1, 255).optional(),
      peer: ipv4.optional(),
      key: z.string().regex(/^(?:[0-9a-f]{2}){16,1024}$/, 'must be 16..1024 bytes in hex').optional(),
    }),
  }),
  z.strictObject({ op: z.literal('stop-daemon'), state: syncState }),
  z.strictObject({ op: z.literal('list-daemons') }),
  z.strictObject({ op: z.literal('set-sysctl'), name: z.string().regex(/^[a-z0-9_]{1,64}$/, 'must be a knob name'), value: z.number().int() }),
  z.strictObject({ op: z.literal('get-sysctl') }),
]);

/** Ops that read only (listings, status); everything else changes the director. */
export const READ_OPS: ReadonlySet<string> = new Set([
  'list-services', 'list-conns', 'get-timeout', 'status', 'list-checks', 'list-vrrp', 'list-daemons', 'get-sysctl',
]);

/** The commands of a request, checked; or the first problem as one line. */
export function validateCommands(raw: unknown): { ok: true; commands: Command[] } | { ok: false; message: string } {
  if (!Array.isArray(raw)) return { ok: false, message: 'request needs a "commands" array' };
  const out: Command[] = [];
  for (let i = 0; i < raw.length; i++) {
    const r = commandSchema.safeParse(raw[i]);
    if (!r.success) return { ok: false, message: describe(`commands[${i}]`, r.error, raw[i]) };
    out.push(r.data as Command);
  }
  return { ok: true, commands: out };
}

function describe(prefix: string, err: z.ZodError, raw: unknown): string {
  const issue = err.issues[0];
  const where = [prefix, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))].join('');
  if (issue.path.length === 1 && issue.path[0] === 'op') {
    const op = (raw as { op?: unknown }).op;
    return op === undefined ? `${where}: missing` : `${where}: unknown command ${JSON.stringify(op)}`;
  }
  return `${where}: ${issue.message}`;
}
