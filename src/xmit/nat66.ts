/**
 * NAT66 rewrites of the masquerading forwarder (ipvsadm -m) for IPv6, as ip_vs_nat_xmit_v6
 * and the protocol handlers' *_snat/*_dnat_handler in net/netfilter/ipvs/ do: requests get
 * the real server as destination (VIP -> RIP, port -> real port), replies the VIP as source
 * (RIP -> VIP, real port -> virtual port). TCP, UDP and ICMPv6 echo.
 *
 * IPv6 has no header checksum; both addresses sit in the pseudo-header of TCP, UDP and ICMPv6
 * (RFC 8200 §8.1, RFC 4443 §2.3), so an address change is one 128-bit RFC 1624 update of the
 * upper-layer checksum, folded with the port change into a single delta.
 *
 * Contract:
 * - buf holds an IPv6 packet at ipOff that ipv6Classify (src/wire/ipv6-ext.ts) accepted;
 *   l4Off is its info.l4Off for an unfragmented packet or a first fragment, or -1 for a later
 *   fragment: then only the address is written (the checksum that covers it, and the ports,
 *   travel in the first fragment).
 * - proto is info.proto: NEXTHDR_TCP, NEXTHDR_UDP or NEXTHDR_ICMPV6 (echo request or reply;
 *   the "port" of an echo is its identifier, rewritten only when a port >= 0 is given). For
 *   any other protocol only the address is written.
 * - l4Partial = false: the field holds a complete checksum, updated by RFC 1624 eqn. 3. A UDP
 *   result of 0 is stored as 0xffff; a UDP field of 0 (no checksum, which ipv6Classify refuses
 *   over IPv6) stays 0.
 * - l4Partial = true (virtio-net NEEDS_CSUM, TSO6/USO6 super-packets included): the field holds
 *   the pseudo-header sum, which the address delta adjusts; ports and the echo identifier lie
 *   in the bytes the kernel will sum, so they need nothing. A super-packet's pseudo-header sum
 *   includes its own length, which NAT does not change: segmenting it later stays correct.
 * The new address is slot a[o..o+4) (src/wire/addr6.ts). Allocates nothing.
 */

import { csumAddr6Delta, csumApplyDelta, csumFold, csumPartialApplyDelta, L4_CHECK_OFFSET6 } from '../wire/checksum';
import { IPV6_OFF_DST, IPV6_OFF_SRC, NEXTHDR_ICMPV6, NEXTHDR_UDP } from '../wire/ipv6';

/** Offsets of the port fields in TCP and UDP (source 0, destination 2), and the echo id (4). */
const SPORT = 0;
const DPORT = 2;
const ECHO_ID = 4;

function rewrite(buf: Uint8Array, ipOff: number, field: number, l4Off: number, proto: number, a: Uint32Array, o: number,
  portField: number, port: number, l4Partial: boolean): void {
  const ao = ipOff + field;
  const delta = csumAddr6Delta(buf, ao, a, o);
  for (let i = 0; i < 4; i++) {
    const w = a[o + i];
    const b = ao + (i << 2);
    buf[b] = w >>> 24;
    buf[b + 1] = w >>> 16;
    buf[b + 2] = w >>> 8;
    buf[b + 3] = w;
  }
  if (l4Off < 0) return;
  const co = L4_CHECK_OFFSET6[proto];
  if (co < 0) return;
  let d = delta;
  if (port >= 0) {
    const po = l4Off + (proto === NEXTHDR_ICMPV6 ? ECHO_ID : portField);
    const old = (buf[po] << 8) | buf[po + 1];
    buf[po] = port >>> 8;
    buf[po + 1] = port;
    if (!l4Partial) d = csumFold(d + (~old & 0xffff) + (port & 0xffff));
  }
  const c = l4Off + co;
  const check = (buf[c] << 8) | buf[c + 1];
  let v: number;
  if (l4Partial) {
    v = csumPartialApplyDelta(check, delta);
  } else if (proto === NEXTHDR_UDP) {
    if (check === 0) return;
    v = csumApplyDelta(check, d);
    if (v === 0) v = 0xffff;
  } else {
    v = csumApplyDelta(check, d);
  }
  buf[c] = v >>> 8;
  buf[c + 1] = v;
}

/** Rewrites the destination address (and, when port >= 0, the destination port / echo id). */
export function nat66SetDst(buf: Uint8Array, ipOff: number, l4Off: number, proto: number, a: Uint32Array, o: number,
  port: number, l4Partial: boolean): void {
  rewrite(buf, ipOff, IPV6_OFF_DST, l4Off, proto, a, o, DPORT, port, l4Partial);
}

/** Rewrites the source address (and, when port >= 0, the source port / echo id). */
export function nat66SetSrc(buf: Uint8Array, ipOff: number, l4Off: number, proto: number, a: Uint32Array, o: number,
  port: number, l4Partial: boolean): void {
  rewrite(buf, ipOff, IPV6_OFF_SRC, l4Off, proto, a, o, SPORT, port, l4Partial);
}

/**
 * A request from the client to the VIP, towards the real server in slot rip[ro..] on port
 * rport (TCP/UDP destination port; pass -1 to keep the port, and for ICMPv6 echo, whose
 * identifier the client chose and the real server echoes).
 */
export function nat66Request(buf: Uint8Array, ipOff: number, l4Off: number, proto: number, rip: Uint32Array, ro: number,
  rport: number, l4Partial: boolean): void {
  rewrite(buf, ipOff, IPV6_OFF_DST, l4Off, proto, rip, ro, DPORT, proto === NEXTHDR_ICMPV6 ? -1 : rport, l4Partial);
}

/**
 * A reply from the real server to the client, leaving as from the VIP in slot vip[vo..] and
 * port vport (TCP/UDP source port; -1 to keep it; never the identifier of an echo reply).
 */
export function nat66Reply(buf: Uint8Array, ipOff: number, l4Off: number, proto: number, vip: Uint32Array, vo: number,
  vport: number, l4Partial: boolean): void {
  rewrite(buf, ipOff, IPV6_OFF_SRC, l4Off, proto, vip, vo, SPORT, proto === NEXTHDR_ICMPV6 ? -1 : vport, l4Partial);
}
