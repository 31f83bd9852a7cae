/**
 * Fuzz target: the IPv6 wire layer on one untrusted packet.
 *
 *   input := mode:u8 packet
 *   mode  := bit 0 NEEDS_CSUM (the checksum field is a partial sum), bits 1-2 the packet's offset
 *            in its buffer (0, 1, 2 or 7 bytes of headroom), bit 3 advance the clock past the
 *            fragment lifetime first
 *
 * The packet goes through ipv6Classify; what passes goes on to whatever applies to it: the
 * ICMPv6 quote parser, the fragment tracker, NAT66 in both directions, an echo reply, an ICMPv6
 * error about it, 6in6 encapsulation, and the address text round trip.
 *
 * Contract checked: every function returns a named code and never throws; an accepted packet's
 * offsets lie inside it; a TCP/UDP/ICMPv6 checksum that verified before NAT66 verifies after
 * (a partial sum stays the pseudo-header sum); every packet built (echo reply, error, tunnel)
 * classifies as valid; formatted addresses parse back to the same bytes; the tracker stays
 * within its budget.
 */
import {
  FRAG6_FIRST, FRAG6_LATER, FRAG6_NONE, Frag6Flow, Frag6Tracker, ICMP6_DEST_UNREACH, ICMP6_ECHO_REQUEST,
  ICMP6_PORT_UNREACH, IPV6_DROP_COUNT, IPV6_HDR_LEN, IPV6_MAX_EXT_HDRS, Icmp6Quote, Ipv6Info, WIRE_OK,
  addr6Load, buildIcmp6Error, buildEchoReply6, csumPartial, formatIpv6, icmp6ErrorAllowed, icmp6IsError,
  ipv6Classify, ipv6FromString, ipv6PayloadLen, parseIcmp6Quote, parseIpv6, parseIpv6Endpoint,
  pseudoHeaderSum6,
} from '../../../src/wire/index';
import { nat66Reply, nat66Request } from '../../../src/xmit/nat66';
import { encap6in6 } from '../../../src/xmit/tunnel6';

const HEADROOM = [0, 1, 2, 7];
const BUDGET = 64;
const RIP = ipv6FromString('2001:2:1::11') as Uint32Array;
const VIP = ipv6FromString('2001:2:0:100::1') as Uint32Array;
const DIP = ipv6FromString('2001:2:1::1') as Uint32Array;

const info = new Ipv6Info();
const check = new Ipv6Info();
const quote = new Icmp6Quote();
const flow = new Frag6Flow();
const tracker = new Frag6Tracker({ budget: BUDGET, expiryMs: 60_000, seed: 3 });
const work = Buffer.alloc(65536 + 64);
const out = Buffer.alloc(65536 + 128);
const addr = new Uint32Array(4);
let now = 0;

function fail(msg: string): never {
  throw new Error(msg);
}

function known(rc: number, what: string): void {
  if (!Number.isInteger(rc) || rc < 0 || rc >= IPV6_DROP_COUNT) fail(`${what}: unknown code ${rc}`);
}

function checkField(proto: number): number {
  return proto === 6 ? 16 : proto === 17 ? 6 : 2;
}

/** True when the TCP/UDP/ICMPv6 message at info verifies with its pseudo-header. */
function verifies(buf: Uint8Array, ip: number, i: Ipv6Info): boolean {
  return csumPartial(buf, i.l4Off, i.l4Len, pseudoHeaderSum6(buf, ip, i.proto, i.l4Len)) === 0xffff;
}

