/**
 * Fuzz target: the packet pipeline. One input is a burst of frames for a fresh director with
 * NAT (TCP and UDP), direct-routing, tunneling and persistent services:
 *
 *   input  := frame*            (at most MAX_FRAMES)
 *   frame  := flags:u8 len:u16be [vnet:10 if flags & 1] packet[len]
 *   flags  := bit 0 virtio-net header present, bits 1-3 clock advance (×250 ms), bit 4 expire
 *
 * Contract checked: nothing escapes the pipeline, every packet read is counted, every drop has
 * a name from DROP_NAMES, and every packet written back to the TUN has a valid IPv4 header.
 */
import { MemoryDevice } from '../../../src/phy/memory';
import { Director } from '../../../src/ipvs/director';
import { DROP_NAMES } from '../../../src/ipvs/pipeline';
import { RouteXmit } from '../../../src/xmit/dr';
import { TunnelXmit } from '../../../src/xmit/tunnel';
import { ipv4Check, WIRE_OK } from '../../../src/wire/index';
import { addr } from '../../support/builder';
import { RecordingSink } from '../../support/frames';

export const VIP = '198.18.100.1';
export const RIPS = ['198.19.0.11', '198.19.0.12', '198.19.0.13'];
const MAX_FRAMES = 32;
const MAX_PACKET = 9000;

function director(now: { t: number }): { dev: MemoryDevice; dir: Director; sink: RecordingSink } {
  const dev = new MemoryDevice({ batch: MAX_FRAMES, scratchSlots: 48 });
  const dir = new Director(dev, { clock: () => now.t, seed: 11, maxConns: 256 });
  const svc = (proto: 'tcp' | 'udp', port: number, scheduler: string, extra: object = {}) =>
    ({ op: 'add-service' as const, service: { proto, addr: VIP, port, scheduler, ...extra } });
  const rs = (proto: 'tcp' | 'udp', port: number, rip: string, rport: number, fwd: 'masq' | 'route' | 'tunnel') =>
    ({ op: 'add-server' as const, service: { proto, addr: VIP, port }, dest: { addr: rip, port: rport, fwd } });
  dir.handle([
    svc('tcp', 80, 'wlc'), rs('tcp', 80, RIPS[0], 8080, 'masq'), rs('tcp', 80, RIPS[1], 8080, 'masq'),
    svc('udp', 53, 'rr'), rs('udp', 53, RIPS[0], 53, 'masq'),
    svc('tcp', 81, 'sh'), rs('tcp', 81, RIPS[2], 81, 'route'),
    svc('tcp', 82, 'mh'), rs('tcp', 82, RIPS[1], 82, 'tunnel'), rs('tcp', 82, RIPS[2], 82, 'tunnel'),
    svc('tcp', 443, 'rr', { persistent: 300, netmask: '255.255.255.0' }), rs('tcp', 443, RIPS[0], 443, 'masq'), rs('tcp', 443, RIPS[1], 443, 'masq'),
  ] as never);
  const sink = new RecordingSink(true, 'br0', Uint8Array.from([2, 0, 0, 0, 0, 1]));
  const route = new RouteXmit();
  route.addSink(sink);
  route.setNeighbour(addr(RIPS[2]), 'br0', Uint8Array.from([2, 0, 0, 0, 0, 0x13]));
  const tunnel = new TunnelXmit();
  tunnel.setRoute(addr(RIPS[1]), addr('198.19.0.1'), 1500);
  tunnel.setRoute(addr(RIPS[2]), addr('198.19.0.1'), 1400);
  dir.pipeline.route = route;
  dir.pipeline.tunnel = tunnel;
  return { dev, dir, sink };
}

// One director for all inputs (building one per input dominates the run time); between
// inputs the clock jumps past the longest timeout and every entry expires, so each input starts from an
// empty connection table.
const now = { t: 1000 };
const { dev, dir, sink } = director(now);
// Longer than every timeout of the table (TCP established: 900 s).
const DAY_MS = 960_000;

export function fuzz(data: Buffer): void {
  now.t += DAY_MS;
  dir.pipeline.expire(now.t);
  if (dir.pipeline.conns.size !== 0) throw new Error(`${dir.pipeline.conns.size} entries outlived their timeout`);
  const rx0 = dir.pipeline.counterValues().rx_packets;
  let at = 0;
  let injected = 0;
  for (let n = 0; n < MAX_FRAMES && at + 3 <= data.length; n++) {
    const flags = data[at];
    const len = Math.min(data.readUInt16BE(at + 1), MAX_PACKET);
    at += 3;
    let vnet: Buffer | undefined;
    if (flags & 1) {
      if (at + 10 > data.length) break;
      vnet = data.subarray(at, at + 10);
      at += 10;
    }
    const packet = data.subarray(at, Math.min(at + len, data.length));
    at += packet.length;
    if (packet.length === 0) continue;
    dev.inject(packet, vnet);
    injected++;
    now.t += ((flags >> 1) & 7) * 250;
    if (flags & 0x10) dir.pipeline.expire(now.t);
  }
  dir.pipeline.drain(now.t);
  const c = dir.pipeline.counterValues();
  if (c.rx_packets - rx0 !== injected) throw new Error(`read ${c.rx_packets - rx0} of ${injected} packets`);
  for (const name of Object.keys(dir.pipeline.dropCounts())) {
    if (!DROP_NAMES.includes(name)) throw new Error(`unnamed drop reason ${name}`);
  }
  for (const w of dev.takeWritten()) {
    if (ipv4Check(w.packet, 0, w.packet.length) !== WIRE_OK) throw new Error('an invalid IPv4 packet was written');
  }
  sink.frames = [];
}

/** Frames a packet for this target's input format (used for the seed corpus). */
export function frame(packet: Buffer, vnet?: Buffer, flags = 0): Buffer {
  const head = Buffer.from([flags | (vnet ? 1 : 0), packet.length >> 8, packet.length & 0xff]);
  return Buffer.concat(vnet ? [head, vnet, packet] : [head, packet]);
}
