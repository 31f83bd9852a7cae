/**
 * A Map keyed by IPv4 address that stores every key as its int32 bits (src/wire/ipv4.ts):
 * the control plane may pass uint32 addresses and the packet path int32 ones, and both find
 * the same entry. An int32 key is a small integer to V8, so a lookup on the packet path
 * never boxes a heap number, where a uint32 of 2^31 and above (198.18.0.0/15) would be.
 * Iteration yields the int32 form; `>>> 0` gives the uint32.
 */
export class AddrMap<V> extends Map<number, V> {
  override get(addr: number): V | undefined {
    return super.get(addr | 0);
  }

  override set(addr: number, value: V): this {
    return super.set(addr | 0, value);
  }

  override has(addr: number): boolean {
    return super.has(addr | 0);
  }

  override delete(addr: number): boolean {
    return super.delete(addr | 0);
  }
}
