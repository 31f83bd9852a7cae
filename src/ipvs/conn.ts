/**
 * The connection table (Linux net/netfilter/ipvs/ip_vs_conn.c): every connection the
 * director forwards, found from either direction, with its forwarding method, real
 * server, protocol state and expiry.
 *
 * Storage. A connection is a dense integer id into struct-of-arrays typed storage; ids are
 * recycled through a free list (chained through the index link of free ids) and fresh
 * ids are taken above a high-water mark. Per entry: proto, state, flags, fwd (1 byte
 * each), caddr/vaddr/daddr (4 each), cport/vport/dport (2 each), destId, svcId and the
 * control link (4 each), a live marker (1), the hash-chain link (4), the TCP sequence
 * window (9) and the timer wheel's links, slot and due tick (14): 62 bytes, plus the bucket
 * heads (4 bytes per bucket, 2–4 bytes per entry at the load bound). The kernel budgets
 * about 128 bytes per ip_vs_conn.
 *
 * Growth without copies: each column is a view over a resizable ArrayBuffer that reserves
 * address space for maxConns entries up front; growing commits more of it in place
 * (ArrayBuffer.prototype.resize), so no entry is ever copied and memory is only touched
 * as entries are used. Where resizable buffers are unavailable the columns are copied.
 *
 * Index. As the kernel's (ip_vs_conn_hashkey), one chained hash index keyed by the client
 * endpoint (proto, caddr, cport), which both directions know: a client's packet carries it
 * as its source, a NAT reply as its destination. A lookup walks the bucket's chain and
 * compares the rest of its key: (vaddr, vport) for packets from clients, (daddr, dport) for
 * replies from real servers. One bucket head per bucket and one `next` link per entry (chains
 * run through the entries; removal never leaves tombstones); a new connection reads one
 * bucket head, the same that its lookup has just brought into the cache. A chain holds the
 * entries of the client endpoints hashing there, so it grows with the services one client
 * endpoint uses at once (as in IPVS), never with the table.
 * When live entries exceed `maxLoadFactor` × buckets, the index doubles incrementally:
 * new entries go to the doubled index at once, and each later insert moves REHASH_STEP
 * buckets of the old index into it (lookups and removals consult both while a move is
 * under way), so a million-entry table never stops the datapath for a full pass. A move
 * still pending when the next doubling is due is finished first.
 *
 * Hashing. MurmurHash3's 32-bit block and finalisation steps (Math.imul) over two words
 * (client address, client port), seeded with a random 32-bit secret, then the protocol
 * mixed into the finaliser. With the seed unknown, a remote client cannot compute which
 * bucket a (caddr, cport) lands in, which defends against hash flooding as far as a keyed
 * non-cryptographic integer mix can: it is not a PRF (SipHash would be). Chains are bounded
 * in expectation only.
 *
 * Address filters. The table keeps two counting filters over the addresses its keys share
 * among few values: one over virtual addresses, one over real-server addresses (ADDR_FILTER counters each, addressed by a multiplicative hash of the address,
 * counting the live entries whose address hashes there). A lookup whose address counts zero
 * cannot match and returns without touching a bucket: a reply from a real server skips the
 * lookup as a client's packet, a client's packet without an entry the lookup as a reply. The counters are small
 * and stay in cache, where a bucket head of a large table is a cache miss. A collision only
 * means the bucket is read, as without the filter.
 *
 * Expiry. A hashed timer wheel (./timer-wheel.ts) over the same ids: O(1) per arm and
 * per expiry, and precision of one tick (default 1 s): an entry is removed by the first
 * expire(now) at or after its expiry time plus one tick, never before its expiry time.
 *
 * Clock. `now` arguments are milliseconds of a monotonic clock (the pipeline passes one
 * reading per batch); timeouts are seconds, as in ipvsadm.
 */

import { randomInt } from 'node:crypto';
import { TimerWheel } from './timer-wheel';
import { murmurBlock, murmurMix } from './murmur';

