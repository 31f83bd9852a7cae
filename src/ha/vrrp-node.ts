/**
 * VRRP on real interfaces: one raw IP socket (protocol 112, `raw-socket`) per instance, bound
 * to its interface, joined to 224.0.0.18, sending with TTL 255 (RFC 5798 §5.1.1.3); virtual
 * addresses added and removed with `ip addr`, announced with gratuitous ARP on takeover
 * (garp_master_repeat 5 now, again after garp_master_delay), notify scripts as keepalived runs
 * them (notify_master / notify_backup, and `notify SCRIPT "INSTANCE" NAME STATE PRIORITY`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { VrrpInstanceSpec } from '../control/keepalived';
import { ipFromString, ipToString } from '../ipvs/types';
import type { Log } from '../log';
import {
  IPPROTO_VRRP, VRRP_ERR_NAMES, VRRP_GROUP, VRRP_OK, VRRP_TTL, type VrrpAdvert, decodeVrrp, encodeVrrp,
} from '../wire/vrrp';
import { sendGarp } from './garp';
import { type VrrpState, VrrpMachine } from './vrrp';

const IPPROTO_IP = 0;
const IP_TTL = 2;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const GARP_REPEAT = 5;

interface RawSocket {
  on(ev: 'message', fn: (buf: Buffer, source: string) => void): void;
  on(ev: 'error', fn: (err: Error) => void): void;
  send(buf: Buffer, off: number, len: number, addr: string, cb: (err?: Error) => void): void;
  setOption(level: number, opt: number, value: number | Buffer, len?: number): void;
  close(): void;
}

/** A virtual_ipaddress line: ADDR[/LEN] [dev IFACE] (keepalived's default prefix is /32). */
export interface Vip { addr: string; len: number; dev: string }

export function parseVip(line: string, dflt: string): Vip {
  const w = line.trim().split(/\s+/);
  const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d{1,2}))?$/.exec(w[0]);
  if (!m || ipFromString(m[1]) < 0 || (m[2] !== undefined && Number(m[2]) > 32)) throw new Error(`bad virtual address '${line}'`);
  const di = w.indexOf('dev');
  return { addr: m[1], len: m[2] !== undefined ? Number(m[2]) : 32, dev: di >= 0 && w[di + 1] ? w[di + 1] : dflt };
}

function mreqn(group: number, local: number, ifindex: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(group >>> 0, 0);
  b.writeUInt32BE(local >>> 0, 4);
  b.writeInt32LE(ifindex, 8);
  return b;
}

