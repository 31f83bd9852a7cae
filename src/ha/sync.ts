/**
 * Connection synchronisation (ip_vs_sync.c's role): the master director sends its connection
 * entries to the backup, which creates them without scheduling, so that after a takeover the
 * packets of established connections find their entry and go to the same real server.
 *
 * Master (SyncEngine.collect, every scanMs): an entry is sent
 *   - once it has left the handshake (TCP ESTABLISHED or later; UDP at once): the "few packets";
 *   - again whenever its state changed since it was last sent;
 *   - again every refreshMs while it lives (a backup that started late learns it too);
 * all due entries of one scan travel in as few datagrams as fit (IPVS sync v1 layout).
 * Persistence templates and half-open entries are not sent.
 * Backup (SyncEngine.apply): the entry is created for the service and real server named by the
 * message (both must exist on the backup), or its state and timeout updated; real-server
 * connection counters follow as the datapath keeps them (ESTABLISHED counts as active).
 * The scan is control-plane work on a timer; the packet path is untouched.
 */
import * as dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { F_INACTIVE, F_NOOUTPUT, F_SYNC, F_TEMPLATE } from '../ipvs/conn';
import type { Director } from '../ipvs/director';
import {
  TCP_S_CLOSE, TCP_S_ESTABLISHED, TCP_S_LISTEN, TCP_S_NONE, TCP_S_SYNACK, TCP_S_SYN_RECV, TCP_S_SYN_SENT,
} from '../ipvs/proto/tcp';
import { UDP_S_NORMAL } from '../ipvs/proto/udp';
import { FWD_MASQ, IPPROTO_TCP, IPPROTO_UDP } from '../ipvs/types';
import type { Log } from '../log';
import {
  CONN_F_FWD_MASK, CONN_F_INACTIVE, CONN_F_NOOUTPUT, CONN_F_TEMPLATE, SYNC_ERR_NAMES, SYNC_GROUP, SYNC_OK, SYNC_PORT,
  type SyncConn, decodeSync, encodeSync,
} from '../wire/ipvs-sync';

/** TCP states not worth sending: the handshake has not completed (or nothing is left). */
const UNSYNCED_TCP = new Set([TCP_S_NONE, TCP_S_SYN_SENT, TCP_S_SYN_RECV, TCP_S_LISTEN, TCP_S_SYNACK, TCP_S_CLOSE]);

export const DEFAULT_SCAN_MS = 250;
export const DEFAULT_REFRESH_MS = 30_000;

interface Sent { caddr: number; cport: number; state: number; at: number; seen: number }

/** Why received entries were not applied (counters). */
export interface SyncStats {
  sent: number;
  messagesSent: number;
  received: number;
  applied: number;
  noService: number;
  noDest: number;
  skipped: number;
  tableFull: number;
  badMessages: number;
}

export class SyncEngine {
  private readonly sent = new Map<number, Sent>();
  private scan = 0;
  readonly stats: SyncStats = {
    sent: 0, messagesSent: 0, received: 0, applied: 0, noService: 0, noDest: 0, skipped: 0, tableFull: 0, badMessages: 0,
  };

  constructor(private readonly director: Director, private readonly refreshMs = DEFAULT_REFRESH_MS) {}

  /** Entries due for sending at `now` (ms, the director's clock). */
  collect(now: number): SyncConn[] {
    const c = this.director.conns;
    const tcpT = this.director.pipeline.tcpTimeouts;
    const udpT = this.director.pipeline.udpTimeouts;
    const out: SyncConn[] = [];
    const scan = ++this.scan;
    c.forEach((id) => {
      const flags = c.flags(id);
      if (flags & F_TEMPLATE) return;
      const proto = c.proto(id);
      const state = c.state(id);
      if (proto === IPPROTO_TCP && UNSYNCED_TCP.has(state)) return;
      const caddr = c.caddr(id);
      const cport = c.cport(id);
      const rec = this.sent.get(id);
      if (rec && rec.caddr === caddr && rec.cport === cport) {
        rec.seen = scan;
        if (rec.state === state && now - rec.at < this.refreshMs) return;
        rec.state = state;
        rec.at = now;
      } else {
        this.sent.set(id, { caddr, cport, state, at: now, seen: scan });
      }
      out.push({
        protocol: proto,
        flags: (c.fwd(id) & CONN_F_FWD_MASK) | (flags & F_INACTIVE ? CONN_F_INACTIVE : 0) | (flags & F_NOOUTPUT ? CONN_F_NOOUTPUT : 0),
        state, cport, vport: c.vport(id), dport: c.dport(id), fwmark: 0,
        timeoutSec: proto === IPPROTO_TCP ? tcpT[state] : udpT[UDP_S_NORMAL],
        caddr, vaddr: c.vaddr(id), daddr: c.daddr(id),
      });
    });
    for (const [id, rec] of this.sent) if (rec.seen !== scan) this.sent.delete(id);
    this.stats.sent += out.length;
    return out;
  }

