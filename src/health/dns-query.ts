/**
 * DNS_CHECK's messages (RFC 1035 section 4.1), as keepalived's check_dns.c builds and judges
 * them: a query with RD set and one question (defaults: type SOA, name "."); a reply counts when
 * it is at least a header, has the query's ID and QR set (anything else is ignored and the
 * checker keeps waiting), and passes when its RCODE is 0.
 */
import { DNS_TYPE_CODES as TYPES, DNS_TYPES } from '../control/checks';

export function buildDnsQuery(name: string, type: string, id = 0x4c56): Buffer {
  const qtype = TYPES[type.toUpperCase()];
  if (qtype === undefined) throw new Error(`unknown DNS type '${type}'`);
  const labels = name === '.' ? [] : name.replace(/\.$/, '').split('.');
  const parts: Buffer[] = [];
  const hdr = Buffer.alloc(12);
  hdr.writeUInt16BE(id, 0);
  hdr.writeUInt16BE(0x0100, 2); // RD
  hdr.writeUInt16BE(1, 4); // QDCOUNT
  parts.push(hdr);
  for (const l of labels) {
    const b = Buffer.from(l, 'ascii');
    if (b.length === 0 || b.length > 63) throw new Error(`invalid DNS name '${name}'`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  const q = Buffer.alloc(4);
  q.writeUInt16BE(qtype, 0);
  q.writeUInt16BE(1, 2); // IN
  parts.push(q);
  const msg = Buffer.concat(parts);
  if (msg.length > 512) throw new Error(`DNS name '${name}' too long`);
  return msg;
}

export { DNS_TYPES };

/** undefined: not the reply (keep waiting); else the RCODE. */
export function dnsReplyRcode(query: Buffer, reply: Buffer): number | undefined {
  if (reply.length < 12) return undefined;
  if (reply.readUInt16BE(0) !== query.readUInt16BE(0)) return undefined;
  const flags = reply.readUInt16BE(2);
  if ((flags & 0x8000) === 0) return undefined;
  return flags & 0x000f;
}
