/**
 * Direct routing (ipvsadm -g), as ip_vs_dr_xmit in net/netfilter/ipvs/ip_vs_xmit.c: the IP
 * packet is not changed; it leaves in an Ethernet frame addressed to the real server's MAC
 * on the interface that shares a LAN with it (the real server has the VIP on a non-ARPing
 * interface and accepts the packet as its own).
 *
 *   slot: | headroom ... | vnet' (10) | Ethernet (14) | IP packet as read ... |
 *                        ^ frame sent when the socket has PACKET_VNET_HDR
 *
 * The Ethernet header (and, with PACKET_VNET_HDR, a virtio_net_hdr whose csum_start and
 * hdr_len count the 14 link bytes) is written into the headroom in front of the packet, so a
 * TCP super-packet leaves whole and the kernel segments it. Without PACKET_VNET_HDR the
 * transmitter segments in scratch space and completes NEEDS_CSUM checksums itself.
 *
 * Frames are queued per interface and sent in one sendmmsg batch by flush(), which the
 * pipeline calls at the end of every batch (before the slots are reused).
 */
import {
  VNET_F_NEEDS_CSUM, VNET_GSO_NONE, VNET_OFF_CSUM_OFFSET, VNET_OFF_CSUM_START, VNET_OFF_FLAGS,
  VNET_OFF_GSO_SIZE, VNET_OFF_GSO_TYPE, VNET_OFF_HDR_LEN,
} from '../phy/device';
import type { FrameSink } from '../phy/packet';
import {
  completeChecksumFromVnet, gsoSupported, tcpHeadersLen, tcpSegmentCount, tcpWriteSegment, vnetGsoSize,
  vnetGsoType, vnetNeedsCsum,
} from './gso';
import { AddrMap } from './addr-map';
import { type Transmitter, type TxQueue, X, XMIT_QUEUED } from './xmit';

export const ETH_HDR_LEN = 14;
export const ETH_P_IP = 0x0800;
const VNET_LEN = 10;
/** Frames queued per interface before an early flush. */
const QUEUE_CAP = 4096;

interface Port {
  sink: FrameSink;
  offs: Int32Array;
  lens: Int32Array;
  n: number;
}

interface Neighbour {
  port: number;
  mac: Uint8Array;
}

function u16le(buf: Uint8Array, o: number): number {
  return buf[o] | (buf[o + 1] << 8);
}

function put16le(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v;
  buf[o + 1] = v >>> 8;
}

/** Writes dst MAC, src MAC and EtherType IPv4 at off. */
export function writeEthHeader(buf: Uint8Array, off: number, dst: Uint8Array, src: Uint8Array): void {
  for (let i = 0; i < 6; i++) {
    buf[off + i] = dst[i];
    buf[off + 6 + i] = src[i];
  }
  buf[off + 12] = ETH_P_IP >>> 8;
  buf[off + 13] = ETH_P_IP & 0xff;
}

export class RouteXmit implements Transmitter {
  private readonly ports: Port[] = [];
  private readonly neigh = new AddrMap<Neighbour>();
  private buf: Buffer | undefined;
  /** Frames the sockets refused, in total. */
  sendFailures = 0;
  private failedSinceFlush = 0;

  /** Registers an output interface (idempotent per name); returns its index. */
  addSink(sink: FrameSink): number {
    const i = this.ports.findIndex((p) => p.sink.name === sink.name);
    if (i >= 0) return i;
    this.ports.push({ sink, offs: new Int32Array(QUEUE_CAP), lens: new Int32Array(QUEUE_CAP), n: 0 });
    return this.ports.length - 1;
  }

  /** The registered interface named name, or undefined. */
  sink(name: string): FrameSink | undefined {
    return this.ports.find((p) => p.sink.name === name)?.sink;
  }

  /** Real server rip is reached at mac on the interface named sinkName (registered first). */
  setNeighbour(rip: number, sinkName: string, mac: Uint8Array): void {
    const port = this.ports.findIndex((p) => p.sink.name === sinkName);
    if (port < 0) throw new Error(`no AF_PACKET socket on ${sinkName}`);
    if (mac.length !== 6) throw new RangeError('a MAC address has 6 bytes');
    this.neigh.set(rip, { port, mac: new Uint8Array(mac) });
  }

  deleteNeighbour(rip: number): void {
    this.neigh.delete(rip);
  }

  neighbour(rip: number): { sink: string; mac: Uint8Array } | undefined {
    const n = this.neigh.get(rip);
    return n && { sink: this.ports[n.port].sink.name, mac: n.mac };
  }

