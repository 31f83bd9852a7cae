/**
 * One lvsd per control socket and per TUN device, and a SIGUSR1 that dumps state.
 *
 * Single instance: before anything touches the kernel, lvsd takes two flock(2) locks, held
 * by open file descriptors until the process ends (also on SIGKILL):
 *   SOCKET.lock                            the control socket path (file system wide)
 *   /run/lvsd/tun.net-INODE.NAME.lock      the TUN name in this network namespace (device
 *                                          names are per namespace)
 * A second lvsd that finds either held exits with one line and changes nothing: no recovery
 * of stale state (which belongs to the running one), no TUN open, no socket replaced.
 *
 * SIGUSR1: Node opens its inspector (a debugger port on 127.0.0.1:9229 that runs any code it
 * is sent, as root) on SIGUSR1 unless JavaScript listens for the signal: a listener replaces
 * Node's handler (libuv's signal handle takes the signal). guardSigusr1() is installed first
 * thing at start, and closes an inspector already opened by a signal that arrived earlier.
 * The listener writes a state dump, as keepalived writes /tmp/keepalived.data.
 */
import { closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import inspector from 'node:inspector';
import { dirname } from 'node:path';
import { flockExclusive } from '../host/privileges';
import { checkStateDir } from '../host/statefile';
import { onSigusr1 } from './sigusr1';

export const LOCK_DIR = '/run/lvsd';

export class InstanceError extends Error {}

function lock(path: string, what: string): number {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  let held = false;
  try {
    held = !flockExclusive(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (held) {
    closeSync(fd);
    throw new InstanceError(`another lvsd is running with ${what} (lock ${path} is held); not starting`);
  }
  return fd;
}

/** The lock file of a TUN name in the calling process's network namespace. */
export function tunLockPath(tun: string, dir = LOCK_DIR): string {
  const ino = statSync('/proc/self/ns/net').ino;
  return `${dir}/tun.net-${ino}.${tun}.lock`;
}

/**
 * Takes the socket and TUN locks (creating their directories 0700, which must be root's and
 * not writable by others); throws InstanceError when another lvsd holds one. The returned
 * descriptors stay open for the life of the process.
 */
export function acquireInstance(socketPath: string, tun: string, lockDir = LOCK_DIR): number[] {
  const fds: number[] = [];
  for (const [path, what] of [[`${socketPath}.lock`, `socket ${socketPath}`], [tunLockPath(tun, lockDir), `TUN device ${tun}`]]) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    checkStateDir(dirname(path));
    try {
      fds.push(lock(path, what));
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      throw err;
    }
  }
  return fds;
}

/**
 * Writes `text` to `path` without following links or trusting what is there: a new file
 * (O_CREAT|O_EXCL|O_NOFOLLOW, 0600) beside it, renamed over it.
 */
export async function writeDump(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await unlink(tmp).catch(() => undefined);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(text);
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * Makes SIGUSR1 write dump() to `path` (the listener itself is installed by sigusr1.ts when
 * lvsd loads); returns whether an inspector had already been opened (and is now closed).
 */
export function guardSigusr1(path: string, dump: () => Promise<string>, onDone: (err: Error | undefined) => void): boolean {
  let running = false;
  onSigusr1(() => {
    if (running) return;
    running = true;
    dump().then((text) => writeDump(path, text)).then(() => onDone(undefined), onDone).finally(() => {
      running = false;
    });
  });
  if (inspector.url() !== undefined) {
    inspector.close();
    return true;
  }
  return false;
}
