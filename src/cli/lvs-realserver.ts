#!/usr/bin/env node
/**
 * lvs-realserver: prepares a real server for LVS direct routing and IP tunneling, in the
 * foreground, as root, and undoes it all on SIGTERM/SIGINT.
 *
 *   lvs-realserver --vip VIP [--vip VIP ...] [--tunnel] [--tun NAME]
 *
 * - Each VIP goes on the loopback as VIP/32, so the server accepts packets addressed to it
 *   without owning the address on its LAN.
 * - ARP suppression (the "ARP problem" of LVS-DR/TUN: only the director may answer ARP for
 *   the VIP): arp_ignore=1 (answer only for addresses of the receiving interface) and
 *   arp_announce=2 (use the best local address as ARP source) on `all` and every interface.
 * - --tunnel: accept IPIP (RFC 2003) from the director. Where the kernel has the ipip module,
 *   tunl0 is brought up. Otherwise protocol-4 packets are received on a raw socket and the
 *   inner packet is written into a TUN device of this process, from which the local stack
 *   delivers it to the VIP. Decapsulated packets carry client sources that are not routed via
 *   the tunnel interface, which has no address of its own: rp_filter=0 on it and on `all`
 *   (the effective value is the larger of the two; a loose check, 2, still fails without an
 *   address on the interface, fib_validate_source in net/ipv4/fib_frontend.c).
 *
 * Prints "ready" on stdout once everything is in place.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ipFromString, IPPROTO_IPIP } from '../ipvs/types';
import { TunDevice } from '../phy/tun';
import { ip, readSysctl, writeSysctl } from '../host/plumbing';

const USAGE = 'usage: lvs-realserver --vip VIP [--vip VIP ...] [--tunnel] [--tun NAME]';

interface RawSocket {
  on(ev: 'message', cb: (buf: Buffer, source: string) => void): void;
  on(ev: 'error', cb: (err: Error) => void): void;
  setOption(level: number, option: number, value: number): void;
  close(): void;
}

/** SOL_SOCKET, SO_RCVBUFFORCE (asm-generic/socket.h): a receive buffer beyond rmem_max, as root. */
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
/** Room for bursts of TSO-sized tunnel traffic while the event loop is busy. */
const RAW_RCVBUF = 8 << 20;

function fail(msg: string, code = 1): never {
  process.stderr.write(`lvs-realserver: ${msg}\n`);
  process.exit(code);
}

