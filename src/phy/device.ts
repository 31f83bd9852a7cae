/**
 * A packet device moved in batches, after wireguard-go's tun.Device.
 *
 * All packets live in one preallocated Buffer (`buf`) cut into `slotCount` fixed slots of
 * `slotSize` bytes. The first `readSlots` slots receive packets on read(); the rest are
 * scratch slots the pipeline may fill with packets it builds itself (ICMP errors).
 *
 * Layout of a received slot i (base = i * slotSize):
 *
 *   base            base+headroom          base+headroom+vnetHdrLen
 *   |-- headroom ---|-- virtio_net_hdr ----|-- IPv4 packet (len[i] bytes) ...
 *
 * `headroom` (>= 32) lets a transmitter prepend an outer IPv4 header in place: it writes a
 * new virtio_net_hdr in front of the new header and hands write() that start offset.
 * `vnetHdrLen` is 10 when the device exchanges struct virtio_net_hdr (TUN offloads on)
 * and 0 otherwise; `len[i]` counts the IP packet only.
 */
export interface Device {
  readonly name: string;
  readonly buf: Buffer;
  readonly slotSize: number;
  readonly slotCount: number;
  /** Slots 0..readSlots-1 are filled by read(). */
  readonly readSlots: number;
  readonly headroom: number;
  readonly vnetHdrLen: number;
  /** Lengths of the IP packets read by the last read(), per slot. */
  readonly len: Int32Array;

  /**
   * Reads up to readSlots packets without blocking. Returns how many were read (0 when
   * none is pending). Packet i sits at i*slotSize + headroom + vnetHdrLen, len[i] bytes.
   */
  read(): number;

  /**
   * Writes `count` frames without blocking. Frame k starts at byte offs[k] of buf (at its
   * virtio_net_hdr when vnetHdrLen > 0) and is lens[k] bytes long including that header.
   * Returns how many were written; a frame the kernel refuses is counted by the device.
   */
  write(offs: Int32Array, lens: Int32Array, count: number): number;

  /** Calls onReadable whenever packets may be pending (edge: drain with read() until 0). */
  start(onReadable: () => void): void;

  /** Stops notifications and releases the device. Idempotent. */
  close(): void;
}

/** Fields of struct virtio_net_hdr (include/uapi/linux/virtio_net.h), little-endian. */
export const VNET_HDR_LEN = 10;
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;
export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_ECN = 0x80;
/** Byte offsets inside the header. */
export const VNET_OFF_FLAGS = 0;
export const VNET_OFF_GSO_TYPE = 1;
export const VNET_OFF_HDR_LEN = 2;
export const VNET_OFF_GSO_SIZE = 4;
export const VNET_OFF_CSUM_START = 6;
export const VNET_OFF_CSUM_OFFSET = 8;
