/**
 * VRRP on real interfaces: one raw IP socket (protocol 112, `raw-socket`; protocol 51 with
 * IP_HDRINCL for auth_type AH, see ../wire/ipsec-ah.ts) per instance, bound to its interface,
 * joined to 224.0.0.18, sending with TTL 255 (RFC 5798 §5.1.1.3); virtual addresses added and
 * removed with `ip addr` (virtual_routes / virtual_rules with `ip route` / `ip rule`), announced
 * with gratuitous ARP on takeover (garp_master_repeat 5 now, again after garp_master_delay),
 * notify scripts as keepalived runs them (notify_master / _backup / _fault / _stop, and
 * `notify SCRIPT "INSTANCE" NAME STATE PRIORITY`, GROUP for sync groups) as their user
 * (./scripts.ts).
 *
 * Tracking (./track.ts): vrrp_script runners shared by the instances of a run group, tracked
 * interfaces and files polled with the links; every change re-evaluates each instance's
 * effective priority and FAULT reason (own links, tracking, or another sync group member in
 * FAULT) and drives its state machine. Malformed or unauthenticated adverts are dropped and
 * counted by reason (`drops` in info()).
 *
 * Interfaces (keepalived's FAULT state): the instance's interface and every interface that
 * carries one of its addresses are polled (operstate in sysfs, every LINK_POLL_MS, without
 * blocking); one down or gone moves the instance to FAULT, which releases the addresses;
 * all up again moves it to BACKUP and the election runs again. No socket or capture handle
 * stays bound to a link in a way that its loss could abort the process.
 *
 * Addresses after a crash: a reaper (a small shell, VipReaper) holds a pipe from lvsd and,
 * when the pipe closes without a clean stop (SIGKILL included), blackholes lvsd's routing
 * table and deletes every virtual address: the dead director neither keeps the VIP nor
 * forwards untranslated replies (which the clients would answer with resets, killing the
 * connections the backup now serves). The addresses added are also recorded in a
 * state file (vipStateFile); the next start removes what it lists before anything else.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { networkInterfaces } from 'node:os';
import { type SyncGroupSpec, type VrrpInstanceSpec, scriptWords } from '../control/keepalived';
import { ipFromString, ipToString } from '../ipvs/types';
import type { Log } from '../log';
import {
  IPPROTO_VRRP, VRRP_ERR_NAMES, VRRP_GROUP, VRRP_OK, VRRP_TTL, type VrrpAdvert, decodeVrrp, encodeVrrp,
} from '../wire/vrrp';
import {
  AH_ERR_NAMES, AH_OK, type AhParsed, AhCounter, IPPROTO_AH, ahKey, decodeAhPacket, encodeAhPacket,
} from '../wire/ipsec-ah';
import { sendGarp } from './garp';
import { type RunAs, ScriptRunner, checkScript, resolveRunAs, runNotify } from './scripts';
import { ScriptResult, type Tracked, evaluate, trackFileValue } from './track';
import { type VrrpState, VrrpMachine } from './vrrp';

const IPPROTO_IP = 0;
const IP_TTL = 2;
const IP_HDRINCL = 3;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const GARP_REPEAT = 5;
/** How often the interfaces of an instance are checked. */
export const LINK_POLL_MS = 250;

/** Whether an operstate value (sysfs, RFC 2863 ifOperStatus) counts as up. */
export function operUp(state: string): boolean {
  const s = state.trim();
  return s === 'up' || s === 'unknown';
}

/**
 * A shell that acts when lvsd's end of its stdin pipe closes without the line "stop" (lvsd
 * died, SIGKILL included): with blackholeTable, it first adds a blackhole default route of
 * the lowest priority (metric 2^32-1) to lvsd's routing table, so that the policy rules lvsd
 * leaves behind drop the VIP's traffic and the real servers' replies instead of letting the
 * kernel forward them untranslated (the client would answer those with resets, killing the
 * connections the backup now serves); the next start's recovery flushes that table. Then it
 * deletes every virtual address. Spawned detached, so a signal to lvsd's process group
 * spares it. A clean stop sends "stop": the reaper exits doing nothing.
 */
