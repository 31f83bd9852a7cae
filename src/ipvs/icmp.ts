/**
 * ICMP relaying (ip_vs_in_icmp / ip_vs_out_icmp in net/netfilter/ipvs/ip_vs_core.c).
 *
 * Only errors that concern a connection are relayed: destination unreachable (3), source
 * quench (4) and time exceeded (11). The quoted datagram (RFC 792: its IP header and at least
 * 8 bytes, which hold the TCP/UDP ports) travelled the opposite way to the error, so it is
 * looked up with source and destination swapped:
 *
 * - quote VIP:vport -> CIP:cport (an error from the client side about what the client was
 *   sent): entry by lookupIn(CIP:cport, VIP:vport); relayed to the entry's real server by its
 *   forwarding method. NAT (ip_vs_nat_icmp, inout = 0): outer destination, quoted source
 *   address and quoted source port become RIP:rport.
 * - quote CIP:cport -> RIP:rport (an error from a NAT real server about the client's packet):
 *   entry by lookupOut(RIP:rport, CIP:cport); NAT entries only (ip_vs_nat_icmp, inout = 1):
 *   outer source, quoted destination address and quoted destination port become VIP:vport.
 *
 * Checksums after a NAT rewrite: outer IP and quoted IP headers are updated incrementally,
 * the ICMP checksum is recomputed over the whole message (ip_vs_nat_icmp does
 * ip_vs_checksum_complete). The quoted TCP/UDP checksum is left as it is, as the kernel does:
 * the quote is usually truncated, so nobody can verify it.
 *
 * Path MTU with tunneling: a fragmentation-needed whose quote is the director's own IPIP
 * packet (outer quote protocol 4) is translated into one for the client about the inner
 * packet, with the reported MTU minus 20 (when above 88), if the inner packet had DF.
 *
 * Ignored and counted: other ICMP types, bad ICMP checksum, truncated quotes, errors about
 * ICMP, quotes of non-first fragments, quotes that match no connection.
 */
import type { ConnTable } from './conn';
import { FWD_MASQ, FWD_TUNNEL, IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP } from './types';
import type { TxQueue } from '../xmit/xmit';
import { DROP_FRAGMENT, DROP_ICMP_CSUM, DROP_ICMP_SHORT, IPV4_MIN_HDR_LEN } from '../wire/ipv4';
import { csumPartial, natSetDstAddr, natSetSrcAddr } from '../wire/checksum';
import {
  ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_HDR_LEN, ICMP_IS_ERROR, ICMP_SOURCE_QUENCH, ICMP_TIME_EXCEEDED,
  icmpFillChecksum,
} from '../wire/icmp';

/** Drop reasons of ICMP relaying, appended to the pipeline's DROP_NAMES at a base. */
export const ICMP_DROP_NAMES = [
  'icmp-quote-short', // the quote lacks an IP header plus the 8 bytes that hold the ports
  'icmp-quote-bad', // the quoted header is not IPv4 or its IHL is below 5
  'icmp-about-icmp', // an error about an ICMP packet (never relayed nor answered)
  'icmp-quote-proto', // the quoted protocol is neither TCP nor UDP
  'icmp-quote-fragment', // the quote is a non-first fragment (no ports to look up)
  'icmp-no-conn', // no connection entry matches the quote
  'icmp-not-masq', // an error from a real server about a tunnel/DR connection
  'icmp-tunnel-pmtu', // frag-needed about our IPIP packet: translated for the client
] as const;

/** Offsets of the reasons within ICMP_DROP_NAMES. */
const R = Object.fromEntries(ICMP_DROP_NAMES.map((n, i) => [n.slice(5).replace(/-/g, '_'), i])) as Record<
  string, number
>;

/** ICMP types relayed (ip_vs_in_icmp: "only handle unreach, source quench, time exceeded"). */
const RELAYED = (() => {
  const t = new Uint8Array(256);
  t[ICMP_DEST_UNREACH] = 1;
  t[ICMP_SOURCE_QUENCH] = 1;
  t[ICMP_TIME_EXCEEDED] = 1;
  return t;
})();

