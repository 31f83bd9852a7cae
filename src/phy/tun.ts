/**
 * The Linux TUN device (drivers/net/tun.c) behind the Device interface, through the
 * lvs_native addon: batched non-blocking read()/write() on the JS thread and a uv_poll
 * readiness watcher. Needs CAP_NET_ADMIN and /dev/net/tun.
 */
import { Device, VNET_HDR_LEN } from './device';
import { checkLayout, DEFAULT_HEADROOM, DEFAULT_READ_SLOTS, DEFAULT_SCRATCH_SLOTS, slotSizeFor } from './memory';
import { loadNative, NativeAddon, NativeStats } from './native';

export interface TunOpenOptions {
  /** Interface name (at most 15 bytes; "lvs%d" lets the kernel number it). */
  name: string;
  /** Read slots (default 64). */
  batch?: number;
  /** Scratch slots after the read slots (default 16). */
  scratchSlots?: number;
  /** Exchange struct virtio_net_hdr with the kernel (default true). */
  vnetHdr?: boolean;
  /** Checksum and TSO offloads: TCP super-packets of up to 64 KB (default true; needs vnetHdr). */
  offload?: boolean;
  /** Bytes before the vnet header in each slot (default 64, at least 32). */
  headroom?: number;
  /** IFF_MULTI_QUEUE: open the same name again for one more queue (default false). */
  multiQueue?: boolean;
}

/** Counters of a TUN device; see NativeStats for the error keys. */
export type TunErrors = NativeStats;

/** Slot layout and offload settings of a queue, defaults applied and checked. */
function layoutOf(opts: Omit<TunOpenOptions, 'name' | 'multiQueue'>): {
  readSlots: number; scratch: number; headroom: number; vnetHdr: boolean; offload: boolean;
} {
  const readSlots = opts.batch ?? DEFAULT_READ_SLOTS;
  const scratch = opts.scratchSlots ?? DEFAULT_SCRATCH_SLOTS;
  const headroom = opts.headroom ?? DEFAULT_HEADROOM;
  checkLayout(readSlots, scratch, headroom);
  const vnetHdr = opts.vnetHdr ?? true;
  return { readSlots, scratch, headroom, vnetHdr, offload: opts.offload ?? vnetHdr };
}

export class TunDevice implements Device {
  readonly name: string;
  readonly buf: Buffer;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly readSlots: number;
  readonly headroom: number;
  readonly vnetHdrLen: number;
  readonly len: Int32Array;
  /** Whether checksum/TSO offloads were requested. */
  readonly offload: boolean;

  private fdNum: number;
  private readonly addon: NativeAddon;
  private lastStats: NativeStats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, read: {}, write: {} };

  private constructor(addon: NativeAddon, fd: number, name: string, readSlots: number, scratch: number,
    headroom: number, vnetHdrLen: number, offload: boolean) {
    this.addon = addon;
    this.fdNum = fd;
    this.name = name;
    this.readSlots = readSlots;
    this.slotCount = readSlots + scratch;
    this.headroom = headroom;
    this.vnetHdrLen = vnetHdrLen;
    this.offload = offload;
    this.slotSize = slotSizeFor(headroom, vnetHdrLen);
    this.buf = Buffer.allocUnsafeSlow(this.slotSize * this.slotCount);
    this.len = new Int32Array(this.slotCount);
  }

  /** Creates (or attaches to) the TUN interface. Throws an Error with an errno `code`. */
  static open(opts: TunOpenOptions): TunDevice {
    const l = layoutOf(opts);
    const addon = loadNative();
    const { fd, name } = addon.open({ name: opts.name, vnetHdr: l.vnetHdr, offload: l.offload, multiQueue: opts.multiQueue ?? false });
    return new TunDevice(addon, fd, name, l.readSlots, l.scratch, l.headroom, l.vnetHdr ? VNET_HDR_LEN : 0, l.offload);
  }

  /**
   * A queue of a multi-queue device opened elsewhere in this process (another thread): this
   * device reads and writes its own duplicate of `fd`, so the queue (and its index) stays
   * while the original is open, whatever happens to this thread. `vnetHdr` must match how
   * the queue was opened.
   */
  static adopt(fd: number, opts: Omit<TunOpenOptions, 'name' | 'multiQueue'>): TunDevice {
    const l = layoutOf(opts);
    const addon = loadNative();
    const got = addon.adopt(fd, l.offload);
    return new TunDevice(addon, got.fd, got.name, l.readSlots, l.scratch, l.headroom, l.vnetHdr ? VNET_HDR_LEN : 0, l.offload);
  }

  /** Attaches (progFd) or detaches (-1) the device's queue-steering eBPF program. */
  setSteering(progFd: number): void {
    if (this.fdNum < 0) throw new Error(`${this.name}: setSteering on a closed device`);
    this.addon.setSteering(this.fdNum, progFd);
  }

  /** The TUN file descriptor, -1 once closed. */
  get fd(): number {
    return this.fdNum;
  }

  read(): number {
    if (this.fdNum < 0) return 0;
    return this.addon.readBatch(this.fdNum, this.buf, this.slotSize, this.headroom, this.vnetHdrLen,
      this.readSlots, this.len);
  }

  write(offs: Int32Array, lens: Int32Array, count: number): number {
    if (this.fdNum < 0) return 0;
    return this.addon.writeBatch(this.fdNum, this.buf, offs, lens, count);
  }

  start(onReadable: () => void): void {
    if (this.fdNum < 0) throw new Error(`${this.name}: start on a closed device`);
    this.addon.startPoll(this.fdNum, onReadable);
  }

  /** Packet and error counters; after close() the last values before closing. */
  errors(): TunErrors {
    return this.fdNum < 0 ? this.lastStats : this.addon.stats(this.fdNum);
  }

  close(): void {
    if (this.fdNum < 0) return;
    const fd = this.fdNum;
    this.lastStats = this.addon.stats(fd);
    this.fdNum = -1;
    this.addon.close(fd);
  }
}