function tryRun(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** LIFO list of actions that restore what was changed. */
const undo: Array<() => void> = [];

function setSysctl(key: string, value: string): void {
  const old = readSysctl(key);
  if (old === undefined || old === value) return;
  if (!writeSysctl(key, value)) throw new Error(`cannot set ${key}=${value}`);
  undo.push(() => {
    writeSysctl(key, old); // the interface may be gone
  });
}

function hasAddr(dev: string, vip: string): boolean {
  const j = JSON.parse(ip(['-j', 'addr', 'show', 'dev', dev])) as Array<{ addr_info?: Array<{ local?: string }> }>;
  return j.some((l) => (l.addr_info ?? []).some((a) => a.local === vip));
}

/** Userspace IPIP decapsulation: raw socket in, TUN out. Returns a stop function. */
function userspaceTunnel(tunName: string): () => void {
  const tun = TunDevice.open({ name: tunName, batch: 1, scratchSlots: 0, vnetHdr: false, offload: false });
  undo.push(() => tun.close());
  setSysctl(`net.ipv6.conf.${tun.name}.disable_ipv6`, '1');
  setSysctl(`net.ipv4.conf.${tun.name}.rp_filter`, '0');
  ip(['link', 'set', 'dev', tun.name, 'up']);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const raw = require('raw-socket') as { createSocket(o: { protocol: number; bufferSize?: number }): RawSocket };
  const sock = raw.createSocket({ protocol: IPPROTO_IPIP, bufferSize: 65536 });
  try {
    sock.setOption(SOL_SOCKET, SO_RCVBUFFORCE, RAW_RCVBUF);
  } catch (err) {
    process.stderr.write(`lvs-realserver: cannot enlarge the raw socket buffer: ${(err as Error).message}\n`);
  }
  const offs = Int32Array.of(tun.headroom);
  const lens = new Int32Array(1);
  const counts = { decapsulated: 0, malformed: 0, refused: 0 };
  sock.on('message', (b: Buffer) => {
    // IPv4 raw sockets deliver the (reassembled) outer header too.
    if (b.length < 40 || b[0] >>> 4 !== 4) {
      counts.malformed++;
      return;
    }
    const ohl = (b[0] & 0x0f) << 2;
    const outerLen = b.readUInt16BE(2);
    const inner = ohl;
    if (outerLen > b.length || outerLen < ohl + 20 || b[inner] >>> 4 !== 4) {
      counts.malformed++;
      return;
    }
    const innerLen = b.readUInt16BE(inner + 2);
    if (innerLen < 20 || inner + innerLen > outerLen || innerLen > tun.slotSize - tun.headroom) {
      counts.malformed++;
      return;
    }
    b.copy(tun.buf, tun.headroom, inner, inner + innerLen);
    lens[0] = innerLen;
    if (tun.write(offs, lens, 1) === 1) counts.decapsulated++;
    else counts.refused++;
  });
  sock.on('error', (err: Error) => process.stderr.write(`lvs-realserver: raw socket: ${err.message}\n`));
  return () => {
    sock.close();
    process.stdout.write(`ipip ${JSON.stringify(counts)}\n`);
  };
}

function main(): void {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        vip: { type: 'string', multiple: true },
        tunnel: { type: 'boolean', default: false },
        tun: { type: 'string', default: 'lvsrs%d' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`, 2);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const vips = values.vip ?? [];
  if (vips.length === 0) fail(`at least one --vip is needed\n${USAGE}`, 2);
  for (const v of vips) if (ipFromString(v) < 0) fail(`--vip: not an IPv4 address: '${v}'`, 2);
  const tunName = values.tun ?? 'lvsrs%d';
  if (!/^[A-Za-z0-9_.%-]{1,15}$/.test(tunName)) fail(`--tun: invalid interface name '${tunName}'`, 2);

  let stopTunnel: (() => void) | undefined;
  const restore = (): void => {
    stopTunnel?.();
    stopTunnel = undefined;
    while (undo.length > 0) {
      try {
        undo.pop()!();
      } catch {
        /* keep undoing the rest */
      }
    }
  };
  const exit = (code: number): void => {
    restore();
    process.exit(code);
  };
  process.on('SIGTERM', () => exit(0));
  process.on('SIGINT', () => exit(0));
  process.on('uncaughtException', (err) => {
    process.stderr.write(`lvs-realserver: ${err.message}\n`);
    exit(1);
  });

  let mode = 'none';
  try {
    for (const v of vips) {
      if (hasAddr('lo', v)) continue;
      ip(['addr', 'add', `${v}/32`, 'dev', 'lo']);
      undo.push(() => ip(['addr', 'del', `${v}/32`, 'dev', 'lo']));
    }
    const ifaces = readdirSync('/sys/class/net').filter((n) => n !== 'lo');
    for (const dev of ['all', ...ifaces]) {
      setSysctl(`net.ipv4.conf.${dev}.arp_ignore`, '1');
      setSysctl(`net.ipv4.conf.${dev}.arp_announce`, '2');
    }
    if (values.tunnel) {
      // The effective rp_filter is max(all, interface): `all` must not force a check either.
      setSysctl('net.ipv4.conf.all.rp_filter', '0');
      const kernel = tryRun('ip', ['link', 'show', 'tunl0']) || (tryRun('modprobe', ['ipip'])
        && tryRun('ip', ['link', 'show', 'tunl0']));
      if (kernel) {
        const wasUp = /\bUP\b/.test(ip(['link', 'show', 'tunl0']).split('\n')[0] ?? '');
        setSysctl('net.ipv4.conf.tunl0.rp_filter', '0');
        if (!wasUp) {
          ip(['link', 'set', 'tunl0', 'up']);
          undo.push(() => ip(['link', 'set', 'tunl0', 'down']));
        }
        mode = 'tunl0';
      } else {
        stopTunnel = userspaceTunnel(tunName);
        mode = 'userspace';
      }
    }
  } catch (err) {
    process.stderr.write(`lvs-realserver: ${(err as Error).message}\n`);
    exit(1);
    return;
  }
  process.stdout.write(`ready vips=${vips.join(',')} tunnel=${mode}\n`);
  // Stay in the foreground until a signal (the raw socket keeps the loop alive in userspace mode).
  if (mode !== 'userspace') setInterval(() => undefined, 1 << 30);
}

main();
