/**
 * The control side of connection sync: lvsadm --start-daemon / --stop-daemon / -L --daemon
 * (ipvsadm's commands, IP_VS_SO_SET_STARTDAEMON and friends). Each state (master, backup) runs
 * at most once, with its own interface and syncid, as in the kernel. A daemon started from
 * keepalived.conf (lvs_sync_daemon) is listed too, in the role VRRP gives it.
 *
 * It also keeps the "synced" gate of VIP announcements (src/host/announce.ts, docs/SCALEOUT.md):
 * closed from lvsd's start until a backup daemon's bulk resync has finished (complete, or no
 * peer answered within the resync timeout: SyncDaemon.resync), or until STANDALONE_MS passed
 * with no backup daemon started at all (a director without sync). Once open it stays open:
 * a backup daemon started later resyncs without withdrawing anything.
 */
import type { Command, Result, SyncDaemonInfo, SyncState } from '../ipvs/command';
import { E, IpvsError } from '../ipvs/errors';
import type { Director } from '../ipvs/director';
import type { Log } from '../log';
import type { SyncConn } from '../wire/ipvs-sync';
import { SyncDaemon } from './sync';

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;
const SYNC_KEY_HEX = /^(?:[0-9a-f]{2}){16,1024}$/;

/** Without a backup daemon started this long after lvsd's start, the director counts as synced. */
export const STANDALONE_MS = 10_000;

export class SyncControl {
  private readonly own = new Map<SyncState, { info: SyncDaemonInfo; daemon: SyncDaemon }>();
  private adopted: SyncDaemon | undefined;
  private syncedGate = false;
  private backupStarted = false;
  private readonly standalone: NodeJS.Timeout;
  private readonly syncedFns: Array<() => void> = [];

  constructor(private readonly director: Director, private readonly log: Log, standaloneMs = STANDALONE_MS) {
    for (const op of ['start-daemon', 'stop-daemon', 'list-daemons'] as const) {
      director.registerQuery(op, (cmd) => this.handle(cmd));
    }
    director.registerCounters(() => this.counters());
    this.standalone = setTimeout(() => {
      if (!this.backupStarted) this.markSynced('no backup sync daemon started', { waitedMs: standaloneMs });
    }, standaloneMs);
    this.standalone.unref();
  }

  private dumpSource: (() => AsyncIterable<SyncConn[]>) | undefined;

  /** Where bulk resync dumps read the table from (the packet workers' listing in worker mode). */
  setDumpSource(fn: () => AsyncIterable<SyncConn[]>): void {
    this.dumpSource = fn;
    for (const d of this.daemons()) d.setDumpSource(fn);
  }

  /** Whether the director has finished its initial resync (the announcement gate). */
  get synced(): boolean {
    return this.syncedGate;
  }

  /** fn runs once the gate opens (at once when it is open). */
  onSynced(fn: () => void): void {
    if (this.syncedGate) fn();
    else this.syncedFns.push(fn);
  }

  private markSynced(reason: string, detail: object): void {
    if (this.syncedGate) return;
    this.syncedGate = true;
    clearTimeout(this.standalone);
    this.log.info({ reason, ...detail }, 'director synced');
    for (const fn of this.syncedFns.splice(0)) fn();
  }

  /** A backup role started on `d`: its bulk resync decides the gate. */
  private backupRunning(d: SyncDaemon): void {
    this.backupStarted = true;
    if (this.syncedGate) return;
    d.resync().then((r) => {
      // A backup stopped before its resync ended leaves the gate to the next one started.
      if (r.reason !== 'stopped') this.markSynced(r.reason, r);
    }, (err: Error) => {
      this.markSynced('resync failed', { err: err.message });
    });
  }

  /** The running daemons: those of --start-daemon and the adopted one (read-only, metrics). */
  daemons(): SyncDaemon[] {
    const out = [...this.own.values()].map((o) => o.daemon);
    if (this.adopted && !out.includes(this.adopted)) out.push(this.adopted);
    return out;
  }

  /** A daemon whose role is driven elsewhere (keepalived.conf lvs_sync_daemon + VRRP). */
  adopt(d: SyncDaemon): void {
    this.adopted = d;
    if (this.dumpSource) d.setDumpSource(this.dumpSource);
    d.onRole((role) => {
      if (role === 'backup') this.backupRunning(d);
    });
  }

  handle(cmd: Command): Result {
    switch (cmd.op) {
      case 'start-daemon': {
        const d = cmd.daemon;
        if (this.own.has(d.state) || this.adopted?.activeRoles.includes(d.state)) {
          throw new IpvsError('EEXIST', `Daemon has already run (${d.state})`);
        }
        if (!IFNAME.test(d.mcastIface)) throw E.invalid(`invalid --mcast-interface '${d.mcastIface}'`);
        if (!Number.isInteger(d.syncid) || d.syncid < 0 || d.syncid > 255) throw E.invalid(`invalid --syncid ${d.syncid}`);
        if (d.key !== undefined && (typeof d.key !== 'string' || !SYNC_KEY_HEX.test(d.key))) {
          throw E.invalid('invalid --sync-key: 16..1024 bytes, hex encoded');
        }
        let daemon: SyncDaemon;
        try {
          daemon = new SyncDaemon(this.director, this.log, {
            iface: d.mcastIface, syncid: d.syncid, group: d.group, port: d.port, ttl: d.ttl, peer: d.peer,
            key: d.key !== undefined ? Buffer.from(d.key, 'hex') : undefined,
          });
        } catch (err) {
          throw E.invalid((err as Error).message);
        }
        if (this.dumpSource) daemon.setDumpSource(this.dumpSource);
        const { key: _key, ...shown } = d;
        this.own.set(d.state, { info: shown, daemon });
        daemon.start(d.state).then(() => {
          if (d.state === 'backup') this.backupRunning(daemon);
        }, (err: Error) => {
          this.log.error({ err: err.message, state: d.state }, 'sync daemon failed to start');
          this.own.delete(d.state);
        });
        return { kind: 'done' };
      }
      case 'stop-daemon': {
        const e = this.own.get(cmd.state);
        if (e) {
          e.daemon.close();
          this.own.delete(cmd.state);
        } else if (this.adopted?.activeRoles.includes(cmd.state)) {
          this.adopted.stop(cmd.state);
        } else {
          throw new IpvsError('ESRCH', `No daemon is running (${cmd.state})`);
        }
        return { kind: 'done' };
      }
      case 'list-daemons': {
        const out: SyncDaemonInfo[] = [];
        for (const state of ['master', 'backup'] as const) {
          const e = this.own.get(state);
          if (e) out.push(e.info);
          else if (this.adopted?.activeRoles.includes(state)) {
            const o = this.adopted.opts;
            out.push({ state, mcastIface: o.iface, syncid: o.syncid, group: o.group, port: o.port, ttl: o.ttl });
          }
        }
        return { kind: 'daemons', daemons: out };
      }
      default:
        throw E.invalid(`unexpected ${cmd.op}`);
    }
  }

  /** Counters of every running daemon, summed, named sync_* (lvsadm --status). */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    const ds = [...new Set([...[...this.own.values()].map((e) => e.daemon), ...(this.adopted ? [this.adopted] : [])])];
    for (const d of ds) {
      for (const [k, v] of Object.entries(d.engine.stats)) out[`sync_${k}`] = (out[`sync_${k}`] ?? 0) + v;
    }
    return out;
  }

  close(): void {
    clearTimeout(this.standalone);
    for (const e of this.own.values()) e.daemon.close();
    this.own.clear();
  }
}
