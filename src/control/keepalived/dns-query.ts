/**
 * A DNS query message (RFC 1035 section 4.1) for DNS_CHECK: header with RD set, one question.
 * keepalived's DNS_CHECK defaults: type SOA, name ".".
 */
const TYPES: Record<string, number> = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, RRSIG: 46, DNSKEY: 48,
};

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