/** Connection flags (a subset of IP_VS_CONN_F_*, renumbered to fit a byte). */
/** Replies bypass the director (tunnel, DR, local): TCP uses the INPUT-ONLY table. */
export const F_NOOUTPUT = 0x01;
/** Counted in the real server's inactiveConns rather than activeConns. */
export const F_INACTIVE = 0x02;
/** A persistence template (client port 0 or masked client address). */
export const F_TEMPLATE = 0x04;
/** The client port was unknown when the entry was made (a template, or sync). */
export const F_NO_CPORT = 0x08;
/** One-packet scheduling (-o): the entry lives for one datagram. */
export const F_ONE_PACKET = 0x10;
/** Created by connection synchronisation, not by scheduling here. */
export const F_SYNC = 0x20;
/** A template no longer found by lookups (ip_vs_check_template's invalidation). */
export const F_DEAD = 0x40;

export interface ConnTableOptions {
  /** Entries allocated up front (default 4096); storage doubles as needed. */
  initialCapacity?: number;
  /** Hard limit on live entries (default 1 << 20); insert() returns -1 beyond it. */
  maxConns?: number;
  /** 32-bit hash seed; random (crypto.randomInt) when absent. */
  seed?: number;
  /** Initial bucket count of the index, rounded up to a power of two (default 4096). */
  buckets?: number;
  /** Live entries per bucket that trigger doubling the index (default 1; Infinity = never). */
  maxLoadFactor?: number;
  /** Timer wheel tick in ms (default 1000). */
  tickMs?: number;
  /** Timer wheel slots, a power of two (default 4096). */
  wheelSlots?: number;
}

const NIL = -1;
const MAX_BUCKETS = 1 << 30;
/** Old-index buckets moved into the doubled index per insert while a rehash is under way. */
const REHASH_STEP = 8;
/** Counters of each address filter (a power of two; ADDR_FILTER_BITS bits of the hash). */
const ADDR_FILTER_BITS = 12;
const ADDR_FILTER = 1 << ADDR_FILTER_BITS;

/** Filter slot of an address (Fibonacci hashing: the top bits of address × 2^32/φ). */
function addrSlot(addr: number): number {
  return Math.imul(addr, 0x9e3779b1) >>> (32 - ADDR_FILTER_BITS);
}

type Column = Uint8Array | Uint16Array | Uint32Array | Int32Array;
type ColumnCtor<T extends Column> = { new (buf: ArrayBuffer): T; new (n: number): T; BYTES_PER_ELEMENT: number };
type ResizableBuffer = ArrayBuffer & { resizable?: boolean; resize(n: number): void };
const ResizableArrayBuffer = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ResizableBuffer;

/** A column of `cap` elements that can later grow in place up to `max` elements. */
function column<T extends Column>(Ctor: ColumnCtor<T>, cap: number, max: number): T {
  try {
    return new Ctor(new ResizableArrayBuffer(cap * Ctor.BYTES_PER_ELEMENT, { maxByteLength: max * Ctor.BYTES_PER_ELEMENT }));
  } catch {
    return new Ctor(cap);
  }
}

/** The column with room for `cap` elements: the same view resized in place, or a copy. */
function growColumn<T extends Column>(a: T, Ctor: ColumnCtor<T>, cap: number): T {
  const buf = a.buffer as ResizableBuffer;
  if (buf.resizable === true) {
    buf.resize(cap * Ctor.BYTES_PER_ELEMENT);
    return a;
  }
  const b = new Ctor(cap);
  (b as Uint8Array).set(a as Uint8Array);
  return b;
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n && p < MAX_BUCKETS) p *= 2;
  return p;
}

export class ConnTable {
  /** Hard limit on live entries. */
  readonly maxConns: number;
  private readonly seed: number;
  private readonly maxLoad: number;

  private cap: number;
  private live = 0;
  /** Ids ≥ hwm have never been used. */
  private hwm = 0;
  private freeHead = NIL;

  private protoA: Uint8Array;
  private stateA: Uint8Array;
  private flagsA: Uint8Array;
  private fwdA: Uint8Array;
  private usedA: Uint8Array;
  /** Addresses as int32 (the packet path's form, src/wire/ipv4.ts); accessors give both forms. */
  private caddrA: Int32Array;
  private vaddrA: Int32Array;
  private daddrA: Int32Array;
  private cportA: Uint16Array;
  private vportA: Uint16Array;
  private dportA: Uint16Array;
  private destA: Int32Array;
  private svcA: Int32Array;
  /** A connection: id of its controlling template or -1. A template: connections it controls. */
  private ctlA: Int32Array;
  /** Chain link of the index; for a free id, the next free id. */
  private next: Int32Array;
  /** TCP: next sequence number expected from the client / the real server (./proto/tcp.ts RST window). */
  private seqInA: Uint32Array;
  private seqOutA: Uint32Array;
  /** Bit 0: seqInA learnt, bit 1: seqOutA learnt. */
  private seqSeenA: Uint8Array;

