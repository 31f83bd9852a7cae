/**
 * Real-server connection counts shared by every packet worker and the main thread: active,
 * inactive and persistence-template counts live in one SharedArrayBuffer, so lc, wlc, sed, nq,
 * ovf, twos, the thresholds (-x/-y) and the listings see the totals of all workers, as the
 * kernel's atomic counters in struct ip_vs_dest do.
 *
 * A Dest object (src/ipvs/types.ts) keeps its counts in a view of its slot: a read is an
 * Atomics.load; a write adds the difference to the value last read on this object, so the
 * pipeline's `dest.activeConns++` / `--` are atomic increments
 * (a thread runs one read-modify-write at a time; other threads' updates in between are kept).
 * Slots are assigned by the main thread (real-server id modulo SLOTS) and zeroed when a real
 * server is added; a slot is reused only after SLOTS further real servers were added.
 */
import type { Dest } from '../ipvs/types';

export const SLOTS = 1 << 16;
/** Counts per slot: active, inactive, persistence templates (CNT_* of src/ipvs/types.ts). */
const FIELDS = 3;

export function createCountsBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS * FIELDS * 4);
}

export class SharedCounts {
  private readonly a: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.a = new Int32Array(buffer);
  }

  /** The slot of real server id (main thread). */
  static slotOf(destId: number): number {
    return destId % SLOTS;
  }

  /** Zeroes a slot before a new real server uses it (main thread, before workers learn of it). */
  reset(slot: number): void {
    for (let f = 0; f < FIELDS; f++) Atomics.store(this.a, slot * FIELDS + f, 0);
  }

  /** Moves d's counts onto the shared slot (one hidden class for every Dest: src/ipvs/types.ts). */
  install(d: Dest, slot: number): void {
    d.useCounts(this.a.subarray(slot * FIELDS, slot * FIELDS + FIELDS));
  }

  read(slot: number, field: 0 | 1 | 2): number {
    return Atomics.load(this.a, slot * FIELDS + field);
  }
}
