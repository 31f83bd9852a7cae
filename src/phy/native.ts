/**
 * Typed view of the lvs_native addon (native/tun.cc), built by `npm run build:native` into
 * native/build/Release/lvs_native.node. Loaded on first use so that modules importing this
 * file (and the memory device) work on machines without the addon.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface NativeOpenOptions {
  /** Interface name, at most 15 bytes; a "%d" pattern lets the kernel pick a number. */
  name: string;
  /** IFF_VNET_HDR: every frame carries a 10-byte struct virtio_net_hdr. */
  vnetHdr: boolean;
  /** TUNSETOFFLOAD(CSUM|TSO4|TSO6|TSO_ECN): requires vnetHdr. */
  offload: boolean;
  /** IFF_MULTI_QUEUE: each open() of the same name attaches one more queue. */
  multiQueue?: boolean;
}

/** Counters of one device. Error maps are keyed by errno name ("ENOBUFS") or a pseudo
 * reason: SHORT (read shorter than the vnet header), BOUNDS (write frame outside buf or
 * empty), EOTHER (errno outside the table). */
export interface NativeStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  read: Record<string, number>;
  write: Record<string, number>;
}

export interface NativeAddon {
  readonly VNET_HDR_LEN: number;
  /** Opens /dev/net/tun (O_NONBLOCK, O_CLOEXEC), IFF_TUN|IFF_NO_PI. Throws an Error whose
   * `code` is the errno name. Returns the name the kernel assigned. */
  open(opts: NativeOpenOptions): { fd: number; name: string };
  /** socket(AF_INET, SOCK_RAW, protocol), O_NONBLOCK, O_CLOEXEC; rcvbuf > 0 sets its receive
   * buffer (SO_RCVBUFFORCE, else SO_RCVBUF). Read with readBatch (vnetHdrLen 0): one datagram
   * per slot, IPv4 header included. Polled, counted and closed like a TUN fd. */
  rawOpen(protocol: number, rcvbuf: number): number;
  /** socket(AF_NETLINK, SOCK_RAW, protocol), O_NONBLOCK, O_CLOEXEC, bound to the legacy group
   * bitmask `groups`; rcvbuf as rawOpen. readBatch (vnetHdrLen 0) returns one datagram per
   * slot, writeBatch sends one message per frame to the kernel; a receive queue overrun is
   * counted as read error ENOBUFS. */
  netlinkOpen(protocol: number, groups: number, rcvbuf: number): number;
  /** Reads frames until EAGAIN or maxCount; frame i lands at i*slotSize+headroom and
   * lens[i] is its length minus vnetHdrLen. Throws only on inconsistent arguments. */
  readBatch(
    fd: number,
    buf: Buffer,
    slotSize: number,
    headroom: number,
    vnetHdrLen: number,
    maxCount: number,
    lens: Int32Array,
  ): number;
  /** One write() per frame buf[offs[k], offs[k]+lens[k]); returns the number accepted. */
  writeBatch(fd: number, buf: Buffer, offs: Int32Array, lens: Int32Array, count: number): number;
  /** uv_poll on UV_READABLE; the callback gets no arguments. One poll per fd. */
  startPoll(fd: number, onReadable: () => void): void;
  /** Stops and closes the poll handle (no-op when not polling). */
  stopPoll(fd: number): void;
  /** Stops polling and closes fd; throws EBADF for an fd the addon did not open. */
  close(fd: number): void;
  /** A duplicate (O_CLOEXEC) of TUN queue fd, opened by any thread of this process, registered
   * with this addon instance; offload re-applies TUNSETOFFLOAD to the queue. */
  adopt(fd: number, offload: boolean): { fd: number; name: string };
  /** TUNSETSTEERINGEBPF on the device of queue fd (progFd -1 detaches). */
  setSteering(fd: number, progFd: number): void;
  stats(fd: number): NativeStats;
}

/** Where the addon is looked for, relative to this file compiled (dist/src/phy) or not (src/phy). */
const ADDON_CANDIDATES = [
  '../../../native/build/Release/lvs_native.node',
  '../../native/build/Release/lvs_native.node',
];

let cached: NativeAddon | undefined;

/** Absolute path of the built addon, or undefined when it has not been built. */
export function nativeAddonPath(): string | undefined {
  for (const rel of ADDON_CANDIDATES) {
    const p = path.resolve(__dirname, rel);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/** Loads the addon once; throws an Error with code ERR_LVS_NATIVE_MISSING when it is not built. */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  const p = nativeAddonPath();
  if (p === undefined) {
    const err = new Error('lvs_native addon not built: run `npm run build:native`') as NodeJS.ErrnoException;
    err.code = 'ERR_LVS_NATIVE_MISSING';
    throw err;
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  cached = require(p) as NativeAddon;
  return cached;
}
