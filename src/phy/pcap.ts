/**
 * Packet captures for debugging: a pcap file (the libpcap savefile format, see
 * pcap-savefile(5) and https://www.tcpdump.org/linktypes.html) of what lvsd reads and sends,
 * opened by tcpdump -r and Wireshark.
 *
 *   file header (24 bytes): magic 0xa1b2c3d4 (microsecond timestamps), version 2.4,
 *     thiszone 0, sigfigs 0, snaplen, network = LINKTYPE_RAW (101: packets start with the
 *     IPv4 header). Written in host byte order (little-endian here); readers detect it.
 *   record: ts_sec, ts_usec, incl_len, orig_len (16 bytes), then incl_len bytes.
 *
 * Bounded: once the file would exceed maxBytes, further packets are not written (counted in
 * `skipped`); the file always ends with a whole record. Records are staged in a fixed buffer
 * and written with one write(2) per flush, so a packet costs a copy and no allocation.
 * PcapDevice taps a Device (both directions; virtio_net_hdr stripped); PcapFrameSink taps an
 * AF_PACKET output (Ethernet and virtio headers stripped).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Device } from './device';
import type { FrameSink } from './packet';

export const PCAP_MAGIC = 0xa1b2c3d4;
export const LINKTYPE_RAW = 101;
export const PCAP_FILE_HDR_LEN = 24;
export const PCAP_REC_HDR_LEN = 16;
export const DEFAULT_PCAP_MAX_BYTES = 64 << 20;
const STAGE_BYTES = 1 << 20;
const ETH_HDR_LEN = 14;
const VNET_LEN = 10;

export class PcapWriter {
  /** Packets recorded and packets left out because of the size limit. */
  packets = 0;
  skipped = 0;
  private fd: number;
  private readonly stage = Buffer.allocUnsafeSlow(STAGE_BYTES);
  private staged = 0;
  private written = 0;

  /**
   * append: another writer (thread) created the file and its header; this one appends whole
   * records (O_APPEND), each flush one write, so several writers interleave by batches.
   */
  constructor(readonly path: string, readonly maxBytes = DEFAULT_PCAP_MAX_BYTES, readonly snaplen = 65535,
    append = false) {
    if (maxBytes < PCAP_FILE_HDR_LEN) throw new RangeError(`maxBytes must be at least ${PCAP_FILE_HDR_LEN}`);
    this.fd = openSync(path, append ? 'a' : 'w', 0o600);
    if (append) return;
    const h = this.stage;
    h.writeUInt32LE(PCAP_MAGIC, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeInt32LE(0, 8);
    h.writeUInt32LE(0, 12);
    h.writeUInt32LE(snaplen, 16);
    h.writeUInt32LE(LINKTYPE_RAW, 20);
    this.staged = PCAP_FILE_HDR_LEN;
  }

  /** Bytes in the file once flushed. */
  get size(): number {
    return this.written + this.staged;
  }

  /** Records buf[off .. off+len) with timestamp `usec` (microseconds since the epoch). */
  record(buf: Buffer, off: number, len: number, usec: number): void {
    if (this.fd < 0) return;
    const incl = len < this.snaplen ? len : this.snaplen;
    const need = PCAP_REC_HDR_LEN + incl;
    if (this.written + this.staged + need > this.maxBytes) {
      this.skipped++;
      return;
    }
    if (this.staged + need > STAGE_BYTES) this.flush();
    const s = this.stage;
    const o = this.staged;
    const sec = Math.floor(usec / 1e6);
    s.writeUInt32LE(sec >>> 0, o);
    s.writeUInt32LE(Math.floor(usec - sec * 1e6), o + 4);
    s.writeUInt32LE(incl, o + 8);
    s.writeUInt32LE(len, o + 12);
    buf.copy(s, o + PCAP_REC_HDR_LEN, off, off + incl);
    this.staged = o + need;
    this.packets++;
  }

  flush(): void {
    if (this.fd < 0 || this.staged === 0) return;
    let done = 0;
    while (done < this.staged) done += writeSync(this.fd, this.stage, done, this.staged - done);
    this.written += this.staged;
    this.staged = 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
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
