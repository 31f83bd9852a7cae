/**
 * sh: source hashing scheduling.
 *
 * A 256-bucket table (IP_VS_SH_TAB_BITS = 8) maps hash(client address [, client port]) to a
 * server. The table is filled in server order, each server taking `weight` consecutive
 * buckets in turn (at least one, so a weight-0 server keeps a bucket), cycling until all
 * buckets are taken (ip_vs_sh_reassign). The bucket of a client is
 * (offset + hash_32(port + addr, 8)) mod 256 (ip_vs_sh_hashkey) with port 0 unless flag
 * sh-port. A bucket whose server is unavailable (weight 0 or overloaded) yields no server,
 * unless flag sh-fallback: then the buckets (2·h + k) mod 256, k = 0..255, are tried in turn,
 * exactly as ip_vs_sh_get_fallback computes them. Source: net/netfilter/ipvs/ip_vs_sh.c.
 */
import { Dest, destUsable, SchedPacket, SchedService, Scheduler } from '../ipvs/types';
import { hash32 } from './hash';

export const SH_TAB_BITS = 8;
export const SH_TAB_SIZE = 1 << SH_TAB_BITS;

/** ip_vs_sh_hashkey: bucket of (addr, port) at probe offset `offset`. */
export function shHashKey(addr: number, port: number, offset: number): number {
  return (offset + hash32((port + addr) >>> 0, SH_TAB_BITS)) % SH_TAB_SIZE;
}

/** ip_vs_sh_reassign: bucket → dest, filled by weight in list order. */
export function shBuckets(dests: readonly Dest[]): (Dest | null)[] {
  const out: (Dest | null)[] = new Array(SH_TAB_SIZE).fill(null);
  if (dests.length === 0) return out;
  let di = 0;
  let count = 0;
  for (let i = 0; i < SH_TAB_SIZE; i++) {
    const d = dests[di];
    out[i] = d;
    if (++count >= d.weight) {
      di = (di + 1) % dests.length;
      count = 0;
    }
  }
  return out;
}

export function createSh(flags: readonly string[] = []): Scheduler {
  const usePort = flags.includes('sh-port');
  const fallback = flags.includes('sh-fallback');
  let buckets: (Dest | null)[] | null = null;
  return {
    name: 'sh',
    schedule(svc: SchedService, pkt: SchedPacket): Dest | null {
      if (buckets === null) buckets = shBuckets(svc.dests);
      const port = usePort ? pkt.sport : 0;
      const ihash = shHashKey(pkt.saddr, port, 0);
      const d = buckets[ihash];
      if (d === null) return null;
      if (destUsable(d)) return d;
      if (!fallback) return null;
      for (let off = 0; off < SH_TAB_SIZE; off++) {
        const c = buckets[shHashKey(pkt.saddr, port, (off + ihash) % SH_TAB_SIZE)];
        if (c !== null && destUsable(c)) return c;
      }
      return null;
    },
    update(svc: SchedService): void {
      buckets = shBuckets(svc.dests);
    },
  };
}