export class VipReaper {
  private child: ReturnType<typeof spawn> | undefined;

  constructor(vips: readonly Vip[], blackholeTable?: number) {
    if (vips.length === 0) return;
    const args = [String(blackholeTable ?? ''), ...vips.flatMap((v) => [`${v.addr}/${v.len}`, v.dev])];
    const script = 'while read -r l; do [ "$l" = stop ] && exit 0; done; '
      + 'if [ -n "$1" ]; then ip route add blackhole default table "$1" metric 4294967295 2>/dev/null; fi; shift; '
      + 'while [ $# -ge 2 ]; do ip addr del "$1" dev "$2" 2>/dev/null; shift 2; done';
    const child = spawn('/bin/sh', ['-c', script, 'lvsd-vip-reaper', ...args], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    child.on('error', () => undefined);
    child.stdin?.on('error', () => undefined);
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    this.child = child;
  }

  /** A clean stop (the addresses are already released): the reaper exits doing nothing. */
  release(): void {
    this.child?.stdin?.end('stop\n');
    this.child = undefined;
  }
}

/**
 * Addresses recorded by a previous run (vipStateFile), for removal at start. The file is
 * trusted only as lvsd writes it: a regular file of the current user (root), mode 0600, in a
 * directory no other user may write; otherwise it is ignored with a warning.
 */
export function readVipState(file: string, log: Log): Vip[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const uid = process.getuid?.() ?? 0;
    const st = fstatSync(fd);
    const ds = statSync(dirname(file));
    if (!st.isFile() || st.uid !== uid || (st.mode & 0o077) !== 0 || (ds.mode & 0o022) !== 0 || ds.uid !== uid) {
      log.warn({ file }, 'VIP state file not trusted (owner, mode 0600, directory not writable by others): ignored');
      return [];
    }
    const v = JSON.parse(readFileSync(fd, 'utf8')) as { vips?: unknown };
    if (!Array.isArray(v.vips)) return [];
    const out: Vip[] = [];
    for (const x of v.vips as Array<Partial<Vip>>) {
      if (typeof x?.addr !== 'string' || typeof x.dev !== 'string' || !/^[A-Za-z0-9_.:@-]{1,15}$/.test(x.dev)) continue;
      try {
        out.push(parseVip(`${x.addr}/${Number(x.len)}`, x.dev));
      } catch {
        // not an address: skipped
      }
    }
    return out;
  } catch (err) {
    log.warn({ file, error: (err as Error).message }, 'VIP state file unreadable: ignored');
    return [];
  } finally {
    closeSync(fd);
  }
}

function runIp(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('ip', args, { timeout: 5000 }, (err, _out, stderr) => resolve(err ? String(stderr || err.message).trim() : ''));
  });
}

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

export interface VrrpInstanceInfo {
  name: string;
  state: VrrpState;
  /** The effective priority (configured priority moved by tracking). */
  priority: number;
  master: string;
  /** Adverts dropped, by reason (checksum, auth, ah_icv, ah_replay, ...). */
  drops?: Record<string, number>;
  /** Its virtual addresses (virtual_ipaddress), dotted quads. */
  vips?: string[];
}

/** What an instance needs from its runtime. */
interface InstanceHooks {
  onState(i: Instance, s: VrrpState): void;
  onAdded(v: Vip): void;
  /** Something the instance's verdict depends on changed (link, tracked file). */
  changed(): void;
}

class Instance {
  readonly machine: VrrpMachine;
  /** `ip addr` commands run one after another, in the order the machine asked for them. */
  private ipQueue: Promise<void> = Promise.resolve();
  private linkTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly devs: string[];
  /** Opened by open(); undefined before (nothing is sent before start). */
  private sock: RawSocket | undefined;
  private readonly vips: Vip[];
  private readonly local: number;
  private garpTimer: NodeJS.Timeout | undefined;
  private readonly rx: VrrpAdvert = { version: 2, vrid: 0, priority: 0, intervalCs: 0, addrs: [] };
  private readonly peers: string[];
  /** Adverts handed to the socket and not yet written (raw-socket sends when writable). */
  private pending = 0;
  private drained: (() => void) | undefined;
  /** Tracked scripts, interfaces and files with their current state (src/ha/track.ts). */
  readonly track: Tracked[];
  /** Why a link the instance needs is down (FAULT), if one is. */
  linkDown: string | undefined;
  /** Set by the runtime: another member of the sync group is in FAULT. */
  groupFault: string | undefined;
  /** The runtime started the instance (before that, only its inputs are gathered). */
  started = false;
  private readonly drops = new Map<string, number>();
  private readonly ah: { key: Buffer; counter: AhCounter; id: number } | undefined;
  private readonly ahIn: AhParsed = { seq: 0, vrrpOff: 0, vrrpLen: 0 };
  /** virtual_routes / virtual_rules are installed (while MASTER). */
  private routesUp = false;

