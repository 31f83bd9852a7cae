/**
 * An IPv4 raw socket (raw(7)) read in batches through the lvs_native addon: read() returns one
 * datagram with its IPv4 header, so the batched read, the uv_poll watcher and the counters of
 * the TUN device serve it unchanged. Needs CAP_NET_RAW.
 */
import { loadNative, NativeAddon, NativeStats } from './native';

export class RawIpSocket {
  readonly protocol: number;
  private fdNum: number;
  private readonly addon: NativeAddon;

  private constructor(addon: NativeAddon, fd: number, protocol: number) {
    this.addon = addon;
    this.fdNum = fd;
    this.protocol = protocol;
  }

  /**
   * Opens a raw socket for IP protocol `protocol`; rcvbuf > 0 sizes its receive buffer (bytes,
   * beyond net.core.rmem_max when the caller may). Throws an Error with an errno `code`.
   */
  static open(protocol: number, rcvbuf = 0): RawIpSocket {
    const addon = loadNative();
    if (typeof addon.rawOpen !== 'function') {
      const err = new Error('lvs_native addon without raw sockets: rebuild with `npm run build:native`') as
        NodeJS.ErrnoException;
      err.code = 'ERR_LVS_NATIVE_MISSING';
      throw err;
    }
    return new RawIpSocket(addon, addon.rawOpen(protocol, rcvbuf), protocol);
  }

  get fd(): number {
    return this.fdNum;
  }

  /**
   * Reads up to maxCount datagrams; datagram i lands at buf[i*slotSize + headroom ..) and
   * lens[i] is its length. Returns the count (0 when nothing is pending or after close).
   */
  read(buf: Buffer, slotSize: number, headroom: number, maxCount: number, lens: Int32Array): number {
    if (this.fdNum < 0) return 0;
    return this.addon.readBatch(this.fdNum, buf, slotSize, headroom, 0, maxCount, lens);
  }

  /** Calls onReadable whenever datagrams are pending. */
  start(onReadable: () => void): void {
    if (this.fdNum < 0) throw new Error('start on a closed raw socket');
    this.addon.startPoll(this.fdNum, onReadable);
  }

  stats(): NativeStats {
    return this.addon.stats(this.fdNum);
  }

  close(): void {
    if (this.fdNum < 0) return;
    const fd = this.fdNum;
    this.fdNum = -1;
    this.addon.close(fd);
  }
}
