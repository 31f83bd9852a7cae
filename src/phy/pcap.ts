/**
 * Packet captures: a pcap file (the libpcap savefile format, see pcap-savefile(5) and
 * https://www.tcpdump.org/linktypes.html) of what lvsd reads and sends, readable by
 * tcpdump -r and Wireshark while lvsd runs, and a reader of the same format.
 *
 *   file header (24 bytes): magic 0xa1b2c3d4 (microsecond timestamps), version 2.4,
 *     thiszone 0, sigfigs 0, snaplen, network = LINKTYPE_RAW (101: packets start with the
 *     IPv4 header). Written in host byte order (little-endian here); readers detect it.
 *   record: ts_sec, ts_usec, incl_len, orig_len (16 bytes), then incl_len bytes.
 *
 * Writing never blocks the packet thread: the header is written when the capture opens
 * (start-up), then records are copied into fixed chunks and the chunks written with
 * asynchronous write(2)s, one after another, each as soon as the previous one finished
 * (so after every batch when the output keeps up, coalesced when it does not). At most
 * `queueBytes` wait; a packet that does not fit is left out and counted in `dropped`.
 * A file always holds whole records except at its growing end.
 *
 * Outputs: a regular file, rotated once the next record would take it past maxBytes (FILE is
 * renamed FILE.1, FILE.1 FILE.2, ... up to FILE.<keep>, and a new FILE begins with its own
 * header, so every file is readable by itself); `-` (standard output) or a FIFO, never
 * rotated, for `lvsd --pcap - | tcpdump -r -`. A reader that goes away (EPIPE) ends the
 * capture: counted in `writeErrors`, reported through onError once.
 *
 * PcapDevice taps a Device (both directions; virtio_net_hdr stripped); PcapFrameSink taps an
 * AF_PACKET output (Ethernet and virtio headers stripped).
 */
import { close, fstatSync, open, openSync, rename, write, writeSync } from 'node:fs';
import type { Device } from './device';
import type { FrameSink } from './packet';

export const PCAP_MAGIC = 0xa1b2c3d4;
/** Nanosecond-resolution variant (read only). */
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const LINKTYPE_RAW = 101;
export const PCAP_FILE_HDR_LEN = 24;
export const PCAP_REC_HDR_LEN = 16;
export const DEFAULT_PCAP_MAX_BYTES = 64 << 20;
/** Smallest --pcap-max-bytes: a file holds at least a few packets before it rotates. */
export const PCAP_MIN_MAX_BYTES = 1024;
/** Rotated files kept beside the current one. */
export const DEFAULT_PCAP_KEEP = 4;
const CHUNK_BYTES = 256 << 10;
const DEFAULT_QUEUE_BYTES = 8 << 20;
/** Retry delay when a non-blocking output (a pipe shared with another writer) is full. */
const EAGAIN_RETRY_MS = 10;
const ETH_HDR_LEN = 14;
const VNET_LEN = 10;

export interface PcapOptions {
  /** Rotated files kept (FILE.1 .. FILE.keep). */
  keep?: number;
  /** Bytes that may wait for the output before packets are dropped. */
  queueBytes?: number;
  /** Called once when the output fails (the capture then stops). */
  onError?: (err: NodeJS.ErrnoException) => void;
  /**
   * Forwarding mode (packet worker threads): no file is opened and no header written; each
   * chunk of whole records is handed to `forward` (a copy the callee owns) for the writer that
   * owns the output to add with appendRecords(), so that one writer rotates and numbers files.
   */
  forward?: (records: Uint8Array) => void;
}

interface Chunk {
  buf: Buffer;
  len: number;
  /** Rotate before writing this chunk (its first bytes are the new file's header). */
  rotate: boolean;
}

function fileHeader(buf: Buffer, off: number, snaplen: number): void {
  buf.writeUInt32LE(PCAP_MAGIC, off);
  buf.writeUInt16LE(2, off + 4);
  buf.writeUInt16LE(4, off + 6);
  buf.writeInt32LE(0, off + 8);
  buf.writeUInt32LE(0, off + 12);
  buf.writeUInt32LE(snaplen, off + 16);
  buf.writeUInt32LE(LINKTYPE_RAW, off + 20);
}