  constructor(readonly spec: VrrpInstanceSpec, private readonly log: Log, private readonly hooks: InstanceHooks) {
    const iface = spec.iface;
    if (!iface) throw new Error(`vrrp_instance ${spec.name}: interface missing`);
    this.vips = spec.vips.map((v) => parseVip(v, iface));
    this.devs = [...new Set([iface, ...this.vips.map((v) => v.dev)])];
    const vipSet = new Set(this.vips.map((v) => v.addr));
    const addrs = (networkInterfaces()[iface] ?? []).filter((a) => a.family === 'IPv4');
    const primary = spec.unicastSrc ?? addrs.find((a) => !vipSet.has(a.address))?.address;
    if (!primary) throw new Error(`vrrp_instance ${spec.name}: interface ${iface} has no IPv4 address`);
    this.local = ipFromString(primary);
    const mac = addrs[0]?.mac ?? '00:00:00:00:00:00';
    this.peers = spec.unicastPeers.map((p) => p.split(/\s+/)[0]);
    this.track = [
      ...spec.trackScripts.map((t): Tracked => ({ kind: 'script', name: t.script.name, weight: t.weight, reverse: t.reverse, status: t.script.initFail ? 'fail' : 'init' })),
      ...spec.trackInterfaces.map((t): Tracked => ({ kind: 'interface', name: t.iface, weight: t.weight, reverse: t.reverse, up: false })),
      ...spec.trackFiles.map((t): Tracked => ({ kind: 'file', name: t.name, weight: t.weight, reverse: t.reverse, value: 0 })),
    ];
    if (spec.authAh !== undefined) this.ah = { key: ahKey(spec.authAh), counter: new AhCounter(), id: 0 };

    this.machine = new VrrpMachine({
      name: spec.name, vrid: spec.vrid, priority: spec.priority, advertIntMs: spec.advertIntMs,
      version: spec.version, preempt: !spec.nopreempt, preemptDelayMs: spec.preemptDelayMs,
      addrs: this.vips.map((v) => ipFromString(v.addr)), authPass: spec.authPass, authAh: this.ah !== undefined,
      strict: spec.strict,
    }, this.local, {
      send: (a) => this.send(a),
      setVips: (own) => this.setVips(own, mac),
      reannounce: () => {
        log.info({ instance: spec.name }, 'lower-priority master seen: gratuitous ARP again');
        this.garp(mac);
      },
      transition: (from, to, why) => {
        if (to === 'MASTER') this.ah?.counter.becomingMaster();
        log.info({ instance: spec.name, from, to, why, priority: this.machine.cfg.priority }, `VRRP ${to}`);
        hooks.onState(this, to);
      },
    });
  }

