/**
 * A daemon's life as a service manager sees it: --pid-file and sd_notify (./notify.ts)
 * around start-up, reload and shutdown, shared by lvsd, lvs-realserver and lvs-dlm.
 *
 *   started()   after the data path, the configuration and the control interface are up:
 *               pid file written, READY=1, watchdog keep-alives begin
 *   reload(fn)  RELOADING=1 (+MONOTONIC_USEC), fn(), READY=1 (even when fn failed: the
 *               running configuration stays, as lvsd's SIGHUP contract says)
 *   stopping()  STOPPING=1, keep-alives end
 *   exited()    pid file removed (call right before process.exit)
 */
import type { Log } from '../log';
import { Notifier } from './notify';
import { PidFile } from './pidfile';

export class Lifecycle {
  readonly notifier: Notifier;
  readonly pidFile: PidFile | undefined;

  constructor(private readonly log: Log, pidFile: string | undefined, notifier: Notifier = Notifier.fromEnv()) {
    this.notifier = notifier;
    this.pidFile = pidFile !== undefined ? new PidFile(pidFile) : undefined;
  }

  started(status?: string): void {
    if (this.pidFile) {
      try {
        this.pidFile.write();
      } catch (err) {
        this.log.error({ file: this.pidFile.path, error: (err as Error).message }, 'cannot write the pid file');
      }
    }
    if (this.notifier.enabled && !this.notifier.ready(status)) {
      this.log.warn({ socket: this.notifier.socketPath, error: this.notifier.lastError }, 'sd_notify READY=1 failed');
    }
    this.notifier.startWatchdog();
  }

  async reload(fn: () => unknown): Promise<void> {
    this.notifier.reloading();
    try {
      await fn();
    } finally {
      this.notifier.ready();
    }
  }

  stopping(): void {
    this.notifier.stopping();
  }

  exited(): void {
    this.notifier.stopWatchdog();
    this.pidFile?.remove();
  }
}