  /** Creates or refreshes the entry described by `m` (backup side). Returns whether it applied. */
  apply(m: SyncConn, now: number): boolean {
    this.stats.received++;
    const proto = m.protocol;
    if ((m.flags & CONN_F_TEMPLATE) || (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP)
      || (proto === IPPROTO_TCP && UNSYNCED_TCP.has(m.state))) {
      this.stats.skipped++;
      return false;
    }
    const services = this.director.services;
    const svc = services.lookup(proto, m.vaddr, m.vport);
    if (!svc) {
      this.stats.noService++;
      return false;
    }
    const dest = svc.findDest(m.daddr, m.dport);
    if (!dest) {
      this.stats.noDest++;
      return false;
    }
    const c = this.director.conns;
    const active = proto === IPPROTO_TCP && m.state === TCP_S_ESTABLISHED;
    const state = proto === IPPROTO_TCP ? m.state : UDP_S_NORMAL;
    const timeout = Math.min(m.timeoutSec, 0x7fffffff);
    const id = c.lookupIn(proto, m.caddr, m.cport, m.vaddr, m.vport);
    if (id >= 0) {
      if (c.destId(id) !== dest.id) {
        this.stats.skipped++;
        return false;
      }
      const flags = c.flags(id);
      const wasActive = (flags & F_INACTIVE) === 0;
      if (wasActive !== active) {
        c.setFlags(id, active ? flags & ~F_INACTIVE : flags | F_INACTIVE);
        if (active) { dest.activeConns++; dest.inactiveConns--; } else { dest.activeConns--; dest.inactiveConns++; }
      }
      c.setState(id, state);
      c.touch(id, timeout, now);
    } else {
      const flags = F_SYNC | (active ? 0 : F_INACTIVE) | (dest.fwd === FWD_MASQ ? 0 : F_NOOUTPUT);
      const nid = c.insert(proto, m.caddr, m.cport, m.vaddr, m.vport, dest.addr, m.dport, dest.fwd, flags,
        dest.id, svc.id, state, timeout, now);
      if (nid < 0) {
        this.stats.tableFull++;
        return false;
      }
      services.holdDest(dest.id);
      if (active) dest.activeConns++;
      else dest.inactiveConns++;
    }
    this.stats.applied++;
    return true;
  }
}

export type SyncRole = 'master' | 'backup';

export interface SyncDaemonOptions {
  /** Interface whose IPv4 address sends and joins the group (ipvsadm --mcast-interface). */
  iface: string;
  /** 0..255; 0 on a backup accepts every syncid. */
  syncid: number;
  group?: string;
  port?: number;
  ttl?: number;
  /** Unicast peer instead of the multicast group. */
  peer?: string;
  /** Shared key: messages carry and require an HMAC (lvsd extension). */
  key?: Buffer;
  scanMs?: number;
  refreshMs?: number;
  clock?: () => number;
}

/** The sockets and timers around a SyncEngine; roles may be switched at run time (VRRP). */
export class SyncDaemon {
  readonly engine: SyncEngine;
  private readonly roles = new Set<SyncRole>();
  private tx: dgram.Socket | undefined;
  private rx: dgram.Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly local: string;
  private readonly clock: () => number;
  /** Datagrams received from other directors (accepted or not). */
  messagesReceived = 0;

  constructor(director: Director, private readonly log: Log, readonly opts: SyncDaemonOptions) {
    this.engine = new SyncEngine(director, opts.refreshMs);
    this.clock = opts.clock ?? (() => Math.floor(performance.now()));
    const a = (networkInterfaces()[opts.iface] ?? []).find((x) => x.family === 'IPv4');
    if (!a) throw new Error(`sync daemon: interface ${opts.iface} has no IPv4 address`);
    this.local = a.address;
  }

  get activeRoles(): SyncRole[] {
    return [...this.roles];
  }

  async start(role: SyncRole): Promise<void> {
    if (this.roles.has(role)) return;
    this.roles.add(role);
    if (role === 'master') await this.startMaster();
    else await this.startBackup();
    this.log.info({ role, iface: this.opts.iface, syncid: this.opts.syncid }, 'sync daemon started');
  }

  stop(role: SyncRole): void {
    if (!this.roles.delete(role)) return;
    if (role === 'master') {
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      this.tx?.close();
      this.tx = undefined;
    } else {
      this.rx?.close();
      this.rx = undefined;
    }
    this.log.info({ role }, 'sync daemon stopped');
  }

  close(): void {
    this.stop('master');
    this.stop('backup');
  }

  private async startMaster(): Promise<void> {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, this.local, () => {
        s.removeListener('error', reject);
        resolve();
      });
    });
    s.on('error', (err) => this.log.warn({ err: err.message }, 'sync send error'));
    if (!this.opts.peer) {
      s.setMulticastInterface(this.local);
      s.setMulticastTTL(this.opts.ttl ?? 1);
      s.setMulticastLoopback(false);
    }
    this.tx = s;
    this.timer = setInterval(() => this.flush(), this.opts.scanMs ?? 250);
    this.timer.unref();
  }

  /** One master scan: due entries out in batched datagrams. */
  flush(): void {
    const s = this.tx;
    if (!s) return;
    const conns = this.engine.collect(this.clock());
    if (conns.length === 0) return;
    const dst = this.opts.peer ?? this.opts.group ?? SYNC_GROUP;
    for (const m of encodeSync(this.opts.syncid, conns, this.opts.key)) {
      this.engine.stats.messagesSent++;
      s.send(m, this.opts.port ?? SYNC_PORT, dst);
    }
  }

  private async startBackup(): Promise<void> {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(this.opts.port ?? SYNC_PORT, () => {
        s.removeListener('error', reject);
        resolve();
      });
    });
    if (!this.opts.peer) s.addMembership(this.opts.group ?? SYNC_GROUP, this.local);
    s.on('error', (err) => this.log.warn({ err: err.message }, 'sync receive error'));
    s.on('message', (msg, rinfo) => {
      if (rinfo.address === this.local || !this.roles.has('backup')) return;
      this.messagesReceived++;
      const now = this.clock();
      const rc = decodeSync(msg, this.opts.syncid, this.opts.key, (c) => this.engine.apply(c, now));
      if (rc !== SYNC_OK) {
        this.engine.stats.badMessages++;
        this.log.debug({ from: rinfo.address, error: SYNC_ERR_NAMES[rc] }, 'sync message dropped');
      }
    });
    this.rx = s;
  }
}