  xmit(q: TxQueue, frame: number, ipOff: number, totalLen: number, daddr: number): number {
    const n = this.neigh.get(daddr);
    if (n === undefined) return X.dr_no_neigh;
    const port = this.ports[n.port];
    if (port === undefined) return X.dr_no_device;
    const dev = q.dev;
    const buf = dev.buf;
    this.buf = buf;
    const vl = dev.vnetHdrLen;
    const sink = port.sink;
    if (sink.vnetHdr) {
      // Read the TUN's header before the Ethernet header overwrites it.
      let flags = 0;
      let gsoType = VNET_GSO_NONE;
      let hdrLen = 0;
      let gsoSize = 0;
      let csumStart = 0;
      let csumOff = 0;
      if (vl !== 0) {
        flags = buf[frame + VNET_OFF_FLAGS];
        gsoType = buf[frame + VNET_OFF_GSO_TYPE];
        hdrLen = u16le(buf, frame + VNET_OFF_HDR_LEN);
        gsoSize = u16le(buf, frame + VNET_OFF_GSO_SIZE);
        csumStart = u16le(buf, frame + VNET_OFF_CSUM_START);
        csumOff = u16le(buf, frame + VNET_OFF_CSUM_OFFSET);
      }
      const eth = ipOff - ETH_HDR_LEN;
      const f = eth - VNET_LEN;
      writeEthHeader(buf, eth, n.mac, sink.mac);
      buf[f + VNET_OFF_FLAGS] = flags;
      buf[f + VNET_OFF_GSO_TYPE] = gsoType;
      put16le(buf, f + VNET_OFF_HDR_LEN, hdrLen === 0 ? 0 : hdrLen + ETH_HDR_LEN);
      put16le(buf, f + VNET_OFF_GSO_SIZE, gsoSize);
      put16le(buf, f + VNET_OFF_CSUM_START, (flags & VNET_F_NEEDS_CSUM) !== 0 ? csumStart + ETH_HDR_LEN : 0);
      put16le(buf, f + VNET_OFF_CSUM_OFFSET, csumOff);
      return this.queue(port, f, VNET_LEN + ETH_HDR_LEN + totalLen);
    }
    const gso = vnetGsoType(buf, frame, vl);
    if (gso !== VNET_GSO_NONE) {
      if (!gsoSupported(gso, buf[ipOff + 9])) return X.gso_unsupported;
      const mss = vnetGsoSize(buf, frame);
      if (mss === 0) return X.gso_unsupported;
      const segMax = tcpHeadersLen(buf, ipOff) + mss;
      const count = tcpSegmentCount(buf, ipOff, totalLen, mss);
      for (let k = 0; k < count; k++) {
        const f = q.alloc(ETH_HDR_LEN + segMax);
        if (f < 0) return X.xmit_budget;
        writeEthHeader(buf, f, n.mac, sink.mac);
        const len = tcpWriteSegment(buf, ipOff, totalLen, mss, k, buf, f + ETH_HDR_LEN);
        const r = this.queue(port, f, ETH_HDR_LEN + len);
        if (r !== XMIT_QUEUED) return r;
      }
      return XMIT_QUEUED;
    }
    if (vnetNeedsCsum(buf, frame, vl)) completeChecksumFromVnet(buf, frame, ipOff, totalLen);
    const eth = ipOff - ETH_HDR_LEN;
    writeEthHeader(buf, eth, n.mac, sink.mac);
    return this.queue(port, eth, ETH_HDR_LEN + totalLen);
  }

  private queue(port: Port, off: number, len: number): number {
    if (port.n === QUEUE_CAP) this.flushPort(port);
    port.offs[port.n] = off;
    port.lens[port.n] = len;
    port.n++;
    return XMIT_QUEUED;
  }

  private flushPort(port: Port): void {
    const n = port.n;
    if (n === 0 || this.buf === undefined) return;
    port.n = 0;
    const failed = n - port.sink.send(this.buf, port.offs, port.lens, n);
    this.sendFailures += failed;
    this.failedSinceFlush += failed;
  }

  /** Sends every queued frame; returns how many frames were refused since the last flush. */
  flush(): number {
    for (let i = 0; i < this.ports.length; i++) this.flushPort(this.ports[i]);
    const failed = this.failedSinceFlush;
    this.failedSinceFlush = 0;
    return failed;
  }

  /** Closes every socket. */
  close(): void {
    for (const p of this.ports) p.sink.close();
    this.ports.length = 0;
    this.neigh.clear();
  }
}
