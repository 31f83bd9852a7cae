/**
 * The packet pipeline (ip_vs_core.c's role): for every packet read from the device,
 * validate, find or create the connection entry, transmit by the entry's forwarding
 * method, and account. Runs over whole batches and allocates nothing per packet.
 *
 * Verdicts: a packet is either written back to the device (rewritten in place in its
 * slot), handed to the transmitter of its forwarding method (src/xmit: tunnel, direct
 * routing), or dropped and counted under exactly one named reason (DROP_NAMES). ICMP
 * errors are relayed by src/ipvs/icmp.ts.
 */
import type { Device } from '../phy/device';
import { VNET_F_NEEDS_CSUM, VNET_HDR_LEN } from '../phy/device';
// From the modules themselves, not ../wire/index: a re-export is a getter per access.
import { natSetDstAddr, natSetDstPort, natSetSrcAddr, natSetSrcPort } from '../wire/checksum';
import { buildIcmpError, ICMP_DEST_UNREACH, ICMP_ERROR_MAX_QUOTE, ICMP_PORT_UNREACH } from '../wire/icmp';
import {
  DROP_FRAGMENT, WIRE_DROP_COUNT, WIRE_DROP_NAMES, WIRE_OK,
  ipv4Check, ipv4HeaderLen, ipv4Proto, ipv4SrcI32, ipv4DstI32, ipv4TotalLen, isFragment,
} from '../wire/ipv4';
import { tcpCheck, tcpFlags } from '../wire/tcp';
import { udpCheck } from '../wire/udp';
import { ConnTable, F_INACTIVE, F_NOOUTPUT, F_ONE_PACKET, F_TEMPLATE } from './conn';
import { HalfOpenGuard } from './flood';
import { type Knobs, createKnobs } from './knobs';
import { Persistence } from './persist';
import {
  COUNT_TO_ACTIVE, COUNT_TO_INACTIVE, DIR_INPUT, DIR_OUTPUT, TCP_S_CLOSE, TCP_S_SYN_RECV, tcpSeqAccept,
  TCP_S_TIME_WAIT, type TcpTimeouts, createTcpTimeouts, tcpSetState,
} from './proto/tcp';
import { UDP_S_NORMAL, type UdpTimeouts, createUdpTimeouts } from './proto/udp';
import { type ServiceTable, updateOverload } from './service';
import { FWD_MASQ, FWD_ROUTE, FWD_TUNNEL, IPPROTO_TCP, IPPROTO_UDP, type Dest, type SchedPacket } from './types';
import { ICMP_DROP_NAMES, IcmpRelay, type IcmpHost, icmpErrorAllowed } from './icmp';
import { X, XMIT_DROP_NAMES, XMIT_QUEUED, type Transmitter } from '../xmit/xmit';

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
  'tcp-rst-window', // an RST far from the sequence space of its entry (src/ipvs/proto/tcp.ts)
] as const;

export const DROP_NAMES: readonly string[] = [
  ...WIRE_DROP_NAMES, ...PIPE_DROPS, ...XMIT_DROP_NAMES, ...ICMP_DROP_NAMES,
];
/** Transmitter drop code k (1-based, src/xmit/xmit.ts) is DROP_NAMES[XMIT_BASE + k]. */
const XMIT_BASE = WIRE_DROP_COUNT + PIPE_DROPS.length - 1;
const ICMP_BASE = WIRE_DROP_COUNT + PIPE_DROPS.length + XMIT_DROP_NAMES.length;
/** Write queue entries per slot: a 64 KB super-packet cut at MSS 1280 makes 52 segments. */
const WRITES_PER_SLOT = 64;
/** Index size from which a batch's bucket heads are touched first (2^17 heads: 512 KiB, past L2). */
const TOUCH_MIN_BUCKETS = 1 << 17;
/** Verdict of a packet a transmitter queued itself (not sent from its slot, not a drop). */
const QUEUED = -1;
const D = Object.fromEntries(PIPE_DROPS.map((n, i) => [n.replace(/-/g, '_'), WIRE_DROP_COUNT + i])) as Record<
  string, number
>;

