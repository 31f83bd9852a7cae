/**
 * VIP announcement (src/host/announce.ts): the route messages, the refusal of reserved and
 * foreign tables, readiness, and the announcer's diffing against a recording netlink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Announcer, announceTableError, encodeHostRoute, parseTableRoute, readyVips, RTPROT_LVSD, tableInUse,
} from '../../src/host/announce';
import { NetlinkError, parseMessages, type NlMessage, RTM_DELROUTE, RTM_NEWROUTE } from '../../src/host/rtnetlink';
import { ipFromString } from '../../src/ipvs/types';

const vip = (s: string): number => ipFromString(s);

test('reserved tables, the steering table and non-numbers are refused with one line; others pass', () => {
  for (const t of [0, 253, 254, 255]) {
    const e = announceTableError(t, 4040);
    assert.ok(e && !e.includes('\n'), `table ${t}`);
    assert.match(e!, new RegExp(`--announce-table ${t}: the (unspecified|default|main|local) table`));
  }
  assert.match(announceTableError(4040, 4040)!, /steering tables/);
  assert.match(announceTableError(4041, 4040)!, /firewall-mark tables/, 'a firewall-mark service\'s table');
  assert.match(announceTableError(4040 + 65535, 4040)!, /steering tables/);
  assert.equal(announceTableError(4040 + 65536, 4040), undefined);
  assert.equal(announceTableError(4039, 4040), undefined);
  assert.match(announceTableError(1.5, 4040)!, /not a table number/);
  assert.equal(announceTableError(100, 4040), undefined);
  assert.equal(announceTableError(1, 4040), undefined);
  assert.equal(announceTableError(70000, 4040), undefined);
});

test('a host route: rtmsg and attributes as the kernel reads them; a table above 255 only in RTA_TABLE', () => {
  const b = encodeHostRoute(RTM_NEWROUTE, 7, vip('198.18.0.10'), 300, 12);
  assert.equal(b.readUInt32LE(0), b.length);
  assert.equal(b.readUInt16LE(4), RTM_NEWROUTE);
  assert.equal(b.readUInt16LE(6), 0x1 | 0x4 | 0x400 | 0x100); // REQUEST ACK CREATE REPLACE
  assert.equal(b.readUInt32LE(8), 7);
  const r = 16;
  assert.deepEqual([...b.subarray(r, r + 8)], [2, 32, 0, 0, 0, RTPROT_LVSD, 253, 1]);
  // The same bytes parse back as a route of table 300, protocol lvsd, through ifindex 12.
  let m: NlMessage | undefined;
  parseMessages(b, 0, b.length, (x) => { m = x; });
  assert.deepEqual(parseTableRoute(m!), { table: 300, protocol: RTPROT_LVSD, dst: vip('198.18.0.10'), dstLen: 32, oif: 12 });
  const d = encodeHostRoute(RTM_DELROUTE, 8, vip('198.18.0.10'), 100, 12);
  assert.equal(d.readUInt16LE(6), 0x1 | 0x4);
  assert.equal(d[r + 4], 100);
});

test('a table with routes of another protocol, or lvsd routes of another device, is in use', () => {
  const own = { table: 100, protocol: RTPROT_LVSD, dst: vip('198.18.0.10'), dstLen: 32, oif: 5 };
  assert.equal(tableInUse([], 100, 0), undefined);
  assert.equal(tableInUse([own], 100, 5), undefined);
  assert.equal(tableInUse([{ ...own, table: 254, protocol: 2 }], 100, 0), undefined);
  const foreign = tableInUse([own, { ...own, protocol: 4, dst: vip('198.18.5.0'), dstLen: 24 }], 100, 5);
  assert.match(foreign!, /^--announce-table 100: the table is in use by another program \(route 198\.18\.5\.0\/24 of protocol 4\)/);
  assert.match(tableInUse([own], 100, 0)!, /another lvsd/);
});

test('ready VIPs: a service with a usable real server, synced, VRRP allowing; fwmark services name no VIP', () => {
  const usable = { weight: 1, available: true };
  const services = [
    { addr: vip('198.18.0.10'), fwmark: 0, dests: [usable] },
    { addr: vip('198.18.0.11'), fwmark: 0, dests: [{ weight: 0, available: true }, { weight: 3, available: false }] },
    { addr: vip('198.18.0.12'), fwmark: 0, dests: [] },
    { addr: 0, fwmark: 7, dests: [usable] },
    // Another port of .11 with a usable server makes .11 ready.
    { addr: vip('198.18.0.13'), fwmark: 0, dests: [{ weight: 0, available: true }] },
    { addr: vip('198.18.0.13'), fwmark: 0, dests: [usable] },
  ];
  assert.deepEqual([...readyVips({ services, synced: true, vrrpAllows: true })].sort(),
    [vip('198.18.0.10'), vip('198.18.0.13')].sort());
  assert.equal(readyVips({ services, synced: false, vrrpAllows: true }).size, 0);
  assert.equal(readyVips({ services, synced: true, vrrpAllows: false }).size, 0);
  // A VIP an instance holds follows that instance, whatever the others' states.
  const all = [...readyVips({ services, synced: true, vrrpAllows: true })];
  assert.ok(all.length >= 2, 'the case needs two ready VIPs');
  const [held] = all;
  assert.deepEqual([...readyVips({ services, synced: true, vrrpAllows: true, vrrpVips: new Map([[held, false]]) })].sort(),
    all.filter((v) => v !== held).sort(), 'held by a BACKUP instance: withdrawn though another instance is MASTER');
  assert.deepEqual([...readyVips({ services, synced: true, vrrpAllows: false, vrrpVips: new Map([[held, true]]) })],
    [held], 'held by a MASTER instance: announced; the others follow the global gate');
});

function recorder(fail: (type: number, dst: number) => number = () => 0) {
  const calls: Array<{ type: number; dst: number; table: number; oif: number }> = [];
  const rtnl = {
    ask: async (msg: Buffer): Promise<NlMessage[]> => {
      let m: NlMessage | undefined;
      parseMessages(msg, 0, msg.length, (x) => { m = x; });
      const r = parseTableRoute(m!)!;
      calls.push({ type: m!.type, dst: r.dst, table: r.table, oif: r.oif });
      const errno = fail(m!.type, r.dst);
      if (errno !== 0) throw new NetlinkError(errno, 'route');
      return [];
    },
  };
  return { calls, rtnl };
}

const quiet = { info: () => undefined, warn: () => undefined };

test('the announcer adds what is wanted, removes what is not, and only changes the difference', async () => {
  const { calls, rtnl } = recorder();
  const a = new Announcer(rtnl, 100, 9, quiet);
  await a.want(new Set([vip('198.18.0.10'), vip('198.18.0.11')]));
  assert.deepEqual(calls.map((c) => [c.type, c.dst, c.table, c.oif]), [
    [RTM_NEWROUTE, vip('198.18.0.10'), 100, 9], [RTM_NEWROUTE, vip('198.18.0.11'), 100, 9]]);
  calls.length = 0;
  await a.want(new Set([vip('198.18.0.11'), vip('198.18.0.12')]));
  assert.deepEqual(calls.map((c) => [c.type, c.dst]), [[RTM_DELROUTE, vip('198.18.0.10')], [RTM_NEWROUTE, vip('198.18.0.12')]]);
  calls.length = 0;
  await a.want(new Set([vip('198.18.0.11'), vip('198.18.0.12')]));
  assert.equal(calls.length, 0);
  await a.close();
  assert.deepEqual(calls.map((c) => c.type), [RTM_DELROUTE, RTM_DELROUTE]);
  assert.equal(a.routes.size, 0);
  assert.deepEqual(a.stats, { announced: 3, withdrawn: 3, errors: 0 });
  calls.length = 0;
  await a.want(new Set([vip('198.18.0.10')]));
  assert.equal(calls.length, 0, 'closed: no further change');
});

test('a failed change is counted and retried at the next evaluation; a withdrawal of a gone route is done', async () => {
  let failing = true;
  const { calls, rtnl } = recorder((type) => (type === RTM_NEWROUTE && failing ? 19 : type === RTM_DELROUTE ? 3 : 0));
  const a = new Announcer(rtnl, 100, 9, quiet);
  await a.want(new Set([vip('198.18.0.10')]));
  assert.equal(a.routes.size, 0);
  assert.equal(a.stats.errors, 1);
  failing = false;
  await a.want(new Set([vip('198.18.0.10')]));
  assert.deepEqual([...a.routes], [vip('198.18.0.10')]);
  await a.want(new Set());
  assert.equal(a.routes.size, 0, 'ESRCH on withdrawal: the route is gone');
  assert.equal(calls.length, 3);
});

test('wants arriving during a change are merged: the last one wins', async () => {
  const { calls, rtnl } = recorder();
  const a = new Announcer(rtnl, 100, 9, quiet);
  const p1 = a.want(new Set([vip('198.18.0.10')]));
  void a.want(new Set([vip('198.18.0.11')]));
  const p3 = a.want(new Set([vip('198.18.0.12')]));
  await Promise.all([p1, p3]);
  assert.deepEqual([...a.routes], [vip('198.18.0.12')]);
  assert.ok(calls.length <= 3, `${calls.length} changes`);
});