  /**
   * Opens the instance's socket (before start): the interface index is read from sysfs
   * asynchronously, so that a reload adding an instance never blocks the control thread.
   */
  async open(): Promise<void> {
    const iface = this.spec.iface!;
    const ifindex = Number(await readFile(`/sys/class/net/${iface}/ifindex`, 'utf8'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const raw = require('raw-socket') as { createSocket(o: { protocol: number }): RawSocket };
    const sock = raw.createSocket({ protocol: this.ah ? IPPROTO_AH : IPPROTO_VRRP });
    try {
      const name = Buffer.from(iface + '\0');
      sock.setOption(SOL_SOCKET, SO_BINDTODEVICE, name, name.length);
      // AH: lvsd writes the IP header, as the ICV covers it (the kernel would pick the ID).
      if (this.ah) sock.setOption(IPPROTO_IP, IP_HDRINCL, 1);
      sock.setOption(IPPROTO_IP, IP_TTL, VRRP_TTL);
      sock.setOption(IPPROTO_IP, IP_MULTICAST_TTL, VRRP_TTL);
      sock.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
      const ifreq = mreqn(0, this.local, ifindex);
      sock.setOption(IPPROTO_IP, IP_MULTICAST_IF, ifreq, ifreq.length);
      const join = mreqn(ipFromString(VRRP_GROUP), 0, ifindex);
      sock.setOption(IPPROTO_IP, IP_ADD_MEMBERSHIP, join, join.length);
    } catch (err) {
      sock.close();
      throw err;
    }
    sock.on('error', (err) => this.log.error({ instance: this.spec.name, err: err.message }, 'vrrp socket error'));
    sock.on('message', (buf, source) => this.onPacket(buf, source));
    this.sock = sock;
  }

  private drop(why: string): void {
    this.drops.set(why, (this.drops.get(why) ?? 0) + 1);
  }

  private send(a: VrrpAdvert): void {
    const dsts = this.peers.length ? this.peers : [VRRP_GROUP];
    // keepalived counts the AH sequence number and the IP ID once per advert, for all peers.
    let seq = 0;
    if (this.ah) {
      seq = this.ah.counter.next();
      this.ah.id = (this.ah.id % 0xffff) + 1;
    }
    for (const d of dsts) {
      const dst = ipFromString(d);
      let b = encodeVrrp(a, this.local, dst);
      if (this.ah) {
        b = encodeAhPacket(b, { src: this.local, dst, id: this.ah.id, ttl: VRRP_TTL, seq, unicast: this.peers.length > 0, key: this.ah.key });
      }
      if (!this.sock) return;
      this.pending++;
      this.sock.send(b, 0, b.length, d, (err) => {
        if (err) this.log.warn({ instance: this.spec.name, err: err.message }, 'vrrp send failed');
        if (--this.pending === 0) this.drained?.();
      });
    }
  }

  private onPacket(buf: Buffer, source: string): void {
    if (buf.length < 20) return this.drop('short');
    const ihl = (buf[0] & 0x0f) * 4;
    const src = buf.readUInt32BE(12);
    if (src === this.local) return;
    if (buf[9] !== (this.ah ? IPPROTO_AH : IPPROTO_VRRP) || buf.length < ihl) return this.drop('short');
    if (buf[8] !== VRRP_TTL && this.peers.length === 0) {
      this.log.debug({ instance: this.spec.name, source, ttl: buf[8] }, 'vrrp advert with TTL != 255 dropped');
      return this.drop('ttl');
    }
    const total = Math.min(buf.length, buf.readUInt16BE(2) || buf.length);
    let off = ihl;
    let len = total - ihl;
    if (this.ah) {
      const rc = decodeAhPacket(buf, total, this.ah.key, this.peers.length > 0, this.ahIn);
      if (rc !== AH_OK) {
        this.log.debug({ instance: this.spec.name, source, error: AH_ERR_NAMES[rc] }, 'vrrp advert dropped');
        return this.drop(AH_ERR_NAMES[rc]);
      }
      off = this.ahIn.vrrpOff;
      len = this.ahIn.vrrpLen;
    }
    const rc = decodeVrrp(buf, off, len, src, buf.readUInt32BE(16), this.rx, this.spec.authPass, this.ah !== undefined);
    if (rc !== VRRP_OK) {
      this.log.debug({ instance: this.spec.name, source, error: VRRP_ERR_NAMES[rc] }, 'vrrp advert dropped');
      return this.drop(VRRP_ERR_NAMES[rc]);
    }
    if (this.rx.version !== this.spec.version || this.rx.vrid !== this.spec.vrid) return;
    if (this.ah) {
      if (!this.ah.counter.accept(this.ahIn.seq)) {
        this.log.debug({ instance: this.spec.name, source, seq: this.ahIn.seq, last: this.ah.counter.seq }, 'IPSEC-AH sequence number already processed: dropped');
        return this.drop('ah_replay');
      }
      const m = this.machine;
      const mine = m.cfg.priority;
      if (m.state === 'MASTER' && this.rx.priority !== 0 && (this.rx.priority < mine || (this.rx.priority === mine && src < this.local))) {
        // vrrp_state_master_rx(): the lower master's number + 1, so that it accepts ours.
        this.ah.counter.syncFromLower(this.ahIn.seq);
      }
    }
    this.machine.receive(this.rx, src);
  }

  /** The virtual addresses as `ip addr` arguments (for the reaper and the state file). */
  get addresses(): readonly Vip[] {
    return this.vips;
  }

  /** Polls the interfaces and tracked files every LINK_POLL_MS from now on. */
  watchLinks(): void {
    this.linkTimer = setInterval(() => void this.poll(), LINK_POLL_MS);
    this.linkTimer.unref();
  }

  /**
   * Reads every input that is polled: the operstate of the instance's interfaces (FAULT when
   * one is down) and of tracked interfaces, and the tracked files; tells the runtime when
   * something changed. Never blocks: sysfs and the files are read asynchronously.
   */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      let down: string | undefined;
      const state = new Map<string, string>();
      const tracked = this.track.filter((t) => t.kind === 'interface').map((t) => t.name);
      for (const d of new Set([...this.devs, ...tracked])) {
        let st: string;
        try {
          st = await readFile(`/sys/class/net/${d}/operstate`, 'utf8');
        } catch {
          st = 'absent';
        }
        state.set(d, st.trim());
        if (down === undefined && this.devs.includes(d) && !operUp(st)) down = `interface ${d} ${st.trim()}`;
      }
      let changed = down !== this.linkDown;
      this.linkDown = down;
      for (const t of this.track) {
        if (t.kind === 'interface') {
          const up = operUp(state.get(t.name) ?? 'absent');
          if (up !== t.up) {
            changed = true;
            t.up = up;
          }
        } else if (t.kind === 'file') {
          const path = this.spec.trackFiles.find((f) => f.name === t.name)?.path ?? '';
          let text: string | undefined;
          try {
            const fh = await open(path, 'r');
            try {
              const b = Buffer.alloc(127);
              const { bytesRead } = await fh.read(b, 0, 127, 0);
              text = b.subarray(0, bytesRead).toString('latin1');
            } finally {
              await fh.close();
            }
          } catch {
            text = undefined;
          }
          const v = trackFileValue(text);
          if (v === undefined) {
            this.log.warn({ instance: this.spec.name, file: path }, `Invalid number read from ${path} - ignoring`);
          } else if (v !== t.value) {
            changed = true;
            t.value = v;
          }
        }
      }
      if (changed) this.hooks.changed();
    } finally {
      this.polling = false;
    }
  }

