/**
 * Maglev lookup-table construction (Eisenbud et al., "Maglev: A Fast and Reliable Software
 * Network Load Balancer", NSDI'16, §3.4; net/netfilter/ipvs/ip_vs_mh.c).
 *
 * Each server i has a permutation of the M slots (M prime): offset_i + k·skip_i mod M,
 * skip_i ∈ [1, M−1]. Servers take turns in list order; in its turn a server claims `turns_i`
 * slots, each the next slot of its permutation not yet taken, until every slot is taken.
 * turns_i is weight_i / gcd(weights), shifted right so that the largest is below
 * 2^MH_TAB_BITS (ip_vs_mh_shift_weight), and at least 1 for a non-zero weight. Servers of
 * weight 0 take no slots; with no weighted server every slot stays empty (-1).
 *
 * Pure: the table depends only on the (offset, skip, weight) triples and M.
 */
import { gcd } from './wrr';

/** Default table size: the kernel's CONFIG_IP_VS_MH_TAB_INDEX 12 → prime 4093. */
export const MH_TAB_SIZE = 4093;

export interface MaglevServer {
  /** First slot of the permutation, in [0, M). */
  offset: number;
  /** Step of the permutation, in [1, M). */
  skip: number;
  /** Non-negative integer weight. */
  weight: number;
}

/** Index of the highest set bit plus one (fls); 0 for 0. */
function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/** Per-server turns as ip_vs_mh_populate derives them from the weights. */
export function maglevTurns(weights: readonly number[], size = MH_TAB_SIZE): number[] {
  let g = 0;
  let max = 0;
  for (const w of weights) {
    if (w > 0) g = g === 0 ? w : gcd(g, w);
    if (w > max) max = w;
  }
  if (g === 0) return weights.map(() => 0);
  const tabBits = Math.floor(Math.log2(size) / 2);
  const shift = Math.max(0, fls(Math.floor(max / g)) - tabBits);
  return weights.map((w) => (Math.floor(w / g) >> shift) || (w !== 0 ? 1 : 0));
}

/** Slot → server index (position in `servers`), -1 where no server has weight. */
export function maglevTable(servers: readonly MaglevServer[], size = MH_TAB_SIZE): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const turns = maglevTurns(servers.map((s) => s.weight), size);
  const live: number[] = [];
  for (let i = 0; i < servers.length; i++) if (turns[i] > 0) live.push(i);
  if (live.length === 0) return table;
  const perm = live.map((i) => servers[i].offset % size);
  let filled = 0;
  for (;;) {
    for (let k = 0; k < live.length; k++) {
      const i = live[k];
      const skip = servers[i].skip;
      for (let t = 0; t < turns[i]; t++) {
        let c = perm[k];
        while (table[c] !== -1) {
          c += skip;
          if (c >= size) c -= size;
        }
        table[c] = i;
        perm[k] = c;
        if (++filled === size) return table;
      }
    }
  }
}
