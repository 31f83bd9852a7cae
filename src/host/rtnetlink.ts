/**
 * rtnetlink (rtnetlink(7), include/uapi/linux/rtnetlink.h): the kernel's routes, neighbours
 * and links, asked and followed over a non-blocking netlink socket of the lvs_native addon
 * (readiness by uv_poll, as the TUN device), never by running ip(8).
 *
 * Two layers, as the wire/ codecs: pure encoders and decoders over bytes (testable without a
 * kernel), and RtnlSocket, which numbers requests, matches replies by sequence number and
 * hands multicast notifications (RTMGRP_LINK, RTMGRP_NEIGH, RTMGRP_IPV4_ROUTE) to a callback.
 *
 * Message layout (netlink(7)): every message starts with
 *
 *   0        4        6        8        12       16
 *   | len u32 | type u16 | flags u16 | seq u32 | pid u32 |  then the family header, then
 *   attributes | len u16 | type u16 | value, padded to 4 | ...
 *
 * in host byte order (little-endian here); addresses inside attributes are in network order.
 */
import { loadNative, type NativeAddon } from '../phy/native';

export const NETLINK_ROUTE = 0;

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;

/** Legacy multicast group bits for bind(2) (RTMGRP_*). */
export const RTMGRP_LINK = 0x1;
export const RTMGRP_NEIGH = 0x4;
export const RTMGRP_IPV4_ROUTE = 0x40;

const AF_INET = 2;
const NLMSG_HDRLEN = 16;
const RTMSG_LEN = 12;
const NDMSG_LEN = 12;
const IFINFOMSG_LEN = 16;

// Route attributes (enum rtattr_type_t) and metrics (RTAX_*).
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PREFSRC = 7;
const RTA_METRICS = 8;
const RTA_TABLE = 15;
const RTAX_MTU = 2;
// Neighbour attributes (NDA_*), link attributes (IFLA_*).
const NDA_DST = 1;
const NDA_LLADDR = 2;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;

export const RT_TABLE_MAIN = 254;
export const RTN_UNICAST = 1;

/** Neighbour states (NUD_*, include/uapi/linux/neighbour.h). */
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
/** States whose link-layer address may be used (as `ip neigh` REACHABLE…NOARP, PERMANENT). */
export const NUD_USABLE = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_NOARP | NUD_PERMANENT;

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  /** The message payload (family header and attributes); a view into the read buffer. */
  body: Uint8Array;
}

/** A route as RTM_NEWROUTE/RTM_DELROUTE describes it (IPv4 only). */
export interface RouteMsg {
  dst: number;
  dstLen: number;
  table: number;
  type: number;
  oif: number;
  gateway: number;
  prefsrc: number;
  /** RTAX_MTU of the route, 0 when the route has none (the device MTU applies). */
  mtu: number;
}

export interface NeighMsg {
  ifindex: number;
  state: number;
  dst: number;
  /** "aa:bb:cc:dd:ee:ff", or null without NDA_LLADDR. */
  lladdr: string | null;
}

export interface LinkMsg {
  ifindex: number;
  name: string;
  mtu: number;
}

function u32be(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** The netlink header of a request whose body is `bodyLen` bytes (to be filled by the caller). */
function request(type: number, flags: number, seq: number, bodyLen: number): { buf: Buffer; dv: DataView } {
  const buf = Buffer.alloc(NLMSG_HDRLEN + bodyLen);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  dv.setUint32(0, buf.length, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, seq, true);
  return { buf, dv };
}

/** RTM_GETROUTE for one destination: the route the kernel would use towards addr (`ip route get`). */
export function encodeRouteGet(seq: number, addr: number): Buffer {
  const { buf, dv } = request(RTM_GETROUTE, NLM_F_REQUEST, seq, RTMSG_LEN + 8);
  buf[NLMSG_HDRLEN] = AF_INET;
  buf[NLMSG_HDRLEN + 1] = 32; // rtm_dst_len
  const a = NLMSG_HDRLEN + RTMSG_LEN;
  dv.setUint16(a, 8, true);
  dv.setUint16(a + 2, RTA_DST, true);
  dv.setUint32(a + 4, addr >>> 0, false);
  return buf;
}

/** A dump request of every IPv4 route, neighbour or link (NLM_F_DUMP). */
export function encodeDump(type: typeof RTM_GETROUTE | typeof RTM_GETNEIGH | typeof RTM_GETLINK, seq: number): Buffer {
  const len = type === RTM_GETLINK ? IFINFOMSG_LEN : type === RTM_GETNEIGH ? NDMSG_LEN : RTMSG_LEN;
  const { buf } = request(type, NLM_F_REQUEST | NLM_F_DUMP, seq, len);
  buf[NLMSG_HDRLEN] = AF_INET;
  return buf;
}

/**
 * Splits a datagram into messages; a truncated or inconsistent message ends the walk (the
 * rest of the datagram is not trusted).
 */
export function parseMessages(buf: Uint8Array, off: number, len: number, out: (m: NlMessage) => void): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const end = off + len;
  let p = off;
  while (p + NLMSG_HDRLEN <= end) {
    const mlen = dv.getUint32(p, true);
    if (mlen < NLMSG_HDRLEN || p + mlen > end) return;
    out({
      type: dv.getUint16(p + 4, true),
      flags: dv.getUint16(p + 6, true),
      seq: dv.getUint32(p + 8, true),
      body: buf.subarray(p + NLMSG_HDRLEN, p + mlen),
    });
    p += align4(mlen);
  }
}

