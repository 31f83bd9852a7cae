/**
 * IPv6 addresses (RFC 4291) held without allocation, and their text forms.
 *
 * Representation: four uint32 words in network order of significance (word 0 = bits 0..31,
 * the first 32 bits on the wire) in a Uint32Array, at a word index `o` (a multiple of 4 by
 * convention, so that a table of N addresses is one Uint32Array(4N)). The packet path never
 * builds a string or an object for an address: it compares the 16 bytes in the packet with
 * the 4 words of a slot (addr6EqualsBytes), copies between the two (addr6Load/addr6Store) and
 * hashes the words (addr6Fold, as ip_vs_conn_hashkey folds an IPv6 address by XOR of its four
 * words in net/netfilter/ipvs/ip_vs_conn.c).
 *
 * Text (control plane only, may allocate):
 * - parseIpv6 accepts what glibc's inet_pton(AF_INET6) accepts and nothing else: 1..4 hex
 *   digits per group, at most one "::", eight groups in all, an optional dotted quad in the
 *   last 32 bits (decimal octets 0..255 without leading zeros). No zone ("%eth0"), no
 *   brackets, no prefix length, no surrounding spaces.
 * - formatIpv6 prints what inet_ntop(AF_INET6) prints and so what ipvsadm -n shows: RFC 5952
 *   (lower case, leading zeros dropped, the longest run of two or more zero groups - the first
 *   of equal runs - as "::"), and the IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible
 *   (::a.b.c.d, words 0..5 zero and word 6 not) forms with a dotted quad, as glibc's
 *   inet_ntop6 does.
 * - parseIpv6Endpoint reads ipvsadm's service/server syntax "[2001:2::1]:80" (brackets
 *   required around an IPv6 address that a port follows, as ipvsadm's parse_service).
 */

/** Words per address. */
export const ADDR6_WORDS = 4;
/** Bytes per address on the wire. */
export const ADDR6_LEN = 16;

/** A Uint32Array for n addresses (n slots of 4 words), zeroed (the unspecified address ::). */
export function addr6Table(n: number): Uint32Array {
  return new Uint32Array(n * ADDR6_WORDS);
}

/** Copies the 16 bytes at buf[off..] into slot words a[o..o+4). */
export function addr6Load(buf: Uint8Array, off: number, a: Uint32Array, o: number): void {
  a[o] = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
  a[o + 1] = (buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7];
  a[o + 2] = (buf[off + 8] << 24) | (buf[off + 9] << 16) | (buf[off + 10] << 8) | buf[off + 11];
  a[o + 3] = (buf[off + 12] << 24) | (buf[off + 13] << 16) | (buf[off + 14] << 8) | buf[off + 15];
}

/** Writes slot a[o..o+4) as 16 bytes at buf[off..]. */
export function addr6Store(a: Uint32Array, o: number, buf: Uint8Array, off: number): void {
  for (let i = 0; i < 4; i++) {
    const w = a[o + i];
    const b = off + (i << 2);
    buf[b] = w >>> 24;
    buf[b + 1] = w >>> 16;
    buf[b + 2] = w >>> 8;
    buf[b + 3] = w;
  }
}

/** The 32-bit word i (0..3) of the address at buf[off..], as int32 (never a heap number). */
export function addr6WordI32(buf: Uint8Array, off: number, i: number): number {
  const b = off + (i << 2);
  return (buf[b] << 24) | (buf[b + 1] << 16) | (buf[b + 2] << 8) | buf[b + 3];
}

/** True when the 16 bytes at buf[off..] equal slot a[o..o+4). */
export function addr6EqualsBytes(buf: Uint8Array, off: number, a: Uint32Array, o: number): boolean {
  return addr6WordI32(buf, off, 0) === (a[o] | 0) && addr6WordI32(buf, off, 1) === (a[o + 1] | 0)
    && addr6WordI32(buf, off, 2) === (a[o + 2] | 0) && addr6WordI32(buf, off, 3) === (a[o + 3] | 0);
}

/** True when the 16 bytes at x[xo..] equal those at y[yo..]. */
export function addr6BytesEqual(x: Uint8Array, xo: number, y: Uint8Array, yo: number): boolean {
  for (let i = 0; i < 16; i += 4) {
    if (addr6WordI32(x, xo, i >> 2) !== addr6WordI32(y, yo, i >> 2)) return false;
  }
  return true;
}

/** True when slots a[ao..] and b[bo..] hold the same address. */
export function addr6Equal(a: Uint32Array, ao: number, b: Uint32Array, bo: number): boolean {
  return a[ao] === b[bo] && a[ao + 1] === b[bo + 1] && a[ao + 2] === b[bo + 2] && a[ao + 3] === b[bo + 3];
}

