/**
 * One checker of one real server: the probe loop of keepalived's check_api.c.
 *
 *   first probe after a random delay in [0, warmup]
 *   probe passes            -> up (if it was not), retries reset, next probe after delay_loop
 *   probe fails, retries left -> next probe after delay_before_retry
 *   probe fails, no retries left -> down (if it was up, or on its first verdict), next after delay_loop
 *
 * A checker starts up, or down when its virtual server is in alpha mode.
 */
import type { CheckSpec } from '../control/checks';
import { type ProbeOutcome, type ProbeTarget, runProbe } from './probes';

export type CheckerState = 'up' | 'down';

export interface CheckerDeps {
  probe: (t: ProbeTarget, c: CheckSpec) => Promise<ProbeOutcome>;
  /** Wall clock in ms, for the time of the last transition. */
  now: () => number;
  random: () => number;
  /** Sees every probe's outcome and duration (ms). */
  onProbe?: (c: Checker, o: ProbeOutcome, ms: number) => void;
}

export const DEFAULT_DEPS: CheckerDeps = { probe: runProbe, now: Date.now, random: Math.random };

export class Checker {
  state: CheckerState;
  /** misc_dynamic: weight requested by the last passing probe. */
  dynamicWeight: number | undefined;
  /** Failed probes since the last pass, counted against `retry`. */
  retryIt = 0;
  probes = 0;
  failures = 0;
  lastDetail = 'not run yet';
  lastChange: number;
  /** Milliseconds the last probe took (0 before the first). */
  lastDurationMs = 0;
  private hasRun = false;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(
    readonly spec: CheckSpec,
    readonly target: ProbeTarget,
    initiallyUp: boolean,
    /** Called after the state or the dynamic weight changed. */
    private readonly onChange: (c: Checker) => void,
    private readonly deps: CheckerDeps = DEFAULT_DEPS,
  ) {
    this.state = initiallyUp ? 'up' : 'down';
    this.lastChange = deps.now();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(Math.floor(this.deps.random() * (this.spec.warmupMs + 1)));
  }

  stop(): void {
    this.running = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.step().then((next) => this.schedule(next));
    }, ms);
    this.timer.unref();
  }

  /** Runs one probe and applies its verdict; returns the delay before the next probe. */
  async step(): Promise<number> {
    const t0 = this.deps.now();
    const o = await this.deps.probe(this.target, this.spec);
    this.lastDurationMs = this.deps.now() - t0;
    this.deps.onProbe?.(this, o, this.deps.now() - t0);
    // A checker stopped while its probe ran (server removed on reload) reports nothing.
    if (this.stopped) return 0;
    this.probes++;
    this.lastDetail = o.detail;
    const firstVerdict = !this.hasRun;
    this.hasRun = true;
    if (o.ok) {
      this.retryIt = 0;
      const weightChanged = o.weight !== this.dynamicWeight;
      this.dynamicWeight = o.weight;
      if (this.state !== 'up') this.transition('up');
      else if (weightChanged) this.onChange(this);
      return this.spec.delayLoopMs;
    }
    this.failures++;
    if (this.retryIt < this.spec.retry) {
      this.retryIt++;
      return this.spec.delayBeforeRetryMs;
    }
    this.retryIt = 0;
    if (this.state === 'up' || firstVerdict) this.transition('down');
    return this.spec.delayLoopMs;
  }

  private transition(to: CheckerState): void {
    this.state = to;
    this.lastChange = this.deps.now();
    this.onChange(this);
  }
}
