/**
 * lvsd's keepalived.conf mode (-f / --use-file): reads the file, runs the health manager on
 * its virtual servers, answers `list-checks`, and reloads on demand (SIGHUP). A file that does
 * not parse leaves the running configuration untouched.
 */
import type { KeepalivedConfig, LoadOptions } from '../control/keepalived';
import { loadKeepalivedConfig } from './load';
import type { Director } from '../ipvs/director';
import type { Log } from '../log';
import { HealthManager } from './manager';
import { VrrpRuntime } from '../ha/vrrp-node';
import { SyncDaemon } from '../ha/sync';

export interface KeepalivedRuntime {
  readonly manager: HealthManager;
  readonly vrrp: VrrpRuntime | undefined;
  readonly sync: SyncDaemon | undefined;
  /** Re-reads the file and applies the difference; false (and logged) when it was rejected. */
  reload(): Promise<boolean>;
  /** Stops the checkers and VRRP (handing mastership over first). */
  stop(): Promise<void>;
}

function logWarnings(log: Log, cfg: KeepalivedConfig): void {
  for (const w of cfg.warnings) log.warn({ config: w }, 'configuration warning');
}

/** Parses and validates `file`; throws ConfigError (message "file:line: ...") before anything changes. */
export function loadKeepalived(file: string, opts: LoadOptions = {}): Promise<KeepalivedConfig> {
  return loadKeepalivedConfig(file, opts);
}

/** Applies an already parsed configuration to `director` and keeps it current. */
export function startKeepalived(director: Director, log: Log, file: string, initial: KeepalivedConfig,
  opts: LoadOptions = {}): KeepalivedRuntime {
  const manager = new HealthManager(director, log);
  director.registerQuery('list-checks', () => ({ kind: 'checks', services: manager.snapshot() }));
  logWarnings(log, initial);
  manager.apply(initial.virtualServers);
  const sd = initial.syncDaemon;
  const sync = sd ? new SyncDaemon(director, log, {
    iface: sd.iface, syncid: sd.syncid, port: sd.port, ttl: sd.ttl, group: sd.group,
    key: sd.authKey !== undefined ? Buffer.from(sd.authKey) : undefined,
  }) : undefined;
  // keepalived's rule: the sync daemon is master while its VRRP instance is MASTER, else backup.
  const setSyncRole = (master: boolean): void => {
    if (!sync) return;
    const [on, off] = master ? (['master', 'backup'] as const) : (['backup', 'master'] as const);
    sync.stop(off);
    sync.start(on).catch((err: Error) => log.error({ err: err.message, role: on }, 'sync daemon failed to start'));
  };
  const vrrp = initial.vrrpInstances.length > 0
    ? new VrrpRuntime(log, initial.vrrpInstances, (name, state) => {
      if (sd?.instance === name && (state === 'MASTER' || state === 'BACKUP')) setSyncRole(state === 'MASTER');
    }, initial.vrrpSyncGroups)
    : undefined;
  if (sync && !vrrp?.info().some((i) => i.name === sd?.instance)) setSyncRole(false);
  vrrp?.start();
  log.info({ file, virtualServers: initial.virtualServers.length }, 'keepalived configuration loaded');
  const vrrpText = JSON.stringify(initial.vrrpInstances);
  return {
    manager,
    vrrp,
    sync,
    async reload(): Promise<boolean> {
      let cfg: KeepalivedConfig;
      try {
        cfg = await loadKeepalivedConfig(file, opts);
      } catch (err) {
        log.error({ file, error: (err as Error).message }, 'reload rejected; the running configuration stays');
        return false;
      }
      logWarnings(log, cfg);
      if (JSON.stringify(cfg.vrrpInstances) !== vrrpText) {
        log.warn({ file }, 'vrrp_instance changes take effect at the next start of lvsd');
      }
      try {
        manager.apply(cfg.virtualServers);
      } catch (err) {
        log.error({ file, error: (err as Error).message }, 'reload failed while applying');
        return false;
      }
      log.info({ file, virtualServers: cfg.virtualServers.length }, 'configuration reloaded');
      return true;
    },
    async stop(): Promise<void> {
      manager.stop();
      await vrrp?.stop();
      sync?.close();
    },
  };
}
