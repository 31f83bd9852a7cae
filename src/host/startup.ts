/**
 * Synchronous kernel calls for start-up and crash recovery only: they run before lvsd
 * forwards its first packet (and by lvs-realserver, which forwards nothing). Everything that
 * changes the kernel while packets flow goes through src/host/batch.ts instead.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** Runs ip(8); throws with its stderr on failure. */
export function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tryIp(args: string[]): boolean {
  try {
    ip(args);
    return true;
  } catch {
    return false;
  }
}

/** Runs nft(8) with input on standard input; throws with its stderr on failure. */
export function nft(args: string[], input?: string): void {
  execFileSync('nft', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 30000 });
}

function sysctlPath(key: string): string {
  return '/proc/sys/' + key.replace(/\./g, '/');
}

/** A sysctl's value (dotted name), or undefined when it does not exist. */
export function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(sysctlPath(key), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Sets a sysctl (dotted name); false when it cannot be written. */
export function writeSysctl(key: string, value: string): boolean {
  try {
    writeFileSync(sysctlPath(key), value);
    return true;
  } catch {
    return false;
  }
}

/** Whether a policy rule at `pref` looks up table `table` (a name such as "local" or a number). */
export function ruleExists(pref: number, table: string): boolean {
  try {
    const rules = JSON.parse(ip(['-j', 'rule', 'show'])) as Array<{ priority: number; table?: string }>;
    return rules.some((r) => r.priority === pref && r.table === table);
  } catch {
    return false;
  }
}
