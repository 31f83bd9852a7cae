/** Fixtures for scheduler tests: services of lettered dests and pick sequences. */
import { Dest, makeDest, SchedPacket, SchedService, Scheduler } from '../../src/ipvs/types';

export const PKT: SchedPacket = { saddr: 0xc6120001, sport: 40000, daddr: 0xc6120101, dport: 80 };

export interface DestSpec {
  weight?: number;
  active?: number;
  inactive?: number;
  overloaded?: boolean;
}

/** A mutable service whose dests are labelled A, B, C, ... by id (id 0 = A). */
export interface TestService extends SchedService {
  dests: Dest[];
}

export function label(d: Dest | null): string {
  return d === null ? '-' : String.fromCharCode(65 + d.id);
}

export function dest(id: number, spec: DestSpec | number = {}): Dest {
  const s: DestSpec = typeof spec === 'number' ? { weight: spec } : spec;
  const d = makeDest(id, 0xc6120201 + id, 80, s.weight ?? 1);
  d.activeConns = s.active ?? 0;
  d.inactiveConns = s.inactive ?? 0;
  d.overloaded = s.overloaded ?? false;
  return d;
}

/** Dests A, B, C, ... from weights or specs. */
export function service(specs: readonly (DestSpec | number)[]): TestService {
  return { dests: specs.map((s, i) => dest(i, s)) };
}

/** The next n picks as a string of labels, '-' for null. Picks do not change counters. */
export function picks(s: Scheduler, svc: SchedService, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += label(s.schedule(svc, PKT));
  return out;
}

/** Picks count per label over n picks. */
export function tally(s: Scheduler, svc: SchedService, n: number): Record<string, number> {
  const t: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const k = label(s.schedule(svc, PKT));
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}

/** Deterministic PRNG (mulberry32), uniform in [0, 1). */
export { prng } from '../support/prng';