/** Copies slot src[so..] to dst[do_..]. */
export function addr6Copy(src: Uint32Array, so: number, dst: Uint32Array, do_: number): void {
  dst[do_] = src[so];
  dst[do_ + 1] = src[so + 1];
  dst[do_ + 2] = src[so + 2];
  dst[do_ + 3] = src[so + 3];
}

/** -1, 0 or 1 comparing slots as 128-bit unsigned numbers (for sorted listings). */
export function addr6Compare(a: Uint32Array, ao: number, b: Uint32Array, bo: number): number {
  for (let i = 0; i < 4; i++) {
    if (a[ao + i] !== b[bo + i]) return a[ao + i] < b[bo + i] ? -1 : 1;
  }
  return 0;
}

/** XOR of the four words of the address at buf[off..], int32: the kernel's IPv6 hash key fold. */
export function addr6FoldBytes(buf: Uint8Array, off: number): number {
  return addr6WordI32(buf, off, 0) ^ addr6WordI32(buf, off, 1) ^ addr6WordI32(buf, off, 2) ^ addr6WordI32(buf, off, 3);
}

/** XOR of the four words of slot a[o..], int32; equals addr6FoldBytes of the same address. */
export function addr6Fold(a: Uint32Array, o: number): number {
  return a[o] ^ a[o + 1] ^ a[o + 2] ^ a[o + 3];
}

/**
 * Applies a prefix length (0..128) to slot a[o..] in place: the bits after the prefix become
 * zero (persistence netmasks of IPv6 services are prefix lengths, ipvsadm -M 64).
 */
export function addr6Mask(a: Uint32Array, o: number, prefixLen: number): void {
  for (let i = 0; i < 4; i++) {
    const bits = prefixLen - 32 * i;
    if (bits >= 32) continue;
    a[o + i] = bits <= 0 ? 0 : (a[o + i] & (0xffffffff << (32 - bits))) >>> 0;
  }
}

/** True for ff00::/8 (RFC 4291 §2.7) at buf[off..]. */
export function addr6IsMulticastBytes(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0xff;
}

/** True for :: (RFC 4291 §2.5.2) at buf[off..]. */
export function addr6IsUnspecifiedBytes(buf: Uint8Array, off: number): boolean {
  return (addr6WordI32(buf, off, 0) | addr6WordI32(buf, off, 1) | addr6WordI32(buf, off, 2) | addr6WordI32(buf, off, 3)) === 0;
}

/** True for fe80::/10 (RFC 4291 §2.5.6) at buf[off..]. */
export function addr6IsLinkLocalBytes(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0xfe && (buf[off + 1] & 0xc0) === 0x80;
}

// ---------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * Parses a dotted quad s[from..to) (glibc inet_pton4: four decimal octets 0..255, no leading
 * zeros, nothing else). Returns the uint32 value or -1.
 */
function parseDottedQuad(s: string, from: number, to: number): number {
  let v = 0;
  let octets = 0;
  let i = from;
  while (i < to) {
    let n = 0;
    let digits = 0;
    const start = i;
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      n = n * 10 + (c - 0x30);
      digits++;
      i++;
      if (n > 255) return -1;
    }
    if (digits === 0 || (digits > 1 && s.charCodeAt(start) === 0x30)) return -1;
    v = v * 256 + n;
    octets++;
    if (i === to) break;
    if (s.charCodeAt(i) !== 0x2e || octets === 4) return -1;
    i++;
    if (i === to) return -1;
  }
  return octets === 4 ? v : -1;
}

/**
 * Parses IPv6 text (the rules above) into slot out[o..o+4). Returns true on success; on
 * failure returns false and leaves out unchanged.
 */
