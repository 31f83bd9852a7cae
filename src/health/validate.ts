/**
 * Load-time validation of every table change the health manager can make for a configuration:
 * each virtual server is built in a scratch service table (src/ipvs/service.ts, no datapath)
 * with every real server at its configured weight and at weight 0 (inhibit_on_failure), and the
 * sorry server at weight 1 and 0. A server the table refuses is taken out of the configuration
 * with a diagnostic naming its line (keepalived logs the IPVS error and runs without it), so
 * nothing the manager does later is refused by the real table.
 */
import type { Command } from '../ipvs/command';
import { ServiceTable } from '../ipvs/service';
import { type RealServerSpec, type VirtualServerSpec, vsName, vsServiceKey } from '../control/checks';

export interface ValidationProblem {
  /** FILE:LINE of the offending line. */
  where: string;
  message: string;
}

function tryCmds(cmds: Command[]): string | undefined {
  const t = new ServiceTable();
  try {
    t.executeAtomically(cmds);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Returns the specs with refused servers removed (or the whole service), and why. */
export function validateVirtualServers(specs: VirtualServerSpec[]): { specs: VirtualServerSpec[]; problems: ValidationProblem[] } {
  const problems: ValidationProblem[] = [];
  const out: VirtualServerSpec[] = [];
  for (const vs of specs) {
    const service = vsServiceKey(vs);
    const add: Command = {
      op: 'add-service',
      service: { ...service, scheduler: vs.scheduler, ops: vs.ops, persistent: vs.persistent > 0 ? vs.persistent : undefined, netmask: vs.netmask },
    };
    const where = vs.where ?? vsName(vs);
    const err = tryCmds([add]);
    if (err !== undefined) {
      problems.push({ where, message: `virtual server ${vsName(vs)} refused by the service table: ${err} - ignoring it` });
      continue;
    }
    const dest = (d: { addr: string; port: number; fwd: RealServerSpec['fwd']; upper?: number; lower?: number }, weight: number): Command => ({
      op: 'add-server', service, dest: { addr: d.addr, port: d.port, fwd: d.fwd, weight, upper: d.upper, lower: d.lower },
    });
    const reals: RealServerSpec[] = [];
    for (const rs of vs.reals) {
      const e = tryCmds([add, dest(rs, rs.weight)]) ?? tryCmds([add, dest(rs, 0)]);
      if (e !== undefined) {
        problems.push({ where: rs.where ?? where, message: `real server ${rs.addr}:${rs.port} refused by the service table: ${e} - ignoring it` });
        continue;
      }
      reals.push(rs);
    }
    let sorry = vs.sorry;
    if (sorry && !reals.some((r) => r.addr === sorry!.addr && r.port === sorry!.port)) {
      const e = tryCmds([add, dest(sorry, 1)]) ?? tryCmds([add, dest(sorry, 0)]);
      if (e !== undefined) {
        problems.push({ where, message: `sorry server ${sorry.addr}:${sorry.port} refused by the service table: ${e} - ignoring it` });
        sorry = undefined;
      }
    }
    out.push({ ...vs, reals, sorry });
  }
  return { specs: out, problems };
}
