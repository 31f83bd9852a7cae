/**
 * An AF_PACKET socket that sends whole Ethernet frames on one interface (packet(7)), through
 * the lvs_native addon (native/packet.cc): the output of direct routing. Needs CAP_NET_RAW.
 */
import { loadNative } from './native';

/** Where a transmitter hands Ethernet frames (an AF_PACKET socket, or a test double). */
export interface FrameSink {
  /** Interface name. */
  readonly name: string;
  /** MAC address of the interface (the source of the frames). */
  readonly mac: Uint8Array;
  /** Frames start with a 10-byte virtio_net_hdr (PACKET_VNET_HDR): the kernel segments GSO. */
  readonly vnetHdr: boolean;
  /** Sends frames buf[offs[k] .. offs[k]+lens[k]); returns how many the kernel took. */
  send(buf: Buffer, offs: Int32Array, lens: Int32Array, count: number): number;
  close(): void;
}

interface PacketAddon {
  packetOpen(ifname: string, vnetHdr: boolean): { fd: number; ifindex: number; mac: Buffer; vnetHdr: boolean };
  packetSend(fd: number, ifindex: number, buf: Buffer, offs: Int32Array, lens: Int32Array, count: number): number;
  packetClose(fd: number): void;
}

export class PacketSocket implements FrameSink {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly vnetHdr: boolean;
  readonly ifindex: number;
  private fd: number;
  private readonly addon: PacketAddon;

  private constructor(addon: PacketAddon, name: string, fd: number, ifindex: number, mac: Buffer, vnetHdr: boolean) {
    this.addon = addon;
    this.name = name;
    this.fd = fd;
    this.ifindex = ifindex;
    this.mac = new Uint8Array(mac);
    this.vnetHdr = vnetHdr;
  }

  /**
   * Opens a sending socket on ifname; vnetHdr requests PACKET_VNET_HDR (the result says
   * whether the kernel accepted it). Throws an Error with an errno `code`.
   */
  static open(ifname: string, vnetHdr = true): PacketSocket {
    const addon = loadNative() as unknown as PacketAddon;
    if (typeof addon.packetOpen !== 'function') {
      const err = new Error('lvs_native addon without AF_PACKET support: rebuild with `npm run build:native`') as
        NodeJS.ErrnoException;
      err.code = 'ERR_LVS_NATIVE_MISSING';
      throw err;
    }
    const r = addon.packetOpen(ifname, vnetHdr);
    return new PacketSocket(addon, ifname, r.fd, r.ifindex, r.mac, r.vnetHdr);
  }

  send(buf: Buffer, offs: Int32Array, lens: Int32Array, count: number): number {
    if (this.fd < 0 || count === 0) return 0;
    return this.addon.packetSend(this.fd, this.ifindex, buf, offs, lens, count);
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    this.addon.packetClose(fd);
  }
}
