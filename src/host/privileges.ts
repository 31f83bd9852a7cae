/**
 * The process's credentials: typed view of the lvs_priv addon (native/privileges.cc) and the
 * capability names of capabilities(7) / <linux/capability.h>.
 *  - flockExclusive(fd): flock(2) LOCK_EX|LOCK_NB; false when another process holds it.
 *  - peerCred(fd): SO_PEERCRED and SO_PEERGROUPS of a connected Unix socket.
 *  - restrictProcess(...): bounding, permitted, effective, inheritable and ambient sets of every
 *    thread reduced to the kept capabilities, optionally switching to another uid/gid.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
  /** Supplementary groups (empty on kernels before 4.13). */
  groups: number[];
}

interface PrivAddon {
  flockExclusive(fd: number): boolean;
  peerCred(fd: number): PeerCred;
  restrict(keep: bigint, uid: number, gid: number, groups: number[]): { threads: number; reached: number };
}

/** <linux/capability.h> numbers of the capabilities lvsd may keep. */
export const CAP = {
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_SYS_NICE: 23,
} as const;
export type CapName = keyof typeof CAP;

const CANDIDATES = ['../../../native/build/Release/lvs_priv.node', '../../native/build/Release/lvs_priv.node'];
let cached: PrivAddon | undefined;

function addon(): PrivAddon {
  if (cached) return cached;
  const p = CANDIDATES.map((rel) => resolve(__dirname, rel)).find((f) => existsSync(f));
  if (p === undefined) {
    const err = new Error('lvs_priv addon not built: run `npm run build:native`') as NodeJS.ErrnoException;
    err.code = 'ERR_LVS_NATIVE_MISSING';
    throw err;
  }
  cached = require(p) as PrivAddon;
  return cached;
}

export function flockExclusive(fd: number): boolean {
  return addon().flockExclusive(fd);
}

export function peerCred(fd: number): PeerCred {
  return addon().peerCred(fd);
}

/** Mask of the named capabilities. */
export function capMask(names: readonly CapName[]): bigint {
  let m = 0n;
  for (const n of names) m |= 1n << BigInt(CAP[n]);
  return m;
}

/**
 * Keeps exactly `keep` in every set of every thread that can be reached (see
 * native/privileges.cc), then, with `user`, runs as that uid/gid and its groups.
 */
export function restrictProcess(keep: readonly CapName[], user?: { uid: number; gid: number; groups: number[] }):
  { threads: number; reached: number } {
  return addon().restrict(capMask(keep), user?.uid ?? -1, user?.gid ?? -1, user?.groups ?? []);
}

export interface CapSets {
  inheritable: bigint;
  permitted: bigint;
  effective: bigint;
  bounding: bigint;
  ambient: bigint;
}

/** CapInh/CapPrm/CapEff/CapBnd/CapAmb of a /proc/PID/status text (proc(5)). */
export function parseCapSets(status: string): CapSets {
  const get = (key: string): bigint => {
    const m = new RegExp(`^${key}:\\s*([0-9a-f]+)$`, 'm').exec(status);
    return m ? BigInt(`0x${m[1]}`) : 0n;
  };
  return { inheritable: get('CapInh'), permitted: get('CapPrm'), effective: get('CapEff'), bounding: get('CapBnd'),
    ambient: get('CapAmb') };
}

/** The capability sets of a process (start-up and tests only: synchronous read). */
export function capSetsOf(pid: number | 'self'): CapSets {
  return parseCapSets(readFileSync(`/proc/${pid}/status`, 'utf8'));
}
