/**
 * Fuzz target: the keepalived.conf reader. The input is the main file's text; `include`
 * resolves against a small in-memory tree (one more file, one that includes the main file).
 *
 * Contract checked: a file lvsd cannot use is refused with a ConfigError, never another
 * exception, a hang or a stack overflow.
 */
import { ConfigError, parseKeepalived } from '../../../src/control/keepalived';

const FILES: Record<string, string> = {
  '/etc/keepalived/vs.conf': 'virtual_server 198.18.100.1 80 {\n lb_kind NAT\n real_server 198.19.0.11 80 {\n TCP_CHECK {\n connect_timeout 3\n }\n }\n}\n',
  '/etc/keepalived/loop.conf': 'include /etc/keepalived/keepalived.conf\n',
};

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  const read = (p: string): string => {
    const f = FILES[p];
    if (f === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return f;
  };
  try {
    parseKeepalived(text, '/etc/keepalived/keepalived.conf', read);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
  }
}
