/**
 * Fuzz target: lvsadm's command line (ipvsadm syntax) and the ipvsadm-save format that
 * `lvsadm -R` and `lvsd --config` read. The input is text: its first line is an argument
 * vector (words split on spaces and NUL), the rest a restore file.
 *
 * Contract checked: a bad command line or restore file is refused with an LvsadmError (one
 * message, an exit code), never another exception.
 */
import { parseArgs, namesFrom } from '../../../src/control/ipvsadm-args';
import { LvsadmError } from '../../../src/control/errors';
import { parseRestore } from '../../../src/control/save';

const NAMES = namesFrom('198.18.100.1 www\n198.19.0.11 rs1\n', 'http 80/tcp\ndomain 53/udp\ndomain 53/tcp\n');

function refusedCleanly(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof LvsadmError)) throw err;
    if (typeof err.message !== 'string' || err.message.length === 0 || /\n./.test(err.message)) {
      throw new Error(`error is not one line: ${JSON.stringify(err.message)}`);
    }
  }
}

export function fuzz(data: Buffer): void {
  const text = data.toString('latin1');
  const nl = text.indexOf('\n');
  const argv = (nl < 0 ? text : text.slice(0, nl)).split(/[ \0]+/).filter((w) => w.length > 0);
  refusedCleanly(() => parseArgs(argv, NAMES));
  if (nl >= 0) refusedCleanly(() => parseRestore(text.slice(nl + 1), NAMES));
}
