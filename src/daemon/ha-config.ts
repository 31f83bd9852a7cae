/**
 * The VRRP instances and the LVS sync daemon of a keepalived configuration, kept in line with
 * the file across reloads as keepalived's reload does:
 * - instances are run in groups: one per vrrp_sync_group, one per instance outside any group;
 *   a group whose instances and membership are unchanged keeps running (its state, its
 *   addresses) through a reload; a changed group is stopped (handing mastership over with
 *   priority-0 adverts, as keepalived does for an instance it removes) and started again with
 *   the new settings; a removed one is stopped; a new one starts;
 * - the sync daemon (lvs_sync_daemon, or lvs_sync_daemon_interface in a vrrp_instance) is
 *   master while its VRRP instance is MASTER and backup otherwise (FAULT included); a changed daemon is
 *   replaced and takes the role its instance has at that moment.
 */
import type { KeepalivedConfig, SyncDaemonSpec, VrrpInstanceSpec } from '../control/keepalived';
import type { Director } from '../ipvs/director';
import type { Log } from '../log';
import { SyncDaemon } from '../ha/sync';
import { VrrpRuntime, type VrrpRuntimeOptions, readVipState } from '../ha/vrrp-node';

interface Group {
  key: string;
  names: string[];
  rt: VrrpRuntime;
}

type SyncGroups = KeepalivedConfig['vrrpSyncGroups'];

/** Instances split into run groups: each vrrp_sync_group's members, then each other instance. */
function runGroups(instances: VrrpInstanceSpec[], groups: SyncGroups): Array<{ specs: VrrpInstanceSpec[]; groups: SyncGroups }> {
  const byName = new Map(instances.map((i) => [i.name, i]));
  const taken = new Set<string>();
  const out: Array<{ specs: VrrpInstanceSpec[]; groups: SyncGroups }> = [];
  for (const g of groups) {
    const specs = g.group.filter((n) => byName.has(n) && !taken.has(n)).map((n) => byName.get(n)!);
    if (specs.length === 0) continue;
    for (const s of specs) taken.add(s.name);
    out.push({ specs, groups: [g] });
  }
  for (const i of instances) if (!taken.has(i.name)) out.push({ specs: [i], groups: [] });
  return out;
}

export class HaConfig {
  private groups: Group[] = [];
  private sync: SyncDaemon | undefined;
  private syncSpec: SyncDaemonSpec | undefined;
  private syncKey = '';

  constructor(
    private readonly director: Director,
    private readonly log: Log,
    /** Told of every sync daemon this creates (lvsadm's --start-daemon bookkeeping). */
    private readonly adoptSync?: (d: SyncDaemon) => void,
    private readonly vrrpOpts: VrrpRuntimeOptions = {},
  ) {}

  get syncDaemon(): SyncDaemon | undefined {
    return this.sync;
  }

  /** VRRP state of every running instance. */
  info(): ReturnType<VrrpRuntime['info']> {
    return this.groups.flatMap((g) => g.rt.info());
  }

  /** State transitions of instance `name` since its group (re)started. */
  transitions(name: string): number {
    return this.groups.find((g) => g.names.includes(name))?.rt.transitions(name) ?? 0;
  }

  /**
   * Makes the running VRRP instances and sync daemon those of `cfg`. At start a sync daemon
   * that cannot be created throws (lvsd does not start); on a reload it is logged.
   */
  async apply(cfg: KeepalivedConfig, starting: boolean): Promise<void> {
    const wanted = runGroups(cfg.vrrpInstances, cfg.vrrpSyncGroups).map((g) => ({ ...g, key: JSON.stringify(g) }));
    const keep = new Set(wanted.map((w) => w.key));
    const stay: Group[] = [];
    for (const g of this.groups) {
      if (keep.has(g.key)) stay.push(g);
      else {
        this.log.info({ instances: g.names }, 'vrrp instances changed or removed: stopping them');
        await g.rt.stop();
      }
    }
    this.groups = stay;
    this.applySync(cfg.syncDaemon, starting);
    const running = new Set(stay.map((g) => g.key));
    // The previous run's addresses, read once at start (a reload never reads the file).
    const staleVips = starting && this.vrrpOpts.vipStateFile ? readVipState(this.vrrpOpts.vipStateFile, this.log) : [];
    for (const w of wanted) {
      if (running.has(w.key)) continue;
      const rt = new VrrpRuntime(this.log, w.specs, (name, state) => {
        if (this.syncSpec?.instance === name && (state === 'MASTER' || state === 'BACKUP' || state === 'FAULT')) {
          this.setSyncRole(state === 'MASTER');
        }
      }, w.groups, { ...this.vrrpOpts, staleVips });
      this.groups.push({ key: w.key, names: w.specs.map((s) => s.name), rt });
      if (!starting) this.log.info({ instances: w.specs.map((s) => s.name) }, 'vrrp instances started by the reload');
      rt.start().catch((err: Error) => this.log.error({ err: err.message, instances: w.specs.map((s) => s.name) }, 'VRRP failed to start'));
    }
  }

  private applySync(sd: SyncDaemonSpec | undefined, starting: boolean): void {
    const key = JSON.stringify(sd ?? null);
    if (key === this.syncKey && (this.sync !== undefined || sd === undefined)) return;
    this.sync?.close();
    this.sync = undefined;
    this.syncSpec = sd;
    this.syncKey = key;
    if (!sd) return;
    try {
      this.sync = new SyncDaemon(this.director, this.log, {
        iface: sd.iface, syncid: sd.syncid, port: sd.port, ttl: sd.ttl, group: sd.group,
        key: sd.authKey !== undefined ? Buffer.from(sd.authKey) : undefined,
      });
    } catch (err) {
      if (starting) throw err;
      this.log.error({ err: (err as Error).message }, 'reload: the sync daemon cannot run; none runs');
      return;
    }
    this.adoptSync?.(this.sync);
    const state = this.info().find((i) => i.name === sd.instance)?.state;
    this.setSyncRole(state === 'MASTER');
  }

  /** keepalived's rule: master while the instance is MASTER, else backup. */
  private setSyncRole(master: boolean): void {
    const sync = this.sync;
    if (!sync) return;
    const [on, off] = master ? (['master', 'backup'] as const) : (['backup', 'master'] as const);
    sync.stop(off);
    sync.start(on).catch((err: Error) => this.log.error({ err: err.message, role: on }, 'sync daemon failed to start'));
  }

  async stop(): Promise<void> {
    for (const g of this.groups) await g.rt.stop();
    this.groups = [];
    this.sync?.close();
  }
}
