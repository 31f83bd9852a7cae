/**
 * A hashed timer wheel over dense integer ids (Varghese & Lauck, "Hashed and Hierarchical
 * Timing Wheels", SOSP 1987, scheme 6), storing its links in typed arrays so that a
 * million timers cost a few bytes each and no objects.
 *
 * Time is counted in ticks of `tickMs` milliseconds of the caller's monotonic clock. A
 * timer due at tick E sits in slot E mod slots; each slot is a doubly linked list through
 * per-id prev/next links. advance() visits the slots of the ticks that passed; an entry
 * whose due tick is later (a later round of the wheel) is filed again into the slot of
 * its due tick, so every timer costs O(1) per round of the wheel and nothing is ever
 * scanned as a whole.
 *
 * Precision: a timer armed at `now` for `timeoutMs` is due at ceil((now + timeoutMs) /
 * tickMs) ticks, i.e. at or up to one tick after now + timeoutMs. advance(now') fires it
 * when floor(now' / tickMs) has passed the last tick advance() processed and reached the
 * due tick; so it never fires before now + timeoutMs, and it fires by the first advance()
 * at or after now + timeoutMs + tickMs.
 *
 * Re-arming to a later time (the common case: every packet of a connection pushes its
 * expiry forward) only stores the new due tick; the entry is moved when its old slot
 * comes round. Re-arming to an earlier time moves it at once.
 */

/** Slot value of an id that is not armed. */
const IDLE = 0xffff;
const NIL = -1;

export interface TimerWheelOptions {
  /** Tick length in ms (default 1000). */
  tickMs?: number;
  /** Number of slots, a power of two ≤ 32768 (default 4096: 68 min at 1 s ticks). */
  slots?: number;
}

export class TimerWheel {
  readonly tickMs: number;
  readonly slots: number;
  private readonly mask: number;
  /** List heads; heads[slots] is the list of entries being examined by advance(). */
  private readonly heads: Int32Array;
  private readonly pend: number;
  private prev: Int32Array;
  private next: Int32Array;
  /** Slot the id is filed in, `pend` while advance() examines it, IDLE when not armed. */
  private slot: Uint16Array;
  /** Due tick, relative to `base`. */
  private due: Uint32Array;
  /** Absolute tick of relative tick 0; -1 until the first clock reading. */
  private base = -1;
  /** Relative tick up to which advance() has processed every slot. */
  private cur = 0;

  constructor(capacity: number, opts: TimerWheelOptions = {}) {
    const tickMs = opts.tickMs ?? 1000;
    const slots = opts.slots ?? 4096;
    if (!(tickMs > 0)) throw new RangeError('tickMs must be positive');
    if (!Number.isInteger(slots) || slots < 2 || slots > 32768 || (slots & (slots - 1)) !== 0) {
      throw new RangeError('slots must be a power of two between 2 and 32768');
    }
    this.tickMs = tickMs;
    this.slots = slots;
    this.mask = slots - 1;
    this.pend = slots;
    this.heads = new Int32Array(slots + 1).fill(NIL);
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
    this.slot = new Uint16Array(capacity).fill(IDLE);
    this.due = new Uint32Array(capacity);
  }

  get capacity(): number {
    return this.slot.length;
  }

  /** Bytes held in typed arrays (per-id links plus slot heads). */
  get byteLength(): number {
    return this.heads.byteLength + this.prev.byteLength + this.next.byteLength +
      this.slot.byteLength + this.due.byteLength;
  }

  /** Bytes per id of the per-id arrays. */
  static readonly BYTES_PER_ID = 4 + 4 + 2 + 4;

  /** Makes room for ids below `capacity`; armed timers are kept. */
  grow(capacity: number): void {
    if (capacity <= this.slot.length) return;
    const prev = new Int32Array(capacity); prev.set(this.prev); this.prev = prev;
    const next = new Int32Array(capacity); next.set(this.next); this.next = next;
    const slot = new Uint16Array(capacity).fill(IDLE); slot.set(this.slot); this.slot = slot;
    const due = new Uint32Array(capacity); due.set(this.due); this.due = due;
  }

