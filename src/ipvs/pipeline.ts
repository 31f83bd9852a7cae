/**
 * The packet pipeline (ip_vs_core.c's role): for every packet read from the device,
 * validate, find or create the connection entry, transmit by the entry's forwarding
 * method, and account. Runs over whole batches and allocates nothing per packet.
 *
 * Verdicts: a packet is either written back to the device (rewritten in place in its
 * slot) or dropped and counted under exactly one named reason (DROP_NAMES).
 */
import type { Device } from '../phy/device';
import { VNET_F_NEEDS_CSUM, VNET_HDR_LEN } from '../phy/device';
import {
  DROP_FRAGMENT, WIRE_DROP_COUNT, WIRE_DROP_NAMES, WIRE_OK,
  ipv4Check, ipv4HeaderLen, ipv4Proto, ipv4Src, ipv4Dst, ipv4TotalLen, isFragment,
  tcpCheck, udpCheck, tcpFlags,
  natSetDstAddr, natSetDstPort, natSetSrcAddr, natSetSrcPort,
  buildIcmpError, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH,
} from '../wire/index';
import { ConnTable, F_INACTIVE, F_NOOUTPUT } from './conn';
import {
  COUNT_TO_ACTIVE, COUNT_TO_INACTIVE, DIR_INPUT, DIR_OUTPUT, TCP_S_CLOSE, TCP_S_SYN_RECV,
  TCP_S_TIME_WAIT, type TcpTimeouts, createTcpTimeouts, tcpSetState,
} from './proto/tcp';
import { UDP_S_NORMAL, type UdpTimeouts, createUdpTimeouts } from './proto/udp';
import { type ServiceTable, updateOverload } from './service';
import { FWD_MASQ, IPPROTO_TCP, IPPROTO_UDP, type Dest, type SchedPacket } from './types';

/** Drop reasons beyond the wire checks, appended after WIRE_DROP_NAMES. */
const PIPE_DROPS = [
  'proto-unsupported', // neither TCP, UDP nor ICMP reached the device
  'icmp-unhandled', // ICMP relaying is not configured for this packet
  'no-service', // no connection entry and no virtual service matches
  'no-conn', // a TCP segment other than SYN without a connection entry
  'no-dest', // no usable real server: ICMP port unreachable sent instead
  'dest-unavailable', // the entry's real server was removed
  'conn-table-full', // maxConns reached
  'fwd-unsupported', // the real server's forwarding method is not available here
  'icmp-budget', // no scratch slot left in this batch for an ICMP error
  'device-refused', // the device did not take the frame
] as const;

export const DROP_NAMES: readonly string[] = [...WIRE_DROP_NAMES, ...PIPE_DROPS];
const D = Object.fromEntries(PIPE_DROPS.map((n, i) => [n.replace(/-/g, '_'), WIRE_DROP_COUNT + i])) as Record<
  string, number
>;

/** Counters that are not drops. */
export const COUNTER_NAMES = [
  'rx_packets', 'rx_batches', 'tx_packets', 'conns_created', 'conns_expired', 'conns_reused',
  'icmp_sent', 'in_packets', 'out_packets',
] as const;
const C = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i])) as Record<(typeof COUNTER_NAMES)[number], number>;

const TCP_FLAG_SYN = 0x02;
const TCP_FLAG_ACK = 0x10;
const TCP_FLAG_RST = 0x04;

export interface PipelineOptions {
  /** Timeouts are shared with the control plane (--set). */
  tcpTimeouts?: TcpTimeouts;
  udpTimeouts?: UdpTimeouts;
  /** conn_reuse_mode: a SYN on a TIME_WAIT/CLOSE entry starts a new connection (default on). */
  connReuse?: boolean;
}

export class Pipeline {
  readonly drops = new Float64Array(DROP_NAMES.length);
  readonly counters = new Float64Array(COUNTER_NAMES.length);
  readonly tcpTimeouts: TcpTimeouts;
  readonly udpTimeouts: UdpTimeouts;
  connReuse: boolean;

  private readonly offs: Int32Array;
  private readonly lens: Int32Array;
  private readonly pkt: SchedPacket = { saddr: 0, sport: 0, daddr: 0, dport: 0 };
  private nOut = 0;
  private nScratch = 0;
  private icmpId = 0;

  constructor(
    private readonly dev: Device,
    private readonly services: ServiceTable,
    private readonly conns: ConnTable,
    opts: PipelineOptions = {},
  ) {
    this.tcpTimeouts = opts.tcpTimeouts ?? createTcpTimeouts();
    this.udpTimeouts = opts.udpTimeouts ?? createUdpTimeouts();
    this.connReuse = opts.connReuse ?? true;
    this.offs = new Int32Array(dev.slotCount);
    this.lens = new Int32Array(dev.slotCount);
  }

