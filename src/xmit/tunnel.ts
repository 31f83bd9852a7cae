/**
 * IP tunneling (ipvsadm -i), as ip_vs_tunnel_xmit in net/netfilter/ipvs/ip_vs_xmit.c: the
 * client's packet, untouched, behind an outer IPv4 header (RFC 2003, protocol 4) from the
 * director's address towards the real server to the real server, written to the TUN device so
 * that the kernel routes it.
 *
 *   slot: | headroom ... | vnet (zeroed) | outer IPv4 (20) | inner packet as read ... |
 *                        ^ frame handed to write()        ^ ipOff of the packet read
 *
 * The outer header is written into the headroom in front of the packet (no copy). The
 * virtio_net_hdr has no GSO type for IPIP, so a TCP super-packet is cut into segments in
 * scratch space, each with its own outer header, and a NEEDS_CSUM checksum is completed in
 * place: the frame handed to the kernel carries no offload metadata.
 *
 * Outer header: TOS copied from the inner packet, DF copied from the inner packet (a packet
 * without DF may be fragmented by the kernel after encapsulation, RFC 2003 §5.1), TTL 64, a
 * fresh identification per outer packet.
 *
 * Output: with `direct` set (lvsd --xmit packet), an encapsulated packet leaves through the
 * AF_PACKET transmitter of direct routing towards the real server's MAC, which writes its
 * Ethernet (and virtio_net) header into the bytes in front of the outer header; real servers
 * it cannot reach that way (behind a gateway, MAC not resolved yet) and every real server
 * without `direct` get the frame through the TUN, and the kernel routes it.
 *
 * Path MTU (RFC 2003 §5.1, ip_vs_xmit.c ensure_mtu_is_adequate): a DF packet that exceeds the
 * route MTU towards the real server once 20 bytes are added is dropped and answered with ICMP
 * fragmentation-needed carrying MTU-20, from the address the client sent to (the VIP).
 *
 * Learnt path MTU (learnMtu, from a frag-needed about the director's own IPIP packets) is kept
 * apart from the route MTU, as the kernel keeps a PMTU exception beside the route
 * (net/ipv4/route.c __ip_rt_update_pmtu): a reported MTU below net.ipv4.route.min_pmtu (552 by
 * default) is raised to it, so a forged frag-needed cannot shrink the tunnel to 68 bytes; a
 * learnt MTU is forgotten net.ipv4.route.mtu_expires (600 s by default) after it was learnt, and
 * the route MTU applies again. Both sysctls are read once, when the transmitter is created.
 */
import { readFileSync } from 'node:fs';
import { VNET_GSO_NONE } from '../phy/device';
import { IPPROTO_IPIP } from '../ipvs/types';
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED } from '../wire/icmp';
import {
  completeChecksumFromVnet, gsoSupported, tcpHeadersLen, tcpSegmentCount, tcpWriteSegment, vnetGsoSize,
  vnetGsoType, vnetNeedsCsum,
} from './gso';
import { AddrMap } from './addr-map';
import { type Transmitter, type TxQueue, X, XMIT_QUEUED } from './xmit';
import { ETH_HDR_LEN } from './dr';

export const IPIP_HDR_LEN = 20;
/** TTL of outer headers (Linux's default net.ipv4.ip_default_ttl). */
export const TUNNEL_TTL = 64;
/** Route MTU assumed when none was configured for a real server (Ethernet). */
export const DEFAULT_MTU = 1500;

/** net.ipv4.route.min_pmtu and mtu_expires defaults (Documentation/networking/ip-sysctl.rst). */
export const DEFAULT_MIN_PMTU = 552;
export const DEFAULT_MTU_EXPIRES_SEC = 600;

/** How learnt path MTUs are bounded and aged. */
export interface PmtuPolicy {
  /** Floor of a learnt MTU (bytes). */
  minPmtu: number;
  /** Lifetime of a learnt MTU (ms). */
  expiresMs: number;
}

function sysctlInt(path: string, dflt: number): number {
  try {
    const v = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(v) && v > 0 ? v : dflt;
  } catch {
    return dflt;
  }
}

/** The kernel's policy of this network namespace (start-up only: synchronous reads of /proc). */
export function kernelPmtuPolicy(): PmtuPolicy {
  return {
    minPmtu: Math.min(DEFAULT_MTU, Math.max(68, sysctlInt('/proc/sys/net/ipv4/route/min_pmtu', DEFAULT_MIN_PMTU))),
    expiresMs: sysctlInt('/proc/sys/net/ipv4/route/mtu_expires', DEFAULT_MTU_EXPIRES_SEC) * 1000,
  };
}

