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
};

/** Throws UnknownSchedulerError when `name` is not in SCHEDULERS. */
export function createScheduler(name: string, flags: readonly string[] = []): Scheduler {
  if (!Object.prototype.hasOwnProperty.call(SCHEDULERS, name)) throw new UnknownSchedulerError(name);
  return SCHEDULERS[name](flags);
}

/** Known names, in registry order. */
export function schedulerNames(): string[] {
  return Object.keys(SCHEDULERS);
}