/** Smallest MTU a tunnel translation reports minus 20 (ip_vs_in_icmp: 68 + sizeof(iphdr)). */
const PMTU_FLOOR = 68 + IPV4_MIN_HDR_LEN;

/** What the relay needs from the pipeline. Verdicts are the pipeline's (0 = send the slot). */
export interface IcmpHost extends TxQueue {
  readonly conns: ConnTable;
  /** Accounts the packet as inbound on entry id and transmits it by the entry's method. */
  forwardIn(id: number, frame: number, ipOff: number, totalLen: number): number;
  /** Accounts the packet as outbound on entry id (NAT); 0 to send the slot as rewritten. */
  forwardOut(id: number, totalLen: number): number;
  /** A frag-needed reported mtu towards real server rip (the tunnel transmitter's route MTU). */
  reportMtu(rip: number, mtu: number): void;
}

/** True for 0.0.0.0, multicast (224/4), reserved (240/4) and limited broadcast. */
function notUnicast(a: number): boolean {
  return a === 0 || a >>> 28 >= 0xe;
}

/**
 * Whether an ICMP error may be sent about the datagram at ipOff (RFC 1122 §3.2.2, RFC 1812
 * §4.3.2.7): not about an ICMP error, not about a non-first fragment, not when either address
 * is zero, multicast or broadcast. Subnet broadcasts are not known here.
 */
export function icmpErrorAllowed(buf: Uint8Array, ipOff: number, totalLen: number): boolean {
  if ((u16(buf, ipOff + 6) & 0x1fff) !== 0) return false;
  if (notUnicast(u32(buf, ipOff + 12)) || notUnicast(u32(buf, ipOff + 16))) return false;
  if (buf[ipOff + 9] === IPPROTO_ICMP) {
    const hl = (buf[ipOff] & 0x0f) << 2;
    if (totalLen <= hl || ICMP_IS_ERROR[buf[ipOff + hl]] === 1) return false;
  }
  return true;
}

function u16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

function u32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

function put16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v;
}

export class IcmpRelay {
  /**
   * @param base verdict of ICMP_DROP_NAMES[0]; the others follow.
   * @param unhandled verdict for ICMP that is not a relayed error (echo and the rest).
   */
  constructor(private readonly host: IcmpHost, private readonly base: number, private readonly unhandled: number) {}