  /** Own reason for FAULT (a link, or tracking); the sync group's is added by the runtime. */
  ownFault(): string | undefined {
    return this.linkDown ?? evaluate(this.spec.priority, this.track).fault;
  }

  /** Drives the machine from the current inputs (called by the runtime after any change). */
  apply(): void {
    const v = evaluate(this.spec.priority, this.track);
    const m = this.machine;
    if (v.priority !== m.cfg.priority) {
      this.log.info({ instance: this.spec.name, from: m.cfg.priority, to: v.priority }, `(${this.spec.name}) Changing effective priority from ${m.cfg.priority} to ${v.priority}`);
      m.setPriority(v.priority);
    }
    if (!this.started) return;
    const fault = this.linkDown ?? v.fault ?? this.groupFault;
    if (m.state === 'INIT') {
      if (fault !== undefined) m.fault(fault);
      else if (v.waiting === undefined) m.start();
      return;
    }
    if (fault !== undefined) m.fault(fault);
    else if (m.state === 'FAULT' && v.waiting === undefined) m.recover('interfaces and tracking up');
  }

  private setVips(own: boolean, mac: string): void {
    for (const v of this.vips) {
      if (own) this.hooks.onAdded(v);
      this.ipQueue = this.ipQueue.then(async () => {
        const msg = await runIp(['addr', own ? 'add' : 'del', `${v.addr}/${v.len}`, 'dev', v.dev]);
        if (msg && !/File exists|Cannot assign|Address not found/.test(msg)) this.log.warn({ vip: v.addr, dev: v.dev, error: msg }, 'ip addr failed');
      });
    }
    this.setRoutes(own);
    if (this.garpTimer) clearTimeout(this.garpTimer);
    this.garpTimer = undefined;
    if (!own) return;
    // Announced once the addresses are configured.
    this.ipQueue = this.ipQueue.then(() => {
      if (this.machine.state === 'MASTER') this.garp(mac);
    });
    this.garpTimer = setTimeout(() => {
      if (this.machine.state === 'MASTER') this.garp(mac);
    }, this.spec.garpMasterDelayMs);
    this.garpTimer.unref();
  }

