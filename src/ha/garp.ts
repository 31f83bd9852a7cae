/**
 * Gratuitous ARP (RFC 5227 §3 "ARP Announcement": an ARP request with sender and target
 * protocol address both the announced address), sent on the interface through an AF_PACKET
 * socket, as a new VRRP master does for its virtual addresses (RFC 5798 §6.4.1).
 *
 *   Ethernet: dst ff:ff:ff:ff:ff:ff | src MAC | type 0x0806
 *   ARP:      htype 1 | ptype 0x0800 | hlen 6 | plen 4 | op 1 (request)
 *             sha MAC | spa ADDR | tha 00:00:00:00:00:00 | tpa ADDR
 */
import { PacketSocket } from '../phy/packet';

export const GARP_FRAME_LEN = 42;

/** Builds the announcement frame; mac as "aa:bb:cc:dd:ee:ff", addr host order. */
export function buildGarp(mac: string, addr: number): Buffer {
  const m = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
  if (m.length !== 6) throw new Error(`bad MAC address ${mac}`);
  const b = Buffer.alloc(GARP_FRAME_LEN);
  b.fill(0xff, 0, 6);
  m.copy(b, 6);
  b.writeUInt16BE(0x0806, 12);
  b.writeUInt16BE(1, 14);
  b.writeUInt16BE(0x0800, 16);
  b[18] = 6;
  b[19] = 4;
  b.writeUInt16BE(1, 20);
  m.copy(b, 22);
  b.writeUInt32BE(addr >>> 0, 28);
  b.writeUInt32BE(addr >>> 0, 38);
  return b;
}

/** Where announcements are written: an AF_PACKET socket on the interface, or a test double. */
export interface GarpSink {
  send(buf: Buffer, offs: Int32Array, lens: Int32Array, count: number): number;
  close(): void;
}

/** Opens a sending AF_PACKET socket (src/phy/packet.ts) on iface; throws with an errno code. */
export function openGarpSink(iface: string): GarpSink {
  return PacketSocket.open(iface, false);
}

/**
 * Sends `count` announcements of each address on `iface`, through a socket opened for this
 * call and closed after it: nothing stays attached to the interface, so an interface that goes
 * down or disappears later cannot fail an open handle (libpcap's capture handle did, with an
 * assertion that aborted the process). Returns the number of frames the kernel took (0 while
 * the link is down: sendmmsg fails with ENETDOWN); throws when the interface does not exist.
 */
export function sendGarp(
  iface: string, mac: string, addrs: readonly number[], count: number, open: (iface: string) => GarpSink = openGarpSink,
): number {
  const n = addrs.length * count;
  if (n === 0) return 0;
  const buf = Buffer.alloc(n * GARP_FRAME_LEN);
  const offs = new Int32Array(n);
  const lens = new Int32Array(n).fill(GARP_FRAME_LEN);
  let k = 0;
  for (let i = 0; i < count; i++) {
    for (const a of addrs) {
      buildGarp(mac, a).copy(buf, k * GARP_FRAME_LEN);
      offs[k] = k * GARP_FRAME_LEN;
      k++;
    }
  }
  const sink = open(iface);
  try {
    return sink.send(buf, offs, lens, n);
  } finally {
    sink.close();
  }
}
