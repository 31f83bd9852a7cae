/**
 * Sequence numbers of sync messages (lvsd extension, src/wire/ipvs-sync.ts):
 *
 * - SeqWindow, on a backup, per sender: a sliding window of the last SEQ_WINDOW sequence
 *   numbers, as IPsec's anti-replay window (RFC 4303 §3.4.3). A number already seen, or
 *   older than the window, is a replay; a number beyond the highest seen accepts and reports
 *   the numbers skipped in between (lost, or reordered), which the backup asks for again
 *   (NACK) unless the gap is wider than the master keeps.
 * - SentRing, on a master: the last SEQ_WINDOW datagrams sent, by sequence number, to resend
 *   on a NACK.
 * Keyless messages are read for 16 bits of their sequence block (src/wire/ipvs-sync.ts);
 * unwrap16 extends them relative to the highest number seen.
 */
export const SEQ_WINDOW = 64;

export const SEQ_NEW = 0;
export const SEQ_REPLAY = 1;

export class SeqWindow {
  private readonly seen = new Float64Array(SEQ_WINDOW).fill(-1);
  /** Highest sequence number accepted, -1 before the first. */
  top = -1;
  /** Which start of the sender this window is for (keyed messages). */
  boot = 0;

  /** Forgets everything (a new sender boot). */
  reset(boot: number): void {
    this.seen.fill(-1);
    this.top = -1;
    this.boot = boot;
  }

  /**
   * Records seq; SEQ_REPLAY when seen before or older than the window. Missing numbers between
   * the previous highest and seq (at most maxGap of them) are pushed onto `missing`.
   */
  accept(seq: number, missing: number[], maxGap: number): number {
    if (this.top < 0) {
      this.top = seq;
      this.seen[seq % SEQ_WINDOW] = seq;
      return SEQ_NEW;
    }
    if (seq <= this.top) {
      if (this.top - seq >= SEQ_WINDOW || this.seen[seq % SEQ_WINDOW] === seq) return SEQ_REPLAY;
      this.seen[seq % SEQ_WINDOW] = seq;
      return SEQ_NEW;
    }
    const gap = seq - this.top - 1;
    if (gap > 0 && gap <= maxGap) for (let s = this.top + 1; s < seq; s++) missing.push(s);
    this.top = seq;
    this.seen[seq % SEQ_WINDOW] = seq;
    return SEQ_NEW;
  }
}

/** The 32-bit number whose low 16 bits are s16, nearest to top (top < 0: s16 itself). */
export function unwrap16(s16: number, top: number): number {
  if (top < 0) return s16;
  const d = ((s16 - (top & 0xffff)) << 16) >> 16;
  return Math.max(0, top + d);
}

export class SentRing {
  private readonly seqs = new Float64Array(SEQ_WINDOW).fill(-1);
  private readonly bufs: (Buffer | undefined)[] = new Array<Buffer | undefined>(SEQ_WINDOW);

  put(seq: number, b: Buffer): void {
    this.seqs[seq % SEQ_WINDOW] = seq;
    this.bufs[seq % SEQ_WINDOW] = b;
  }

  /** The datagram sent as seq, compared on the bits of `mask` (0xffff: a keyless backup's view). */
  get(seq: number, mask = 0xffffffff): Buffer | undefined {
    const i = seq % SEQ_WINDOW;
    const have = this.seqs[i];
    return have >= 0 && ((have & mask) >>> 0) === ((seq & mask) >>> 0) ? this.bufs[i] : undefined;
  }
}
