/**
 * Real-time scheduling of the packet thread (native/sched.cc). A userspace forwarder sleeps
 * in epoll between batches; when a packet arrives while the CPU runs an ordinary task, the
 * forwarder waits for the scheduler to switch (up to a time slice) and the packet's round
 * trip grows by that wait. Kernel forwarding runs in softirq context and never waits so. A
 * SCHED_RR priority makes the wake-up preempt ordinary tasks, as keepalived's
 * vrrp_rt_priority does for its VRRP process.
 */
import { loadNative } from './native';

export type SchedPolicy = 'other' | 'fifo' | 'rr' | 'batch' | 'idle' | 'deadline' | 'unknown';

export interface Scheduling {
  policy: SchedPolicy;
  priority: number;
  /** SCHED_RESET_ON_FORK: threads and processes started later do not inherit the policy. */
  resetOnFork: boolean;
}

interface SchedAddon {
  setRealtime(priority: number): void;
  getScheduling(): Scheduling;
}

/** Highest priority accepted for the packet thread (sched(7): 1..99 for SCHED_RR). */
export const RT_PRIORITY_MAX = 99;

function addon(): SchedAddon {
  const a = loadNative() as unknown as Partial<SchedAddon>;
  if (typeof a.setRealtime !== 'function' || typeof a.getScheduling !== 'function') {
    const err = new Error('lvs_native addon without scheduling support: rebuild with `npm run build:native`') as
      NodeJS.ErrnoException;
    err.code = 'ERR_LVS_NATIVE_MISSING';
    throw err;
  }
  return a as SchedAddon;
}

/**
 * Puts the calling thread under SCHED_RR at priority (1..99) with SCHED_RESET_ON_FORK, or back
 * under SCHED_OTHER with 0. Throws an Error whose code is the errno name (EPERM without
 * CAP_SYS_NICE or a real-time budget).
 */
export function setRealtimePriority(priority: number): void {
  if (!Number.isInteger(priority) || priority < 0 || priority > RT_PRIORITY_MAX) {
    throw new RangeError(`real-time priority must be an integer from 0 to ${RT_PRIORITY_MAX}, got ${priority}`);
  }
  addon().setRealtime(priority);
}

/** The calling thread's policy and priority. */
export function currentScheduling(): Scheduling {
  return addon().getScheduling();
}

/**
 * The --rt-priority N option of lvsd and lvs-realserver: absent (undefined) leaves the thread
 * alone and returns 0; otherwise N must be 1..RT_PRIORITY_MAX and the calling thread goes
 * under SCHED_RR at N. A bad value or a refusal ends in fail(one line, exit code): 2 for the
 * value, 1 for the kernel's refusal.
 */
export function applyRtPriorityOption(v: string | undefined, fail: (msg: string, code: number) => never): number {
  if (v === undefined) return 0;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > RT_PRIORITY_MAX) {
    fail(`--rt-priority must be an integer from 1 to ${RT_PRIORITY_MAX}, got '${v}'`, 2);
  }
  try {
    setRealtimePriority(n);
  } catch (err) {
    fail(`--rt-priority ${n}: ${(err as Error).message}`, 1);
  }
  return n;
}
