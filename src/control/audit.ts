/**
 * The record of rule changes: every command that changes the director's configuration
 * (ipvsadm's -A -E -D -a -e -d -C -Z --set, each line of -R, lvsadm's --sysctl NAME=VALUE
 * and --start-daemon/--stop-daemon) is logged once, at info, after the daemon applied it,
 * with who asked. A request the daemon refused changes nothing and is logged once at warn.
 * Queries (listings, --status) are not logged.
 */
import type { Log } from '../log';
import { endpointText, fwdText, serviceText } from '../log';
import type { Command, Result, ServiceKey } from '../ipvs/command';

/** The control socket peer, from SO_PEERCRED; undefined for --config and internal callers. */
export interface Peer {
  uid: number;
  gid?: number;
  pid: number;
}

/** Per changing op: ipvsadm's option and the message. Ops not listed are queries. */
const CHANGES: Partial<Record<Command['op'], { flag: string; msg: string }>> = {
  'add-service': { flag: '-A', msg: 'virtual service added' },
  'edit-service': { flag: '-E', msg: 'virtual service edited' },
  'delete-service': { flag: '-D', msg: 'virtual service deleted' },
  clear: { flag: '-C', msg: 'virtual server table cleared' },
  'add-server': { flag: '-a', msg: 'real server added' },
  'edit-server': { flag: '-e', msg: 'real server edited' },
  'delete-server': { flag: '-d', msg: 'real server deleted' },
  zero: { flag: '-Z', msg: 'counters zeroed' },
  'set-timeout': { flag: '--set', msg: 'timeouts set' },
  'set-sysctl': { flag: '--sysctl', msg: 'sysctl set' },
  'start-daemon': { flag: '--start-daemon', msg: 'sync daemon started' },
  'stop-daemon': { flag: '--stop-daemon', msg: 'sync daemon stopped' },
};

export function isChange(cmd: Command): boolean {
  return CHANGES[cmd.op] !== undefined;
}

function svc(k: ServiceKey): string {
  return serviceText(k);
}

/** The fields of one change record (without the peer). */
export function changeFields(cmd: Command): Record<string, unknown> {
  const f: Record<string, unknown> = { cmd: CHANGES[cmd.op]?.flag ?? cmd.op };
  switch (cmd.op) {
    case 'add-service':
    case 'edit-service': {
      const s = cmd.service;
      f.service = svc(s);
      if (s.scheduler !== undefined) f.scheduler = s.scheduler;
      if (s.persistent !== undefined) f.persistent = s.persistent;
      if (s.netmask !== undefined) f.netmask = s.netmask;
      if (s.schedFlags !== undefined && s.schedFlags.length > 0) f.flags = s.schedFlags.join(',');
      if (s.ops) f.ops = true;
      break;
    }
    case 'delete-service':
      f.service = svc(cmd.service);
      break;
    case 'add-server':
    case 'edit-server': {
      const d = cmd.dest;
      f.service = svc(cmd.service);
      f.dest = endpointText(d.addr, d.port ?? cmd.service.port);
      if (d.fwd !== undefined) f.fwd = fwdText(d.fwd);
      if (d.weight !== undefined) f.weight = d.weight;
      if (d.upper !== undefined) f.upper = d.upper;
      if (d.lower !== undefined) f.lower = d.lower;
      break;
    }
    case 'delete-server':
      f.service = svc(cmd.service);
      f.dest = endpointText(cmd.dest.addr, cmd.dest.port ?? cmd.service.port);
      break;
    case 'zero':
      if (cmd.service) f.service = svc(cmd.service);
      break;
    case 'set-timeout':
      f.tcp = cmd.tcp;
      f.tcpfin = cmd.tcpfin;
      f.udp = cmd.udp;
      break;
    case 'set-sysctl':
      f.name = cmd.name;
      f.value = cmd.value;
      break;
    case 'start-daemon':
      f.state = cmd.daemon.state;
      f.mcastIface = cmd.daemon.mcastIface;
      f.syncid = cmd.daemon.syncid;
      break;
    case 'stop-daemon':
      f.state = cmd.state;
      break;
    default:
      break;
  }
  return f;
}

/** Logs the applied changes among `cmds`, one record each; a batch of several (-R) shares a `batch` size. */
export function logChanges(log: Log, cmds: readonly Command[], peer: Peer | undefined = undefined): void {
  const changes = cmds.filter(isChange);
  for (const c of changes) {
    const f = changeFields(c);
    if (changes.length > 1) f.batch = changes.length;
    if (peer !== undefined) f.peer = peer;
    log.info(f, CHANGES[c.op]!.msg);
  }
}

/**
 * Runs `handle` on a control request and logs it: the changes once applied, or one warn
 * record when a changing request was refused (the error is rethrown for the client).
 */
export async function handleLogged<R = Result>(
  log: Log,
  handle: (cmds: Command[]) => R | Promise<R>,
  cmds: Command[],
  peer: Peer | undefined = undefined,
): Promise<R> {
  let result: R;
  try {
    result = await handle(cmds);
  } catch (err) {
    const first = cmds.find(isChange);
    if (first !== undefined) {
      const e = err as { code?: unknown; message?: unknown };
      log.warn({ ...changeFields(first), commands: cmds.length, peer, code: e.code, error: e.message }, 'rule change refused');
    }
    throw err;
  }
  logChanges(log, cmds, peer);
  return result;
}
