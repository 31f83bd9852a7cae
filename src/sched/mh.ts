/**
 * mh: Maglev hashing scheduling (net/netfilter/ipvs/ip_vs_mh.c).
 *
 * The client address (and source port with flag mh-port) is hashed into a prime-sized
 * lookup table built by maglevTable() from each server's (offset, skip) — hashes of the
 * server's address and port under two fixed keys, so every director computes the same table —
 * and its last non-zero weight, so quiescing a server (weight 0) keeps the table as it was:
 * its clients get no server (or, with mh-fallback, the next usable one along the probe
 * sequence) instead of a reshuffle of everyone else. A server's slots move only when it is
 * added, removed or re-weighted to another non-zero weight.
 *
 * Hash: the kernel uses hsiphash with fixed keys; this uses a keyed MurmurHash3-style mix
 * (not the same numbers, the same contract: fixed keys, uniform slots).
 */
import { Dest, destUsable, SchedPacket, SchedService, Scheduler } from '../ipvs/types';
import { MH_TAB_SIZE, maglevTable } from './maglev';
import { murmurBlock, murmurFinal } from '../ipvs/murmur';

/** The kernel's fixed hash keys (generate_hash_secret). */
const KEY1 = 2654435761 | 0;
const KEY2 = 2654435801 | 0;

/** Keyed hash of (addr, port, offset), unsigned 32-bit. */
export function mhHashKey(key: number, addr: number, port: number, offset: number): number {
  let h = murmurBlock(key, addr);
  h = murmurBlock(h, (port << 16) | (offset & 0xffff));
  return murmurFinal(h ^ 12);
}

export function createMh(flags: readonly string[] = [], size = MH_TAB_SIZE): Scheduler {
  const usePort = flags.includes('mh-port');
  const fallback = flags.includes('mh-fallback');
  /** Last non-zero weight of each dest seen by update(). */
  const lastWeight = new WeakMap<Dest, number>();
  let lookup: (Dest | null)[] | null = null;

  function rebuild(dests: readonly Dest[]): void {
    for (const d of dests) if (d.weight > 0 || !lastWeight.has(d)) lastWeight.set(d, d.weight);
    const table = maglevTable(dests.map((d) => ({
      offset: mhHashKey(KEY2, d.addr, d.port, 0) % size,
      skip: (mhHashKey(KEY1, d.addr, d.port, 0) % (size - 1)) + 1,
      weight: lastWeight.get(d) ?? 0,
    })), size);
    lookup = Array.from(table, (i) => (i < 0 ? null : dests[i]));
  }

  return {
    name: 'mh',
    schedule(svc: SchedService, pkt: SchedPacket): Dest | null {
      if (lookup === null) rebuild(svc.dests);
      const tab = lookup as (Dest | null)[];
      const port = usePort ? pkt.sport : 0;
      const ihash = mhHashKey(KEY1, pkt.saddr, port, 0) % size;
      const d = tab[ihash];
      if (d === null) return null;
      if (destUsable(d)) return d;
      if (!fallback) return null;
      for (let off = 0; off < size; off++) {
        const c = tab[mhHashKey(KEY1, pkt.saddr, port, (off + ihash) % size) % size];
        if (c === null) break;
        if (destUsable(c)) return c;
      }
      return null;
    },
    update(svc: SchedService): void {
      rebuild(svc.dests);
    },
  };
}