/** Counters that are not drops. */
export const COUNTER_NAMES = [
  'rx_packets', 'rx_batches', 'tx_packets', 'conns_created', 'conns_expired', 'conns_reused',
  'icmp_sent', 'in_packets', 'out_packets',
  // NAT packets (natDirect) and tunnel frames (TunnelXmit.direct) sent through AF_PACKET
  // instead of the TUN
  'tx_direct',
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
  /** Sysctl-style knobs (src/ipvs/knobs.ts), shared with the control plane. */
  knobs?: Knobs;
  /**
   * Half-open budget shared with other pipelines over the same connection table (a
   * firewall-mark device's pipeline shares the main one's); a new guard when absent.
   */
  halfOpen?: HalfOpenGuard;
}

export class Pipeline implements IcmpHost {
  readonly drops = new Float64Array(DROP_NAMES.length);
  readonly counters = new Float64Array(COUNTER_NAMES.length);
  readonly tcpTimeouts: TcpTimeouts;
  readonly udpTimeouts: UdpTimeouts;
  connReuse: boolean;
  readonly knobs: Knobs;
  /** Persistence templates of -p services (src/ipvs/persist.ts). */
  readonly persist: Persistence;
  /** Half-open budget (src/ipvs/flood.ts). */
  readonly halfOpen: HalfOpenGuard;

  private readonly offs: Int32Array;
  private readonly lens: Int32Array;
  private readonly pkt: SchedPacket = { saddr: 0, sport: 0, daddr: 0, dport: 0 };
  private nOut = 0;
  private nScratch = 0;
  /** Scratch space of this batch handed out by alloc(): [arenaOff, arenaEnd). */
  private arenaOff = 0;
  private arenaEnd = 0;
  private readonly icmp: IcmpRelay;
  /** Transmitters of the tunnel (-i) and direct routing (-g) methods; null = not available. */
  tunnel: Transmitter | null = null;
  route: Transmitter | null = null;
  /**
   * NAT packets leave through the direct-routing transmitter (AF_PACKET, one sendmmsg per
   * batch and interface) instead of the TUN: towards real servers on a directly attached
   * LAN, and towards clients whose next hop is known (src/host/nexthop.ts). Packets whose
   * next hop is not known yet still go through the TUN and the kernel's forwarding.
   */
  natDirect = false;
  /** Called (natDirect) for a client whose next hop the transmitter does not know yet. */
  onNextHopMiss: ((caddr: number) => void) | null = null;
  /** Called when a frag-needed reports the path MTU towards a tunnel real server. */
  onMtu: ((rip: number, mtu: number) => void) | null = null;
  /**
   * Firewall mark of the packets this pipeline's device receives (src/ipvs/fwmark.ts): a TUN
   * read carries no skb mark, so policy routing sends each mark to a device of its own. When
   * non-zero, a packet without a connection entry is scheduled by the firewall-mark service
   * of this mark first, then by (proto, addr, port), in ip_vs_service_find's order.
   */
  fwmark = 0;
  private icmpId = 0;

  constructor(
    readonly dev: Device,
    private readonly services: ServiceTable,
    readonly conns: ConnTable,
    opts: PipelineOptions = {},
  ) {
    this.tcpTimeouts = opts.tcpTimeouts ?? createTcpTimeouts();
    this.udpTimeouts = opts.udpTimeouts ?? createUdpTimeouts();
    this.connReuse = opts.connReuse ?? true;
    this.knobs = opts.knobs ?? createKnobs();
    this.persist = new Persistence(conns, services, this.knobs);
    this.halfOpen = opts.halfOpen ?? new HalfOpenGuard(conns, this.knobs.max_half_open);
    // Segments of super-packets (tunnel, DR without PACKET_VNET_HDR) share scratch slots.
    this.offs = new Int32Array(dev.slotCount * WRITES_PER_SLOT);
    this.lens = new Int32Array(dev.slotCount * WRITES_PER_SLOT);
    this.icmp = new IcmpRelay(this, ICMP_BASE, D.icmp_unhandled);
  }

  /**
   * Drains the device: read a batch, process it, write it; until nothing is pending or 64
   * batches were handled (the rest waits for the next readiness callback, so timers and the
   * control socket still get their turn). Returns the number of packets read.
   */
  drain(now: number): number {
    const dev = this.dev;
    let total = 0;
    for (let rounds = 0; rounds < 64; rounds++) {
      const n = dev.read();
      if (n === 0) return total;
      this.processBatch(n, now);
      total += n;
      if (n < dev.readSlots) return total;
    }
    return total;
  }

