/**
 * lvsd's keepalived.conf mode (-f / --use-file): reads the file, runs the health manager on
 * its virtual servers and the VRRP instances and sync daemon (ha-config.ts), answers
 * `list-checks`, and reloads on demand (SIGHUP): everything that changed is applied, what did
 * not change keeps running. A file keepalived would refuse leaves the running configuration
 * untouched.
 */
import type { KeepalivedConfig, LoadOptions } from '../control/keepalived';
import { loadKeepalivedConfig } from '../health/load';
import type { Director } from '../ipvs/director';
import type { Log } from '../log';
import { HealthManager } from '../health/manager';
import type { SyncDaemon } from '../ha/sync';
import type { VrrpRuntimeOptions } from '../ha/vrrp-node';
import { HaConfig } from './ha-config';

export interface KeepalivedRuntime {
  readonly manager: HealthManager;
  /** VRRP instances and the sync daemon (ha-config.ts). */
  readonly ha: HaConfig;
  readonly sync: SyncDaemon | undefined;
  /** Re-reads the file and applies the difference; false (and logged) when it was rejected. */
  reload(): Promise<boolean>;
  /** Stops the checkers and VRRP (handing mastership over first). */
  stop(): Promise<void>;
}

export interface StartOptions extends LoadOptions {
  /** Told of every sync daemon the configuration creates (lvsadm's daemon bookkeeping). */
  adoptSync?: (d: SyncDaemon) => void;
  /** VIP state file and crash reaper of the VRRP instances (src/ha/vrrp-node.ts). */
  vrrp?: VrrpRuntimeOptions;
}

function logWarnings(log: Log, cfg: KeepalivedConfig): void {
  for (const w of cfg.warnings) log.warn({ config: w }, 'configuration warning');
}

/** Parses and validates `file`; throws ConfigError (message "file:line: ...") before anything changes. */
export function loadKeepalived(file: string, opts: LoadOptions = {}): Promise<KeepalivedConfig> {
  return loadKeepalivedConfig(file, opts);
}

/** Applies an already parsed configuration to `director` and keeps it current. */
export async function startKeepalived(director: Director, log: Log, file: string, initial: KeepalivedConfig,
  opts: StartOptions = {}): Promise<KeepalivedRuntime> {
  const manager = new HealthManager(director, log);
  director.registerQuery('list-checks', () => ({ kind: 'checks', services: manager.snapshot() }));
  logWarnings(log, initial);
  manager.apply(initial.virtualServers);
  const ha = new HaConfig(director, log, opts.adoptSync, opts.vrrp);
  await ha.apply(initial, true);
  log.info({ file, virtualServers: initial.virtualServers.length }, 'keepalived configuration loaded');
  // One reload at a time; a SIGHUP during a reload is applied after it, with the file as it is then.
  let reloading: Promise<boolean> | undefined;
  let again = false;
  const reloadOnce = async (): Promise<boolean> => {
    let cfg: KeepalivedConfig;
    try {
      cfg = await loadKeepalivedConfig(file, opts);
    } catch (err) {
      log.error({ file, error: (err as Error).message }, 'reload rejected; the running configuration stays');
      return false;
    }
    logWarnings(log, cfg);
    // keepalived's reload order: checkers and services, then VRRP and sync.
    manager.apply(cfg.virtualServers);
    try {
      await ha.apply(cfg, false);
    } catch (err) {
      log.error({ file, error: (err as Error).message }, 'reload: the VRRP instances could not all be started');
      return false;
    }
    log.info({ file, virtualServers: cfg.virtualServers.length, vrrpInstances: cfg.vrrpInstances.length }, 'configuration reloaded');
    return true;
  };
  return {
    manager,
    ha,
    get sync() { return ha.syncDaemon; },
    reload(): Promise<boolean> {
      if (reloading) {
        again = true;
        return reloading;
      }
      reloading = (async () => {
        let ok = await reloadOnce();
        while (again) {
          again = false;
          ok = await reloadOnce();
        }
        reloading = undefined;
        return ok;
      })();
      return reloading;
    },
    async stop(): Promise<void> {
      manager.stop();
      await ha.stop();
    },
  };
}