function runScript(cmd: string, args: string[] = []): void {
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('/bin/sh', ['-c', args.length ? `${cmd} ${quoted}` : cmd], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

export interface VrrpInstanceInfo { name: string; state: VrrpState; priority: number; master: string }

class Instance {
  readonly machine: VrrpMachine;
  private readonly sock: RawSocket;
  private readonly vips: Vip[];
  private readonly local: number;
  private garpTimer: NodeJS.Timeout | undefined;
  private readonly rx: VrrpAdvert = { version: 2, vrid: 0, priority: 0, intervalCs: 0, addrs: [] };
  private readonly peers: string[];
  /** Adverts handed to the socket and not yet written (raw-socket sends when writable). */
  private pending = 0;
  private drained: (() => void) | undefined;

  constructor(readonly spec: VrrpInstanceSpec, private readonly log: Log, onState: (i: Instance, s: VrrpState) => void) {
    const iface = spec.iface;
    if (!iface) throw new Error(`vrrp_instance ${spec.name}: interface missing`);
    this.vips = spec.vips.map((v) => parseVip(v, iface));
    const vipSet = new Set(this.vips.map((v) => v.addr));
    const addrs = (networkInterfaces()[iface] ?? []).filter((a) => a.family === 'IPv4');
    const primary = spec.unicastSrc ?? addrs.find((a) => !vipSet.has(a.address))?.address;
    if (!primary) throw new Error(`vrrp_instance ${spec.name}: interface ${iface} has no IPv4 address`);
    this.local = ipFromString(primary);
    const mac = addrs[0]?.mac ?? '00:00:00:00:00:00';
    const ifindex = Number(readFileSync(`/sys/class/net/${iface}/ifindex`, 'utf8'));
    this.peers = spec.unicastPeers.map((p) => p.split(/\s+/)[0]);

    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const raw = require('raw-socket') as { createSocket(o: { protocol: number }): RawSocket };
    this.sock = raw.createSocket({ protocol: IPPROTO_VRRP });
    const name = Buffer.from(iface + '\0');
    this.sock.setOption(SOL_SOCKET, SO_BINDTODEVICE, name, name.length);
    this.sock.setOption(IPPROTO_IP, IP_TTL, VRRP_TTL);
    this.sock.setOption(IPPROTO_IP, IP_MULTICAST_TTL, VRRP_TTL);
    this.sock.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
    const ifreq = mreqn(0, this.local, ifindex);
    this.sock.setOption(IPPROTO_IP, IP_MULTICAST_IF, ifreq, ifreq.length);
    const join = mreqn(ipFromString(VRRP_GROUP), 0, ifindex);
    this.sock.setOption(IPPROTO_IP, IP_ADD_MEMBERSHIP, join, join.length);
    this.sock.on('error', (err) => log.error({ instance: spec.name, err: err.message }, 'vrrp socket error'));
    this.sock.on('message', (buf, source) => this.onPacket(buf, source));

    this.machine = new VrrpMachine({
      name: spec.name, vrid: spec.vrid, priority: spec.priority, advertIntMs: spec.advertIntMs,
      version: spec.version, preempt: !spec.nopreempt, preemptDelayMs: spec.preemptDelayMs,
      addrs: this.vips.map((v) => ipFromString(v.addr)), authPass: spec.authPass,
    }, this.local, {
      send: (a) => this.send(a),
      setVips: (own) => this.setVips(own, mac),
      reannounce: () => {
        log.info({ instance: spec.name }, 'lower-priority master seen: gratuitous ARP again');
        this.garp(mac);
      },
      transition: (from, to, why) => {
        log.info({ instance: spec.name, from, to, why, priority: spec.priority }, `VRRP ${to}`);
        onState(this, to);
      },
    });
  }

  private send(a: VrrpAdvert): void {
    const dsts = this.peers.length ? this.peers : [VRRP_GROUP];
    for (const d of dsts) {
      const b = encodeVrrp(a, this.local, ipFromString(d));
      this.pending++;
      this.sock.send(b, 0, b.length, d, (err) => {
        if (err) this.log.warn({ instance: this.spec.name, err: err.message }, 'vrrp send failed');
        if (--this.pending === 0) this.drained?.();
      });
    }
  }

  private onPacket(buf: Buffer, source: string): void {
    if (buf.length < 20) return;
    const ihl = (buf[0] & 0x0f) * 4;
    const src = buf.readUInt32BE(12);
    if (src === this.local || buf[9] !== IPPROTO_VRRP || buf.length < ihl) return;
    if (buf[8] !== VRRP_TTL) {
      this.log.debug({ instance: this.spec.name, source, ttl: buf[8] }, 'vrrp advert with TTL != 255 dropped');
      return;
    }
    const total = Math.min(buf.length, buf.readUInt16BE(2) || buf.length);
    const rc = decodeVrrp(buf, ihl, total - ihl, src, buf.readUInt32BE(16), this.rx, this.spec.authPass);
    if (rc !== VRRP_OK) {
      this.log.debug({ instance: this.spec.name, source, error: VRRP_ERR_NAMES[rc] }, 'vrrp advert dropped');
      return;
    }
    if (this.rx.version !== this.spec.version || this.rx.vrid !== this.spec.vrid) return;
    this.machine.receive(this.rx, src);
  }

  private setVips(own: boolean, mac: string): void {
    for (const v of this.vips) {
      try {
        execFileSync('ip', ['addr', own ? 'add' : 'del', `${v.addr}/${v.len}`, 'dev', v.dev], { stdio: 'pipe' });
      } catch (err) {
        const msg = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim();
        if (!/File exists|Cannot assign/.test(msg)) this.log.warn({ vip: v.addr, dev: v.dev, error: msg }, 'ip addr failed');
      }
    }
    if (this.garpTimer) clearTimeout(this.garpTimer);
    this.garpTimer = undefined;
    if (!own) return;
    this.garp(mac);
    this.garpTimer = setTimeout(() => {
      if (this.machine.state === 'MASTER') this.garp(mac);
    }, this.spec.garpMasterDelayMs);
    this.garpTimer.unref();
  }

  private garp(mac: string): void {
    const byDev = new Map<string, number[]>();
    for (const v of this.vips) byDev.set(v.dev, [...(byDev.get(v.dev) ?? []), ipFromString(v.addr)]);
    for (const [dev, addrs] of byDev) {
      const devMac = (networkInterfaces()[dev] ?? [])[0]?.mac ?? mac;
      try {
        sendGarp(dev, devMac, addrs, GARP_REPEAT);
      } catch (err) {
        this.log.warn({ dev, error: (err as Error).message }, 'gratuitous ARP failed');
      }
    }
  }

  info(): VrrpInstanceInfo {
    return {
      name: this.spec.name, state: this.machine.state, priority: this.spec.priority,
      master: this.machine.masterAddr ? ipToString(this.machine.masterAddr) : '',
    };
  }

  /** Closes the socket once queued adverts (the priority-0 one) are out, at most after 500 ms. */
  async close(): Promise<void> {
    if (this.garpTimer) clearTimeout(this.garpTimer);
    if (this.pending > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500);
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.sock.close();
  }
}

/** The VRRP instances of a keepalived configuration. */
export class VrrpRuntime {
  private readonly instances: Instance[] = [];
  /** State transitions by instance name since start. */
  private readonly transitionCounts = new Map<string, number>();

  constructor(
    log: Log,
    specs: readonly VrrpInstanceSpec[],
    /** Called on every transition of an instance (e.g. to switch the sync daemon's role). */
    private readonly listener?: (instance: string, state: VrrpState) => void,
    /** vrrp_sync_group members: instances that change state together. */
    private readonly groups: ReadonlyArray<{ name: string; group: readonly string[] }> = [],
  ) {
    for (const s of specs) {
      this.instances.push(new Instance(s, log, (i, state) => this.onState(i, state)));
    }
  }

  private onState(i: Instance, state: VrrpState): void {
    const s = i.spec;
    this.transitionCounts.set(s.name, (this.transitionCounts.get(s.name) ?? 0) + 1);
    this.listener?.(s.name, state);
    if (state === 'MASTER' || state === 'BACKUP') {
      for (const g of this.groups) {
        if (!g.group.includes(s.name)) continue;
        for (const other of this.instances) {
          if (other !== i && g.group.includes(other.spec.name)) other.machine.follow(state, `sync group ${g.name}: ${s.name} is ${state}`);
        }
      }
    }
    if (state === 'MASTER' && s.notifyMaster) runScript(s.notifyMaster);
    if (state === 'BACKUP' && s.notifyBackup) runScript(s.notifyBackup);
    if (s.notify && (state === 'MASTER' || state === 'BACKUP')) runScript(s.notify, ['INSTANCE', s.name, state, String(s.priority)]);
  }

  start(): void {
    for (const i of this.instances) i.machine.start();
  }

  /** Hands mastership over (priority 0 adverts) and releases the addresses. */
  async stop(): Promise<void> {
    for (const i of this.instances) if (i.machine.state !== 'STOPPED') i.machine.stop();
    await Promise.all(this.instances.map((i) => i.close()));
  }

  info(): VrrpInstanceInfo[] {
    return this.instances.map((i) => i.info());
  }

  /** State transitions of instance `name` since start. */
  transitions(name: string): number {
    return this.transitionCounts.get(name) ?? 0;
  }
}