export class PcapWriter {
  /** Packets accepted; left out because the output could not keep up; output failures. */
  packets = 0;
  dropped = 0;
  writeErrors = 0;
  /** Files begun after the first one. */
  rotations = 0;
  /** True for a regular file (rotated at maxBytes); false for standard output or a FIFO. */
  readonly rotating: boolean;
  readonly keep: number;
  private fd: number;
  private readonly ownFd: boolean;
  private readonly queueBytes: number;
  private readonly onError?: (err: NodeJS.ErrnoException) => void;
  private readonly forward?: (records: Uint8Array) => void;
  private readonly chunkBytes: number = CHUNK_BYTES;
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private cur: Chunk | undefined;
  private readonly queue: Chunk[] = [];
  private writing = false;
  private immediate: NodeJS.Immediate | undefined;
  private failed = false;
  private closing: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  /** Bytes of the current file, counting what is still queued. */
  private fileBytes = PCAP_FILE_HDR_LEN;

  constructor(readonly path: string, readonly maxBytes = DEFAULT_PCAP_MAX_BYTES, readonly snaplen = 65535,
    opts: PcapOptions = {}) {
    if (maxBytes < PCAP_MIN_MAX_BYTES) throw new RangeError(`maxBytes must be at least ${PCAP_MIN_MAX_BYTES}`);
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 65535) throw new RangeError('snaplen must be 1..65535');
    this.keep = opts.keep ?? DEFAULT_PCAP_KEEP;
    this.queueBytes = Math.max(CHUNK_BYTES, opts.queueBytes ?? DEFAULT_QUEUE_BYTES);
    this.onError = opts.onError;
    this.forward = opts.forward;
    if (this.forward) {
      // A forwarded chunk must fit in one file of the owning writer, header included.
      this.chunkBytes = Math.min(CHUNK_BYTES, maxBytes - PCAP_FILE_HDR_LEN);
      this.fd = -1;
      this.ownFd = false;
      this.rotating = false;
      return;
    }
    if (path === '-') {
      this.fd = 1;
      this.ownFd = false;
    } else {
      // A FIFO blocks here until a reader opens it (as tcpdump -w does); start-up only.
      this.fd = openSync(path, 'w', 0o600);
      this.ownFd = true;
    }
    this.rotating = fstatSync(this.fd).isFile();
    const h = Buffer.alloc(PCAP_FILE_HDR_LEN);
    fileHeader(h, 0, snaplen);
    let done = 0;
    while (done < h.length) done += writeSync(this.fd, h, done, h.length - done);
  }

  /** Bytes waiting for the output. */
  get pending(): number {
    let n = this.cur?.len ?? 0;
    for (const c of this.queue) n += c.len;
    return n;
  }

  /** Records buf[off .. off+len) with timestamp `usec` (microseconds since the epoch). */
  record(buf: Buffer, off: number, len: number, usec: number): void {
    if (this.failed || this.closing !== undefined || len <= 0) return;
    const incl = len < this.snaplen ? len : this.snaplen;
    const need = PCAP_REC_HDR_LEN + incl;
    let rotate = false;
    if (this.rotating && this.fileBytes + need > this.maxBytes && this.fileBytes > PCAP_FILE_HDR_LEN) rotate = true;
    let c = this.cur;
    if (c === undefined || rotate || c.len + need > c.buf.length) {
      const next = this.take();
      if (next === undefined) {
        this.dropped++;
        return;
      }
      if (c !== undefined) this.seal();
      c = this.cur = { buf: next, len: 0, rotate };
      if (rotate) {
        fileHeader(c.buf, 0, this.snaplen);
        c.len = PCAP_FILE_HDR_LEN;
        this.fileBytes = PCAP_FILE_HDR_LEN;
        this.rotations++;
      }
    }
    const s = c.buf;
    const o = c.len;
    const sec = Math.floor(usec / 1e6);
    s.writeUInt32LE(sec >>> 0, o);
    s.writeUInt32LE(Math.floor(usec - sec * 1e6), o + 4);
    s.writeUInt32LE(incl, o + 8);
    s.writeUInt32LE(len, o + 12);
    buf.copy(s, o + PCAP_REC_HDR_LEN, off, off + incl);
    c.len = o + need;
    this.fileBytes += need;
    this.packets++;
    if (!this.writing && this.immediate === undefined) this.immediate = setImmediate(() => this.kick());
  }

  /**
   * Adds a chunk of whole records written by a forwarding writer (another thread): queued
   * behind what is staged, in a file of its own when it would take the current one past
   * maxBytes; dropped whole (its records counted in `dropped`) when the queue is full. A chunk
   * whose records do not add up to its length is refused whole.
   */
  appendRecords(records: Uint8Array): void {
    if (this.failed || this.closing !== undefined || records.length === 0) return;
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    let packets = 0;
    for (let o = 0; o < records.length; packets++) {
      if (o + PCAP_REC_HDR_LEN > records.length) return;
      o += PCAP_REC_HDR_LEN + view.getUint32(o + 8, true);
      if (o > records.length) return;
    }
    const rotate = this.rotating && this.fileBytes + records.length > this.maxBytes && this.fileBytes > PCAP_FILE_HDR_LEN;
    const len = records.length + (rotate ? PCAP_FILE_HDR_LEN : 0);
    if (this.pending + len > this.queueBytes) {
      this.dropped += packets;
      return;
    }
    this.seal();
    const buf = Buffer.allocUnsafe(len);
    if (rotate) {
      fileHeader(buf, 0, this.snaplen);
      this.fileBytes = PCAP_FILE_HDR_LEN;
      this.rotations++;
    }
    buf.set(records, rotate ? PCAP_FILE_HDR_LEN : 0);
    this.queue.push({ buf, len, rotate });
    this.fileBytes += records.length;
    this.packets += packets;
    if (!this.writing && this.immediate === undefined) this.immediate = setImmediate(() => this.kick());
  }

  /** Starts writing what is staged (the writes themselves complete later). */
  flush(): void {
    this.kick();
  }

  /** Writes everything accepted so far, then closes the output. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      this.drained = () => {
        if (this.ownFd && this.fd >= 0) close(this.fd, () => resolve());
        else resolve();
        this.fd = -1;
      };
    });
    this.kick();
    return this.closing;
  }

  /** A free chunk, or undefined when the queue bound is reached. */
  private take(): Buffer | undefined {
    const b = this.free.pop();
    if (b) return b;
    if (this.allocated + this.chunkBytes > this.queueBytes) return undefined;
    this.allocated += this.chunkBytes;
    return Buffer.allocUnsafeSlow(this.chunkBytes);
  }

  /** Returns a written chunk to the pool (buffers of forwarded records are not pooled). */
  private recycle(buf: Buffer): void {
    if (buf.length === this.chunkBytes) this.free.push(buf);
  }

  private seal(): void {
    const c = this.cur;
    this.cur = undefined;
    if (c !== undefined && c.len > 0) this.queue.push(c);
    else if (c !== undefined) this.free.push(c.buf);
  }

  private kick(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    if (this.writing) return;
    if (this.queue.length === 0) this.seal();
    const c = this.queue.shift();
    if (c === undefined || this.failed) {
      if (c !== undefined) this.recycle(c.buf);
      this.queue.splice(0).forEach((q) => this.recycle(q.buf));
      if (this.closing && this.drained) {
        const d = this.drained;
        this.drained = undefined;
        d();
      }
      return;
    }
    if (this.forward) {
      this.forward(Uint8Array.prototype.slice.call(c.buf, 0, c.len));
      this.recycle(c.buf);
      this.kick();
      return;
    }
    this.writing = true;
    if (c.rotate) this.rotateThen(() => this.writeChunk(c, 0));
    else this.writeChunk(c, 0);
  }

  private writeChunk(c: Chunk, done: number): void {
    write(this.fd, c.buf, done, c.len - done, null, (err, n) => {
      if (err) {
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.writeChunk(c, done), EAGAIN_RETRY_MS);
          return;
        }
        this.fail(err);
      } else if (done + n < c.len) {
        this.writeChunk(c, done + n);
        return;
      }
      this.recycle(c.buf);
      this.writing = false;
      this.kick();
    });
  }

  /** Closes the current file, shifts FILE → FILE.1 → ... → FILE.keep, opens a new FILE. */
  private rotateThen(next: () => void): void {
    close(this.fd, () => {
      const names = [this.path];
      for (let i = 1; i <= this.keep; i++) names.push(`${this.path}.${i}`);
      const shift = (i: number): void => {
        if (i < 0) {
          open(this.path, 'w', 0o600, (err, fd) => {
            if (err) {
              this.fd = -1;
              this.fail(err);
              this.writing = false;
              this.kick();
              return;
            }
            this.fd = fd;
            next();
          });
          return;
        }
        if (i + 1 > this.keep) {
          shift(i - 1);
          return;
        }
        rename(names[i], names[i + 1], () => shift(i - 1));
      };
      shift(names.length - 1);
    });
  }

  private fail(err: NodeJS.ErrnoException): void {
    this.writeErrors++;
    if (this.failed) return;
    this.failed = true;
    this.onError?.(err);
  }
}

