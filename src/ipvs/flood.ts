/**
 * SYN-flood defense: a bounded budget of half-open (SYN_RECV) TCP entries.
 *
 * Every entry entering SYN_RECV is counted and its id appended to a ring in arrival order;
 * leaving SYN_RECV (the handshake completes, a RST, expiry) uncounts it. When a new half-open
 * entry would exceed the budget (knob max_half_open), or the connection table is full, the
 * oldest entry still half-open is evicted first — the spirit of IPVS's drop_entry defense
 * (which drops random SYN_RECV entries under memory pressure) made deterministic, and of
 * Katran's cap on new flows. Established entries are never evicted: when the table is full
 * and no half-open entry is left, the new connection is refused (counted as
 * conn-table-full). Ring entries whose id left SYN_RECV or was reused are skipped lazily;
 * the ring holds twice the budget; when it is full its oldest id is forgotten (that entry,
 * if still half-open, then leaves only by its SYN_RECV timeout).
 */
import type { ConnTable } from './conn';
import { TCP_S_SYN_RECV } from './proto/tcp';
import { IPPROTO_TCP } from './types';

export class HalfOpenGuard {
  /** Live entries in SYN_RECV. */
  count = 0;
  /** Entries evicted so far. */
  evicted = 0;
  private ring: Int32Array;
  private head = 0;
  private len = 0;

  constructor(private readonly conns: ConnTable, private budget: number) {
    this.ring = new Int32Array(Math.max(16, 2 * budget));
  }

  /** Changes the budget (0 = no cap; the ring then only serves table-full eviction). */
  setBudget(budget: number): void {
    this.budget = budget;
    const cap = Math.max(16, 2 * budget);
    if (cap === this.ring.length) return;
    const r = new Int32Array(cap);
    const keep = Math.min(this.len, cap);
    for (let k = 0; k < keep; k++) r[k] = this.ring[(this.head + this.len - keep + k) % this.ring.length];
    this.ring = r;
    this.head = 0;
    this.len = keep;
  }

  /** Whether a new half-open entry must first make room. */
  full(): boolean {
    return this.budget > 0 && this.count >= this.budget;
  }

  /** Entry `id` entered SYN_RECV. */
  entered(id: number): void {
    this.count++;
    if (this.len === this.ring.length) {
      this.head = (this.head + 1) % this.ring.length;
      this.len--;
    }
    this.ring[(this.head + this.len) % this.ring.length] = id;
    this.len++;
  }

  /** An entry left SYN_RECV (or was removed while in it). */
  left(): void {
    if (this.count > 0) this.count--;
  }

  /**
   * The oldest entry still in SYN_RECV, taken off the ring, or -1. The caller evicts it
   * (releasing it through its normal expiry path, which calls left()).
   */
  oldest(): number {
    const conns = this.conns;
    while (this.len > 0) {
      const id = this.ring[this.head];
      this.head = (this.head + 1) % this.ring.length;
      this.len--;
      if (conns.has(id) && conns.state(id) === TCP_S_SYN_RECV && conns.proto(id) === IPPROTO_TCP) return id;
    }
    return -1;
  }
}
