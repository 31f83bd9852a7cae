/**
 * What lvsd keeps after setup. Rule changes later still create TUN devices (firewall-mark
 * services), AF_PACKET and raw sockets (direct routing, health checks, VRRP, gratuitous ARP),
 * and run `ip` and `nft`: CAP_NET_ADMIN and CAP_NET_RAW. CAP_SYS_NICE only with --rt-priority,
 * CAP_NET_BIND_SERVICE only when asked (--keep-bind-service). Everything else (CAP_SYS_ADMIN,
 * CAP_DAC_OVERRIDE, CAP_SYS_PTRACE, CAP_SETUID, ...) leaves the permitted and bounding sets of
 * every thread that can be reached, so neither lvsd nor any process it starts can get it back;
 * the kept ones are ambient as well, so children keep them whatever their uid.
 */
import { readFileSync } from 'node:fs';
import { capSetsOf, type CapName, capMask, restrictProcess } from '../host/privileges';

export interface PrivilegeOptions {
  rtPriority: boolean;
  bindService: boolean;
}

export function keptCapabilities(o: PrivilegeOptions): CapName[] {
  const keep: CapName[] = ['CAP_NET_ADMIN', 'CAP_NET_RAW'];
  if (o.rtPriority) keep.push('CAP_SYS_NICE');
  if (o.bindService) keep.push('CAP_NET_BIND_SERVICE');
  return keep;
}

/**
 * Drops the rest; returns the kept names (those wanted that the process had), how many other
 * threads were reached, and whether the bounding set could be reduced (it needs CAP_SETPCAP,
 * which a container may withhold). Throws when the effective or permitted set is not exactly
 * the kept one afterwards.
 */
export function dropPrivileges(o: PrivilegeOptions): { keep: CapName[]; threads: number; reached: number; bounded: boolean } {
  const have = capSetsOf('self').permitted;
  const keep = keptCapabilities(o).filter((n) => (have & capMask([n])) !== 0n);
  const r = restrictProcess(keep);
  const now = capSetsOf('self');
  const want = capMask(keep);
  if (now.effective !== want || now.permitted !== want) {
    throw new Error(`capabilities not reduced (CapEff ${now.effective.toString(16)}, CapPrm ${now.permitted.toString(16)})`);
  }
  return { keep, ...r, bounded: (now.bounding & ~want) === 0n };
}

/** The gid of group `name` (or a number) from /etc/group; throws when unknown. Start-up only. */
export function groupId(name: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(name)) return Number(name);
  for (const line of readFileSync(groupFile, 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && /^\d+$/.test(f[2] ?? '')) return Number(f[2]);
  }
  throw new Error(`unknown group '${name}'`);
}