  private heads: Int32Array;
  private bmask: number;
  /** The index being drained into heads during an incremental rehash. */
  private oldHeads: Int32Array | null = null;
  private oldMask = 0;
  /** Old buckets below this have been moved. */
  private moved = 0;
  /** Live entries per filter slot of their virtual address and of their real server's. */
  private readonly vaddrCount = new Int32Array(ADDR_FILTER);
  private readonly daddrCount = new Int32Array(ADDR_FILTER);

  private readonly wheel: TimerWheel;
  /** The id whose onExpire callback is running, until the callback removes it. */
  private expiring = NIL;
  private onExpireCb: ((id: number) => void) | null = null;
  private expiredCount = 0;
  private readonly fireBound: (id: number) => void;

  constructor(opts: ConnTableOptions = {}) {
    this.maxConns = opts.maxConns ?? 1 << 20;
    if (!Number.isInteger(this.maxConns) || this.maxConns < 1 || this.maxConns > 0x7fffffff) {
      throw new RangeError('maxConns must be a positive integer');
    }
    this.cap = Math.max(1, Math.min(opts.initialCapacity ?? 4096, this.maxConns));
    this.seed = (opts.seed ?? randomInt(0, 0x100000000)) | 0;
    this.maxLoad = opts.maxLoadFactor ?? 1;
    const nb = pow2AtLeast(Math.max(1, opts.buckets ?? 4096));
    this.bmask = nb - 1;
    this.heads = new Int32Array(nb).fill(NIL);

    const c = this.cap;
    const m = this.maxConns;
    this.protoA = column(Uint8Array, c, m);
    this.stateA = column(Uint8Array, c, m);
    this.flagsA = column(Uint8Array, c, m);
    this.fwdA = column(Uint8Array, c, m);
    this.usedA = column(Uint8Array, c, m);
    this.caddrA = column(Int32Array, c, m);
    this.vaddrA = column(Int32Array, c, m);
    this.daddrA = column(Int32Array, c, m);
    this.cportA = column(Uint16Array, c, m);
    this.vportA = column(Uint16Array, c, m);
    this.dportA = column(Uint16Array, c, m);
    this.destA = column(Int32Array, c, m);
    this.svcA = column(Int32Array, c, m);
    this.ctlA = column(Int32Array, c, m);
    this.next = column(Int32Array, c, m);
    this.seqInA = column(Uint32Array, c, m);
    this.seqOutA = column(Uint32Array, c, m);
    this.seqSeenA = column(Uint8Array, c, m);
    this.wheel = new TimerWheel(c, { tickMs: opts.tickMs, slots: opts.wheelSlots });
    this.fireBound = (id: number) => this.fire(id);
  }

  /** Number of live entries. */
  get size(): number {
    return this.live;
  }

  /** Entries the storage holds before it grows. */
  get capacity(): number {
    return this.cap;
  }

  /** Buckets of the hash index (what `-L` prints as size=N). */
  get bucketCount(): number {
    return this.bmask + 1;
  }

  /** Timer wheel tick in ms: the expiry precision. */
  get tickMs(): number {
    return this.wheel.tickMs;
  }

  /** Bytes of every typed array the table holds (storage, indexes, timer wheel). */
  get byteLength(): number {
    return this.protoA.byteLength + this.stateA.byteLength + this.flagsA.byteLength +
      this.fwdA.byteLength + this.usedA.byteLength + this.caddrA.byteLength +
      this.vaddrA.byteLength + this.daddrA.byteLength + this.cportA.byteLength +
      this.vportA.byteLength + this.dportA.byteLength + this.destA.byteLength +
      this.svcA.byteLength + this.ctlA.byteLength + this.next.byteLength +
      this.seqInA.byteLength + this.seqOutA.byteLength + this.seqSeenA.byteLength +
      this.heads.byteLength + this.wheel.byteLength +
      this.vaddrCount.byteLength + this.daddrCount.byteLength + (this.oldHeads?.byteLength ?? 0);
  }

