/**
 * Scheduler registry: ipvsadm -s name → factory (net/netfilter/ipvs/ip_vs_sched.c keeps the
 * same kind of name-keyed list). Each factory makes a fresh instance for one virtual service
 * and receives the service's -b flags; schedulers without flags ignore them.
 */
import { Scheduler } from '../ipvs/types';
import { createLc } from './lc';
import { createRr } from './rr';
import { createWlc } from './wlc';
import { createWrr } from './wrr';
import { createSed } from './sed';
import { createNq } from './nq';
import { createSh } from './sh';
import { createDh } from './dh';
import { createMh } from './mh';
import { createLblc } from './lblc';
import { createLblcr } from './lblcr';
import { createFo } from './fo';
import { createOvf } from './ovf';
import { createTwos } from './twos';

/** The name asked for is not a known scheduler. */
export class UnknownSchedulerError extends Error {
  readonly code = 'ESCHED';
  readonly scheduler: string;
  constructor(name: string) {
    super(`unknown scheduler "${name}" (known: ${schedulerNames().join(', ')})`);
    this.name = 'UnknownSchedulerError';
    this.scheduler = name;
  }
}

export const SCHEDULERS: Record<string, (flags: readonly string[]) => Scheduler> = {
  rr: () => createRr(),
  wrr: () => createWrr(),
  lc: () => createLc(),
  wlc: () => createWlc(),
  sed: () => createSed(),
  nq: () => createNq(),
  sh: (flags) => createSh(flags),
  dh: () => createDh(),
  mh: (flags) => createMh(flags),
  lblc: () => createLblc(),
  lblcr: () => createLblcr(),
  fo: () => createFo(),
  ovf: () => createOvf(),
  twos: () => createTwos(),
};

/**
 * -b flags in the order of their kernel bits (IP_VS_SVC_F_SCHED1..3: sh-fallback/mh-fallback
 * = SCHED1, sh-port/mh-port = SCHED2), the order ipvsadm's print_sched_flags lists them in.
 */
export const SCHED_FLAG_ORDER: readonly string[] = [
  'sh-fallback', 'mh-fallback', 'flag-1', 'sh-port', 'mh-port', 'flag-2', 'flag-3',
];

/** Flags as the kernel keeps them: a set, listed in bit order. */
export function canonicalSchedFlags(flags: readonly string[]): string[] {
  const set = new Set(flags);
  return SCHED_FLAG_ORDER.filter((f) => set.has(f)).concat([...set].filter((f) => !SCHED_FLAG_ORDER.includes(f)));
}

/** Throws UnknownSchedulerError when `name` is not in SCHEDULERS. */
export function createScheduler(name: string, flags: readonly string[] = []): Scheduler {
  if (!Object.prototype.hasOwnProperty.call(SCHEDULERS, name)) throw new UnknownSchedulerError(name);
  return SCHEDULERS[name](flags);
}

/** Known names, in registry order. */
export function schedulerNames(): string[] {
  return Object.keys(SCHEDULERS);
}
