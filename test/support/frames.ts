/**
 * Test doubles and helpers for frames: a FrameSink that records what an AF_PACKET socket would
 * send, and struct virtio_net_hdr bytes (include/uapi/linux/virtio_net.h).
 */
import type { FrameSink } from '../../src/phy/packet';

/** Records every frame it is handed; `refuse` makes it take none. */
export class RecordingSink implements FrameSink {
  frames: Buffer[] = [];
  refuse = false;
  constructor(readonly vnetHdr: boolean, readonly name: string, readonly mac: Uint8Array) {}
  send(buf: Buffer, offs: Int32Array, lens: Int32Array, count: number): number {
    if (this.refuse) return 0;
    for (let k = 0; k < count; k++) this.frames.push(Buffer.from(buf.subarray(offs[k], offs[k] + lens[k])));
    return count;
  }
  /** The recorded frames, cleared. */
  take(): Buffer[] {
    const f = this.frames;
    this.frames = [];
    return f;
  }
  close(): void {}
}

/** A 10-byte virtio_net_hdr with the given fields (little-endian). */
export function vnet(flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number,
  csumOff: number): Buffer {
  const b = Buffer.alloc(10);
  b[0] = flags;
  b[1] = gsoType;
  b.writeUInt16LE(hdrLen, 2);
  b.writeUInt16LE(gsoSize, 4);
  b.writeUInt16LE(csumStart, 6);
  b.writeUInt16LE(csumOff, 8);
  return b;
}
