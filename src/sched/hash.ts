/**
 * Integer hashes shared by the hashing schedulers, as the kernel computes them.
 * hash32 is include/linux/hash.h hash_32(): multiply by GOLDEN_RATIO_32 and keep the top
 * `bits` bits of the 32-bit product.
 */
export const GOLDEN_RATIO_32 = 0x61c88647;

export function hash32(val: number, bits: number): number {
  return Math.imul(val, GOLDEN_RATIO_32) >>> (32 - bits);
}
