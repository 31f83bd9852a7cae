/**
 * The service manager's readiness protocol (sd_notify(3)) for lvsd, lvs-realserver and
 * lvs-dlm under a `Type=notify` unit (contrib/systemd/). Messages are datagrams to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or `@name` in the abstract namespace),
 * sent by native/notify.cc without blocking:
 *
 *   READY=1                          start-up finished: the data path and control socket are up
 *   RELOADING=1 + MONOTONIC_USEC=N   a reload (SIGHUP) begins; READY=1 again once it is done
 *   STOPPING=1                       shutdown begins
 *   WATCHDOG=1                       every WATCHDOG_USEC/2 while $WATCHDOG_USEC is set
 *                                    (and $WATCHDOG_PID, when set, is this process)
 *   STATUS=text                      free text shown by `systemctl status`
 *
 * Without $NOTIFY_SOCKET every call does nothing. NOTIFY_SOCKET is removed from the
 * environment once read, so child processes (ip, check scripts) do not inherit it, as
 * sd_notify(unset_environment=1) does.
 */
import { loadNative } from '../phy/native';

interface NotifyAddon {
  notifySend(socketPath: string, message: string): void;
}

export type NotifySend = (socketPath: string, message: string) => void;

function nativeSend(): NotifySend {
  const a = loadNative() as unknown as Partial<NotifyAddon>;
  if (typeof a.notifySend !== 'function') {
    throw new Error('lvs_native addon without notify support: rebuild with `npm run build:native`');
  }
  return a.notifySend.bind(a);
}

/** CLOCK_MONOTONIC in microseconds (libuv's hrtime reads that clock on Linux). */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

export class Notifier {
  /** Messages that could not be sent (the manager gone or its queue full), and the last error. */
  failures = 0;
  lastError: string | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private nativeSend: NotifySend | undefined;

  constructor(
    readonly socketPath: string | undefined,
    readonly watchdogUsec: number,
    private readonly send: NotifySend | undefined = undefined,
  ) {}

  /** From $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID (deleted from `env` once read). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, send?: NotifySend): Notifier {
    const socketPath = env.NOTIFY_SOCKET || undefined;
    const wdPid = env.WATCHDOG_PID;
    const wdRaw = env.WATCHDOG_USEC;
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    let wd = wdRaw !== undefined && /^\d+$/.test(wdRaw) ? Number(wdRaw) : 0;
    if (wdPid !== undefined && wdPid !== String(process.pid)) wd = 0;
    return new Notifier(socketPath, socketPath === undefined ? 0 : wd, send);
  }

  get enabled(): boolean {
    return this.socketPath !== undefined;
  }

  /** Sends one message (lines joined by newlines); false when it could not be sent. */
  notify(...lines: string[]): boolean {
    if (this.socketPath === undefined) return false;
    try {
      (this.send ?? (this.nativeSend ??= nativeSend()))(this.socketPath, lines.join('\n'));
      return true;
    } catch (err) {
      this.failures++;
      this.lastError = (err as Error).message;
      return false;
    }
  }

  ready(status?: string): boolean {
    return status === undefined ? this.notify('READY=1') : this.notify('READY=1', `STATUS=${status}`);
  }

  reloading(): boolean {
    return this.notify('RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`);
  }

  stopping(): boolean {
    this.stopWatchdog();
    return this.notify('STOPPING=1');
  }

  status(text: string): boolean {
    return this.notify(`STATUS=${text.replace(/\n/g, ' ')}`);
  }

  /** Starts WATCHDOG=1 keep-alives at half the interval when the manager asked for them. */
  startWatchdog(): void {
    if (this.watchdogUsec <= 0 || this.watchdog !== undefined) return;
    const ms = Math.max(1, Math.floor(this.watchdogUsec / 2000));
    this.notify('WATCHDOG=1');
    this.watchdog = setInterval(() => this.notify('WATCHDOG=1'), ms);
    this.watchdog.unref();
  }

  stopWatchdog(): void {
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}
