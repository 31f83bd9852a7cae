/**
 * A Map keyed by IPv4 address for the transmitters' tables (neighbours, tunnel routes).
 *
 * Keys are stored as their int32 bits (src/wire/ipv4.ts): the control plane may pass uint32
 * addresses and the packet path int32 ones, and both find the same entry; iteration yields
 * the int32 form (`>>> 0` gives the uint32).
 *
 * get() is the packet path's lookup: besides the Map itself (the record, and what set,
 * delete, has and iteration use), the keys sit in an open-addressing index of typed arrays
 * (Fibonacci hashing, linear probing, at most half full, backward-shift deletion: Knuth,
 * TAOCP vol. 3, 6.4, Algorithm R), so a lookup is a few array loads where Map.prototype.get
 * costs a call into the runtime's hash table; values sit in an array of references, so a
 * lookup never boxes a heap number either.
 */
const MIN_BITS = 4;

export class AddrMap<V> extends Map<number, V> {
  private bits = MIN_BITS;
  private mask = (1 << MIN_BITS) - 1;
  private keyAt = new Int32Array(1 << MIN_BITS);
  private usedAt = new Uint8Array(1 << MIN_BITS);
  private valAt: Array<V | undefined> = new Array<V | undefined>(1 << MIN_BITS).fill(undefined);

  private home(k: number): number {
    return Math.imul(k, 0x9e3779b1) >>> (32 - this.bits);
  }

  override get(addr: number): V | undefined {
    const k = addr | 0;
    const used = this.usedAt;
    const keys = this.keyAt;
    const mask = this.mask;
    for (let i = this.home(k); used[i] !== 0; i = (i + 1) & mask) {
      if (keys[i] === k) return this.valAt[i];
    }
    return undefined;
  }

  override set(addr: number, value: V): this {
    const k = addr | 0;
    if (!super.has(k) && (this.size + 1) * 2 > this.mask + 1) this.rebuild(this.bits + 1);
    super.set(k, value);
    this.place(k, value);
    return this;
  }

  override has(addr: number): boolean {
    return super.has(addr | 0);
  }

  override delete(addr: number): boolean {
    const k = addr | 0;
    if (!super.delete(k)) return false;
    const used = this.usedAt;
    const keys = this.keyAt;
    const mask = this.mask;
    let i = this.home(k);
    while (keys[i] !== k) i = (i + 1) & mask;
    // Algorithm R: move later entries of the run back over the hole unless their home lies
    // cyclically in (hole, their slot].
    for (let j = (i + 1) & mask; used[j] !== 0; j = (j + 1) & mask) {
      const h = this.home(keys[j]);
      if (i <= j ? i < h && h <= j : i < h || h <= j) continue;
      keys[i] = keys[j];
      this.valAt[i] = this.valAt[j];
      i = j;
    }
    used[i] = 0;
    this.valAt[i] = undefined;
    return true;
  }

  override clear(): void {
    super.clear();
    this.rebuild(MIN_BITS);
  }

  /** Stores k in the index: its slot if present, else the first free one of its run. */
  private place(k: number, value: V): void {
    const mask = this.mask;
    let i = this.home(k);
    while (this.usedAt[i] !== 0 && this.keyAt[i] !== k) i = (i + 1) & mask;
    this.usedAt[i] = 1;
    this.keyAt[i] = k;
    this.valAt[i] = value;
  }

  /** A fresh index of 2^bits slots holding every entry of the Map. */
  private rebuild(bits: number): void {
    this.bits = bits;
    this.mask = (1 << bits) - 1;
    this.keyAt = new Int32Array(1 << bits);
    this.usedAt = new Uint8Array(1 << bits);
    this.valAt = new Array<V | undefined>(1 << bits).fill(undefined);
    for (const [k, v] of super.entries()) this.place(k, v);
  }
}
