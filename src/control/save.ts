/**
 * ipvsadm-save format (-S) and its inverse for -R and lvsd's rules file.
 * Output follows print_service_entry's FMT_RULE branch of ipvsadm.c (%s of a service is
 * "-t|-u host:port" or "-f mark"):
 *   "-A %s -s %s" [" -b flags"] [" -p %u" [" -M mask"]] [" -o"]
 *   "-a %s -r %s %s -w %d" [" -x %u"] [" -y %u"]
 * One-packet scheduling is saved as " -o" (old ipvsadm printed " ops", which -R cannot read).
 * Lines appear in listing order (services and dests sorted as -L sorts them).
 */
import type { Command, FwdName, ServiceInfo } from '../ipvs/command';
import { LvsadmError } from './errors';
import { addrPort, sortedServices } from './format';
import { type NameDb, parseArgs, systemNames } from './ipvsadm-args';

/** fwd_switch() of ipvsadm.c. */
const FWD_SWITCHES: Record<FwdName, string> = { masq: '-m', tunnel: '-i', route: '-g' };

const FULL_MASK = '255.255.255.255';

/** The -S text for `services`: one -A line per service followed by its -a lines. */
export function formatSave(services: readonly ServiceInfo[], numeric: boolean, names: NameDb = systemNames()): string {
  let out = '';
  for (const svc of sortedServices(services, false)) {
    // sprintf("-f %d") for a firewall-mark service.
    const svcName = svc.fwmark
      ? `-f ${svc.fwmark}`
      : `${svc.proto === 'tcp' ? '-t' : '-u'} ${addrPort(svc.addr, svc.port, svc.proto, numeric, names)}`;
    out += `-A ${svcName} -s ${svc.scheduler}`;
    if (svc.schedFlags.length > 0) out += ` -b ${svc.schedFlags.join(',')}`;
    if (svc.persistent !== undefined) {
      out += ` -p ${svc.persistent}`;
      if (svc.netmask !== FULL_MASK) out += ` -M ${svc.netmask}`;
    }
    if (svc.ops) out += ' -o';
    out += '\n';
    for (const d of svc.dests) {
      out += `-a ${svcName} -r ${addrPort(d.addr, d.port, svc.proto, numeric, names)} ${FWD_SWITCHES[d.fwd]} -w ${d.weight}`;
      if (d.upper > 0) out += ` -x ${d.upper}`;
      if (d.lower > 0) out += ` -y ${d.lower}`;
      out += '\n';
    }
  }
  return out;
}

/** Program names a restore line may start with (as written by `ipvsadm-save` wrappers). */
const PROGRAM_WORDS = new Set(['ipvsadm', 'lvsadm']);

/**
 * Parses -R input: one ipvsadm command per line; blank lines and lines starting with '#'
 * are skipped; a leading "ipvsadm" or "lvsadm" word (or a path ending in one) is dropped.
 * Only state-changing commands are accepted. Errors are LvsadmError code ERESTORE with
 * message "line N: <parser message>". Words are separated by whitespace; no quoting exists
 * in the format (no argument ever contains a space).
 */
export function parseRestore(text: string, names: NameDb = systemNames(), firstLine = 1): Command[] {
  const commands: Command[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const words = lines[n].trim().split(/\s+/).filter((w) => w.length > 0);
    if (words.length === 0 || words[0].startsWith('#')) continue;
    const program = words[0].slice(words[0].lastIndexOf('/') + 1);
    if (PROGRAM_WORDS.has(program)) words.shift();
    const fail = (message: string): never => {
      throw new LvsadmError('ERESTORE', `line ${n + firstLine}: ${message}`);
    };
    if (words.length === 0) fail('no command');
    let parsed;
    try {
      parsed = parseArgs(words, names);
    } catch (err) {
      return fail(err instanceof Error ? err.message : String(err));
    }
    if (parsed.kind !== 'commands') fail(`'${words.join(' ')}' is not allowed in restore input`);
    else if (parsed.socket !== undefined) fail('--socket is not allowed in restore input');
    else commands.push(...parsed.commands);
  }
  return commands;
}
