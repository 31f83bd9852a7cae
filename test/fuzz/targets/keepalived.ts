/**
 * Fuzz target: the keepalived.conf reader. The input is the main file's text; `include`
 * resolves against a small in-memory tree (one more file, one that includes the main file, a
 * directory for globs), so that nothing outside is read.
 *
 * Contract checked: a file lvsd cannot use is refused with a ConfigError, never another
 * exception, a hang or a stack overflow.
 */
import { ConfigError, parseKeepalived } from '../../../src/control/keepalived';
import type { FileAccess } from '../../../src/control/keepalived/reader';

const MAIN = '/etc/keepalived/keepalived.conf';
const FILES: Record<string, string> = {
  '/etc/keepalived/vs.conf': 'virtual_server 198.18.100.1 80 {\n lb_kind NAT\n real_server 198.19.0.11 80 {\n TCP_CHECK {\n connect_timeout 3\n }\n }\n}\n',
  '/etc/keepalived/loop.conf': 'include /etc/keepalived/keepalived.conf\n',
  '/etc/keepalived/conf.d/a.conf': 'vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 198.18.100.1\n }\n}\n',
};

function memoryFiles(main: string): FileAccess {
  const all: Record<string, string> = { ...FILES, [MAIN]: main };
  return {
    async stat(path) {
      const f = all[path];
      if (f !== undefined) return { regular: true, size: Buffer.byteLength(f), executable: false, key: path };
      return Object.keys(all).some((p) => p.startsWith(`${path}/`)) ? { regular: false, size: 0, executable: false, key: path } : undefined;
    },
    async read(path, max) {
      const f = all[path];
      if (f === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return f.length > max ? f.slice(0, max + 1) : f;
    },
    async readdir(path) {
      const pre = `${path.replace(/\/$/, '')}/`;
      return [...new Set(Object.keys(all).filter((p) => p.startsWith(pre)).map((p) => p.slice(pre.length).split('/')[0]))];
    },
  };
}

export async function fuzz(data: Buffer): Promise<void> {
  const text = data.toString('utf8');
  try {
    await parseKeepalived(text, MAIN, { files: memoryFiles(text) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
  }
}
