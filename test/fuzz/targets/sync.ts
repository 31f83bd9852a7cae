/**
 * Fuzz target: IPVS sync messages (protocol version 1) as a backup receives them: decoded,
 * then applied to a director that has a NAT and a direct-routing service. The first input
 * byte selects the receiver's syncid (0: accept any) and whether it expects a MAC.
 *
 * Contract checked: decodeSync returns a known code and never throws; applying what it
 * delivers never throws and never grows the table past --max-conns.
 */
import { MemoryDevice } from '../../../src/phy/memory';
import { Director } from '../../../src/ipvs/director';
import { SyncEngine } from '../../../src/ha/sync';
import { decodeSync, SYNC_ERR_NAMES, type SyncConn } from '../../../src/wire/ipvs-sync';

const MAX_CONNS = 128;
const KEY = Buffer.from('0123456789abcdef0123456789abcdef');

function director(): Director {
  const dir = new Director(new MemoryDevice({ batch: 4, scratchSlots: 2 }), { clock: () => 5000, seed: 9, maxConns: MAX_CONNS });
  dir.handle([
    { op: 'add-service', service: { proto: 'tcp', addr: '198.18.100.1', port: 80, scheduler: 'rr', persistent: 60 } },
    { op: 'add-server', service: { proto: 'tcp', addr: '198.18.100.1', port: 80 }, dest: { addr: '198.19.0.11', port: 8080, fwd: 'masq' } },
    { op: 'add-service', service: { proto: 'udp', addr: '198.18.100.1', port: 53, scheduler: 'rr' } },
    { op: 'add-server', service: { proto: 'udp', addr: '198.18.100.1', port: 53 }, dest: { addr: '198.19.0.12', port: 53, fwd: 'route' } },
  ]);
  return dir;
}

// A director is reused until an input leaves entries in it, so every input starts empty.
let dir = director();
let engine = new SyncEngine(dir);

export function fuzz(data: Buffer): void {
  if (data.length < 1) return;
  if (dir.pipeline.conns.size > 0) {
    dir.stop();
    dir = director();
    engine = new SyncEngine(dir);
  }
  const syncid = data[0] & 3;
  const key = data[0] & 4 ? KEY : undefined;
  const msg = data.subarray(1);
  const rc = decodeSync(msg, syncid, key, (c: SyncConn) => {
    engine.apply(c, 5000);
  });
  if (!Number.isInteger(rc) || rc < 0 || rc >= SYNC_ERR_NAMES.length) throw new Error(`unknown decode result ${rc}`);
  const size = dir.pipeline.conns.size;
  if (size > MAX_CONNS) throw new Error(`table holds ${size} entries, more than --max-conns ${MAX_CONNS}`);
}
