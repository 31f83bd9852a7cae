/**
 * Bounded tracker of IPv6 fragments, for a director that forwards fragments without
 * reassembling them (as IPVS schedules on the first fragment's ports and lets the others
 * follow): a first fragment (offset 0, M set) records its flow - upper-layer protocol and
 * ports - under (source, destination, identification), the key RFC 8200 §4.5 reassembles by;
 * a later fragment looks it up and takes the same flow, so it reaches the same real server.
 *
 * Bounds (rule: nothing unbounded on the packet path):
 * - at most `budget` flows at once; a first fragment beyond it is refused (DROP6_FRAG_FULL)
 *   after a short sweep for expired flows;
 * - a flow lives `expiryMs` after its last fragment (default 60 s, RFC 8200 §4.5's
 *   reassembly time) and is removed as soon as its fragments cover the whole payload (the
 *   last fragment gives the length; duplicates may end it early, which only costs a later
 *   duplicate its flow);
 * - a later fragment without a live flow (its first was lost, reordered after it, or never
 *   sent) is dropped and counted (DROP6_FRAG_UNMATCHED);
 * - expire(now, maxSlots) sweeps a bounded number of slots per call; lookups never scan.
 *
 * The table is open addressing with linear probing over typed arrays (2 slots per flow of
 * budget, rounded up to a power of two, so probes stay short) and backward-shift deletion, no
 * tombstones. The hash mixes a per-tracker seed, so a sender cannot aim flows at one chain.
 * Nothing is allocated after construction.
 */

import { addr6WordI32 } from './addr6';
import { FRAG6_FIRST, FRAG6_LATER, type Ipv6Info } from './ipv6-ext';
import {
  DROP6_FRAG_FULL, DROP6_FRAG_UNMATCHED, IPV6_OFF_SRC, NEXTHDR_ICMPV6, NEXTHDR_TCP, NEXTHDR_UDP, WIRE_OK,
} from './ipv6';

/** RFC 8200 §4.5: reassembly is abandoned 60 seconds after the first-arriving fragment. */
export const FRAG6_DEFAULT_EXPIRY_MS = 60_000;
/** Slots a full-table first fragment sweeps for expired flows before it is refused. */
const FULL_SWEEP = 32;
/** Words of a key: source (4), destination (4), identification (1). */
const KEY_WORDS = 9;

/** The flow a fragment belongs to (filled by Frag6Tracker.track). */
export class Frag6Flow {
  proto = 0;
  /** Ports of TCP/UDP, the identifier (twice) of ICMPv6 echo; -1 for other protocols. */
  sport = -1;
  dport = -1;
}

export interface Frag6Options {
  /** Most flows tracked at once (>= 1). */
  budget: number;
  /** Lifetime of a flow after its last fragment, ms. */
  expiryMs?: number;
  /** Hash seed (e.g. random at start-up). */
  seed?: number;
}