export function fuzz(data: Buffer): void {
  if (data.length < 1) return;
  const mode = data[0];
  const partial = (mode & 1) !== 0;
  const off = HEADROOM[(mode >> 1) & 3];
  if (mode & 8) now += 61_000;
  now += 1;
  const pkt = data.subarray(1, Math.min(data.length, 65536 + 40));
  pkt.copy(work, off);
  const avail = pkt.length;
  const buf = work;

  const rc = ipv6Classify(buf, off, avail, info, partial);
  known(rc, 'classify');
  if (rc !== WIRE_OK) return;
  const end = off + IPV6_HDR_LEN + ipv6PayloadLen(buf, off);
  if (info.end !== end || end > off + avail) fail('end outside the packet');
  if (info.l4Off < off + IPV6_HDR_LEN || info.l4Off + info.l4Len !== end || info.l4Len < 0) fail('upper layer outside the packet');
  if (info.extHdrs > IPV6_MAX_EXT_HDRS) fail('chain longer than the bound');
  if (info.frag !== FRAG6_NONE && info.frag !== FRAG6_FIRST && info.frag !== FRAG6_LATER) fail('unknown fragment state');

  // Address text round trip.
  addr6Load(buf, off + 8, addr, 0);
  const text = formatIpv6(addr, 0);
  const back = new Uint32Array(4);
  if (!parseIpv6(text, back, 0) || back.some((w, k) => w !== addr[k])) fail(`address ${text} does not parse back`);
  const ep = parseIpv6Endpoint(pkt.subarray(0, 48).toString('latin1'));
  if (ep && (ep.port < -1 || ep.port > 65535)) fail('endpoint port out of range');

  const proto = info.proto;
  const unfragmented = info.frag === FRAG6_NONE;

  // ICMPv6 errors: the quote.
  if (proto === 58 && unfragmented && icmp6IsError(buf[info.l4Off])) {
    const q = parseIcmp6Quote(buf, info.l4Off, info.l4Len, quote);
    known(q, 'quote');
    if (q === WIRE_OK && (quote.ipOff + IPV6_HDR_LEN > end || quote.l4Off > end)) fail('quote outside the packet');
  }

  // Fragments: the tracker.
  if (!unfragmented) {
    const t = tracker.track(buf, off, info, now, flow);
    known(t, 'track');
    if (tracker.size > BUDGET || tracker.size < 0) fail(`tracker holds ${tracker.size}`);
  }
  if ((mode & 0x30) === 0x30) tracker.expire(now, 16);

  // NAT66 in both directions keeps a verifying checksum verifying.
  if ((proto === 6 || proto === 17 || proto === 58) && info.frag !== FRAG6_LATER) {
    const l4 = info.l4Off;
    const before = unfragmented && !partial && verifies(buf, off, info);
    const co = info.l4Off + checkField(proto);
    const wasPseudo = partial && ((buf[co] << 8) | buf[co + 1]) === pseudoHeaderSum6(buf, off, proto, info.l4Len);
    const zeroUdp = proto === 17 && buf[co] === 0 && buf[co + 1] === 0;
    nat66Request(buf, off, l4, proto, RIP, 0, 8080, partial);
    nat66Reply(buf, off, l4, proto, VIP, 0, 80, partial);
    if (before && !zeroUdp && !verifies(buf, off, info)) fail('NAT66 broke a verifying checksum');
    if (wasPseudo && ((buf[co] << 8) | buf[co + 1]) !== pseudoHeaderSum6(buf, off, proto, info.l4Len)) {
      fail('NAT66 lost the pseudo-header sum');
    }
    // An unfragmented ICMPv6 message without NEEDS_CSUM verified to be accepted, so it still
    // does; nothing else that the classifier looks at changes.
    if (ipv6Classify(buf, off, avail, check, partial) !== WIRE_OK) fail('NAT66 made an accepted packet invalid');
  }

  // An echo reply to an echo request.
  if (proto === 58 && unfragmented && buf[info.l4Off] === ICMP6_ECHO_REQUEST && info.l4Len >= 8) {
    const n = buildEchoReply6(out, 0, buf, off, info.l4Off, info.l4Len);
    if (ipv6Classify(out, 0, n, check, false) !== WIRE_OK) fail('an echo reply that does not classify');
  }

  // An ICMPv6 error about the packet, when one may be sent.
  if (ipv6Classify(buf, off, avail, info, partial) === WIRE_OK
    && icmp6ErrorAllowed(buf, off, info, ICMP6_DEST_UNREACH, ICMP6_PORT_UNREACH)) {
    const n = buildIcmp6Error(out, 0, ICMP6_DEST_UNREACH, ICMP6_PORT_UNREACH, 0, buf, off, end - off, VIP, 0);
    if (n > 1280) fail('an error above 1280 bytes');
    if (ipv6Classify(out, 0, n, check, false) !== WIRE_OK) fail('an ICMPv6 error that does not classify');
  }

  // 6in6: the tunnel packet is valid IPv6 carrying IPv6.
  const len = end - off;
  if (len <= 0xffff) {
    const n = encap6in6(out, 0, buf, off, len, DIP, 0, RIP, 0);
    if (ipv6Classify(out, 0, n, check, false) !== WIRE_OK || check.proto !== 41) fail('a tunnel packet that does not classify');
  }
}