/** Calls out(type, value) per attribute in body[from..); stops at a malformed one. */
function attrs(body: Uint8Array, from: number, out: (type: number, v: Uint8Array) => void): void {
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let p = from;
  while (p + 4 <= body.length) {
    const alen = dv.getUint16(p, true);
    if (alen < 4 || p + alen > body.length) return;
    out(dv.getUint16(p + 2, true) & 0x3fff, body.subarray(p + 4, p + alen)); // without NLA_F_NESTED/NET_BYTEORDER
    p += align4(alen);
  }
}

function u32le(v: Uint8Array): number {
  return v.length >= 4 ? (v[0] | (v[1] << 8) | (v[2] << 16) | (v[3] << 24)) >>> 0 : 0;
}

/** The errno of an NLMSG_ERROR (0 = an acknowledgement), as a positive number. */
export function parseError(m: NlMessage): number {
  if (m.body.length < 4) return 0;
  return -(new DataView(m.body.buffer, m.body.byteOffset, 4).getInt32(0, true));
}

/** An IPv4 route message, or undefined for another family or a short message. */
export function parseRoute(m: NlMessage): RouteMsg | undefined {
  const b = m.body;
  if (b.length < RTMSG_LEN || b[0] !== AF_INET) return undefined;
  const r: RouteMsg = { dst: 0, dstLen: b[1], table: b[4], type: b[7], oif: 0, gateway: 0, prefsrc: 0, mtu: 0 };
  attrs(b, RTMSG_LEN, (t, v) => {
    if (t === RTA_DST && v.length >= 4) r.dst = u32be(v, 0);
    else if (t === RTA_OIF) r.oif = u32le(v);
    else if (t === RTA_GATEWAY && v.length >= 4) r.gateway = u32be(v, 0);
    else if (t === RTA_PREFSRC && v.length >= 4) r.prefsrc = u32be(v, 0);
    else if (t === RTA_TABLE) r.table = u32le(v);
    else if (t === RTA_METRICS) attrs(v, 0, (mt, mv) => {
      if (mt === RTAX_MTU) r.mtu = u32le(mv);
    });
  });
  return r;
}

function macString(v: Uint8Array): string {
  let s = '';
  for (let i = 0; i < v.length; i++) s += (i ? ':' : '') + v[i].toString(16).padStart(2, '0');
  return s;
}

/** An IPv4 neighbour message, or undefined for another family or a short message. */
export function parseNeigh(m: NlMessage): NeighMsg | undefined {
  const b = m.body;
  if (b.length < NDMSG_LEN || b[0] !== AF_INET) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n: NeighMsg = { ifindex: dv.getInt32(4, true), state: dv.getUint16(8, true), dst: 0, lladdr: null };
  let haveDst = false;
  attrs(b, NDMSG_LEN, (t, v) => {
    if (t === NDA_DST && v.length === 4) {
      n.dst = u32be(v, 0);
      haveDst = true;
    } else if (t === NDA_LLADDR && v.length === 6) n.lladdr = macString(v);
  });
  return haveDst ? n : undefined;
}

/** A link message (any family), or undefined when short or nameless. */
export function parseLink(m: NlMessage): LinkMsg | undefined {
  const b = m.body;
  if (b.length < IFINFOMSG_LEN) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const l: LinkMsg = { ifindex: dv.getInt32(4, true), name: '', mtu: 0 };
  attrs(b, IFINFOMSG_LEN, (t, v) => {
    if (t === IFLA_IFNAME) l.name = Buffer.from(v).toString('latin1').replace(/\0.*$/s, '');
    else if (t === IFLA_MTU) l.mtu = u32le(v);
  });
  return l.name ? l : undefined;
}

export class NetlinkError extends Error {
  constructor(readonly errno: number, what: string) {
    super(`${what}: netlink error ${errno}`);
    this.name = 'NetlinkError';
  }
}

interface Pending {
  dump: boolean;
  msgs: NlMessage[];
  resolve(msgs: NlMessage[]): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  what: string;
}

/** Datagram slot: the kernel sizes dump datagrams up to 32 KB for a large enough reader. */
const SLOT = 65536;
const SLOTS = 16;
const REQUEST_TIMEOUT_MS = 5000;

