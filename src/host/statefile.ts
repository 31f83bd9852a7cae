/**
 * Whether a state file may be believed. lvsd and lvs-realserver act on what their state files
 * say (delete rules, write sysctls, delete nftables tables), as root, at start; a file anyone
 * else could have written would let them choose what root does. Trusted only, as sshd's
 * StrictModes trusts key files:
 *   - the directory: a real directory (not a symlink), owned by root, not writable by group or
 *     others;
 *   - the file: a regular file (not a symlink), one link, owned by root, no permission bits for
 *     group or others (mode 0600 or stricter).
 * A refused file or directory is an error with one line saying what is wrong; the caller then
 * applies nothing. Start-up only (synchronous).
 */
import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';

export class StateFileError extends Error {
  readonly code = 'EUNTRUSTED';
}

function owner(uid: number): string {
  return uid === 0 ? 'root' : `uid ${uid}`;
}

/** Throws StateFileError unless dir is a root-owned directory that only its owner may write. */
export function checkStateDir(dir: string): void {
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // created by the daemon, 0700
    throw err;
  }
  if (!st.isDirectory()) throw new StateFileError(`${dir} is not a directory; refusing to keep state in it`);
  if (st.uid !== 0) throw new StateFileError(`bad ownership for directory ${dir} (${owner(st.uid)}, must be root)`);
  if ((st.mode & 0o022) !== 0) {
    throw new StateFileError(`bad modes for directory ${dir} (0${(st.mode & 0o7777).toString(8)}: writable by group or others)`);
  }
}

/**
 * Whether file exists and may be believed: false when it does not exist; throws
 * StateFileError when it or its directory is not trustworthy.
 */
export function trustStateFile(file: string): boolean {
  checkStateDir(dirname(file));
  let st;
  try {
    st = lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (!st.isFile()) throw new StateFileError(`state file ${file} is not a regular file; not reading it`);
  if (st.nlink !== 1) throw new StateFileError(`state file ${file} has ${st.nlink} links; not reading it`);
  if (st.uid !== 0) throw new StateFileError(`bad ownership for state file ${file} (${owner(st.uid)}, must be root)`);
  if ((st.mode & 0o077) !== 0) {
    throw new StateFileError(`bad modes for state file ${file} (0${(st.mode & 0o777).toString(8)}, must be 0600)`);
  }
  return true;
}
