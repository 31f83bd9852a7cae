/**
 * The default control socket of the network namespace lvsd or lvsadm runs in. lvsd's
 * state (TUN device, rules, table) belongs to one network namespace, while /run is shared
 * by `ip netns exec`, so each namespace gets its own socket:
 *   initial namespace                  /run/lvsd/lvsd.sock  (as before)
 *   a namespace named by `ip netns`    /run/lvsd/lvsd.NAME.sock
 *   any other namespace                /run/lvsd/lvsd.net-INODE.sock
 * The namespace is identified as `ip netns identify` does: the inode of /proc/self/ns/net
 * against the files in /run/netns. Whether it is the initial one is told by the inode: on
 * kernels that give init_net the fixed inode PROC_NET_INIT_INO (0xEFFFFFF9,
 * include/linux/proc_ns.h) by that, else by comparison with /proc/1/ns/net. When neither tells
 * (an older kernel where /proc/1 may not be read) and no /run/netns name matches, root takes
 * the inode's name and anyone else the initial namespace's socket. Start-up only: synchronous
 * file system reads.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const SOCKET_DIR = '/run/lvsd';
export const INITIAL_SOCKET = `${SOCKET_DIR}/lvsd.sock`;

/** include/linux/proc_ns.h: init_net's inode on kernels that fix it. */
const PROC_NET_INIT_INO = 0xeffffff9;

function nsInode(path: string): { dev: number; ino: number } | undefined {
  try {
    const s = statSync(path);
    return { dev: s.dev, ino: s.ino };
  } catch {
    return undefined;
  }
}

/** The namespace's name: its /run/netns name, "net-INODE", or undefined for the initial one. */
export function netnsName(netnsDir = '/run/netns'): string | undefined {
  const self = nsInode('/proc/self/ns/net');
  if (!self) return undefined;
  if (self.ino === PROC_NET_INIT_INO) return undefined;
  const init = nsInode('/proc/1/ns/net');
  if (init && init.ino === self.ino && init.dev === self.dev) return undefined;
  // Unknown whether this is the initial namespace: root (lvsd, and lvsadm run by root) names it
  // by inode, so both agree; anyone else assumes the initial one.
  const known = init !== undefined || process.geteuid?.() === 0;
  let names: string[] = [];
  try {
    names = readdirSync(netnsDir);
  } catch {
    /* no named namespaces */
  }
  for (const n of names.sort()) {
    const s = nsInode(join(netnsDir, n));
    if (s && s.ino === self.ino && s.dev === self.dev && /^[A-Za-z0-9_.-]{1,64}$/.test(n)) return n;
  }
  return known ? `net-${self.ino}` : undefined;
}

export function defaultSocketPathFor(name = netnsName()): string {
  return name === undefined ? INITIAL_SOCKET : `${SOCKET_DIR}/lvsd.${name}.sock`;
}