export function parseIpv6(s: string, out: Uint32Array, o: number): boolean {
  const n = s.length;
  if (n < 2 || n > 45) return false; // "::" .. "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
  const g = GROUPS;
  let count = 0;
  let gap = -1;
  let i = 0;
  if (s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return false;
    gap = 0;
    i = 2;
    if (i === n) return store(g, 0, gap, out, o);
  }
  for (;;) {
    // One group: hex digits, or a dotted quad when it is the last thing in the text.
    let v = 0;
    let digits = 0;
    const start = i;
    while (i < n) {
      const h = hexVal(s.charCodeAt(i));
      if (h < 0) break;
      v = (v << 4) | h;
      digits++;
      i++;
    }
    if (i < n && s.charCodeAt(i) === 0x2e) {
      if (count > 6) return false;
      const q = parseDottedQuad(s, start, n);
      if (q < 0) return false;
      g[count++] = q >>> 16;
      g[count++] = q & 0xffff;
      i = n;
      break;
    }
    if (digits === 0 || digits > 4 || count === 8) return false;
    g[count++] = v;
    if (i === n) break;
    if (s.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i === n) return false; // a trailing single ':'
    if (s.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return false; // a second "::"
      gap = count;
      i++;
      if (i === n) break;
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  return store(g, count, gap, out, o);
}

/** Scratch groups of parseIpv6 (the control plane parses one address at a time). */
const GROUPS = new Uint32Array(8);

function store(g: Uint32Array, count: number, gap: number, out: Uint32Array, o: number): boolean {
  const full = [0, 0, 0, 0, 0, 0, 0, 0];
  if (gap < 0) {
    for (let k = 0; k < 8; k++) full[k] = g[k];
  } else {
    for (let k = 0; k < gap; k++) full[k] = g[k];
    const tail = count - gap;
    for (let k = 0; k < tail; k++) full[8 - tail + k] = g[gap + k];
  }
  for (let k = 0; k < 4; k++) out[o + k] = ((full[2 * k] << 16) | full[2 * k + 1]) >>> 0;
  return true;
}

/** parseIpv6 into a fresh 4-word array, or null. */
export function ipv6FromString(s: string): Uint32Array | null {
  const a = new Uint32Array(4);
  return parseIpv6(s, a, 0) ? a : null;
}

/** Formats slot a[o..o+4) as inet_ntop(AF_INET6) does (the rules above). */
export function formatIpv6(a: Uint32Array, o: number): string {
  const w = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let k = 0; k < 4; k++) {
    w[2 * k] = a[o + k] >>> 16;
    w[2 * k + 1] = a[o + k] & 0xffff;
  }
  // Longest run of zero groups; the first one wins a tie; a run of one is not compressed.
  let bestBase = -1;
  let bestLen = 0;
  for (let k = 0; k < 8;) {
    if (w[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && w[e] === 0) e++;
    if (e - k > bestLen) {
      bestBase = k;
      bestLen = e - k;
    }
    k = e;
  }
  if (bestLen < 2) bestBase = -1;
  let s = '';
  for (let k = 0; k < 8; k++) {
    if (bestBase >= 0 && k >= bestBase && k < bestBase + bestLen) {
      if (k === bestBase) s += ':';
      continue;
    }
    if (k !== 0) s += ':';
    // Encapsulated IPv4 (glibc inet_ntop6): ::a.b.c.d and ::ffff:a.b.c.d.
    if (k === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      const v = a[o + 3];
      s += `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
      return s;
    }
    s += w[k].toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) s += ':';
  return s;
}

/** formatIpv6 of the 16 bytes at buf[off..]. */
export function formatIpv6Bytes(buf: Uint8Array, off: number): string {
  const a = new Uint32Array(4);
  addr6Load(buf, off, a, 0);
  return formatIpv6(a, 0);
}

/** An address and port read from text; port -1 when the text had none. */
export interface Ipv6Endpoint {
  addr: Uint32Array;
  port: number;
}

/**
 * Parses ipvsadm's IPv6 endpoint syntax: "[addr]:port", "[addr]" or a bare "addr". The port
 * is 1..5 decimal digits worth 0..65535, without sign or spaces (ipvsadm's strtol would take
 * " +80"; that is refused here); service names (http) are the command line's business. Returns null for anything else, among them
 * "[addr]:" (empty port), "addr:port" without brackets (ambiguous) and unbalanced brackets.
 */
export function parseIpv6Endpoint(s: string): Ipv6Endpoint | null {
  const addr = new Uint32Array(4);
  if (s.charCodeAt(0) !== 0x5b) return parseIpv6(s, addr, 0) ? { addr, port: -1 } : null;
  const close = s.indexOf(']');
  if (close < 0 || !parseIpv6(s.slice(1, close), addr, 0)) return null;
  if (close === s.length - 1) return { addr, port: -1 };
  if (s.charCodeAt(close + 1) !== 0x3a) return null;
  const p = s.slice(close + 2);
  if (!/^[0-9]{1,5}$/.test(p)) return null;
  const port = Number(p);
  return port <= 0xffff ? { addr, port } : null;
}

/** ipvsadm's display of an IPv6 endpoint: "[2001:2::1]:80". */
export function formatIpv6Endpoint(a: Uint32Array, o: number, port: number): string {
  return `[${formatIpv6(a, o)}]:${port}`;
}