  /** Drains the device: read a batch, process it, write it; until nothing is pending. */
  drain(now: number): void {
    const dev = this.dev;
    for (let rounds = 0; rounds < 64; rounds++) {
      const n = dev.read();
      if (n === 0) return;
      this.processBatch(n, now);
      if (n < dev.readSlots) return;
    }
  }

  /** Processes slots 0..n-1 as filled by dev.read(), then writes the survivors. */
  processBatch(n: number, now: number): void {
    const dev = this.dev;
    this.nOut = 0;
    this.nScratch = 0;
    this.counters[C.rx_batches]++;
    this.counters[C.rx_packets] += n;
    const frameLenExtra = dev.vnetHdrLen;
    for (let i = 0; i < n; i++) {
      const frame = i * dev.slotSize + dev.headroom;
      const reason = this.handle(frame, frame + frameLenExtra, dev.len[i], now);
      if (reason === 0) {
        this.offs[this.nOut] = frame;
        this.lens[this.nOut] = frameLenExtra + ipv4TotalLen(dev.buf, frame + frameLenExtra);
        this.nOut++;
      } else {
        this.drops[reason]++;
      }
    }
    if (this.nOut > 0) {
      const w = dev.write(this.offs, this.lens, this.nOut);
      this.counters[C.tx_packets] += w;
      if (w < this.nOut) this.drops[D.device_refused] += this.nOut - w;
    }
  }

  /**
   * One packet: ip at buf[ipOff], `avail` bytes read. Returns 0 to transmit the (rewritten)
   * packet from its slot, or a drop reason.
   */
  private handle(frame: number, ipOff: number, avail: number, now: number): number {
    const buf = this.dev.buf;
    const bad = ipv4Check(buf, ipOff, avail);
    if (bad !== WIRE_OK) return bad;
    const proto = ipv4Proto(buf, ipOff);
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) {
      return proto === 1 ? D.icmp_unhandled : D.proto_unsupported;
    }
    if (isFragment(buf, ipOff)) return DROP_FRAGMENT;
    const hl = ipv4HeaderLen(buf, ipOff);
    const l4Off = ipOff + hl;
    const totalLen = ipv4TotalLen(buf, ipOff);
    const l4Len = totalLen - hl;
    const l4Bad = proto === IPPROTO_TCP ? tcpCheck(buf, l4Off, l4Len) : udpCheck(buf, l4Off, l4Len);
    if (l4Bad !== WIRE_OK) return l4Bad;

    const saddr = ipv4Src(buf, ipOff);
    const daddr = ipv4Dst(buf, ipOff);
    const sport = (buf[l4Off] << 8) | buf[l4Off + 1];
    const dport = (buf[l4Off + 2] << 8) | buf[l4Off + 3];
    const flags = proto === IPPROTO_TCP ? tcpFlags(buf, l4Off) : 0;
    const partial = this.dev.vnetHdrLen === VNET_HDR_LEN && (buf[frame] & VNET_F_NEEDS_CSUM) !== 0;
    const conns = this.conns;

    let id = conns.lookupIn(proto, saddr, sport, daddr, dport);
    if (id >= 0) {
      if (proto === IPPROTO_TCP && this.connReuse && isNewConn(flags)) {
        const st = conns.state(id);
        if (st === TCP_S_TIME_WAIT || st === TCP_S_CLOSE) {
          this.expireConn(id);
          conns.remove(id);
          this.counters[C.conns_reused]++;
          id = -1;
        }
      }
    }
    if (id >= 0) return this.inbound(id, proto, ipOff, l4Off, flags, totalLen, partial, now);

    id = conns.lookupOut(proto, saddr, sport, daddr, dport);
    if (id >= 0) return this.outbound(id, proto, ipOff, l4Off, flags, totalLen, partial, now);

    const svc = this.services.lookup(proto, daddr, dport);
    if (!svc) return D.no_service;
    if (proto === IPPROTO_TCP && !isNewConn(flags)) return D.no_conn;

