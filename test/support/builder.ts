/**
 * Fluent IPv4 packet builder for tests (golden packets through the datapath), e.g.
 *
 *   pkt().ip({ src: '198.18.0.2', dst: '198.18.100.1', ttl: 64, id: 1, df: true })
 *        .tcp({ sport: 40000, dport: 80, flags: 'S', seq: 1 })
 *        .payload(Buffer.from('hello'))
 *        .build();
 *
 *   pkt().ip({ src: rs, dst: cip }).icmp({ type: 3, code: 4, mtu: 1480 }).quote(original).build();
 *
 * Every checksum is correct unless an option asks otherwise:
 * - ip({ csum: 'bad' }) / tcp|udp|icmp({ csum: 'bad' }): a wrong checksum;
 * - tcp|udp({ csum: 'partial' }): the field holds the pseudo-header sum, not complemented, as
 *   a packet read from a TUN with virtio-net NEEDS_CSUM;
 * - udp({ csum: 'none' }): 0 (RFC 768 "not computed");
 * - csum: <number>: that exact field value.
 * Header fields can be forced to invalid values (version, ihl, totalLen, doff, udp len) for
 * negative tests. The builder allocates freely: it is test code, not the fast path.
 */

import { ipFromString, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipvs/types';
import {
  ICMP_HDR_LEN, IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_MIN_HDR_LEN, TCP_MIN_HDR_LEN, UDP_HDR_LEN,
  csumFinish, csumPartial, ipv4HeaderChecksum, pseudoHeaderSum, tcpFlagsFromString,
} from '../../src/wire';

export type Addr = string | number;
/** 'bad' = wrong value; a number = that exact field value. */
export type CsumOpt = 'bad' | number;

export interface IpOpts {
  src: Addr;
  dst: Addr;
  ttl?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset?: number;
  tos?: number;
  /** Defaults to the protocol of the L4 layer, 0 without one. */
  proto?: number;
  /** Option bytes, padded with zeros (End of Option List) to a multiple of 4. */
  options?: Uint8Array;
  version?: number;
  /** Forces the IHL field (words). */
  ihl?: number;
  /** Forces the total length field. */
  totalLen?: number;
  csum?: CsumOpt;
}

export interface TcpOpts {
  sport: number;
  dport: number;
  /** Letters of FSRPAUEC ('S', 'SA', 'FA'...) or flag bits. */
  flags?: string | number;
  seq?: number;
  ack?: number;
  window?: number;
  urg?: number;
  /** Option bytes, padded with zeros to a multiple of 4. */
  options?: Uint8Array;
  /** Forces the data offset field (words). */
  doff?: number;
  csum?: CsumOpt | 'partial';
}

export interface UdpOpts {
  sport: number;
  dport: number;
  /** Forces the length field. */
  len?: number;
  csum?: CsumOpt | 'partial' | 'none';
}

export interface IcmpOpts {
  type: number;
  code?: number;
  /** Echo identifier (bytes 4..5). */
  id?: number;
  /** Echo sequence (bytes 6..7). */
  seq?: number;
  /** Next-hop MTU of fragmentation-needed (bytes 6..7). */
  mtu?: number;
  csum?: CsumOpt;
}

/** Parses a dotted quad or passes a uint32 through; throws on a bad string. */
export function addr(a: Addr): number {
  if (typeof a === 'number') return a >>> 0;
  const v = ipFromString(a);
  if (v < 0) throw new Error(`bad IPv4 address ${a}`);
  return v;
}

function pad4(b: Uint8Array | undefined): Uint8Array {
  if (!b || b.length === 0) return new Uint8Array(0);
  const out = new Uint8Array((b.length + 3) & ~3);
  out.set(b);
  return out;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, v >>> 16);
  put16(b, o + 2, v & 0xffff);
}

function corrupt(c: number): number {
  return c ^ 0x5555;
}

type L4 =
  | { kind: 'tcp'; o: TcpOpts }
  | { kind: 'udp'; o: UdpOpts }
  | { kind: 'icmp'; o: IcmpOpts };

export class PacketBuilder {
  private ipOpts: IpOpts | null = null;
  private l4: L4 | null = null;
  private data: Uint8Array = new Uint8Array(0);

  ip(o: IpOpts): this {
    this.ipOpts = o;
    return this;
  }

  tcp(o: TcpOpts): this {
    this.l4 = { kind: 'tcp', o };
    return this;
  }

  udp(o: UdpOpts): this {
    this.l4 = { kind: 'udp', o };
    return this;
  }

  icmp(o: IcmpOpts): this {
    this.l4 = { kind: 'icmp', o };
    return this;
  }

  payload(b: Uint8Array | string): this {
    this.data = typeof b === 'string' ? Buffer.from(b) : b;
    return this;
  }

  /** Payload = the first `len` bytes (default all) of another packet, as ICMP errors quote. */
  quote(packet: Uint8Array, len = packet.length): this {
    this.data = packet.subarray(0, Math.min(len, packet.length));
    return this;
  }