  /** Whether an incremental rehash is under way (old buckets remain to be moved). */
  get rehashing(): boolean {
    return this.oldHeads !== null;
  }

  /** Bytes per entry of the per-entry arrays, bucket heads excluded. */
  static readonly BYTES_PER_ENTRY = 1 * 6 + 4 * 3 + 2 * 3 + 4 * 3 + 4 + 4 * 2 + TimerWheel.BYTES_PER_ID;

  /** Hash of a client endpoint (the whole key of the index; ip_vs_conn_hashkey's inputs). */
  private hash(proto: number, caddr: number, cport: number): number {
    const h = murmurBlock(murmurBlock(this.seed, caddr), cport);
    return murmurMix(h ^ proto ^ 8);
  }

  /**
   * Reads the bucket heads that lookupIn and lookupOut of this packet will read (each only when
   * its address filter lets the lookup reach a bucket) and the first entry of each chain, so
   * that a batch's cache misses in a large table overlap; returns a sum of what it read
   * (callers keep it so the loads are not dropped).
   */
  touchBuckets(proto: number, saddr: number, sport: number, daddr: number, dport: number): number {
    let acc = 0;
    if (this.vaddrCount[addrSlot(daddr)] !== 0) {
      const i = this.heads[this.hash(proto, saddr, sport) & this.bmask];
      acc += i !== NIL ? this.cportA[i] : i;
    }
    if (this.daddrCount[addrSlot(saddr)] !== 0) {
      const i = this.heads[this.hash(proto, daddr, dport) & this.bmask];
      acc += i !== NIL ? this.cportA[i] : i;
    }
    return acc;
  }

  /** Bucket of the entries of client endpoint (proto, caddr, cport), both directions (tests). */
  bucketOf(proto: number, caddr: number, cport: number): number {
    return this.hash(proto, caddr | 0, cport & 0xffff) & this.bmask;
  }

  /** The entry for a packet from a client, or -1. Addresses as uint32 or int32. */
  lookupIn(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    caddr |= 0;
    vaddr |= 0;
    if (this.vaddrCount[addrSlot(vaddr)] === 0) return NIL;
    const h = this.hash(proto, caddr, cport);
    let i = this.heads[h & this.bmask];
    while (i !== NIL) {
      if (this.cportA[i] === cport && this.caddrA[i] === caddr && this.vaddrA[i] === vaddr &&
          this.vportA[i] === vport && this.protoA[i] === proto) return i;
      i = this.next[i];
    }
    if (this.oldHeads !== null) {
      i = this.oldHeads[h & this.oldMask];
      while (i !== NIL) {
        if (this.cportA[i] === cport && this.caddrA[i] === caddr && this.vaddrA[i] === vaddr &&
            this.vportA[i] === vport && this.protoA[i] === proto) return i;
        i = this.next[i];
      }
    }
    return NIL;
  }

  /**
   * The live template for (proto, caddr, cport, vaddr, vport): an entry with F_TEMPLATE and
   * without F_DEAD, or -1. Templates share the in-index with connections.
   */
  lookupTemplate(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    caddr |= 0;
    vaddr |= 0;
    if (this.vaddrCount[addrSlot(vaddr)] === 0) return NIL;
    const h = this.hash(proto, caddr, cport);
    for (let pass = 0; pass < 2; pass++) {
      const heads = pass === 0 ? this.heads : this.oldHeads;
      if (heads === null) break;
      let i = heads[h & (pass === 0 ? this.bmask : this.oldMask)];
      while (i !== NIL) {
        if (this.cportA[i] === cport && this.caddrA[i] === caddr && this.vaddrA[i] === vaddr &&
            this.vportA[i] === vport && this.protoA[i] === proto &&
            (this.flagsA[i] & (F_TEMPLATE | F_DEAD)) === F_TEMPLATE) return i;
        i = this.next[i];
      }
    }
    return NIL;
  }