/** Room a direct transmitter needs in front of the outer header: virtio_net_hdr + Ethernet. */
const DIRECT_ROOM = 10 + ETH_HDR_LEN;
const IP_FLAGS = 6;
const IP_DF = 0x40;
const IP_PROTO = 9;
const IP_DST = 16;

/**
 * Writes a 20-byte outer IPv4 header at off: version 4, IHL 5, the given TOS, total length,
 * ID and DF, TTL 64, protocol 4, checksum. Every byte is written.
 */
export function writeIpipHeader(buf: Uint8Array, off: number, src: number, dst: number, totalLen: number,
  id: number, df: boolean, tos: number): void {
  buf[off] = 0x45;
  buf[off + 1] = tos;
  buf[off + 2] = totalLen >>> 8;
  buf[off + 3] = totalLen;
  buf[off + 4] = id >>> 8;
  buf[off + 5] = id;
  buf[off + 6] = df ? IP_DF : 0;
  buf[off + 7] = 0;
  buf[off + 8] = TUNNEL_TTL;
  buf[off + 9] = IPPROTO_IPIP;
  buf[off + 12] = src >>> 24;
  buf[off + 13] = src >>> 16;
  buf[off + 14] = src >>> 8;
  buf[off + 15] = src;
  buf[off + 16] = dst >>> 24;
  buf[off + 17] = dst >>> 16;
  buf[off + 18] = dst >>> 8;
  buf[off + 19] = dst;
  // RFC 1071 over the ten header words, summed from the values rather than read back
  // (the checksum word counts as zero); ten 16-bit words cannot carry beyond two folds.
  let sum = (0x4500 | (tos & 0xff)) + (totalLen & 0xffff) + (id & 0xffff) + (df ? IP_DF << 8 : 0) +
    ((TUNNEL_TTL << 8) | IPPROTO_IPIP) + (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  buf[off + 10] = c >>> 8;
  buf[off + 11] = c;
}

function u32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

export class TunnelXmit implements Transmitter {
  /** Director address towards each real server (the route's preferred source). */
  private readonly srcByRip = new AddrMap<number>();
  /** Route MTU towards each real server. */
  private readonly mtuByRip = new AddrMap<number>();
  /** Learnt path MTU towards a real server and when it is forgotten (clock ms). */
  private readonly learntMtu = new Map<number, number>();
  private readonly learntUntil = new Map<number, number>();
  private ipId = 0;
  /**
   * AF_PACKET output towards real servers on a directly attached LAN (the direct-routing
   * transmitter, which knows their MACs); null: every frame goes through the TUN.
   */
  direct: Transmitter | null = null;
  /** Frames handed to `direct`. */
  directFrames = 0;

  constructor(
    readonly pmtu: PmtuPolicy = kernelPmtuPolicy(),
    /** Milliseconds clock (monotonic), read only while some learnt MTU exists. */
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Sets the outer source address and the route MTU used for real server rip. */
  setRoute(rip: number, src: number, mtu = DEFAULT_MTU): void {
    this.srcByRip.set(rip >>> 0, src >>> 0);
    this.mtuByRip.set(rip >>> 0, mtu);
  }

  deleteRoute(rip: number): void {
    this.srcByRip.delete(rip >>> 0);
    this.mtuByRip.delete(rip >>> 0);
    this.learntMtu.delete(rip >>> 0);
    this.learntUntil.delete(rip >>> 0);
  }

  /** The configured source and route MTU towards rip, or undefined. */
  route(rip: number): { src: number; mtu: number } | undefined {
    const src = this.srcByRip.get(rip >>> 0);
    return src === undefined ? undefined : { src, mtu: this.mtuByRip.get(rip >>> 0) ?? DEFAULT_MTU };
  }

  /**
   * A frag-needed reported `mtu` on the path to rip: below the route MTU it is remembered,
   * raised to pmtu.minPmtu, for pmtu.expiresMs (each report restarts the lifetime). Returns
   * the MTU now in force, or undefined when rip has no route.
   */
  learnMtu(rip: number, mtu: number): number | undefined {
    const r = rip >>> 0;
    const route = this.mtuByRip.get(r);
    if (route === undefined || !Number.isFinite(mtu)) return undefined;
    const m = Math.max(this.pmtu.minPmtu, Math.floor(mtu));
    if (m >= route) return this.pathMtu(r);
    this.learntMtu.set(r, m);
    this.learntUntil.set(r, this.clock() + this.pmtu.expiresMs);
    return m;
  }

  /** MTU used towards rip: the unexpired learnt one, else the route's. */
  pathMtu(rip: number): number {
    const r = rip >>> 0;
    const route = this.mtuByRip.get(r) ?? DEFAULT_MTU;
    if (this.learntMtu.size === 0) return route;
    const l = this.learntMtu.get(r);
    if (l === undefined) return route;
    if (this.clock() >= (this.learntUntil.get(r) as number)) {
      this.learntMtu.delete(r);
      this.learntUntil.delete(r);
      return route;
    }
    return l < route ? l : route;
  }

  xmit(q: TxQueue, frame: number, ipOff: number, totalLen: number, daddr: number): number {
    const src = this.srcByRip.get(daddr);
    if (src === undefined) return X.tunnel_no_source;
    const mtu = this.pathMtu(daddr);
    const dev = q.dev;
    const buf = dev.buf;
    const vl = dev.vnetHdrLen;
    const df = (buf[ipOff + IP_FLAGS] & IP_DF) !== 0;
    const tos = buf[ipOff + 1];
    const gso = vnetGsoType(buf, frame, vl);
    if (gso !== VNET_GSO_NONE) {
      if (!gsoSupported(gso, buf[ipOff + IP_PROTO])) return X.gso_unsupported;
      const mss = vnetGsoSize(buf, frame);
      const segMax = tcpHeadersLen(buf, ipOff) + mss;
      if (mss === 0) return X.gso_unsupported;
      if (df && segMax + IPIP_HDR_LEN > mtu) return this.fragNeeded(q, ipOff, totalLen, mtu);
      const n = tcpSegmentCount(buf, ipOff, totalLen, mss);
      for (let k = 0; k < n; k++) {
        const room = q.alloc(DIRECT_ROOM + IPIP_HDR_LEN + segMax);
        if (room < 0) return X.xmit_budget;
        const outer = room + DIRECT_ROOM;
        const len = tcpWriteSegment(buf, ipOff, totalLen, mss, k, buf, outer + IPIP_HDR_LEN);
        this.ipId = (this.ipId + 1) & 0xffff;
        writeIpipHeader(buf, outer, src, daddr, IPIP_HDR_LEN + len, this.ipId, df, tos);
        this.emit(q, outer, IPIP_HDR_LEN + len, daddr, IPIP_HDR_LEN + len <= mtu);
      }
      return XMIT_QUEUED;
    }
    if (df && totalLen + IPIP_HDR_LEN > mtu) return this.fragNeeded(q, ipOff, totalLen, mtu);
    if (vnetNeedsCsum(buf, frame, vl)) completeChecksumFromVnet(buf, frame, ipOff, totalLen);
    const outer = ipOff - IPIP_HDR_LEN;
    this.ipId = (this.ipId + 1) & 0xffff;
    writeIpipHeader(buf, outer, src, daddr, IPIP_HDR_LEN + totalLen, this.ipId, df, tos);
    this.emit(q, outer, IPIP_HDR_LEN + totalLen, daddr,
      IPIP_HDR_LEN + totalLen <= mtu && dev.headroom + vl - IPIP_HDR_LEN >= DIRECT_ROOM);
    return XMIT_QUEUED;
  }

  /**
   * Hands the encapsulated packet at buf[outer .. outer+len) to `direct` when `eligible` (it
   * fits the route MTU and `direct` may write its headers in front) and `direct` reaches rip;
   * else queues it on the TUN behind a zeroed virtio_net_hdr (no offload metadata: checksums
   * are complete), where the kernel also fragments what does not fit (no DF).
   */
  private emit(q: TxQueue, outer: number, len: number, rip: number, eligible: boolean): void {
    const vl = q.dev.vnetHdrLen;
    const f = outer - vl;
    // A loop: Buffer.fill's argument checks cost more than ten stores.
    const buf = q.dev.buf;
    for (let i = f; i < outer; i++) buf[i] = 0;
    if (eligible && this.direct !== null && this.direct.xmit(q, f, outer, len, rip) === XMIT_QUEUED) {
      this.directFrames++;
      return;
    }
    q.push(f, vl + len);
  }

  /** Frames of the TUN path go through the TxQueue; those of `direct` leave with its flush. */
  flush(): number {
    return this.direct === null ? 0 : this.direct.flush();
  }

  private fragNeeded(q: TxQueue, ipOff: number, totalLen: number, mtu: number): number {
    const buf = q.dev.buf;
    const sent = q.icmpError(ipOff, totalLen, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, u32(buf, ipOff + IP_DST),
      mtu - IPIP_HDR_LEN);
    return sent ? X.tunnel_frag_needed : X.xmit_budget;
  }
}
