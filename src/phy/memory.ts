/**
 * An in-process Device for tests, after wireguard-go's channel-backed TUN: inject() queues
 * inbound packets, read() copies them into read slots with the same layout as the TUN device,
 * and write() copies every frame out into `written`.
 */
import { Device, VNET_HDR_LEN } from './device';

/** Largest IPv4 packet (RFC 791 total length is 16 bits); a TSO super-packet fits too. */
export const MAX_PACKET = 65535;
export const DEFAULT_READ_SLOTS = 64;
export const DEFAULT_SCRATCH_SLOTS = 16;
export const DEFAULT_HEADROOM = 64;
/** Device contract (device.ts): room for an outer IPv4 header plus a new virtio_net_hdr. */
export const MIN_HEADROOM = 32;
/** Slots are rounded to cache lines. */
export const SLOT_ALIGN = 64;

/** Size of one slot: headroom, the vnet header and a maximal packet, rounded up to SLOT_ALIGN. */
export function slotSizeFor(headroom: number, vnetHdrLen: number, maxPacket = MAX_PACKET): number {
  const raw = headroom + vnetHdrLen + maxPacket;
  return Math.ceil(raw / SLOT_ALIGN) * SLOT_ALIGN;
}

/** Checks the numeric layout options shared by the TUN and memory devices. */
export function checkLayout(readSlots: number, scratchSlots: number, headroom: number): void {
  if (!Number.isInteger(readSlots) || readSlots < 1) throw new RangeError(`batch must be an integer >= 1, got ${readSlots}`);
  if (!Number.isInteger(scratchSlots) || scratchSlots < 0) {
    throw new RangeError(`scratchSlots must be an integer >= 0, got ${scratchSlots}`);
  }
  if (!Number.isInteger(headroom) || headroom < MIN_HEADROOM) {
    throw new RangeError(`headroom must be an integer >= ${MIN_HEADROOM}, got ${headroom}`);
  }
}

export interface MemoryDeviceOptions {
  name?: string;
  /** Read slots (default 64). */
  batch?: number;
  /** Scratch slots after the read slots (default 16). */
  scratchSlots?: number;
  /** Whether frames carry a 10-byte virtio_net_hdr (default true). */
  vnetHdr?: boolean;
  /** Bytes before the vnet header in each slot (default 64, at least 32). */
  headroom?: number;
  /** Largest packet a slot holds (default 65535); smaller keeps test buffers small. */
  maxPacket?: number;
}

/**
 * One frame handed to write(), copied out. `vnet` is the virtio_net_hdr (empty Buffer when
 * vnetHdrLen is 0) and `packet` the IP packet behind it.
 */
export interface WrittenFrame {
  vnet: Buffer;
  packet: Buffer;
}

/** Why write() refused a frame (the memory counterpart of the TUN device's errno counters). */
export const MEMORY_WRITE_ERRORS = ['BOUNDS', 'SHORT'] as const;
export type MemoryWriteError = (typeof MEMORY_WRITE_ERRORS)[number];

interface Pending {
  packet: Buffer;
  vnet: Buffer | undefined;
}

export class MemoryDevice implements Device {
  readonly name: string;
  readonly buf: Buffer;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly readSlots: number;
  readonly headroom: number;
  readonly vnetHdrLen: number;
  readonly len: Int32Array;
  readonly maxPacket: number;

  /** Frames accepted by write(), in order. Tests may read and clear it (or use takeWritten()). */
  written: WrittenFrame[] = [];
  /** Frames refused by write(), by reason: BOUNDS (outside buf or empty), SHORT (shorter than
   * the vnet header). */
  readonly writeErrors: Record<MemoryWriteError, number> = { BOUNDS: 0, SHORT: 0 };

  private readonly queue: Pending[] = [];
  private onReadable: (() => void) | undefined;
  private notifyScheduled = false;
  private closed = false;

