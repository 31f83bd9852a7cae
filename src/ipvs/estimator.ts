/**
 * Rate estimation as ip_vs_est.c: every 2 s the counters' growth is turned into a rate
 * and smoothed with an exponentially weighted moving average of weight 1/4
 * (avg += (rate - avg) / 4), for connections, packets and bytes alike.
 */
import type { Counters, Rates } from './types';

export const ESTIMATOR_INTERVAL_MS = 2000;

interface Sample {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

const ZERO: Readonly<Sample> = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };

export class Estimator {
  private readonly last = new WeakMap<Counters, Sample>();

  /** Updates `rates` from `stats` after `elapsedMs` since the previous call for them. */
  update(stats: Counters, rates: Rates, elapsedMs: number): void {
    // Counters start at zero when their service or server is created (ip_vs_start_estimator
    // runs then), so the first sample counts from zero: traffic before it is not lost.
    const prev = this.last.get(stats) ?? ZERO;
    const cur: Sample = { ...stats };
    this.last.set(stats, cur);
    if (elapsedMs <= 0) return;
    const s = 1000 / elapsedMs;
    const ewma = (avg: number, delta: number): number => {
      // A zeroed counter (-Z) makes the delta negative: restart from the new base.
      const r = delta < 0 ? 0 : delta * s;
      return avg + (r - avg) / 4;
    };
    rates.cps = ewma(rates.cps, cur.conns - prev.conns);
    rates.inpps = ewma(rates.inpps, cur.inpkts - prev.inpkts);
    rates.outpps = ewma(rates.outpps, cur.outpkts - prev.outpkts);
    rates.inbps = ewma(rates.inbps, cur.inbytes - prev.inbytes);
    rates.outbps = ewma(rates.outbps, cur.outbytes - prev.outbytes);
  }
}
