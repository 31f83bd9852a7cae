/**
 * Queue steering of the multi-queue TUN device: a BPF_PROG_TYPE_SOCKET_FILTER program attached
 * with TUNSETSTEERINGEBPF returns, for every packet the kernel sends into the device, the index
 * of the queue (the packet worker) that reads it (drivers/net/tun.c tun_ebpf_select_queue:
 * return value modulo the number of queues).
 *
 * The queue is a hash of the connection's client address, so that one worker sees every packet
 * its connection-table shard needs:
 *   - a request (client → VIP): the source address;
 *   - a NAT reply (real server → client): the destination address. Replies are told apart by
 *     their source being in the `servers` hash map (NAT real-server addresses and VIPs);
 *   - an ICMP error (types 3, 4, 5, 11, 12): the same rule on the quoted packet's header, so an
 *     error about a packet sent to the client (quoted source a VIP) or to a real server (quoted
 *     source the client) reaches the connection's worker;
 *   - persistence: the address is masked with the shortest netmask (-M) of the persistent
 *     services, so every connection of one client network lands on the worker that holds its
 *     template (mask 255.255.255.255 when there is no -M).
 *
 *   queue = ((masked_client * 0x9e3779b1) mod 2^32 >>> 16) mod workers        (steerQueue)
 *
 * The packet as the program sees it starts at the IPv4 header (a TUN has no link layer).
 * Anything that is not IPv4 goes to queue 0. Known limits: an ICMP error quoting the outer
 * header of a director's IPIP packet hashes the director's address; a NAT firewall-mark
 * service's VIPs are unknown, so an ICMP error quoting a reply of one hashes the VIP.
 */
import {
  BPF_FUNC_MAP_LOOKUP_ELEM, BPF_MAP_TYPE_HASH, BPF_PROG_TYPE_SOCKET_FILTER, BpfAsm, bpf,
} from '../phy/bpf';

const HASH_MUL = 0x9e3779b1;
/** ICMP error types whose payload quotes the offending datagram (RFC 792). */
const ICMP_ERRORS = [3, 4, 5, 11, 12];
export const MAX_SERVER_ADDRS = 65536;

/** The queue (worker index) of a connection whose client address is caddr. */
export function steerQueue(caddr: number, mask: number, workers: number): number {
  return ((Math.imul((caddr & mask) >>> 0, HASH_MUL) >>> 16) >>> 0) % workers;
}

/** The steering program for `workers` queues, client mask `mask`, reply sources in map serversFd. */
export function steeringProgram(workers: number, mask: number, serversFd: number): Buffer {
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError('steeringProgram: workers must be >= 1');
  const a = new BpfAsm();
  a.mov(6, 1)
    .ldAbs('b', 0).alu32Imm('and', 0, 0xf0).jne32(0, 0x40, 'queue0')
    .ldAbs('w', 12).mov(7, 0)
    .ldAbs('w', 16).mov(8, 0)
    .ldAbs('b', 9).jne32(0, 1, 'key')
    // ICMP: header length, type, then the quoted header's addresses.
    .ldAbs('b', 0).alu32Imm('and', 0, 0x0f).alu32Imm('lsh', 0, 2).mov(9, 0)
    .ldInd('b', 9, 0);
  for (const t of ICMP_ERRORS) a.jeq32(0, t, 'quoted');
  a.ja('key')
    .label('quoted')
    .ldInd('w', 9, 8 + 12).mov(7, 0)
    .ldInd('w', 9, 8 + 16).mov(8, 0)
    .label('key')
    // A source in the servers map (a NAT real server, a VIP): the client is the destination.
    .store('w', 10, -4, 7)
    .loadMapFd(1, serversFd)
    .mov(2, 10).addImm(2, -4)
    .call(BPF_FUNC_MAP_LOOKUP_ELEM)
    .jeqImm(0, 0, 'hash')
    .mov(7, 8)
    .label('hash')
    .alu32Imm('and', 7, mask | 0)
    .alu32Imm('mul', 7, HASH_MUL | 0)
    .alu32Imm('rsh', 7, 16)
    .alu32Imm('mod', 7, workers)
    .mov(0, 7)
    .exit()
    .label('queue0')
    .movImm(0, 0)
    .exit();
  return a.assemble();
}

/** Map key of an address: the host-order value as the program stores it (little-endian u32). */
function key(addr: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(addr >>> 0);
  return b;
}

/**
 * The loaded steering program and its map of reply sources. The program is reloaded (and the
 * device's program replaced, which the kernel does atomically) when the mask changes.
 */
export class Steering {
  readonly serversFd: number;
  private progFd = -1;
  private maskNow = 0xffffffff;
  private readonly addrs = new Set<number>();
  private readonly one = Buffer.from([1]);

  /** Throws (with the kernel's reason) when the map or the program cannot be created. */
  constructor(readonly workers: number, private readonly attach: (progFd: number) => void) {
    this.serversFd = bpf().bpfMapCreate(BPF_MAP_TYPE_HASH, 4, 1, MAX_SERVER_ADDRS, 'lvs_steer_srv');
    try {
      this.load(0xffffffff);
    } catch (err) {
      bpf().bpfClose(this.serversFd);
      throw err;
    }
  }

  get mask(): number {
    return this.maskNow;
  }

  get progFdNow(): number {
    return this.progFd;
  }

  private load(mask: number): void {
    const fd = bpf().bpfProgLoad(BPF_PROG_TYPE_SOCKET_FILTER, steeringProgram(this.workers, mask, this.serversFd),
      'GPL', 'lvs_steer');
    try {
      this.attach(fd);
    } catch (err) {
      bpf().bpfClose(fd);
      throw err;
    }
    if (this.progFd >= 0) bpf().bpfClose(this.progFd);
    this.progFd = fd;
    this.maskNow = mask >>> 0;
  }

  /** Sets the reply sources (NAT real servers and VIPs) and the client mask. */
  update(servers: Iterable<number>, mask: number): void {
    const want = new Set<number>();
    for (const a of servers) want.add(a >>> 0);
    for (const a of this.addrs) if (!want.has(a)) bpf().bpfMapDelete(this.serversFd, key(a));
    for (const a of want) if (!this.addrs.has(a)) bpf().bpfMapUpdate(this.serversFd, key(a), this.one);
    this.addrs.clear();
    for (const a of want) this.addrs.add(a);
    if ((mask >>> 0) !== this.maskNow) this.load(mask);
  }

  close(): void {
    if (this.progFd >= 0) bpf().bpfClose(this.progFd);
    this.progFd = -1;
    bpf().bpfClose(this.serversFd);
  }
}