  /**
   * virtual_routes and virtual_rules: added after the addresses when the instance becomes
   * MASTER, deleted when it leaves MASTER (as keepalived does), through the same queue.
   */
  private setRoutes(own: boolean): void {
    if (own === this.routesUp || (this.spec.virtualRoutes.length === 0 && this.spec.virtualRules.length === 0)) return;
    this.routesUp = own;
    const cmds = [
      ...this.spec.virtualRoutes.map((r) => ['route', own ? 'add' : 'del', ...r.split(' ')]),
      ...this.spec.virtualRules.map((r) => ['rule', own ? 'add' : 'del', ...r.split(' ')]),
    ];
    for (const c of own ? cmds : cmds.reverse()) {
      this.ipQueue = this.ipQueue.then(async () => {
        const msg = await runIp(c);
        if (msg && !/File exists|No such process|No such file/.test(msg)) this.log.warn({ instance: this.spec.name, cmd: `ip ${c.join(' ')}`, error: msg }, `virtual ${c[0]} failed`);
      });
    }
  }

  private garp(mac: string): void {
    const byDev = new Map<string, number[]>();
    for (const v of this.vips) byDev.set(v.dev, [...(byDev.get(v.dev) ?? []), ipFromString(v.addr)]);
    for (const [dev, addrs] of byDev) {
      const devMac = (networkInterfaces()[dev] ?? [])[0]?.mac ?? mac;
      try {
        if (sendGarp(dev, devMac, addrs, GARP_REPEAT) === 0) this.log.warn({ dev }, 'gratuitous ARP not sent (link down?)');
      } catch (err) {
        this.log.warn({ dev, error: (err as Error).message }, 'gratuitous ARP failed');
      }
    }
  }

  info(): VrrpInstanceInfo {
    return {
      name: this.spec.name, state: this.machine.state, priority: this.machine.cfg.priority,
      master: this.machine.masterAddr ? ipToString(this.machine.masterAddr) : '',
      drops: Object.fromEntries(this.drops),
      vips: this.vips.map((v) => v.addr),
    };
  }

  /** Closes the socket once queued adverts (the priority-0 one) are out, at most after 500 ms. */
  async close(): Promise<void> {
    if (this.garpTimer) clearTimeout(this.garpTimer);
    if (this.linkTimer) clearInterval(this.linkTimer);
    if (this.routesUp) this.setRoutes(false);
    await this.ipQueue;
    if (this.pending > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500);
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.sock?.close();
  }
}

export interface VrrpRuntimeOptions {
  /** Where the addresses this run adds are recorded, for the next start to remove after a crash. */
  vipStateFile?: string;
  /** lvsd's routing table (--table): the reaper blackholes it after a crash (VipReaper). */
  blackholeTable?: number;
  /** Addresses a previous run left (readVipState, read once at start), removed before anything else. */
  staleVips?: readonly Vip[];
}

/** The VRRP instances of a keepalived configuration (one run group: a sync group or one instance). */
export class VrrpRuntime {
  private readonly instances: Instance[] = [];
  private reaper: VipReaper | undefined;
  private readonly added = new Map<string, Vip>();
  private stateWrite: Promise<void> = Promise.resolve();
  private readonly stale: Vip[];
  /** State transitions by instance name since start. */
  private readonly transitionCounts = new Map<string, number>();
  /** vrrp_script runners by name, shared by the instances tracking them. */
  private readonly scripts = new Map<string, { runner: ScriptRunner; result: ScriptResult }>();
  /** Resolved users and checks of notify scripts: null = disabled. */
  private readonly notifyAs = new Map<string, RunAs | undefined | null>();
  /** Last state notified per sync group (GROUP notifications). */
  private readonly groupState = new Map<string, VrrpState>();
  private stopping = false;

