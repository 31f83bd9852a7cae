/**
 * Gratuitous ARP (RFC 5227 §3 "ARP Announcement": an ARP request with sender and target
 * protocol address both the announced address), sent through libpcap (the `cap` package) on
 * the interface, as a new VRRP master does for its virtual addresses (RFC 5798 §6.4.1).
 *
 *   Ethernet: dst ff:ff:ff:ff:ff:ff | src MAC | type 0x0806
 *   ARP:      htype 1 | ptype 0x0800 | hlen 6 | plen 4 | op 1 (request)
 *             sha MAC | spa ADDR | tha 00:00:00:00:00:00 | tpa ADDR
 */
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

interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  send(buf: Buffer, n?: number): void;
  close(): void;
}

/**
 * One libpcap handle per interface, opened on first use and kept for the life of the process:
 * the filter "less 1" captures nothing, so no capture callback ever runs, and no handle is
 * closed while libpcap might still deliver to it.
 */
const handles = new Map<string, CapHandle>();

function handle(iface: string): CapHandle {
  let c = handles.get(iface);
  if (!c) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Cap } = require('cap') as { Cap: new () => CapHandle };
    c = new Cap();
    c.open(iface, 'less 1', 65536, Buffer.alloc(65536));
    handles.set(iface, c);
  }
  return c;
}

/** Sends `count` announcements of each address on `iface`. Throws when libpcap cannot open it. */
export function sendGarp(iface: string, mac: string, addrs: readonly number[], count: number): void {
  const c = handle(iface);
  for (let i = 0; i < count; i++) for (const a of addrs) c.send(buildGarp(mac, a));
}
