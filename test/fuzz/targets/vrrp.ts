/**
 * Fuzz target: VRRP advertisements (RFC 5798 v3, RFC 3768 v2) as a router receives them:
 * decoded with and without a configured password, and each accepted one fed to a VRRP state
 * machine in BACKUP or MASTER state (virtual timers, no sockets).
 *
 * Contract checked: decodeVrrp returns a known code and never throws; the machine never
 * throws and ends in one of its states.
 */
import { decodeVrrp, VRRP_ERR_NAMES, VRRP_OK, type VrrpAdvert } from '../../../src/wire/vrrp';
import { type VrrpState, VrrpMachine } from '../../../src/ha/vrrp';

const STATES: readonly VrrpState[] = ['INIT', 'BACKUP', 'MASTER', 'STOPPED'];
const SRC = 0xc6130002; // 198.19.0.2
const DST = 0xe0000012; // 224.0.0.18

export function fuzz(data: Buffer): void {
  if (data.length < 1) return;
  const mode = data[0];
  const buf = data.subarray(1);
  const out: VrrpAdvert = { version: 3, vrid: 0, priority: 0, intervalCs: 0, addrs: [] };
  const rc = decodeVrrp(buf, 0, buf.length, SRC, DST, out, mode & 1 ? 'secret' : undefined);
  if (!Number.isInteger(rc) || rc < 0 || rc >= VRRP_ERR_NAMES.length) throw new Error(`unknown decode result ${rc}`);
  if (rc !== VRRP_OK) return;
  let t = 0;
  const timers: Array<{ fn: () => void; at: number } | null> = [];
  const m = new VrrpMachine({
    name: 'VI_1', vrid: out.vrid, priority: 1 + (mode >> 1) % 255, advertIntMs: 1000, version: out.version,
    preempt: (mode & 2) !== 0, preemptDelayMs: 0, addrs: [0xc6126401], authPass: mode & 1 ? 'secret' : undefined,
  }, 0xc6130001, {
    send: () => undefined,
    setVips: () => undefined,
    transition: () => undefined,
  }, {
    now: () => t,
    set: (fn: () => void, ms: number) => timers.push({ fn, at: t + ms }) - 1,
    clear: (h: unknown) => { timers[h as number] = null; },
  });
  m.start();
  for (let round = 0; round < 4; round++) {
    m.receive(out, SRC);
    t += 1500;
    for (let i = 0; i < timers.length; i++) {
      const tm = timers[i];
      if (tm && tm.at <= t) {
        timers[i] = null;
        tm.fn();
      }
    }
  }
  if (!STATES.includes(m.state)) throw new Error(`machine in unknown state ${String(m.state)}`);
  m.stop();
}