  constructor(opts: MemoryDeviceOptions = {}) {
    const readSlots = opts.batch ?? DEFAULT_READ_SLOTS;
    const scratch = opts.scratchSlots ?? DEFAULT_SCRATCH_SLOTS;
    const headroom = opts.headroom ?? DEFAULT_HEADROOM;
    checkLayout(readSlots, scratch, headroom);
    const maxPacket = opts.maxPacket ?? MAX_PACKET;
    if (!Number.isInteger(maxPacket) || maxPacket < 1 || maxPacket > MAX_PACKET) {
      throw new RangeError(`maxPacket must be an integer in 1..${MAX_PACKET}, got ${maxPacket}`);
    }
    this.name = opts.name ?? 'mem0';
    this.vnetHdrLen = (opts.vnetHdr ?? true) ? VNET_HDR_LEN : 0;
    this.headroom = headroom;
    this.maxPacket = maxPacket;
    this.readSlots = readSlots;
    this.slotCount = readSlots + scratch;
    this.slotSize = slotSizeFor(headroom, this.vnetHdrLen, maxPacket);
    this.buf = Buffer.allocUnsafeSlow(this.slotSize * this.slotCount);
    this.len = new Int32Array(this.slotCount);
  }

  /** Packets queued and not yet read. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Queues an inbound packet; it is copied into the next read slot by read(). `vnet` is the
   * virtio_net_hdr to deliver in front of it (default all zero: no offload metadata); it is
   * only allowed when the device has vnet headers and must be exactly 10 bytes.
   */
  inject(packet: Buffer, vnet?: Buffer): void {
    if (this.closed) throw new Error(`${this.name}: inject on a closed device`);
    if (packet.length < 1 || packet.length > this.maxPacket) {
      throw new RangeError(`packet length ${packet.length} outside 1..${this.maxPacket}`);
    }
    if (vnet !== undefined) {
      if (this.vnetHdrLen === 0) throw new Error(`${this.name}: device has no vnet header`);
      if (vnet.length !== this.vnetHdrLen) throw new RangeError(`vnet header must be ${this.vnetHdrLen} bytes`);
    }
    this.queue.push({ packet: Buffer.from(packet), vnet: vnet && Buffer.from(vnet) });
    this.notify();
  }

  read(): number {
    if (this.closed) return 0;
    const n = Math.min(this.queue.length, this.readSlots);
    for (let i = 0; i < n; i++) {
      const { packet, vnet } = this.queue[i]!;
      const hdr = i * this.slotSize + this.headroom;
      if (this.vnetHdrLen > 0) {
        if (vnet) vnet.copy(this.buf, hdr);
        else this.buf.fill(0, hdr, hdr + this.vnetHdrLen);
      }
      packet.copy(this.buf, hdr + this.vnetHdrLen);
      this.len[i] = packet.length;
    }
    this.queue.splice(0, n);
    return n;
  }

  write(offs: Int32Array, lens: Int32Array, count: number): number {
    if (this.closed) return 0;
    let accepted = 0;
    for (let k = 0; k < count; k++) {
      const off = offs[k]!;
      const len = lens[k]!;
      if (off < 0 || len <= 0 || off + len > this.buf.length) {
        this.writeErrors.BOUNDS++;
        continue;
      }
      if (len <= this.vnetHdrLen) {
        this.writeErrors.SHORT++;
        continue;
      }
      const ip = off + this.vnetHdrLen;
      this.written.push({
        vnet: Buffer.from(this.buf.subarray(off, ip)),
        packet: Buffer.from(this.buf.subarray(ip, off + len)),
      });
      accepted++;
    }
    return accepted;
  }

  /** Returns the frames written so far and forgets them. */
  takeWritten(): WrittenFrame[] {
    const out = this.written;
    this.written = [];
    return out;
  }

  /** onReadable runs (via setImmediate) after inject(), and at once if packets are queued. */
  start(onReadable: () => void): void {
    if (this.closed) throw new Error(`${this.name}: start on a closed device`);
    if (this.onReadable) throw new Error(`${this.name}: already started`);
    this.onReadable = onReadable;
    if (this.queue.length > 0) this.notify();
  }

  close(): void {
    this.closed = true;
    this.onReadable = undefined;
    this.queue.length = 0;
  }

  /** One pending notification at a time, like a level-triggered poll. */
  private notify(): void {
    if (!this.onReadable || this.notifyScheduled) return;
    this.notifyScheduled = true;
    setImmediate(() => {
      this.notifyScheduled = false;
      this.onReadable?.();
    });
  }
}