  /** The entry for a NAT reply from real server daddr:dport to client caddr:cport, or -1. */
  lookupOut(proto: number, daddr: number, dport: number, caddr: number, cport: number): number {
    daddr |= 0;
    caddr |= 0;
    if (this.daddrCount[addrSlot(daddr)] === 0) return NIL;
    const h = this.hash(proto, caddr, cport);
    let i = this.heads[h & this.bmask];
    while (i !== NIL) {
      if (this.cportA[i] === cport && this.caddrA[i] === caddr && this.daddrA[i] === daddr &&
          this.dportA[i] === dport && this.protoA[i] === proto) return i;
      i = this.next[i];
    }
    if (this.oldHeads !== null) {
      i = this.oldHeads[h & this.oldMask];
      while (i !== NIL) {
        if (this.cportA[i] === cport && this.caddrA[i] === caddr && this.daddrA[i] === daddr &&
            this.dportA[i] === dport && this.protoA[i] === proto) return i;
        i = this.next[i];
      }
    }
    return NIL;
  }

  /**
   * Adds an entry and arms its expiry at now + timeoutSec. Returns its id, or -1 when
   * maxConns entries are live. Does not look for an existing entry with the same keys
   * (the caller has just missed in lookupIn); a duplicate key shadows the older entry.
   */
  insert(
    proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    daddr: number, dport: number, fwd: number, flags: number, destId: number, svcId: number,
    state: number, timeoutSec: number, now: number,
  ): number {
    if (this.live >= this.maxConns) return NIL;
    // The keys as the columns store them (unlinkIndexes and migrate hash them from the columns).
    proto &= 0xff;
    caddr |= 0;
    vaddr |= 0;
    daddr |= 0;
    cport &= 0xffff;
    vport &= 0xffff;
    dport &= 0xffff;
    let id = this.freeHead;
    if (id !== NIL) {
      this.freeHead = this.next[id];
    } else {
      if (this.hwm === this.cap) this.grow();
      id = this.hwm++;
    }
    this.live++;
    if (this.oldHeads !== null) this.migrate(REHASH_STEP);
    if (this.live > this.maxLoad * (this.bmask + 1) && this.bmask + 1 < MAX_BUCKETS) {
      this.startRehash((this.bmask + 1) * 2);
    }
    // The bucket head is the one lookupIn has just read for this client endpoint (cached).
    const b = this.hash(proto, caddr, cport) & this.bmask;
    const head = this.heads[b];
    this.protoA[id] = proto;
    this.stateA[id] = state;
    this.flagsA[id] = flags;
    this.fwdA[id] = fwd;
    this.usedA[id] = 1;
    this.caddrA[id] = caddr;
    this.vaddrA[id] = vaddr;
    this.daddrA[id] = daddr;
    this.cportA[id] = cport;
    this.vportA[id] = vport;
    this.dportA[id] = dport;
    this.destA[id] = destId;
    this.svcA[id] = svcId;
    this.ctlA[id] = NIL;
    this.seqSeenA[id] = 0;
    this.wheel.arm(id, now, timeoutSec * 1000);
    this.next[id] = head;
    this.heads[b] = id;
    this.vaddrCount[addrSlot(vaddr)]++;
    this.daddrCount[addrSlot(daddr)]++;
    return id;
  }

  private unlinkIndexes(id: number): void {
    const h = this.hash(this.protoA[id], this.caddrA[id], this.cportA[id]);
    if (!unlinkChain(this.heads, this.next, h & this.bmask, id) && this.oldHeads !== null) {
      unlinkChain(this.oldHeads, this.next, h & this.oldMask, id);
    }
    this.vaddrCount[addrSlot(this.vaddrA[id])]--;
    this.daddrCount[addrSlot(this.daddrA[id])]--;
  }