  /** Bytes build() will produce. */
  length(): number {
    const ipo = this.need();
    return IPV4_MIN_HDR_LEN + pad4(ipo.options).length + this.l4Bytes(0, 0).length;
  }

  build(): Buffer {
    const b = Buffer.alloc(this.length());
    this.buildInto(b, 0);
    return b;
  }

  /** Writes the packet at buf[off..] and returns its length. */
  buildInto(buf: Uint8Array, off: number): number {
    const o = this.need();
    const src = addr(o.src);
    const dst = addr(o.dst);
    const opts = pad4(o.options);
    const hl = IPV4_MIN_HDR_LEN + opts.length;
    const l4 = this.l4Bytes(src, dst);
    const total = hl + l4.length;
    const h = new Uint8Array(hl);
    h[0] = ((o.version ?? 4) << 4) | ((o.ihl ?? hl >> 2) & 0x0f);
    h[1] = o.tos ?? 0;
    put16(h, 2, o.totalLen ?? total);
    put16(h, 4, o.id ?? 0);
    put16(h, 6, (o.df ? IPV4_FLAG_DF : 0) | (o.mf ? IPV4_FLAG_MF : 0) | ((o.fragOffset ?? 0) >>> 3));
    h[8] = o.ttl ?? 64;
    h[9] = o.proto ?? this.defaultProto();
    put32(h, 12, src);
    put32(h, 16, dst);
    h.set(opts, 20);
    const c = ipv4HeaderChecksum(h, 0, hl);
    put16(h, 10, o.csum === undefined ? c : o.csum === 'bad' ? corrupt(c) : o.csum);
    buf.set(h, off);
    buf.set(l4, off + hl);
    return total;
  }

  private need(): IpOpts {
    if (!this.ipOpts) throw new Error('pkt(): call .ip({...}) first');
    return this.ipOpts;
  }

  private defaultProto(): number {
    if (!this.l4) return 0;
    return this.l4.kind === 'tcp' ? IPPROTO_TCP : this.l4.kind === 'udp' ? IPPROTO_UDP : IPPROTO_ICMP;
  }

  /** The L4 header + payload with its checksum (for the pseudo-header of src/dst). */
  private l4Bytes(src: number, dst: number): Uint8Array {
    const d = this.data;
    const l4 = this.l4;
    if (!l4) return d;
    if (l4.kind === 'tcp') {
      const o = l4.o;
      const opts = pad4(o.options);
      const hl = TCP_MIN_HDR_LEN + opts.length;
      const b = new Uint8Array(hl + d.length);
      put16(b, 0, o.sport);
      put16(b, 2, o.dport);
      put32(b, 4, o.seq ?? 0);
      put32(b, 8, o.ack ?? 0);
      b[12] = ((o.doff ?? hl >> 2) & 0x0f) << 4;
      const flags = typeof o.flags === 'string' ? tcpFlagsFromString(o.flags) : o.flags ?? 0;
      if (flags < 0) throw new Error(`bad TCP flags ${String(o.flags)}`);
      b[13] = flags;
      put16(b, 14, o.window ?? 0xffff);
      put16(b, 18, o.urg ?? 0);
      b.set(opts, 20);
      b.set(d, hl);
      const ph = pseudoHeaderSum(src, dst, IPPROTO_TCP, b.length);
      const full = csumFinish(csumPartial(b, 0, b.length, ph));
      put16(b, 16, o.csum === undefined ? full : o.csum === 'bad' ? corrupt(full) : o.csum === 'partial' ? ph : o.csum);
      return b;
    }
    if (l4.kind === 'udp') {
      const o = l4.o;
      const b = new Uint8Array(UDP_HDR_LEN + d.length);
      const len = o.len ?? b.length;
      put16(b, 0, o.sport);
      put16(b, 2, o.dport);
      put16(b, 4, len);
      b.set(d, UDP_HDR_LEN);
      const ph = pseudoHeaderSum(src, dst, IPPROTO_UDP, len);
      let full = csumFinish(csumPartial(b, 0, b.length, ph));
      if (full === 0) full = 0xffff;
      const c = o.csum;
      put16(b, 6, c === undefined ? full : c === 'bad' ? corrupt(full) : c === 'partial' ? ph : c === 'none' ? 0 : c);
      return b;
    }
    const o = l4.o;
    const b = new Uint8Array(ICMP_HDR_LEN + d.length);
    b[0] = o.type;
    b[1] = o.code ?? 0;
    put16(b, 4, o.id ?? 0);
    put16(b, 6, o.mtu ?? o.seq ?? 0);
    b.set(d, ICMP_HDR_LEN);
    const full = csumFinish(csumPartial(b, 0, b.length));
    put16(b, 2, o.csum === undefined ? full : o.csum === 'bad' ? corrupt(full) : o.csum);
    return b;
  }
}

export function pkt(): PacketBuilder {
  return new PacketBuilder();
}