    const pkt = this.pkt;
    pkt.saddr = saddr;
    pkt.sport = sport;
    pkt.daddr = daddr;
    pkt.dport = dport;
    const dest = svc.sched.schedule(svc, pkt);
    if (!dest) return this.portUnreachable(ipOff, totalLen, daddr);
    const fwd = dest.fwd;
    const timeout = proto === IPPROTO_TCP ? this.tcpTimeouts[TCP_S_SYN_RECV] : this.udpTimeouts[UDP_S_NORMAL];
    const cflags = F_INACTIVE | (fwd === FWD_MASQ ? 0 : F_NOOUTPUT);
    id = conns.insert(proto, saddr, sport, daddr, dport, dest.addr, dest.port || dport, fwd, cflags,
      dest.id, svc.id, 0, timeout, now);
    if (id < 0) return D.conn_table_full;
    this.services.holdDest(dest.id);
    dest.inactiveConns++;
    updateOverload(dest);
    svc.stats.conns++;
    dest.stats.conns++;
    this.counters[C.conns_created]++;
    return this.inbound(id, proto, ipOff, l4Off, flags, totalLen, partial, now);
  }

  /** Client → real server. */
  private inbound(id: number, proto: number, ipOff: number, l4Off: number, flags: number,
    totalLen: number, partial: boolean, now: number): number {
    const conns = this.conns;
    const dest = this.services.dest(conns.destId(id));
    if (!dest || !dest.available) return D.dest_unavailable;
    if (proto === IPPROTO_TCP) {
      this.countMove(dest, tcpSetState(conns, id, DIR_INPUT, flags, this.tcpTimeouts, now));
    } else {
      conns.touch(id, this.udpTimeouts[UDP_S_NORMAL], now);
    }
    const svc = this.services.service(conns.svcId(id));
    if (svc) {
      svc.stats.inpkts++;
      svc.stats.inbytes += totalLen;
    }
    dest.stats.inpkts++;
    dest.stats.inbytes += totalLen;
    this.counters[C.in_packets]++;
    if (conns.fwd(id) !== FWD_MASQ) return D.fwd_unsupported;
    const buf = this.dev.buf;
    natSetDstAddr(buf, ipOff, l4Off, proto, conns.daddr(id), partial);
    natSetDstPort(buf, l4Off, proto, conns.dport(id), partial);
    return 0;
  }

  /** Real server → client (NAT only). */
  private outbound(id: number, proto: number, ipOff: number, l4Off: number, flags: number,
    totalLen: number, partial: boolean, now: number): number {
    const conns = this.conns;
    const dest = this.services.dest(conns.destId(id));
    if (!dest || !dest.available) return D.dest_unavailable;
    if (proto === IPPROTO_TCP) {
      this.countMove(dest, tcpSetState(conns, id, DIR_OUTPUT, flags, this.tcpTimeouts, now));
    } else {
      conns.touch(id, this.udpTimeouts[UDP_S_NORMAL], now);
    }
    const svc = this.services.service(conns.svcId(id));
    if (svc) {
      svc.stats.outpkts++;
      svc.stats.outbytes += totalLen;
    }
    dest.stats.outpkts++;
    dest.stats.outbytes += totalLen;
    this.counters[C.out_packets]++;
    const buf = this.dev.buf;
    natSetSrcAddr(buf, ipOff, l4Off, proto, conns.vaddr(id), partial);
    natSetSrcPort(buf, l4Off, proto, conns.vport(id), partial);
    return 0;
  }

  private countMove(dest: Dest, delta: number): void {
    if (delta === COUNT_TO_ACTIVE) {
      dest.activeConns++;
      dest.inactiveConns--;
    } else if (delta === COUNT_TO_INACTIVE) {
      dest.activeConns--;
      dest.inactiveConns++;
      updateOverload(dest);
    }
  }

  /**
   * ICMP port unreachable from the VIP to the client (ip_vs_leave with no destination),
   * built in a scratch slot; the offending packet itself is dropped.
   */
  private portUnreachable(ipOff: number, totalLen: number, vaddr: number): number {
    const dev = this.dev;
    const scratch = dev.slotCount - dev.readSlots;
    if (this.nScratch >= scratch) return D.icmp_budget;
    const frame = (dev.readSlots + this.nScratch++) * dev.slotSize + dev.headroom;
    dev.buf.fill(0, frame, frame + dev.vnetHdrLen);
    this.icmpId = (this.icmpId + 1) & 0xffff;
    const len = buildIcmpError(dev.buf, frame + dev.vnetHdrLen, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH,
      dev.buf, ipOff, totalLen, vaddr, 0, this.icmpId);
    this.offs[this.nOut] = frame;
    this.lens[this.nOut] = dev.vnetHdrLen + len;
    this.nOut++;
    this.counters[C.icmp_sent]++;
    return D.no_dest;
  }

  /** Releases what entry id holds: real server counters and reference. */
  expireConn(id: number): void {
    const conns = this.conns;
    const dest = this.services.dest(conns.destId(id));
    if (dest) {
      if (conns.flags(id) & F_INACTIVE) dest.inactiveConns--;
      else dest.activeConns--;
      updateOverload(dest);
      this.services.releaseDest(dest.id);
    }
    this.counters[C.conns_expired]++;
  }

  /** Advances connection expiry to `now` (call about once a second). */
  expire(now: number): number {
    return this.conns.expire(now, (id) => this.expireConn(id));
  }

  dropCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    DROP_NAMES.forEach((n, i) => { if (i !== WIRE_OK) out[n] = this.drops[i]; });
    return out;
  }

  counterValues(): Record<string, number> {
    const out: Record<string, number> = {};
    COUNTER_NAMES.forEach((n, i) => { out[n] = this.counters[i]; });
    return out;
  }
}

/** A segment that may open a connection: SYN without ACK or RST (is_new_conn). */
function isNewConn(flags: number): boolean {
  return (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) === TCP_FLAG_SYN;
}

