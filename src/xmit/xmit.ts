/**
 * What a transmitter (one per forwarding method, as ip_vs_xmit.c's *_xmit functions) needs
 * from the pipeline, and the drop reasons transmitters report.
 *
 * Contract of Transmitter.xmit: the IPv4 packet at buf[ipOff .. ipOff+totalLen) was
 * validated by the pipeline (header, L4 header); `frame` is the start of its slot's
 * virtio_net_hdr (frame === ipOff when the device has none). The transmitter either queues
 * what must be sent (through the TxQueue, or its own device) and returns XMIT_QUEUED, or
 * returns one of the XMIT_DROP_* codes. It never allocates per packet. `daddr` (the real
 * server, or for NAT output the next hop) may be the uint32 address or its int32 bits (the
 * pipeline passes int32, src/wire/ipv4.ts); transmitters key their tables by ./addr-map.
 */
import type { Device } from '../phy/device';

export const XMIT_QUEUED = 0;

/** Drop reasons of the transmitters; code k (1-based) is XMIT_DROP_NAMES[k - 1]. */
export const XMIT_DROP_NAMES = [
  'xmit-budget', // no scratch space left in this batch for segments or a built packet
  'gso-unsupported', // a super-packet of a GSO type the transmitter cannot segment
  'tunnel-no-source', // no director address towards the real server (route lookup failed)
  'tunnel-frag-needed', // DF packet too big after encapsulation: ICMP frag-needed sent
  'dr-no-neigh', // the real server's MAC address is not known (yet)
  'dr-no-device', // no AF_PACKET socket on the interface towards the real server
  'dr-send-failed', // the AF_PACKET socket refused the frame
] as const;

export type XmitDropName = (typeof XMIT_DROP_NAMES)[number];

/** Code of a transmitter drop reason (1-based index into XMIT_DROP_NAMES). */
export const X: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(XMIT_DROP_NAMES.map((n, i) => [n.replace(/-/g, '_'), i + 1])),
);

/** The pipeline's side of a batch. */
export interface TxQueue {
  readonly dev: Device;
  /** Queues the frame buf[off .. off+len) (virtio_net_hdr first when dev has one) for dev.write. */
  push(off: number, len: number): void;
  /**
   * Reserves len bytes of scratch space in dev.buf for this batch; returns the offset or -1
   * when the batch's scratch slots are used up. Offsets are 8-byte aligned.
   */
  alloc(len: number): number;
  /**
   * Queues an ICMP error from srcAddr about the datagram at buf[ipOff .. ipOff+totalLen)
   * (buildIcmpError's contract). Returns false when no scratch space is left.
   */
  icmpError(ipOff: number, totalLen: number, type: number, code: number, srcAddr: number, mtu: number): boolean;
}

/** A forwarding method's transmitter. */
export interface Transmitter {
  xmit(q: TxQueue, frame: number, ipOff: number, totalLen: number, daddr: number): number;
  /**
   * Sends what xmit queued outside the TxQueue; called once at the end of every batch.
   * Returns how many frames were refused (counted as dr-send-failed).
   */
  flush(): number;
  /** Frames this transmitter sent through another's AF_PACKET output (tunneling), if any. */
  readonly directFrames?: number;
}