  /** Doubles the storage (bounded by maxConns): in place where buffers are resizable. */
  private grow(): void {
    const c = Math.min(this.cap * 2, this.maxConns);
    this.protoA = growColumn(this.protoA, Uint8Array, c);
    this.stateA = growColumn(this.stateA, Uint8Array, c);
    this.flagsA = growColumn(this.flagsA, Uint8Array, c);
    this.fwdA = growColumn(this.fwdA, Uint8Array, c);
    this.usedA = growColumn(this.usedA, Uint8Array, c);
    this.caddrA = growColumn(this.caddrA, Int32Array, c);
    this.vaddrA = growColumn(this.vaddrA, Int32Array, c);
    this.daddrA = growColumn(this.daddrA, Int32Array, c);
    this.cportA = growColumn(this.cportA, Uint16Array, c);
    this.vportA = growColumn(this.vportA, Uint16Array, c);
    this.dportA = growColumn(this.dportA, Uint16Array, c);
    this.destA = growColumn(this.destA, Int32Array, c);
    this.svcA = growColumn(this.svcA, Int32Array, c);
    this.ctlA = growColumn(this.ctlA, Int32Array, c);
    this.next = growColumn(this.next, Int32Array, c);
    this.seqInA = growColumn(this.seqInA, Uint32Array, c);
    this.seqOutA = growColumn(this.seqOutA, Uint32Array, c);
    this.seqSeenA = growColumn(this.seqSeenA, Uint8Array, c);
    this.wheel.grow(c);
    this.cap = c;
  }

  /**
   * Starts doubling the index to `buckets` (a power of two): the current index becomes
   * the old one, drained REHASH_STEP buckets per insert. A pending move is finished first.
   */
  private startRehash(buckets: number): void {
    if (this.oldHeads !== null) this.migrate(this.oldMask + 1);
    this.oldHeads = this.heads;
    this.oldMask = this.bmask;
    this.moved = 0;
    this.bmask = buckets - 1;
    this.heads = new Int32Array(buckets).fill(NIL);
  }

  /** Moves up to `n` old buckets into the current index. */
  private migrate(n: number): void {
    const old = this.oldHeads as Int32Array;
    const end = Math.min(this.moved + n, this.oldMask + 1);
    for (let b = this.moved; b < end; b++) {
      let i = old[b];
      while (i !== NIL) {
        const nx = this.next[i];
        const nb = this.hash(this.protoA[i], this.caddrA[i], this.cportA[i]) & this.bmask;
        this.next[i] = this.heads[nb];
        this.heads[nb] = i;
        i = nx;
      }
      old[b] = NIL;
    }
    this.moved = end;
    if (end === this.oldMask + 1) this.oldHeads = null;
  }

  /**
   * Unlinks entry `id` from the index and the timer and frees the id. A no-op for an
   * id that is not live. The caller fixes real-server counters before or after.
   */
  remove(id: number): void {
    if (id < 0 || id >= this.hwm || !this.usedA[id]) return;
    if (id === this.expiring) this.expiring = NIL;
    this.wheel.disarm(id);
    this.release(id);
  }

  private release(id: number): void {
    this.unlinkIndexes(id);
    this.usedA[id] = 0;
    this.next[id] = this.freeHead;
    this.freeHead = id;
    this.live--;
  }

  /** (Re)arms the expiry of `id` at now + timeoutSec. */
  touch(id: number, timeoutSec: number, now: number): void {
    this.wheel.arm(id, now, timeoutSec * 1000);
  }

  /**
   * Removes the entries whose expiry time has come by `now`; for each, calls onExpire(id)
   * first, while its fields are still readable. The callback may remove any entry
   * (including `id`), insert entries, or keep `id` alive by calling touch(id, …) on it
   * (as ip_vs_conn_expire does for a template that still controls connections).
   * Returns the number of entries removed. O(1) per entry due plus at most one visit
   * per tick of the wheel slots passed. If onExpire throws, the exception propagates
   * after the entry is removed; entries not yet examined expire at the next call.
   */
  expire(now: number, onExpire: (id: number) => void): number {
    this.onExpireCb = onExpire;
    this.expiredCount = 0;
    try {
      this.wheel.advance(now, this.fireBound);
    } finally {
      this.onExpireCb = null;
      const id = this.expiring;
      if (id !== NIL) {
        // onExpire threw: the entry is still removed unless it was re-armed.
        this.expiring = NIL;
        if (!this.wheel.isArmed(id)) {
          this.release(id);
          this.expiredCount++;
        }
      }
    }
    return this.expiredCount;
  }

  private fire(id: number): void {
    this.expiring = id;
    (this.onExpireCb as (id: number) => void)(id);
    if (this.expiring !== id) {
      // The callback removed it.
      this.expiredCount++;
      return;
    }
    this.expiring = NIL;
    if (this.wheel.isArmed(id)) return;
    this.release(id);
    this.expiredCount++;
  }