  constructor(
    private readonly log: Log,
    specs: readonly VrrpInstanceSpec[],
    /** Called on every transition of an instance (e.g. to switch the sync daemon's role). */
    private readonly listener?: (instance: string, state: VrrpState) => void,
    /** vrrp_sync_group members: instances that change state together. */
    private readonly groups: readonly SyncGroupSpec[] = [],
    private readonly opts: VrrpRuntimeOptions = {},
  ) {
    const hooks: InstanceHooks = {
      onState: (i, state) => this.onState(i, state),
      onAdded: (v) => this.record(v),
      changed: () => this.refresh(),
    };
    for (const s of specs) this.instances.push(new Instance(s, log, hooks));
    for (const s of specs) {
      for (const t of s.trackScripts) {
        if (this.scripts.has(t.script.name)) continue;
        const result = new ScriptResult(t.script.rise, t.script.fall, t.script.initFail);
        const runner = new ScriptRunner(t.script, log, (ok) => this.scriptResult(t.script.name, ok));
        this.scripts.set(t.script.name, { runner, result });
      }
    }
    this.stale = [...(opts.staleVips ?? [])];
  }

  private scriptResult(name: string, ok: boolean): void {
    const sc = this.scripts.get(name);
    if (!sc || !sc.result.report(ok)) return;
    this.log.info({ script: name, status: sc.result.status }, `VRRP_Script(${name}) ${sc.result.status === 'ok' ? 'succeeded' : 'failed'}`);
    for (const i of this.instances) {
      for (const t of i.track) if (t.kind === 'script' && t.name === name) t.status = sc.result.status;
    }
    this.refresh();
  }

  /**
   * Recomputes every instance from its inputs: sync group members share FAULT (one member in
   * FAULT puts the others in FAULT, keepalived's vrrp_sync_fault), then each drives its machine.
   */
  private refresh(): void {
    if (this.stopping) return;
    for (const i of this.instances) {
      i.groupFault = undefined;
      for (const g of this.groups) {
        if (!g.group.includes(i.spec.name)) continue;
        for (const o of this.instances) {
          const f = o !== i && g.group.includes(o.spec.name) ? o.ownFault() : undefined;
          if (f !== undefined) i.groupFault ??= `sync group ${g.name}: ${o.spec.name} is in FAULT (${f})`;
        }
      }
    }
    for (const i of this.instances) i.apply();
  }

  private record(v: Vip): void {
    const k = `${v.addr}/${v.len} ${v.dev}`;
    if (this.added.has(k) || !this.opts.vipStateFile) return;
    this.added.set(k, v);
    const file = this.opts.vipStateFile;
    const text = JSON.stringify({ vips: [...this.added.values()] }) + '\n';
    this.stateWrite = this.stateWrite.then(async () => {
      try {
        await writeFile(`${file}.tmp`, text, { mode: 0o600 });
        await rename(`${file}.tmp`, file);
      } catch (err) {
        this.log.warn({ file, error: (err as Error).message }, 'VIP state file not written');
      }
    });
  }

  private notify(cmd: string | undefined, args: string[] = []): void {
    if (!cmd) return;
    const as = this.notifyAs.get(cmd);
    if (as === null) return;
    runNotify(cmd, args, as);
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
    const prio = String(i.machine.cfg.priority);
    if (state === 'MASTER') this.notify(s.notifyMaster);
    if (state === 'BACKUP') this.notify(s.notifyBackup);
    if (state === 'FAULT') this.notify(s.notifyFault);
    if (state === 'STOPPED') this.notify(s.notifyStop);
    const word = state === 'STOPPED' ? 'STOP' : state;
    if (word === 'MASTER' || word === 'BACKUP' || word === 'FAULT' || word === 'STOP') this.notify(s.notify, ['INSTANCE', s.name, word, prio]);
    for (const g of this.groups) {
      if (!g.group.includes(s.name) || this.groupState.get(g.name) === state || state === 'INIT') continue;
      this.groupState.set(g.name, state);
      if (state === 'MASTER') this.notify(g.notifyMaster);
      if (state === 'BACKUP') this.notify(g.notifyBackup);
      if (state === 'FAULT') this.notify(g.notifyFault);
      if (state === 'STOPPED') this.notify(g.notifyStop);
      this.notify(g.notify, ['GROUP', g.name, word, prio]);
    }
  }

