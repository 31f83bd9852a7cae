/**
 * Statement lines into blocks, as keepalived's process_stream() nests them:
 * - a `{` statement right after a keyword opens that keyword's block;
 * - a keyword keepalived always gives a block (BLOCK_KEYWORDS) whose next statement is not `{`
 *   gets "Missing '{' at beginning of configuration block" and its block starts anyway (so a
 *   `virtual_server` line missing its `{` still reads as a virtual server);
 * - any other `{` is "Unexpected '{' - ignoring": the lines after it are read at the current
 *   level and its `}` closes the current level, exactly as keepalived does;
 * - a `}` at the top level is "Extra '}' found" and is dropped; blocks still open at the end
 *   are closed with "missing '}'".
 * Iterative, with a nesting limit (keepalived's own recursion has none): deeper nesting is
 * refused with one error.
 */
import { ConfigError, type Diagnostics, type Line } from './reader';

export const MAX_BLOCK_DEPTH = 32;

export interface ConfNode {
  kw: string;
  args: string[];
  block?: ConfNode[];
  /** The block's `{` was not where keepalived wants it (reported already). */
  file: string;
  line: number;
  /** Line of the closing `}` (for messages about a whole block). */
  endLine?: number;
}

/** Keywords keepalived always reads with a block (install_keyword + install_sublevel, value blocks). */
export const BLOCK_KEYWORDS = new Set([
  'global_defs', 'virtual_server', 'virtual_server_group', 'real_server', 'vrrp_instance', 'vrrp_sync_group',
  'vrrp_script', 'TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'MISC_CHECK', 'SMTP_CHECK', 'DNS_CHECK', 'UDP_CHECK',
  'PING_CHECK', 'FILE_CHECK', 'BFD_CHECK', 'url', 'authentication', 'virtual_ipaddress',
  'virtual_ipaddress_excluded', 'virtual_routes', 'virtual_rules', 'track_interface', 'track_script',
  'track_file', 'track_bfd', 'track_process', 'unicast_peer', 'notification_email', 'static_ipaddress',
  'static_routes', 'static_rules', 'vrrp_track_file', 'vrrp_track_process', 'garp_group', 'bfd_instance',
  'linkbeat_interfaces', 'SSL', 'group', 'host', 'interfaces', 'track_group', 'interface_up_down_delays',
]);

export function buildTree(lines: Line[], diags: Diagnostics): ConfNode[] {
  const root: ConfNode[] = [];
  const stack: Array<{ nodes: ConfNode[]; owner?: ConfNode }> = [{ nodes: root }];
  /** The node whose `{` may come next (the statement just read). */
  let last: ConfNode | undefined;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const top = stack[stack.length - 1];
    const w0 = l.words[0];
    if (w0 === '{' && l.words.length === 1) {
      const owner = last && last.block === undefined ? last : undefined;
      if (!owner) {
        diags.error(l, "Unexpected '{' - ignoring");
        last = undefined;
        continue;
      }
      if (!BLOCK_KEYWORDS.has(owner.kw)) {
        // keepalived reads what follows at the current level; the matching `}` closes it.
        diags.error(l, `Unexpected '{' after '${owner.kw}' - ignoring`);
        last = undefined;
        continue;
      }
      if (stack.length > MAX_BLOCK_DEPTH) throw new ConfigError(l.file, l.line, `blocks nested deeper than ${MAX_BLOCK_DEPTH}`);
      owner.block = [];
      stack.push({ nodes: owner.block, owner });
      last = undefined;
      continue;
    }
    if (w0 === '}' && l.words.length === 1) {
      if (stack.length === 1) diags.error(l, "Extra '}' found");
      else {
        const fr = stack.pop()!;
        if (fr.owner) fr.owner.endLine = l.line;
      }
      last = undefined;
      continue;
    }
    // A block keyword left without its `{` by the previous statement.
    if (last && last.block === undefined && BLOCK_KEYWORDS.has(last.kw)) {
      diags.error(last, `Missing '{' at beginning of configuration block '${last.kw}'`);
      if (stack.length > MAX_BLOCK_DEPTH) throw new ConfigError(l.file, l.line, `blocks nested deeper than ${MAX_BLOCK_DEPTH}`);
      last.block = [];
      stack.push({ nodes: last.block, owner: last });
    }
    const node: ConfNode = { kw: w0, args: l.words.slice(1), file: l.file, line: l.line };
    stack[stack.length - 1].nodes.push(node);
    last = node;
    void top;
  }
  if (last && last.block === undefined && BLOCK_KEYWORDS.has(last.kw)) {
    diags.error(last, `Missing '{' at beginning of configuration block '${last.kw}'`);
  }
  for (let k = stack.length - 1; k > 0; k--) {
    const o = stack[k].owner!;
    diags.error(o, `block '${o.kw}' opened here is not closed: missing '}'`);
  }
  return root;
}