  private start(now: number): void {
    this.base = Math.floor(now / this.tickMs);
    this.cur = 0;
  }

  private link(id: number, s: number): void {
    const h = this.heads[s];
    this.prev[id] = NIL;
    this.next[id] = h;
    if (h !== NIL) this.prev[h] = id;
    this.heads[s] = id;
    this.slot[id] = s;
  }

  private unlink(id: number): void {
    const p = this.prev[id];
    const n = this.next[id];
    if (p === NIL) this.heads[this.slot[id]] = n;
    else this.next[p] = n;
    if (n !== NIL) this.prev[n] = p;
    this.slot[id] = IDLE;
  }

  /** (Re)arms the timer of `id` to fire `timeoutMs` after `now`. */
  arm(id: number, now: number, timeoutMs: number): void {
    if (this.base < 0) this.start(now);
    let e = Math.ceil((now + timeoutMs) / this.tickMs) - this.base;
    if (e < 0) e = 0;
    else if (e > 0xffffffff) e = 0xffffffff;
    const s = this.slot[id];
    if (s !== IDLE) {
      // Postponing: the current slot is visited no later than the old due tick, which
      // is no later than the new one; advance() files it onward then.
      if (e >= this.due[id]) {
        this.due[id] = e;
        return;
      }
      this.unlink(id);
    }
    this.due[id] = e;
    this.link(id, (e > this.cur ? e : this.cur + 1) & this.mask);
  }

  /** Stops the timer of `id`; no effect when it is not armed. */
  disarm(id: number): void {
    if (this.slot[id] !== IDLE) this.unlink(id);
  }

  isArmed(id: number): boolean {
    return this.slot[id] !== IDLE;
  }

  /** When the timer of an armed id fires at the earliest, in ms of the caller's clock. */
  dueAt(id: number): number {
    return (this.due[id] + this.base) * this.tickMs;
  }

  /**
   * Processes the ticks up to floor(now / tickMs) and calls onDue(id) for each timer
   * that is due, after disarming it. onDue may arm, disarm and re-arm any id, the firing
   * one included. Returns the number of onDue calls. Work: the entries of the visited
   * slots plus at most `slots` slot heads. If onDue throws, the exception propagates and
   * the timers not yet examined stay armed for the next advance().
   */
  advance(now: number, onDue: (id: number) => void): number {
    if (this.base < 0) {
      this.start(now);
      return 0;
    }
    const nowTick = Math.floor(now / this.tickMs) - this.base;
    const from = this.cur;
    if (nowTick <= from) return 0;
    const steps = nowTick - from < this.slots ? nowTick - from : this.slots;
    // Timers armed from onDue are filed after nowTick.
    this.cur = nowTick;
    const pend = this.pend;
    let fired = 0;
    let k = 1;
    try {
      for (; k <= steps; k++) {
        const s = (from + k) & this.mask;
        let i = this.heads[s];
        if (i === NIL) continue;
        this.heads[s] = NIL;
        this.heads[pend] = i;
        for (; i !== NIL; i = this.next[i]) this.slot[i] = pend;
        while ((i = this.heads[pend]) !== NIL) {
          this.unlink(i);
          const e = this.due[i];
          if (e <= nowTick) {
            fired++;
            onDue(i);
          } else {
            this.link(i, e & this.mask);
          }
        }
      }
    } finally {
      if (k <= steps) this.recover(from + k);
    }
    return fired;
  }

  /**
   * After onDue threw while tick `t` was being processed: the entries not yet examined
   * and the slots not yet visited are due again at the next advance().
   */
  private recover(t: number): void {
    this.cur = t - 1;
    let i: number;
    while ((i = this.heads[this.pend]) !== NIL) {
      this.unlink(i);
      this.link(i, t & this.mask);
    }
  }

  /** Disarms every id below `limit` and forgets the clock. */
  reset(limit: number = this.slot.length): void {
    this.heads.fill(NIL);
    this.slot.fill(IDLE, 0, limit);
    this.base = -1;
    this.cur = 0;
  }
}