  /** Resolves the notify scripts' users and applies script security (keepalived's checks). */
  private async prepareScripts(): Promise<void> {
    const lines: Array<{ cmd: string; user?: VrrpInstanceSpec['notifyUser']; secure: boolean }> = [];
    for (const i of this.instances) {
      const s = i.spec;
      for (const c of [s.notifyMaster, s.notifyBackup, s.notifyFault, s.notifyStop, s.notify]) {
        if (c) lines.push({ cmd: c, user: s.notifyUser, secure: s.scriptSecurity === true });
      }
    }
    const secureAll = this.instances.some((i) => i.spec.scriptSecurity === true);
    for (const g of this.groups) {
      for (const c of [g.notifyMaster, g.notifyBackup, g.notifyFault, g.notifyStop, g.notify]) if (c) lines.push({ cmd: c, user: g.notifyUser, secure: secureAll });
    }
    const any = lines.length > 0 || this.scripts.size > 0;
    for (const l of lines) {
      if (this.notifyAs.has(l.cmd)) continue;
      const as = await resolveRunAs(l.user);
      if (as instanceof Error) {
        this.log.error({ script: l.cmd, error: as.message }, `notify script disabled: ${as.message}`);
        this.notifyAs.set(l.cmd, null);
        continue;
      }
      const prog = scriptWords(l.cmd)?.[0] ?? '';
      const c = await checkScript(prog, as, l.secure);
      if (c.problem) this.log[c.path ? 'warn' : 'error']({ script: l.cmd }, c.problem);
      this.notifyAs.set(l.cmd, c.path ? as : null);
    }
    for (const [name, sc] of this.scripts) {
      if (await sc.runner.prepare()) continue;
      // check_vrrp_script_security(): a disabled script is removed from the instances' tracking.
      this.scripts.delete(name);
      for (const i of this.instances) {
        for (let k = i.track.length - 1; k >= 0; k--) {
          const t = i.track[k];
          if (t.kind === 'script' && t.name === name) i.track.splice(k, 1);
        }
      }
    }
    if (any && !secureAll) this.log.warn({}, 'SECURITY VIOLATION - scripts are being executed but script_security not enabled');
  }

  /** Removes what a crashed run left (state file), arms the reaper, starts the instances. */
  async start(): Promise<void> {
    for (const v of this.stale) {
      const msg = await runIp(['addr', 'del', `${v.addr}/${v.len}`, 'dev', v.dev]);
      if (!msg) this.log.warn({ vip: v.addr, dev: v.dev }, 'address left by an unclean stop removed');
    }
    this.reaper = new VipReaper(this.instances.flatMap((i) => i.addresses), this.opts.blackholeTable);
    for (const i of this.instances) await i.open();
    await this.prepareScripts();
    for (const i of this.instances) await i.poll();
    for (const i of this.instances) i.started = true;
    this.refresh();
    for (const i of this.instances) i.watchLinks();
    for (const sc of this.scripts.values()) sc.runner.start();
  }

  /** Hands mastership over (priority 0 adverts) and releases the addresses. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const sc of this.scripts.values()) sc.runner.stop();
    for (const i of this.instances) if (i.machine.state !== 'STOPPED') i.machine.stop();
    await Promise.all(this.instances.map((i) => i.close()));
    this.reaper?.release();
    await this.stateWrite;
    if (this.opts.vipStateFile) await unlink(this.opts.vipStateFile).catch(() => undefined);
  }

  info(): VrrpInstanceInfo[] {
    return this.instances.map((i) => i.info());
  }

  /** State transitions of instance `name` since start. */
  transitions(name: string): number {
    return this.transitionCounts.get(name) ?? 0;
  }
}