  /** Whether `id` is a live entry. */
  has(id: number): boolean {
    return id >= 0 && id < this.hwm && this.usedA[id] === 1;
  }

  proto(id: number): number { return this.protoA[id]; }
  state(id: number): number { return this.stateA[id]; }
  setState(id: number, s: number): void { this.stateA[id] = s; }
  flags(id: number): number { return this.flagsA[id]; }
  setFlags(id: number, f: number): void { this.flagsA[id] = f; }
  fwd(id: number): number { return this.fwdA[id]; }
  /** Addresses as uint32, for the control plane (listings, sync, hooks). */
  caddr(id: number): number { return this.caddrA[id] >>> 0; }
  cport(id: number): number { return this.cportA[id]; }
  vaddr(id: number): number { return this.vaddrA[id] >>> 0; }
  vport(id: number): number { return this.vportA[id]; }
  daddr(id: number): number { return this.daddrA[id] >>> 0; }
  /** The same addresses as int32, for the packet path (never a heap number). */
  caddrI32(id: number): number { return this.caddrA[id]; }
  vaddrI32(id: number): number { return this.vaddrA[id]; }
  daddrI32(id: number): number { return this.daddrA[id]; }
  dport(id: number): number { return this.dportA[id]; }
  destId(id: number): number { return this.destA[id]; }
  /** A connection's controlling template id (-1 for none); a template's count of controlled connections. */
  control(id: number): number { return this.ctlA[id]; }
  setControl(id: number, v: number): void { this.ctlA[id] = v; }
  /** Rebinds the entry to another real server id (keys unchanged). */
  setDestId(id: number, destId: number): void { this.destA[id] = destId; }
  svcId(id: number): number { return this.svcA[id]; }
  /** TCP sequence tracking: `out` selects the real server's side; seqSeen is 0 until learnt. */
  seqNext(id: number, out: boolean): number { return out ? this.seqOutA[id] : this.seqInA[id]; }
  seqSeen(id: number, out: boolean): number { return this.seqSeenA[id] & (out ? 2 : 1); }
  /** Forgets both directions' tracked sequence numbers: the next segment of each is learnt again. */
  forgetSeq(id: number): void { this.seqSeenA[id] = 0; }
  setSeqNext(id: number, out: boolean, seq: number): void {
    if (out) this.seqOutA[id] = seq;
    else this.seqInA[id] = seq;
    this.seqSeenA[id] |= out ? 2 : 1;
  }

  /** Earliest time (ms, caller's clock) at which the entry may expire. */
  expiresAt(id: number): number {
    return this.wheel.dueAt(id);
  }

  /** Whole seconds until the entry expires (0 when due), as `-L -c` shows. */
  remaining(id: number, now: number): number {
    const ms = this.wheel.dueAt(id) - now;
    return ms > 0 ? Math.floor(ms / 1000) : 0;
  }

  /**
   * Calls cb(id) for each live entry in id order. cb may remove entries (those not yet
   * visited are then skipped); entries inserted by cb may or may not be visited.
   */
  forEach(cb: (id: number) => void): void {
    for (let id = 0; id < this.hwm; id++) {
      if (this.usedA[id] === 1) cb(id);
    }
  }

  /** Removes every entry, calling onRemove(id) for each first. Keeps the storage. */
  clear(onRemove?: (id: number) => void): void {
    if (onRemove) {
      for (let id = 0; id < this.hwm; id++) {
        if (this.usedA[id] === 1) onRemove(id);
      }
    }
    this.usedA.fill(0, 0, this.hwm);
    this.heads.fill(NIL);
    this.vaddrCount.fill(0);
    this.daddrCount.fill(0);
    this.oldHeads = null;
    this.wheel.reset(this.hwm);
    this.hwm = 0;
    this.freeHead = NIL;
    this.live = 0;
    this.expiring = NIL;
  }
}

/** Removes `id` from the chain at heads[b] linked through `next`; false when not in it. */
function unlinkChain(heads: Int32Array, next: Int32Array, b: number, id: number): boolean {
  let i = heads[b];
  if (i === id) {
    heads[b] = next[id];
    return true;
  }
  while (i !== NIL && next[i] !== id) i = next[i];
  if (i === NIL) return false;
  next[i] = next[id];
  return true;
}
