/** Reference counts by key: kernel state shared by several services or real servers. */
export class RefCounts<K> {
  private readonly n = new Map<K, number>();

  /** Adds a reference; true when it is the first (the shared state must be created). */
  add(key: K): boolean {
    const c = this.n.get(key) ?? 0;
    this.n.set(key, c + 1);
    return c === 0;
  }

  /** Drops a reference; true when it was the last (the shared state must go). */
  drop(key: K): boolean {
    const c = this.n.get(key) ?? 0;
    if (c > 1) this.n.set(key, c - 1);
    else this.n.delete(key);
    return c === 1;
  }

  has(key: K): boolean {
    return this.n.has(key);
  }

  keys(): IterableIterator<K> {
    return this.n.keys();
  }

  clear(): void {
    this.n.clear();
  }
}