function nowUsec(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** A Device that records every packet read from and written to `inner`. */
export class PcapDevice implements Device {
  constructor(readonly inner: Device, readonly pcap: PcapWriter) {}

  get name(): string { return this.inner.name; }
  get buf(): Buffer { return this.inner.buf; }
  get slotSize(): number { return this.inner.slotSize; }
  get slotCount(): number { return this.inner.slotCount; }
  get readSlots(): number { return this.inner.readSlots; }
  get headroom(): number { return this.inner.headroom; }
  get vnetHdrLen(): number { return this.inner.vnetHdrLen; }
  get len(): Int32Array { return this.inner.len; }

  read(): number {
    const d = this.inner;
    const n = d.read();
    if (n === 0) return 0;
    const t = nowUsec();
    const first = d.headroom + d.vnetHdrLen;
    for (let i = 0; i < n; i++) this.pcap.record(d.buf, i * d.slotSize + first, d.len[i], t);
    return n;
  }

  write(offs: Int32Array, lens: Int32Array, count: number): number {
    const d = this.inner;
    const t = nowUsec();
    const v = d.vnetHdrLen;
    for (let k = 0; k < count; k++) this.pcap.record(d.buf, offs[k] + v, lens[k] - v, t);
    return d.write(offs, lens, count);
  }

  start(onReadable: () => void): void {
    this.inner.start(onReadable);
  }

  close(): void {
    this.inner.close();
    this.pcap.flush();
  }
}

/** A FrameSink that records the IP packet of every frame handed to `inner`. */
export class PcapFrameSink implements FrameSink {
  constructor(readonly inner: FrameSink, readonly pcap: PcapWriter) {}

  get name(): string { return this.inner.name; }
  get mac(): Uint8Array { return this.inner.mac; }
  get vnetHdr(): boolean { return this.inner.vnetHdr; }

  send(buf: Buffer, offs: Int32Array, lens: Int32Array, count: number): number {
    const skip = ETH_HDR_LEN + (this.inner.vnetHdr ? VNET_LEN : 0);
    const t = nowUsec();
    for (let k = 0; k < count; k++) this.pcap.record(buf, offs[k] + skip, lens[k] - skip, t);
    return this.inner.send(buf, offs, lens, count);
  }

  close(): void {
    this.inner.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface PcapRecord {
  /** Timestamp in microseconds since the epoch (nanosecond files are rounded down). */
  usec: number;
  /** Length on the wire; `data` holds the first incl_len bytes of it. */
  origLen: number;
  data: Buffer;
}

export interface PcapFile {
  littleEndian: boolean;
  nanoseconds: boolean;
  version: [number, number];
  snaplen: number;
  linktype: number;
  records: PcapRecord[];
  /** Bytes at the end that do not form a whole record (a file still being written). */
  trailing: number;
}

/**
 * Parses a pcap savefile held in `buf`, of either byte order and timestamp resolution.
 * Throws on a bad header or a record longer than the snaplen allows (not a capture, or
 * corrupt); an incomplete last record is reported in `trailing`, not an error.
 */
export function parsePcap(buf: Buffer): PcapFile {
  if (buf.length < PCAP_FILE_HDR_LEN) throw new Error(`pcap: ${buf.length} bytes, shorter than the file header`);
  const le = buf.readUInt32LE(0);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (le === PCAP_MAGIC || le === PCAP_MAGIC_NSEC) {
    littleEndian = true;
    nanoseconds = le === PCAP_MAGIC_NSEC;
  } else {
    const be = buf.readUInt32BE(0);
    if (be !== PCAP_MAGIC && be !== PCAP_MAGIC_NSEC) throw new Error(`pcap: bad magic 0x${le.toString(16)}`);
    littleEndian = false;
    nanoseconds = be === PCAP_MAGIC_NSEC;
  }
  const u16 = (o: number): number => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const snaplen = u32(16);
  const out: PcapFile = {
    littleEndian, nanoseconds, version: [u16(4), u16(6)], snaplen, linktype: u32(20) & 0x0fffffff, records: [], trailing: 0,
  };
  const limit = Math.max(snaplen, 262144);
  let o = PCAP_FILE_HDR_LEN;
  while (o + PCAP_REC_HDR_LEN <= buf.length) {
    const incl = u32(o + 8);
    if (incl > limit) throw new Error(`pcap: record at byte ${o} claims ${incl} bytes`);
    if (o + PCAP_REC_HDR_LEN + incl > buf.length) break;
    const frac = u32(o + 4);
    out.records.push({
      usec: u32(o) * 1e6 + (nanoseconds ? Math.floor(frac / 1000) : frac),
      origLen: u32(o + 12),
      data: buf.subarray(o + PCAP_REC_HDR_LEN, o + PCAP_REC_HDR_LEN + incl),
    });
    o += PCAP_REC_HDR_LEN + incl;
  }
  out.trailing = buf.length - o;
  return out;
}