  /** Processes slots 0..n-1 as filled by dev.read(), then writes the survivors. */
  processBatch(n: number, now: number): void {
    const dev = this.dev;
    this.nOut = 0;
    this.nScratch = 0;
    this.arenaOff = 0;
    this.arenaEnd = 0;
    this.counters[C.rx_batches]++;
    this.counters[C.rx_packets] += n;
    const frameLenExtra = dev.vnetHdrLen;
    if (n > 1 && this.conns.bucketCount >= TOUCH_MIN_BUCKETS) this.touchBuckets(n);
    for (let i = 0; i < n; i++) {
      const frame = i * dev.slotSize + dev.headroom;
      const reason = this.handle(frame, frame + frameLenExtra, dev.len[i], now);
      if (reason === 0) {
        this.offs[this.nOut] = frame;
        this.lens[this.nOut] = frameLenExtra + ipv4TotalLen(dev.buf, frame + frameLenExtra);
        this.nOut++;
      } else if (reason > 0) {
        this.drops[reason]++;
      }
    }
    if (this.nOut > 0) {
      const w = dev.write(this.offs, this.lens, this.nOut);
      this.counters[C.tx_packets] += w;
      if (w < this.nOut) this.drops[D.device_refused] += this.nOut - w;
    }
    if (this.route !== null) this.drops[XMIT_BASE + X.dr_send_failed] += this.route.flush();
    // A tunnel with AF_PACKET output shares the direct-routing sockets: refusals count alike.
    if (this.tunnel !== null) this.drops[XMIT_BASE + X.dr_send_failed] += this.tunnel.flush();
  }

  /** Sum of the bucket heads touched by the last touchBuckets (kept so the loads stay). */
  private touched = 0;

  /**
   * Reads the connection-table bucket heads of each packet of the batch before any is handled,
   * so that in a table too large for the cache the misses overlap instead of coming one per
   * packet (a software prefetch; the lookups then find the heads cached). Only the fields are
   * read: packets too short for them are skipped, validation comes later.
   */
  private touchBuckets(n: number): void {
    const dev = this.dev;
    const buf = dev.buf;
    const conns = this.conns;
    const min = dev.vnetHdrLen + 24;
    let acc = 0;
    for (let i = 0; i < n; i++) {
      if (dev.len[i] < min) continue;
      const ip = i * dev.slotSize + dev.headroom + dev.vnetHdrLen;
      const l4 = ip + ((buf[ip] & 0x0f) << 2);
      if (l4 + 4 > ip + dev.len[i] - dev.vnetHdrLen) continue;
      acc += conns.touchBuckets(buf[ip + 9],
        (buf[ip + 12] << 24) | (buf[ip + 13] << 16) | (buf[ip + 14] << 8) | buf[ip + 15], (buf[l4] << 8) | buf[l4 + 1],
        (buf[ip + 16] << 24) | (buf[ip + 17] << 16) | (buf[ip + 18] << 8) | buf[ip + 19], (buf[l4 + 2] << 8) | buf[l4 + 3]);
    }
    this.touched = acc;
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
      return proto === 1 ? this.icmp.handle(frame, ipOff, ipv4TotalLen(buf, ipOff)) : D.proto_unsupported;
    }
    if (isFragment(buf, ipOff)) return DROP_FRAGMENT;
    const hl = ipv4HeaderLen(buf, ipOff);
    const l4Off = ipOff + hl;
    const totalLen = ipv4TotalLen(buf, ipOff);
    const l4Len = totalLen - hl;
    const l4Bad = proto === IPPROTO_TCP ? tcpCheck(buf, l4Off, l4Len) : udpCheck(buf, l4Off, l4Len);
    if (l4Bad !== WIRE_OK) return l4Bad;

    // Addresses stay int32 on the packet path (src/wire/ipv4.ts); uint32 where they leave it.
    const saddr = ipv4SrcI32(buf, ipOff);
    const daddr = ipv4DstI32(buf, ipOff);
    const sport = (buf[l4Off] << 8) | buf[l4Off + 1];
    const dport = (buf[l4Off + 2] << 8) | buf[l4Off + 3];
    const flags = proto === IPPROTO_TCP ? tcpFlags(buf, l4Off) : 0;
    const partial = this.dev.vnetHdrLen === VNET_HDR_LEN && (buf[frame] & VNET_F_NEEDS_CSUM) !== 0;
    const conns = this.conns;

