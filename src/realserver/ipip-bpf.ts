/**
 * IPIP decapsulation in the kernel without the ipip module: an eBPF program on the tcx
 * ingress hook of the real server's interfaces strips the outer IPv4 header of an IPIP packet
 * (RFC 2003) addressed to this host and carrying a packet for one of its VIPs, with
 * bpf_skb_adjust_room(-20, BPF_ADJ_ROOM_MAC); the stack then receives the inner packet on the
 * same interface. Everything else passes unchanged: fragments, outer headers with options, an
 * inner packet for another address; lvs-realserver's raw socket still decapsulates those in
 * userspace (src/realserver/ipip.ts).
 *
 * Frame as the program sees it (tc ingress: data starts at the Ethernet header):
 *
 *   0 Ethernet (14) | 14 outer IPv4 (20, ihl 5) | 34 inner IPv4 ...
 *     12 EtherType    20 flags/fragment offset     50 inner destination
 *                     23 protocol (4), 30 outer destination
 *
 * Two counters in an array map: [0] decapsulated, [1] adjust_room failed (packet passed on).
 */
import {
  BPF_ADJ_ROOM_MAC, BPF_FUNC_MAP_LOOKUP_ELEM, BPF_FUNC_SKB_ADJUST_ROOM, BPF_MAP_TYPE_ARRAY,
  BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS, BpfAsm, bpf,
} from '../phy/bpf';
import { IPPROTO_IPIP } from '../ipvs/types';

/** struct __sk_buff field offsets (include/uapi/linux/bpf.h). */
const SKB_PKT_TYPE = 4;
const SKB_DATA = 76;
const SKB_DATA_END = 80;
const PACKET_HOST = 0;
const ETH_LEN = 14;
const OUTER = ETH_LEN;
const INNER = OUTER + 20;
/** Bytes the program reads: through the inner destination address. */
const NEEDED = INNER + 20;
/** htons(ETH_P_IP) and htons(0x3fff) (MF and fragment offset) as little-endian loads see them. */
const ETH_P_IP_LE = 0x0008;
const FRAG_MASK_LE = 0xff3f;
const TC_ACT_OK = 0;

export const DECAP_COUNTER_NAMES = ['decapsulated', 'failed'] as const;

/** An IPv4 address (host order integer) as a little-endian 32-bit load of its bytes sees it. */
function le32(addr: number): number {
  return (((addr & 0xff) << 24) | ((addr & 0xff00) << 8) | ((addr >>> 8) & 0xff00) | (addr >>> 24)) | 0;
}

/**
 * The decapsulation program for a host with the given local addresses (outer destinations it
 * accepts) and VIPs (inner destinations), counting into the array map countersFd.
 */
export function decapProgram(locals: readonly number[], vips: readonly number[], countersFd: number): Buffer {
  if (locals.length === 0 || vips.length === 0) throw new Error('decapProgram: no local address or no VIP');
  const a = new BpfAsm();
  a.mov(6, 1)
    .load('w', 2, 6, SKB_PKT_TYPE).jne32(2, PACKET_HOST, 'pass')
    .load('w', 2, 6, SKB_DATA)
    .load('w', 3, 6, SKB_DATA_END)
    .mov(4, 2).addImm(4, NEEDED).jgt(4, 3, 'pass')
    .load('h', 5, 2, 12).jne32(5, ETH_P_IP_LE, 'pass')
    .load('b', 5, 2, OUTER).jne32(5, 0x45, 'pass')
    .load('h', 5, 2, OUTER + 6).andImm(5, FRAG_MASK_LE).jne32(5, 0, 'pass')
    .load('b', 5, 2, OUTER + 9).jne32(5, IPPROTO_IPIP, 'pass')
    .load('w', 5, 2, OUTER + 16);
  for (const l of locals) a.jeq32(5, le32(l), 'to-us');
  a.ja('pass').label('to-us')
    .load('b', 5, 2, INNER).andImm(5, 0xf0).jne32(5, 0x40, 'pass')
    .load('w', 5, 2, INNER + 16);
  for (const v of vips) a.jeq32(5, le32(v), 'for-vip');
  a.ja('pass').label('for-vip')
    .mov(1, 6).movImm(2, -20).movImm(3, BPF_ADJ_ROOM_MAC).movImm(4, 0).call(BPF_FUNC_SKB_ADJUST_ROOM)
    .movImm(7, 0).jeqImm(0, 0, 'count').movImm(7, 1)
    .label('count')
    .store('w', 10, -4, 7)
    .loadMapFd(1, countersFd)
    .mov(2, 10).addImm(2, -4)
    .call(BPF_FUNC_MAP_LOOKUP_ELEM)
    .jeqImm(0, 0, 'pass')
    .movImm(1, 1).atomicAdd64(0, 0, 1)
    .label('pass')
    .movImm(0, TC_ACT_OK)
    .exit();
  return a.assemble();
}

/** The program loaded and attached to tcx ingress of some interfaces; close() detaches. */
export class BpfDecap {
  private readonly links: number[] = [];
  private closed = false;

  private constructor(private readonly progFd: number, private readonly mapFd: number) {}

  /**
   * Loads the program for locals/vips and attaches it to each interface index. Throws an
   * Error with an errno code when the kernel refuses (no eBPF, no tcx: Linux < 6.6, no
   * CAP_BPF/CAP_NET_ADMIN); nothing stays attached then.
   */
  static attach(ifindexes: readonly number[], locals: readonly number[], vips: readonly number[]): BpfDecap {
    const b = bpf();
    const mapFd = b.bpfMapCreate(BPF_MAP_TYPE_ARRAY, 4, 8, DECAP_COUNTER_NAMES.length, 'lvs_ipip_cnt');
    let progFd = -1;
    try {
      progFd = b.bpfProgLoad(BPF_PROG_TYPE_SCHED_CLS, decapProgram(locals, vips, mapFd), 'MIT', 'lvs_ipip_decap');
    } catch (err) {
      b.bpfClose(mapFd);
      throw err;
    }
    const d = new BpfDecap(progFd, mapFd);
    try {
      for (const ifindex of ifindexes) d.links.push(b.bpfLinkCreate(progFd, ifindex, BPF_TCX_INGRESS));
    } catch (err) {
      d.close();
      throw err;
    }
    return d;
  }

  /** Packets decapsulated, and packets whose decapsulation failed (passed on unchanged). */
  counts(): Record<(typeof DECAP_COUNTER_NAMES)[number], number> {
    const b = bpf();
    const key = Buffer.alloc(4);
    const value = Buffer.alloc(8);
    const read = (i: number): number => {
      key.writeUInt32LE(i);
      return b.bpfMapLookup(this.mapFd, key, value) ? Number(value.readBigUInt64LE()) : 0;
    };
    return { decapsulated: read(0), failed: read(1) };
  }

  /** Runs the program on one frame (BPF_PROG_TEST_RUN): its verdict and the frame after it. */
  testRun(frame: Buffer): { retval: number; frame: Buffer } {
    const out = Buffer.alloc(frame.length + 64);
    const r = bpf().bpfProgTestRun(this.progFd, frame, out);
    return { retval: r.retval, frame: out.subarray(0, r.size) };
  }

  /** Detaches from every interface and releases the program and the map. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const b = bpf();
    for (const fd of this.links.splice(0)) b.bpfClose(fd);
    b.bpfClose(this.progFd);
    b.bpfClose(this.mapFd);
  }
}
