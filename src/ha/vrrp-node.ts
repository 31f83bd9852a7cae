/**
 * VRRP on real interfaces: one raw IP socket (protocol 112, `raw-socket`) per instance, bound
 * to its interface, joined to 224.0.0.18, sending with TTL 255 (RFC 5798 §5.1.1.3); virtual
 * addresses added and removed with `ip addr`, announced with gratuitous ARP on takeover
 * (garp_master_repeat 5 now, again after garp_master_delay), notify scripts as keepalived runs
 * them (notify_master / notify_backup / notify_fault, and `notify SCRIPT "INSTANCE" NAME STATE PRIORITY`).
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
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
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

function runScript(cmd: string, args: string[] = []): void {
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('/bin/sh', ['-c', args.length ? `${cmd} ${quoted}` : cmd], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

export interface VrrpInstanceInfo { name: string; state: VrrpState; priority: number; master: string }

class Instance {
  readonly machine: VrrpMachine;
  /** `ip addr` commands run one after another, in the order the machine asked for them. */
  private ipQueue: Promise<void> = Promise.resolve();
  private linkTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly devs: string[];
  private readonly sock: RawSocket;
  private readonly vips: Vip[];
  private readonly local: number;
  private garpTimer: NodeJS.Timeout | undefined;
  private readonly rx: VrrpAdvert = { version: 2, vrid: 0, priority: 0, intervalCs: 0, addrs: [] };
  private readonly peers: string[];
  /** Adverts handed to the socket and not yet written (raw-socket sends when writable). */
  private pending = 0;
  private drained: (() => void) | undefined;

  constructor(
    readonly spec: VrrpInstanceSpec, private readonly log: Log, onState: (i: Instance, s: VrrpState) => void,
    private readonly onAdded: (v: Vip) => void = () => undefined,
  ) {
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

  /** The virtual addresses as `ip addr` arguments (for the reaper and the state file). */
  get addresses(): readonly Vip[] {
    return this.vips;
  }

  /** Polls the interfaces every LINK_POLL_MS from now on. */
  watchLinks(): void {
    this.linkTimer = setInterval(() => void this.pollLinks(), LINK_POLL_MS);
    this.linkTimer.unref();
  }

  async pollLinks(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      let down: string | undefined;
      for (const d of this.devs) {
        let st: string;
        try {
          st = await readFile(`/sys/class/net/${d}/operstate`, 'utf8');
        } catch {
          st = 'absent';
        }
        if (!operUp(st)) {
          down = `${d} ${st.trim()}`;
          break;
        }
      }
      const m = this.machine;
      if (down !== undefined) m.fault(`interface ${down}`);
      else if (m.state === 'FAULT') m.recover('interfaces up');
    } finally {
      this.polling = false;
    }
  }

  private setVips(own: boolean, mac: string): void {
    for (const v of this.vips) {
      if (own) this.onAdded(v);
      this.ipQueue = this.ipQueue.then(async () => {
        const msg = await runIp(['addr', own ? 'add' : 'del', `${v.addr}/${v.len}`, 'dev', v.dev]);
        if (msg && !/File exists|Cannot assign|Address not found/.test(msg)) this.log.warn({ vip: v.addr, dev: v.dev, error: msg }, 'ip addr failed');
      });
    }
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
      name: this.spec.name, state: this.machine.state, priority: this.spec.priority,
      master: this.machine.masterAddr ? ipToString(this.machine.masterAddr) : '',
    };
  }

  /** Closes the socket once queued adverts (the priority-0 one) are out, at most after 500 ms. */
  async close(): Promise<void> {
    if (this.garpTimer) clearTimeout(this.garpTimer);
    if (this.linkTimer) clearInterval(this.linkTimer);
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
    this.sock.close();
  }
}

export interface VrrpRuntimeOptions {
  /** Where the addresses this run adds are recorded, for the next start to remove after a crash. */
  vipStateFile?: string;
  /** lvsd's routing table (--table): the reaper blackholes it after a crash (VipReaper). */
  blackholeTable?: number;
}

/** The VRRP instances of a keepalived configuration. */
export class VrrpRuntime {
  private readonly instances: Instance[] = [];
  private reaper: VipReaper | undefined;
  private readonly added = new Map<string, Vip>();
  private stateWrite: Promise<void> = Promise.resolve();
  private readonly stale: Vip[];
  /** State transitions by instance name since start. */
  private readonly transitionCounts = new Map<string, number>();

  constructor(
    private readonly log: Log,
    specs: readonly VrrpInstanceSpec[],
    /** Called on every transition of an instance (e.g. to switch the sync daemon's role). */
    private readonly listener?: (instance: string, state: VrrpState) => void,
    /** vrrp_sync_group members: instances that change state together. */
    private readonly groups: ReadonlyArray<{ name: string; group: readonly string[] }> = [],
    private readonly opts: VrrpRuntimeOptions = {},
  ) {
    for (const s of specs) {
      this.instances.push(new Instance(s, log, (i, state) => this.onState(i, state), (v) => this.record(v)));
    }
    this.stale = opts.vipStateFile ? readVipState(opts.vipStateFile, log) : [];
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
    if (state === 'FAULT' && s.notifyFault) runScript(s.notifyFault);
    if (s.notify && (state === 'MASTER' || state === 'BACKUP' || state === 'FAULT')) {
      runScript(s.notify, ['INSTANCE', s.name, state, String(s.priority)]);
    }
  }

  /** Removes what a crashed run left (state file), arms the reaper, starts the instances. */
  async start(): Promise<void> {
    for (const v of this.stale) {
      const msg = await runIp(['addr', 'del', `${v.addr}/${v.len}`, 'dev', v.dev]);
      if (!msg) this.log.warn({ vip: v.addr, dev: v.dev }, 'address left by an unclean stop removed');
    }
    this.reaper = new VipReaper(this.instances.flatMap((i) => i.addresses), this.opts.blackholeTable);
    for (const i of this.instances) {
      await i.pollLinks();
      if (i.machine.state === 'INIT') i.machine.start();
      i.watchLinks();
    }
  }

  /** Hands mastership over (priority 0 adverts) and releases the addresses. */
  async stop(): Promise<void> {
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
