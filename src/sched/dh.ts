/**
 * dh: destination hashing scheduling (cache clusters).
 *
 * A 256-bucket table maps the hash of the packet's destination address to a server; the
 * buckets are dealt to the servers one at a time in list order, weights playing no part
 * (ip_vs_dh_reassign). The bucket is (addr · 2654435761) mod 256, the low byte of the
 * 32-bit product (ip_vs_dh_hashkey). A bucket whose server has weight 0 or is overloaded
 * yields no server. Source: net/netfilter/ipvs/ip_vs_dh.c.
 */
import { Dest, destUsable, SchedPacket, SchedService, Scheduler } from '../ipvs/types';

export const DH_TAB_BITS = 8;
export const DH_TAB_SIZE = 1 << DH_TAB_BITS;
const DH_MULT = 2654435761;

export function dhHashKey(addr: number): number {
  return Math.imul(addr, DH_MULT | 0) & (DH_TAB_SIZE - 1);
}

export function dhBuckets(dests: readonly Dest[]): (Dest | null)[] {
  const out: (Dest | null)[] = new Array(DH_TAB_SIZE).fill(null);
  if (dests.length === 0) return out;
  for (let i = 0; i < DH_TAB_SIZE; i++) out[i] = dests[i % dests.length];
  return out;
}

export function createDh(): Scheduler {
  let buckets: (Dest | null)[] | null = null;
  return {
    name: 'dh',
    schedule(svc: SchedService, pkt: SchedPacket): Dest | null {
      if (buckets === null) buckets = dhBuckets(svc.dests);
      const d = buckets[dhHashKey(pkt.daddr)];
      return d !== null && d.available && destUsable(d) ? d : null;
    },
    update(svc: SchedService): void {
      buckets = dhBuckets(svc.dests);
    },
  };
}
