/**
 * MurmurHash3 x86_32 building blocks (Austin Appleby, public domain algorithm) over 32-bit
 * integer words, for the keyed connection-table hash and the mh scheduler.
 */

/** One block step: mixes word k into state h. */
export function murmurBlock(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** The finaliser (fmix32) as int32: the packet path masks it, so it never needs a heap number. */
export function murmurMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The finaliser (fmix32); returns an unsigned 32-bit value. */
export function murmurFinal(h: number): number {
  return murmurMix(h) >>> 0;
}