    let id = conns.lookupIn(proto, saddr, sport, daddr, dport);
    if (id >= 0 && (conns.flags(id) & (F_TEMPLATE | F_ONE_PACKET)) !== 0) {
      // A template is not a connection; a one-packet entry served its datagram.
      if ((conns.flags(id) & F_ONE_PACKET) !== 0) {
        this.expireConn(id);
        conns.remove(id);
      }
      id = -1;
    }
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

    const svc = (this.fwmark !== 0 ? this.services.lookupFwmark(this.fwmark) : undefined) ??
      this.services.lookup(proto, daddr >>> 0, dport);
    if (!svc) return D.no_service;
    if (proto === IPPROTO_TCP && !isNewConn(flags) &&
        (this.knobs.sloppy_tcp === 0 || (flags & TCP_FLAG_RST) !== 0)) return D.no_conn;

    const pkt = this.pkt;
    pkt.saddr = saddr >>> 0;
    pkt.sport = sport;
    pkt.daddr = daddr >>> 0;
    pkt.dport = dport;
    if (proto === IPPROTO_TCP && this.halfOpen.full()) this.evictHalfOpen();
    const dest = svc.persistent !== 0 ? this.persist.schedule(svc, proto, pkt, now) : svc.sched.schedule(svc, pkt);
    if (!dest) return this.portUnreachable(ipOff, totalLen, daddr >>> 0);
    const fwd = dest.fwd;
    const ops = svc.ops && proto === IPPROTO_UDP;
    const timeout = proto === IPPROTO_TCP ? this.tcpTimeouts[TCP_S_SYN_RECV] : ops ? 0 : this.udpTimeouts[UDP_S_NORMAL];
    const cflags = F_INACTIVE | (fwd === FWD_MASQ ? 0 : F_NOOUTPUT) | (ops ? F_ONE_PACKET : 0);
    id = conns.insert(proto, saddr, sport, daddr, dport, dest.addr | 0, dest.port || dport, fwd, cflags,
      dest.id, svc.id, 0, timeout, now);
    if (id < 0 && this.evictHalfOpen()) {
      id = conns.insert(proto, saddr, sport, daddr, dport, dest.addr | 0, dest.port || dport, fwd, cflags,
        dest.id, svc.id, 0, timeout, now);
    }
    if (id < 0) return D.conn_table_full;
    if (svc.persistent !== 0) this.persist.control(id);
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
    const dest = this.usableDest(id);
    if (dest === null) return this.noDest(id);
    if (proto === IPPROTO_TCP && !tcpSeqAccept(conns, id, DIR_INPUT, this.dev.buf, ipOff, l4Off, totalLen, flags)) return D.tcp_rst_window;
    this.advance(id, dest, proto, DIR_INPUT, flags, now);
    this.account(id, dest, totalLen, false);
    const fwd = conns.fwd(id);
    const daddr = conns.daddrI32(id);
    if (fwd !== FWD_MASQ) return this.xmitBy(fwd, ipOff - this.dev.vnetHdrLen, ipOff, totalLen, daddr);
    const buf = this.dev.buf;
    natSetDstAddr(buf, ipOff, l4Off, proto, daddr, partial);
    natSetDstPort(buf, l4Off, proto, conns.dport(id), partial);
    return this.sendDirect(ipOff, totalLen, daddr) ? QUEUED : 0;
  }

  /** Real server → client (NAT only). */
  private outbound(id: number, proto: number, ipOff: number, l4Off: number, flags: number,
    totalLen: number, partial: boolean, now: number): number {
    const conns = this.conns;
    const dest = this.usableDest(id);
    if (dest === null) return this.noDest(id);
    if (proto === IPPROTO_TCP && !tcpSeqAccept(conns, id, DIR_OUTPUT, this.dev.buf, ipOff, l4Off, totalLen, flags)) return D.tcp_rst_window;
    this.advance(id, dest, proto, DIR_OUTPUT, flags, now);
    this.account(id, dest, totalLen, true);
    const buf = this.dev.buf;
    natSetSrcAddr(buf, ipOff, l4Off, proto, conns.vaddrI32(id), partial);
    natSetSrcPort(buf, l4Off, proto, conns.vport(id), partial);
    const caddr = conns.caddrI32(id);
    if (this.sendDirect(ipOff, totalLen, caddr)) return QUEUED;
    if (this.natDirect && this.route !== null && this.onNextHopMiss !== null) this.onNextHopMiss(caddr >>> 0);
    return 0;
  }

  /** The real server of entry id, or null when it was removed from its service. */
  private usableDest(id: number): Dest | null {
    const dest = this.services.dest(this.conns.destId(id));
    return dest !== undefined && dest.available ? dest : null;
  }

  /** State transition and expiry of entry id for one packet in direction dir. */
  private advance(id: number, dest: Dest, proto: number, dir: number, flags: number, now: number): void {
    const conns = this.conns;
    if (proto === IPPROTO_TCP) {
      const st = conns.state(id);
      this.countMove(dest, tcpSetState(conns, id, dir, flags, this.tcpTimeouts, now));
      if (conns.state(id) !== st) this.halfOpenMoved(id, st);
    } else {
      conns.touch(id, (conns.flags(id) & F_ONE_PACKET) !== 0 ? 0 : this.udpTimeouts[UDP_S_NORMAL], now);
    }
  }

  /** Counts one packet of entry id on its service and real server, towards the client when out. */
  private account(id: number, dest: Dest, totalLen: number, out: boolean): void {
    const svc = this.services.service(this.conns.svcId(id));
    if (out) {
      if (svc !== undefined) {
        svc.stats.outpkts++;
        svc.stats.outbytes += totalLen;
      }
      dest.stats.outpkts++;
      dest.stats.outbytes += totalLen;
      this.counters[C.out_packets]++;
    } else {
      if (svc !== undefined) {
        svc.stats.inpkts++;
        svc.stats.inbytes += totalLen;
      }
      dest.stats.inpkts++;
      dest.stats.inbytes += totalLen;
      this.counters[C.in_packets]++;
    }
  }

  /**
   * natDirect: queues the rewritten packet on the AF_PACKET transmitter towards `hop`
   * (a real server or a client). False when NAT goes through the TUN or the next hop is
   * not known; the packet is then written back to the TUN.
   */
  private sendDirect(ipOff: number, totalLen: number, hop: number): boolean {
    if (!this.natDirect || this.route === null) return false;
    if (this.route.xmit(this, ipOff - this.dev.vnetHdrLen, ipOff, totalLen, hop) !== XMIT_QUEUED) return false;
    this.counters[C.tx_direct]++;
    return true;
  }

  /** Entry id changed TCP state from `before`: keeps the half-open count. */
  private halfOpenMoved(id: number, before: number): void {
    if (before === TCP_S_SYN_RECV) this.halfOpen.left();
    if (this.conns.state(id) === TCP_S_SYN_RECV) this.halfOpen.entered(id);
  }

  /** Evicts the oldest half-open entry (src/ipvs/flood.ts); false when there is none. */
  private evictHalfOpen(): boolean {
    const id = this.halfOpen.oldest();
    if (id < 0) return false;
    this.expireConn(id);
    this.conns.remove(id);
    this.halfOpen.evicted++;
    return true;
  }

  /** A packet of entry id whose real server is gone: dropped; with expire_nodest_conn the entry too. */
  private noDest(id: number): number {
    if (this.knobs.expire_nodest_conn !== 0) {
      this.expireConn(id);
      this.conns.remove(id);
    }
    return D.dest_unavailable;
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
    return this.icmpError(ipOff, totalLen, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, vaddr, 0) ? D.no_dest : D.icmp_budget;
  }

  /**
   * Queues an ICMP error from srcAddr about the datagram at ipOff, built in scratch space.
   * Never about an ICMP error, a non-first fragment or a broadcast/multicast/zero address
   * (RFC 1122 §3.2.2): then nothing is sent and the result is true. False: no scratch left.
   */
  icmpError(ipOff: number, totalLen: number, type: number, code: number, srcAddr: number, mtu: number): boolean {
    const dev = this.dev;
    if (!icmpErrorAllowed(dev.buf, ipOff, totalLen)) return true;
    const frame = this.alloc(dev.vnetHdrLen + 28 + Math.min(totalLen, ICMP_ERROR_MAX_QUOTE));
    if (frame < 0) return false;
    dev.buf.fill(0, frame, frame + dev.vnetHdrLen);
    this.icmpId = (this.icmpId + 1) & 0xffff;
    const len = buildIcmpError(dev.buf, frame + dev.vnetHdrLen, type, code, dev.buf, ipOff, totalLen, srcAddr, mtu,
      this.icmpId);
    this.push(frame, dev.vnetHdrLen + len);
    this.counters[C.icmp_sent]++;
    return true;
  }

  /** Queues buf[off .. off+len) for the device write at the end of the batch. */
  push(off: number, len: number): void {
    this.offs[this.nOut] = off;
    this.lens[this.nOut] = len;
    this.nOut++;
  }

  /**
   * Reserves len bytes (8-byte aligned) of this batch's scratch slots; -1 when used up. The
   * write queue has one entry per slot, so frames from scratch space are bounded by it too.
   */
  alloc(len: number): number {
    const dev = this.dev;
    const need = (len + 7) & ~7;
    if (this.nOut >= this.offs.length - dev.readSlots) return -1;
    if (this.arenaOff + need > this.arenaEnd) {
      if (this.nScratch >= dev.slotCount - dev.readSlots || need > dev.slotSize - dev.headroom) return -1;
      const base = (dev.readSlots + this.nScratch++) * dev.slotSize;
      this.arenaOff = base + dev.headroom;
      this.arenaEnd = base + dev.slotSize;
    }
    const o = this.arenaOff;
    this.arenaOff += need;
    return o;
  }

  /** Transmits by a method other than NAT: a pipeline verdict (QUEUED or a drop reason). */
  private xmitBy(fwd: number, frame: number, ipOff: number, totalLen: number, daddr: number): number {
    const x = fwd === FWD_TUNNEL ? this.tunnel : fwd === FWD_ROUTE ? this.route : null;
    if (x === null) return D.fwd_unsupported;
    const r = x.xmit(this, frame, ipOff, totalLen, daddr);
    return r === XMIT_QUEUED ? QUEUED : XMIT_BASE + r;
  }

  /** IcmpHost: an ICMP error relayed towards the real server of entry id. */
  forwardIn(id: number, frame: number, ipOff: number, totalLen: number): number {
    const dest = this.usableDest(id);
    if (dest === null) return D.dest_unavailable;
    this.account(id, dest, totalLen, false);
    const fwd = this.conns.fwd(id);
    return fwd === FWD_MASQ ? 0 : this.xmitBy(fwd, frame, ipOff, totalLen, this.conns.daddr(id));
  }

  /** IcmpHost: an ICMP error from a NAT real server relayed to the client of entry id. */
  forwardOut(id: number, totalLen: number): number {
    const dest = this.usableDest(id);
    if (dest === null) return D.dest_unavailable;
    this.account(id, dest, totalLen, true);
    return 0;
  }

  /** IcmpHost: path MTU towards a tunnel real server, passed to whoever owns the routes. */
  reportMtu(rip: number, mtu: number): void {
    if (this.onMtu !== null) this.onMtu(rip, mtu);
  }

  /** Releases what entry id holds: real server counters and reference. */
  expireConn(id: number): void {
    const conns = this.conns;
    if ((conns.flags(id) & F_TEMPLATE) !== 0) {
      this.persist.expireTemplate(id);
      return;
    }
    this.persist.release(id);
    if (conns.proto(id) === IPPROTO_TCP && conns.state(id) === TCP_S_SYN_RECV) this.halfOpen.left();
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
    this.expireNow = now;
    return this.conns.expire(now, this.onExpire);
  }

  /** Clock of the expire() under way, for onExpire (one callback for all calls, no closure each). */
  private expireNow = 0;
  private readonly onExpire = (id: number): void => {
    // A template outlives its timer while it controls connections (ip_vs_conn_expire).
    if ((this.conns.flags(id) & F_TEMPLATE) !== 0 && this.persist.keepTemplate(id, this.expireNow)) return;
    this.expireConn(id);
  };

  dropCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    DROP_NAMES.forEach((n, i) => { if (i !== WIRE_OK) out[n] = this.drops[i]; });
    return out;
  }

  counterValues(): Record<string, number> {
    const out: Record<string, number> = {};
    COUNTER_NAMES.forEach((n, i) => { out[n] = this.counters[i]; });
    out.tx_direct += this.tunnel?.directFrames ?? 0;
    return out;
  }
}

/** A segment that may open a connection: SYN without ACK or RST (is_new_conn). */
function isNewConn(flags: number): boolean {
  return (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) === TCP_FLAG_SYN;
}