/**
 * One NETLINK_ROUTE socket. `groups` 0 opens a request socket; a socket with groups receives
 * notifications, passed to onEvent (body copied: it outlives the read buffer). An overrun of
 * the receive queue (ENOBUFS: notifications were lost) calls onOverrun so that the owner
 * reads the state afresh.
 */
export class RtnlSocket {
  private readonly addon: NativeAddon;
  private fd: number;
  private seq = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly buf = Buffer.alloc(SLOT * SLOTS);
  private readonly lens = new Int32Array(SLOTS);
  private readonly offs = new Int32Array(1);
  private readonly wlens = new Int32Array(1);
  private overruns = 0;
  private dumps: Promise<void> = Promise.resolve();

  constructor(groups: number, private readonly onEvent?: (m: NlMessage) => void,
    private readonly onOverrun?: () => void) {
    this.addon = loadNative();
    if (typeof this.addon.netlinkOpen !== 'function') {
      const err = new Error('lvs_native addon without netlink sockets: rebuild with `npm run build:native`') as
        NodeJS.ErrnoException;
      err.code = 'ERR_LVS_NATIVE_MISSING';
      throw err;
    }
    this.fd = this.addon.netlinkOpen(NETLINK_ROUTE, groups, groups !== 0 ? 4 << 20 : 0);
    this.addon.startPoll(this.fd, () => this.readable());
  }

  /**
   * A request: resolves with its replies (a dump's messages; a lookup's one answer). Dumps
   * run one at a time (the kernel refuses a second dump on a socket with EBUSY).
   */
  ask(msg: Buffer, what: string): Promise<NlMessage[]> {
    if ((msg.readUInt16LE(6) & NLM_F_DUMP) !== NLM_F_DUMP) return this.send(msg, what);
    const run = this.dumps.then(() => this.send(msg, what));
    this.dumps = run.then(() => undefined, () => undefined);
    return run;
  }

  private send(msg: Buffer, what: string): Promise<NlMessage[]> {
    if (this.fd < 0) return Promise.reject(new Error('netlink socket closed'));
    const seq = this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    new DataView(msg.buffer, msg.byteOffset, msg.byteLength).setUint32(8, seq, true);
    const flags = msg.readUInt16LE(6);
    return new Promise<NlMessage[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`${what}: no netlink answer in ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      timer.unref();
      this.pending.set(seq, { dump: (flags & NLM_F_DUMP) !== 0, msgs: [], resolve, reject, timer, what });
      this.offs[0] = 0;
      this.wlens[0] = msg.length;
      if (this.addon.writeBatch(this.fd, msg, this.offs, this.wlens, 1) !== 1) {
        clearTimeout(timer);
        this.pending.delete(seq);
        const errs = this.addon.stats(this.fd).write;
        reject(new Error(`${what}: netlink send failed (${Object.keys(errs).join(',') || 'unknown'})`));
      }
    });
  }

  private readable(): void {
    for (;;) {
      const n = this.fd < 0 ? 0 : this.addon.readBatch(this.fd, this.buf, SLOT, 0, 0, SLOTS, this.lens);
      for (let i = 0; i < n; i++) parseMessages(this.buf, i * SLOT, this.lens[i], (m) => this.dispatch(m));
      if (n < SLOTS) break;
    }
    if (this.fd >= 0) {
      const over = this.addon.stats(this.fd).read.ENOBUFS ?? 0;
      if (over !== this.overruns) {
        this.overruns = over;
        this.onOverrun?.();
      }
    }
  }

  private dispatch(m: NlMessage): void {
    const p = m.seq !== 0 ? this.pending.get(m.seq) : undefined;
    if (!p) {
      if (m.seq === 0 && m.type !== NLMSG_ERROR && m.type !== NLMSG_DONE) {
        this.onEvent?.({ ...m, body: Uint8Array.from(m.body) });
      }
      return;
    }
    if (m.type === NLMSG_ERROR) {
      const errno = parseError(m);
      this.finish(m.seq, p);
      if (errno === 0) p.resolve(p.msgs);
      else p.reject(new NetlinkError(errno, p.what));
      return;
    }
    if (m.type === NLMSG_DONE) {
      this.finish(m.seq, p);
      p.resolve(p.msgs);
      return;
    }
    p.msgs.push({ ...m, body: Uint8Array.from(m.body) });
    if (!p.dump && (m.flags & NLM_F_MULTI) === 0) {
      this.finish(m.seq, p);
      p.resolve(p.msgs);
    }
  }

  private finish(seq: number, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(seq);
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    this.addon.close(fd);
    for (const [seq, p] of this.pending) {
      this.finish(seq, p);
      p.reject(new Error(`${p.what}: netlink socket closed`));
    }
  }
}