  /**
   * One ICMP packet at buf[ipOff .. ipOff+totalLen) whose IP header was validated.
   * Returns the pipeline verdict: 0 (send the rewritten slot), a negative value (queued by a
   * transmitter) or a drop reason.
   */
  handle(frame: number, ipOff: number, totalLen: number): number {
    const buf = this.host.dev.buf;
    if ((u16(buf, ipOff + 6) & 0x3fff) !== 0) return DROP_FRAGMENT;
    const hl = (buf[ipOff] & 0x0f) << 2;
    const l4 = ipOff + hl;
    const l4Len = totalLen - hl;
    if (l4Len < ICMP_HDR_LEN) return DROP_ICMP_SHORT;
    const type = buf[l4];
    if (RELAYED[type] === 0) return this.unhandled;
    if (csumPartial(buf, l4, l4Len) !== 0xffff) return DROP_ICMP_CSUM;
    const q = l4 + ICMP_HDR_LEN;
    const qAvail = l4Len - ICMP_HDR_LEN;
    const b = this.base;
    if (qAvail < IPV4_MIN_HDR_LEN) return b + R.quote_short;
    if (buf[q] >>> 4 !== 4 || (buf[q] & 0x0f) < 5) return b + R.quote_bad;
    const qhl = (buf[q] & 0x0f) << 2;
    const qproto = buf[q + 9];
    if (qproto === IPPROTO_ICMP) return b + R.about_icmp;
    if ((u16(buf, q + 6) & 0x1fff) !== 0) return b + R.quote_fragment;
    if (qproto === IPPROTO_IPIP && type === ICMP_DEST_UNREACH && buf[l4 + 1] === ICMP_FRAG_NEEDED) {
      return this.tunnelPmtu(l4, q, qhl, qAvail);
    }
    if (qproto !== IPPROTO_TCP && qproto !== IPPROTO_UDP) return b + R.quote_proto;
    if (qAvail < qhl + 8) return b + R.quote_short;
    const qsrc = u32(buf, q + 12);
    const qdst = u32(buf, q + 16);
    const qsport = u16(buf, q + qhl);
    const qdport = u16(buf, q + qhl + 2);
    const conns = this.host.conns;
    let id = conns.lookupIn(qproto, qdst, qdport, qsrc, qsport);
    if (id >= 0) {
      if (conns.fwd(id) === FWD_MASQ) {
        const rip = conns.daddr(id);
        natSetDstAddr(buf, ipOff, -1, IPPROTO_ICMP, rip, false);
        natSetSrcAddr(buf, q, -1, qproto, rip, false);
        put16(buf, q + qhl, conns.dport(id));
        icmpFillChecksum(buf, l4, l4Len);
      }
      return this.host.forwardIn(id, frame, ipOff, totalLen);
    }
    id = conns.lookupOut(qproto, qdst, qdport, qsrc, qsport);
    if (id < 0) return b + R.no_conn;
    if (conns.fwd(id) !== FWD_MASQ) return b + R.not_masq;
    const vip = conns.vaddr(id);
    natSetSrcAddr(buf, ipOff, -1, IPPROTO_ICMP, vip, false);
    natSetDstAddr(buf, q, -1, qproto, vip, false);
    put16(buf, q + qhl + 2, conns.vport(id));
    icmpFillChecksum(buf, l4, l4Len);
    return this.host.forwardOut(id, totalLen);
  }

  /** Frag-needed quoting our IPIP packet (DIP -> RIP, protocol 4) around the client's packet. */
  private tunnelPmtu(l4: number, q: number, qhl: number, qAvail: number): number {
    const host = this.host;
    const buf = host.dev.buf;
    const b = this.base;
    const inner = q + qhl;
    const innerAvail = qAvail - qhl;
    if (innerAvail < IPV4_MIN_HDR_LEN) return b + R.quote_short;
    if (buf[inner] >>> 4 !== 4 || (buf[inner] & 0x0f) < 5) return b + R.quote_bad;
    const ihl = (buf[inner] & 0x0f) << 2;
    const iproto = buf[inner + 9];
    if (iproto === IPPROTO_ICMP) return b + R.about_icmp;
    if (iproto !== IPPROTO_TCP && iproto !== IPPROTO_UDP) return b + R.quote_proto;
    if ((u16(buf, inner + 6) & 0x1fff) !== 0) return b + R.quote_fragment;
    if (innerAvail < ihl + 8) return b + R.quote_short;
    const conns = host.conns;
    const id = conns.lookupIn(iproto, u32(buf, inner + 12), u16(buf, inner + ihl), u32(buf, inner + 16),
      u16(buf, inner + ihl + 2));
    if (id < 0 || conns.fwd(id) !== FWD_TUNNEL || conns.daddr(id) !== u32(buf, q + 16)) return b + R.no_conn;
    let mtu = u16(buf, l4 + 6);
    host.reportMtu(conns.daddr(id), mtu);
    // The client uses path MTU discovery only if its packet had DF (which the outer copied).
    if ((buf[q + 6] & 0x40) === 0) return b + R.tunnel_pmtu;
    if (mtu > PMTU_FLOOR) mtu -= IPV4_MIN_HDR_LEN;
    host.icmpError(inner, innerAvail, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, conns.vaddr(id), mtu);
    return b + R.tunnel_pmtu;
  }
}
