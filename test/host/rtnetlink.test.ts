/**
 * rtnetlink codecs (src/host/rtnetlink.ts) on hand-built messages, and the kernel view
 * (src/host/kernel.ts) against this machine's kernel (dumps need no privileges).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeDump, encodeRouteGet, type NlMessage, NLM_F_DUMP, NLM_F_REQUEST, NUD_REACHABLE, parseLink, parseMessages,
  parseNeigh, parseRoute, RTM_GETNEIGH, RTM_GETROUTE, RTM_NEWNEIGH, RTM_NEWROUTE,
} from '../../src/host/rtnetlink';
import { KernelView } from '../../src/host/kernel';
import { ipFromString } from '../../src/ipvs/types';

/** One netlink message: header, family header, then (type, value) attributes padded to 4. */
function message(type: number, family: Buffer, attrs: Array<[number, Buffer]>, seq = 0): Buffer {
  const parts: Buffer[] = [family];
  for (const [t, v] of attrs) {
    const a = Buffer.alloc((4 + v.length + 3) & ~3);
    a.writeUInt16LE(4 + v.length, 0);
    a.writeUInt16LE(t, 2);
    v.copy(a, 4);
    parts.push(a);
  }
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, body]);
}

const be32 = (a: string): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ipFromString(a) >>> 0);
  return b;
};
const le32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

function one(buf: Buffer): NlMessage {
  const out: NlMessage[] = [];
  parseMessages(buf, 0, buf.length, (m) => out.push(m));
  assert.equal(out.length, 1);
  return out[0];
}

test('RTM_GETROUTE for one destination: header, rtmsg with dst_len 32, RTA_DST in network order', () => {
  const b = encodeRouteGet(7, ipFromString('198.19.0.11'));
  assert.equal(b.length, 16 + 12 + 8);
  assert.equal(b.readUInt32LE(0), b.length);
  assert.equal(b.readUInt16LE(4), RTM_GETROUTE);
  assert.equal(b.readUInt16LE(6), NLM_F_REQUEST);
  assert.equal(b.readUInt32LE(8), 7);
  assert.equal(b[16], 2, 'AF_INET');
  assert.equal(b[17], 32);
  assert.deepEqual([...b.subarray(28)], [8, 0, 1, 0, 198, 19, 0, 11]);
  const d = encodeDump(RTM_GETNEIGH, 3);
  assert.equal(d.readUInt16LE(6), NLM_F_REQUEST | NLM_F_DUMP);
  assert.equal(d.length, 16 + 12);
});

test('an RTM_NEWROUTE answer: oif, gateway, prefsrc, table and the MTU nested in RTA_METRICS', () => {
  const rtmsg = Buffer.from([2, 32, 0, 0, 254, 2, 0, 1, 0, 0, 0, 0]);
  const metrics = Buffer.concat([Buffer.from([8, 0, 2, 0]), le32(1400)]);
  const m = one(message(RTM_NEWROUTE, rtmsg, [[1, be32('198.19.0.11')], [4, le32(7)], [5, be32('198.19.0.254')],
    [7, be32('198.19.0.1')], [15, le32(4040)], [8, metrics]]));
  assert.deepEqual(parseRoute(m), {
    dst: ipFromString('198.19.0.11') >>> 0, dstLen: 32, table: 4040, type: 1, oif: 7,
    gateway: ipFromString('198.19.0.254') >>> 0, prefsrc: ipFromString('198.19.0.1') >>> 0, mtu: 1400,
  });
  const v6 = one(message(RTM_NEWROUTE, Buffer.from([10, 128, 0, 0, 254, 2, 0, 1, 0, 0, 0, 0]), []));
  assert.equal(parseRoute(v6), undefined, 'IPv6 is not read');
});

test('an RTM_NEWNEIGH: ifindex, state, address and MAC; malformed attributes end the walk', () => {
  const nd = Buffer.alloc(12);
  nd[0] = 2;
  nd.writeInt32LE(7, 4);
  nd.writeUInt16LE(NUD_REACHABLE, 8);
  const m = one(message(RTM_NEWNEIGH, nd, [[1, be32('198.19.0.11')], [2, Buffer.from([2, 0, 0, 0, 0, 0x11])]]));
  assert.deepEqual(parseNeigh(m), { ifindex: 7, state: NUD_REACHABLE, dst: ipFromString('198.19.0.11') >>> 0,
    lladdr: '02:00:00:00:00:11' });
  const bad = message(RTM_NEWNEIGH, nd, [[1, be32('198.19.0.11')]]);
  bad.writeUInt16LE(200, 28); // attribute length beyond the message
  assert.equal(parseNeigh(one(bad)), undefined);
});

test('parseMessages walks aligned messages and stops at a truncated one', () => {
  const a = message(RTM_NEWROUTE, Buffer.alloc(12), [[1, Buffer.from([1, 2, 3])]], 1);
  const b = message(RTM_NEWROUTE, Buffer.alloc(12), [], 2);
  const all = Buffer.concat([a, b]);
  const seqs: number[] = [];
  parseMessages(all, 0, all.length, (m) => seqs.push(m.seq));
  assert.deepEqual(seqs, [1, 2]);
  seqs.length = 0;
  parseMessages(all, 0, all.length - 1, (m) => seqs.push(m.seq));
  assert.deepEqual(seqs, [1]);
  assert.equal(parseLink(one(message(16, Buffer.alloc(16), []))), undefined, 'a link without a name');
});

test('the kernel view reads this machine: the loopback link, and a route lookup over netlink', async () => {
  const v = await KernelView.open(() => undefined);
  try {
    assert.equal(v.linkName(1), 'lo');
    assert.ok(v.linkMtu(1) > 0);
    // 127.0.0.1 is a local route, not a unicast one: no next hop to use.
    assert.equal(await v.routeGet(ipFromString('127.0.0.1')), undefined);
  } finally {
    v.close();
  }
});
