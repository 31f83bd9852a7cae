/**
 * Seed inputs for the fuzz targets, built from the same packets, messages and files the unit
 * and golden tests use: valid inputs of every kind, so that mutation starts from deep paths.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pkt } from '../support/builder';
import { vnet } from '../support/frames';
import { frame, VIP, RIPS } from './targets/pipeline';
import { encodeSync, sealSync, CONN_F_TEMPLATE } from '../../src/wire/ipvs-sync';
import { encodeVrrp } from '../../src/wire/vrrp';
import { encodeFrame, Op, u8, u16, u32 } from '../../src/dlm/protocol';
import { addr } from '../support/builder';

export const TARGETS = ['pipeline', 'keepalived', 'lvsadm', 'control', 'dlm', 'sync', 'vrrp', 'ipv6'] as const;
export type Target = (typeof TARGETS)[number];

const ROOT = join(__dirname, '..', '..', '..');

function pipelineSeeds(): Buffer[] {
  const cip = '198.18.0.2';
  const seeds: Buffer[] = [];
  for (const dport of [80, 81, 82, 443]) {
    const syn = pkt().ip({ src: cip, dst: VIP }).tcp({ sport: 40000, dport, flags: 'S' }).build();
    const ack = pkt().ip({ src: cip, dst: VIP, df: true }).tcp({ sport: 40000, dport, flags: 'A' }).payload('GET / HTTP/1.1\r\n\r\n').build();
    const reply = pkt().ip({ src: RIPS[0], dst: cip }).tcp({ sport: 8080, dport: 40000, flags: 'SA' }).build();
    const fin = pkt().ip({ src: cip, dst: VIP }).tcp({ sport: 40000, dport, flags: 'FA' }).build();
    const rst = pkt().ip({ src: cip, dst: VIP }).tcp({ sport: 40000, dport, flags: 'R' }).build();
    seeds.push(Buffer.concat([frame(syn), frame(ack, undefined, 2), frame(reply), frame(fin, undefined, 4), frame(rst, undefined, 0x10)]));
    // A TSO super-packet with a partial checksum, as the TUN hands them over with offloads.
    const big = pkt().ip({ src: cip, dst: VIP, df: true }).tcp({ sport: 40001, dport, flags: 'A' }).payload(Buffer.alloc(4000, 0x61)).build();
    seeds.push(Buffer.concat([frame(syn), frame(big, vnet(1, 1, 40, 1448, 20, 16))]));
  }
  const udp = pkt().ip({ src: cip, dst: VIP }).udp({ sport: 5353, dport: 53 }).payload('q').build();
  const udpReply = pkt().ip({ src: RIPS[0], dst: cip }).udp({ sport: 53, dport: 5353 }).payload('a').build();
  seeds.push(Buffer.concat([frame(udp), frame(udpReply)]));
  const syn = pkt().ip({ src: cip, dst: VIP }).tcp({ sport: 40002, dport: 80, flags: 'S' }).build();
  const err = pkt().ip({ src: '198.19.0.1', dst: RIPS[0] }).icmp({ type: 3, code: 4, mtu: 1400 })
    .quote(pkt().ip({ src: RIPS[0], dst: cip }).tcp({ sport: 8080, dport: 40002, flags: 'SA' }).build()).build();
  const echo = pkt().ip({ src: cip, dst: VIP }).icmp({ type: 8, id: 7, seq: 1 }).payload('ping').build();
  const frag = pkt().ip({ src: cip, dst: VIP, mf: true }).udp({ sport: 5353, dport: 53 }).payload(Buffer.alloc(64)).build();
  seeds.push(Buffer.concat([frame(syn), frame(err), frame(echo), frame(frag)]));
  return seeds;
}

function keepalivedSeeds(): Buffer[] {
  const seeds = [
    'global_defs {\n router_id LVS_1\n}\n'
    + 'vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n priority 100\n advert_int 1\n'
    + ' authentication {\n auth_type PASS\n auth_pass secret\n }\n virtual_ipaddress {\n 198.18.100.1\n }\n}\n'
    + 'virtual_server 198.18.100.1 80 {\n delay_loop 6\n lb_algo wlc\n lb_kind NAT\n persistence_timeout 50\n protocol TCP\n'
    + ' sorry_server 198.19.0.20 80\n real_server 198.19.0.11 80 {\n weight 2\n HTTP_GET {\n url {\n path /\n status_code 200\n }\n'
    + ' connect_timeout 3\n retry 3\n delay_before_retry 3\n }\n }\n'
    + ' real_server 198.19.0.12 80 {\n MISC_CHECK {\n misc_path "/bin/true"\n }\n }\n}\n',
    'include /etc/keepalived/vs.conf\n$PORT=80\nvirtual_server 198.18.100.1 ${PORT} {\n lb_kind DR\n}\n',
    'include /etc/keepalived/loop.conf\n',
  ].map((s) => Buffer.from(s));
  const corpus = join(ROOT, 'test', 'fixtures', 'keepalived-corpus');
  if (existsSync(corpus)) {
    for (const f of readdirSync(corpus).sort()) if (f.endsWith('.conf')) seeds.push(readFileSync(join(corpus, f)));
  }
  return seeds;
}

function lvsadmSeeds(): Buffer[] {
  return [
    '-A -t 198.18.100.1:80 -s wlc -p 300 -M 255.255.255.0\n-A -t 198.18.100.1:80 -s wlc\n-a -t 198.18.100.1:80 -r 198.19.0.11:8080 -m -w 2\n',
    '-a -t 198.18.100.1:80 -r 198.19.0.12 -g -x 100 -y 10\n-A -u 198.18.100.1:53 -s sh -b sh-port,sh-fallback\n',
    '-L -n --stats --exact\n-A -f 1 -s rr -p 60\n-a -f 1 -r 198.19.0.13 -i\n',
    '--start-daemon master --mcast-interface eth0 --syncid 5\n-E -t www:http -s mh -b mh-port\n',
    '-L -n -c\n-Z\n--set 900 120 300\n-D -t 198.18.100.1:80\n-C\n',
  ].map((s) => Buffer.from(s));
}

function controlSeeds(): Buffer[] {
  return [Buffer.from([0, 1, 3, 0, 1, 2, 3, 4, 5, 6]), Buffer.from([3, 4, 1, 1, 9, 9, 2, 2, 1, 0, 0, 3]),
    Buffer.from('add-service tcp 198.18.100.1 80 wlc')];
}

function syncSeeds(): Buffer[] {
  const conn = {
    protocol: 6, flags: 0, state: 1, cport: 40000, vport: 80, dport: 8080, fwmark: 0, timeoutSec: 900,
    caddr: addr('198.18.0.2'), vaddr: addr(VIP), daddr: addr('198.19.0.11'),
  };
  const tmpl = { ...conn, protocol: 6, flags: CONN_F_TEMPLATE, cport: 0, timeoutSec: 60 };
  const udp = { ...conn, protocol: 17, vport: 53, dport: 53, daddr: addr('198.19.0.12'), flags: 2 };
  const seeds: Buffer[] = [];
  for (const m of encodeSync(1, [conn, tmpl, udp])) seeds.push(Buffer.concat([Buffer.from([1]), m]));
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  for (const m of encodeSync(0, [conn])) seeds.push(Buffer.concat([Buffer.from([4]), sealSync(m, { seq: 1, boot: 7, time: 1_800_000_000 }, key)]));
  return seeds;
}

function vrrpSeeds(): Buffer[] {
  const src = addr('198.19.0.2');
  const dst = addr('224.0.0.18');
  const v3 = encodeVrrp({ version: 3, vrid: 51, priority: 100, intervalCs: 100, addrs: [addr(VIP)] }, src, dst);
  const v2 = encodeVrrp({ version: 2, vrid: 51, priority: 150, intervalCs: 100, addrs: [addr(VIP)], authPass: 'secret' }, src, dst);
  return [Buffer.concat([Buffer.from([2]), v3]), Buffer.concat([Buffer.from([1]), v2]), Buffer.concat([Buffer.from([0]), v2])];
}

function dlmSeeds(): Buffer[] {
  const name = Buffer.from('orders');
  return [
    Buffer.concat([Buffer.from([1, 255]), encodeFrame(Op.SESSION_OPEN, 2, u32(1000)),
      encodeFrame(Op.LOCK, 3, u8(1), u32(0), u16(name.length), name), encodeFrame(Op.KEEPALIVE, 4),
      encodeFrame(Op.SESSION_CLOSE, 5)]),
    Buffer.concat([Buffer.from([1, 7]), encodeFrame(Op.SESSION_RESUME, 2, Buffer.alloc(16)), encodeFrame(Op.REPL_SUBSCRIBE, 3)]),
    Buffer.concat([Buffer.from([0, 255]), encodeFrame(Op.AUTH, 1, Buffer.alloc(32), Buffer.alloc(32))]),
  ];
}

/** scapy's golden IPv6 packets (test/fixtures/ipv6/packets.json), plain and as NEEDS_CSUM frames at an offset. */
function ipv6Seeds(): Buffer[] {
  const cases = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'ipv6', 'packets.json'), 'utf8')) as { hex: string }[];
  const seeds: Buffer[] = [];
  cases.forEach((c, i) => {
    const p = Buffer.from(c.hex, 'hex');
    seeds.push(Buffer.concat([Buffer.from([0]), p]));
    if (i % 4 === 0) seeds.push(Buffer.concat([Buffer.from([1 | (3 << 1)]), p]));
  });
  return seeds;
}

export function seedsFor(t: Target): Buffer[] {
  switch (t) {
    case 'pipeline': return pipelineSeeds();
    case 'keepalived': return keepalivedSeeds();
    case 'lvsadm': return lvsadmSeeds();
    case 'control': return controlSeeds();
    case 'sync': return syncSeeds();
    case 'vrrp': return vrrpSeeds();
    case 'dlm': return dlmSeeds();
    case 'ipv6': return ipv6Seeds();
  }
}

/** Inputs that once made a target fail, kept under test/fuzz/regressions/TARGET/. */
export function regressionsFor(t: Target): Array<{ name: string; data: Buffer }> {
  const dir = join(ROOT, 'test', 'fuzz', 'regressions', t);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().filter((f) => !f.startsWith('.')).map((f) => ({ name: f, data: readFileSync(join(dir, f)) }));
}