function mix(h: number): number {
  // murmur3's 32-bit finalizer.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export class Frag6Tracker {
  readonly budget: number;
  readonly expiryMs: number;
  private readonly seed: number;
  private readonly mask: number;
  private readonly keys: Int32Array;
  private readonly home: Int32Array;
  private readonly used: Uint8Array;
  private readonly proto: Uint8Array;
  private readonly sport: Int32Array;
  private readonly dport: Int32Array;
  /** Payload bytes seen and the payload's length (-1 until the last fragment came). */
  private readonly seen: Int32Array;
  private readonly total: Int32Array;
  private readonly until: Float64Array;
  private cursor = 0;
  /** Flows tracked now. */
  size = 0;
  /** Counters. */
  firsts = 0;
  followed = 0;
  unmatched = 0;
  full = 0;
  expired = 0;
  completed = 0;

  constructor(opts: Frag6Options) {
    if (!Number.isInteger(opts.budget) || opts.budget < 1) throw new RangeError('fragment budget must be a positive integer');
    this.budget = opts.budget;
    this.expiryMs = opts.expiryMs ?? FRAG6_DEFAULT_EXPIRY_MS;
    this.seed = (opts.seed ?? 0) | 0;
    let slots = 2;
    while (slots < opts.budget * 2) slots *= 2;
    this.mask = slots - 1;
    this.keys = new Int32Array(slots * KEY_WORDS);
    this.home = new Int32Array(slots);
    this.used = new Uint8Array(slots);
    this.proto = new Uint8Array(slots);
    this.sport = new Int32Array(slots);
    this.dport = new Int32Array(slots);
    this.seen = new Int32Array(slots);
    this.total = new Int32Array(slots);
    this.until = new Float64Array(slots);
  }

  private hash(buf: Uint8Array, ipOff: number, id: number): number {
    let h = this.seed;
    const a = ipOff + IPV6_OFF_SRC;
    for (let i = 0; i < 8; i++) h = (mix(h ^ addr6WordI32(buf, a, i)) + i) | 0;
    return mix(h ^ id);
  }

  private matches(s: number, buf: Uint8Array, ipOff: number, id: number): boolean {
    const k = s * KEY_WORDS;
    const a = ipOff + IPV6_OFF_SRC;
    for (let i = 0; i < 8; i++) if (this.keys[k + i] !== addr6WordI32(buf, a, i)) return false;
    return this.keys[k + 8] === (id | 0);
  }

  /** Slot of the key, or -1. */
  private find(buf: Uint8Array, ipOff: number, id: number, h: number): number {
    for (let s = h & this.mask; this.used[s] === 1; s = (s + 1) & this.mask) {
      if (this.home[s] === h && this.matches(s, buf, ipOff, id)) return s;
    }
    return -1;
  }

  /** Removes slot s, shifting back the entries of its probe run (Knuth 6.4 algorithm R). */
  private remove(s: number): void {
    const m = this.mask;
    let i = s;
    let j = s;
    for (;;) {
      j = (j + 1) & m;
      if (this.used[j] === 0) break;
      const k = this.home[j] & m;
      // Leave j where it is when its home lies cyclically in (i, j].
      if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
      this.keys.copyWithin(i * KEY_WORDS, j * KEY_WORDS, (j + 1) * KEY_WORDS);
      this.home[i] = this.home[j];
      this.proto[i] = this.proto[j];
      this.sport[i] = this.sport[j];
      this.dport[i] = this.dport[j];
      this.seen[i] = this.seen[j];
      this.total[i] = this.total[j];
      this.until[i] = this.until[j];
      i = j;
    }
    this.used[i] = 0;
    this.size--;
  }

  /**
   * Handles one fragment classified by ipv6Classify (info.frag FRAG6_FIRST or FRAG6_LATER;
   * the IPv6 header at ipOff) at time `now` (ms). A first fragment records or refreshes its
   * flow; a later one takes its first's. Either way `out` receives the flow and WIRE_OK is
   * returned; otherwise DROP6_FRAG_UNMATCHED or DROP6_FRAG_FULL, and out is unchanged.
   */
  track(buf: Uint8Array, ipOff: number, info: Ipv6Info, now: number, out: Frag6Flow): number {
    const id = info.fragId;
    const h = this.hash(buf, ipOff, id);
    let s = this.find(buf, ipOff, id, h);
    if (s >= 0 && this.until[s] <= now) {
      this.remove(s);
      this.expired++;
      s = -1;
    }
    const data = info.end - (info.fragHdrOff + 8);
    if (info.frag === FRAG6_FIRST) {
      if (s < 0) {
        if (this.size >= this.budget) this.expire(now, FULL_SWEEP);
        if (this.size >= this.budget) {
          this.full++;
          return DROP6_FRAG_FULL;
        }
        for (s = h & this.mask; this.used[s] === 1; s = (s + 1) & this.mask);
        const k = s * KEY_WORDS;
        const a = ipOff + IPV6_OFF_SRC;
        for (let i = 0; i < 8; i++) this.keys[k + i] = addr6WordI32(buf, a, i);
        this.keys[k + 8] = id | 0;
        this.home[s] = h;
        this.used[s] = 1;
        this.seen[s] = 0;
        this.total[s] = -1;
        this.size++;
      }
      const p = info.proto;
      const l4 = info.l4Off;
      this.proto[s] = p;
      if (p === NEXTHDR_TCP || p === NEXTHDR_UDP) {
        this.sport[s] = (buf[l4] << 8) | buf[l4 + 1];
        this.dport[s] = (buf[l4 + 2] << 8) | buf[l4 + 3];
      } else if (p === NEXTHDR_ICMPV6) {
        this.sport[s] = this.dport[s] = (buf[l4 + 4] << 8) | buf[l4 + 5];
      } else {
        this.sport[s] = this.dport[s] = -1;
      }
      this.firsts++;
    } else if (info.frag === FRAG6_LATER) {
      if (s < 0) {
        this.unmatched++;
        return DROP6_FRAG_UNMATCHED;
      }
      this.followed++;
      if (!info.fragMore) this.total[s] = info.fragOffset + data;
    } else {
      throw new RangeError('not a fragment');
    }
    out.proto = this.proto[s];
    out.sport = this.sport[s];
    out.dport = this.dport[s];
    this.seen[s] += data;
    if (this.total[s] >= 0 && this.seen[s] >= this.total[s]) {
      this.remove(s);
      this.completed++;
    } else {
      this.until[s] = now + this.expiryMs;
    }
    return WIRE_OK;
  }

  /**
   * Removes expired flows among the next maxSlots slots (a sweep resumes where the last one
   * stopped). Returns how many were removed.
   */
  expire(now: number, maxSlots: number): number {
    let n = 0;
    const lim = maxSlots < this.mask + 1 ? maxSlots : this.mask + 1;
    // A removal may shift a later entry into the slot just emptied, which is then looked at
    // again: at most lim slots are passed and lim entries removed per call.
    for (let passed = 0; passed < lim;) {
      const s = this.cursor;
      if (this.used[s] === 1 && this.until[s] <= now && n < lim) {
        this.remove(s);
        this.expired++;
        n++;
        continue;
      }
      this.cursor = (s + 1) & this.mask;
      passed++;
    }
    return n;
  }
}
