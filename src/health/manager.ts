/**
 * The health manager: runs the checkers of every configured virtual server and keeps the
 * service table in line with their verdicts through the same commands lvsadm sends
 * (add-server, edit-server, delete-server), as keepalived's ipwrapper.c does with the kernel.
 *
 * Contracts (keepalived semantics):
 * - A real server is alive when every one of its checkers is up (no checkers: always alive).
 *   Its weight is the configured one, or the one a misc_dynamic script asked for.
 * - A dead server leaves the table, or stays with weight 0 under inhibit_on_failure.
 * - Quorum: with live weight sum W, the quorum is lost when W = 0 or W < quorum - hysteresis,
 *   and regained when W >= quorum + hysteresis. While it is lost and a sorry server is
 *   configured, the sorry server is the only server with a weight (real servers are removed,
 *   or kept at weight 0 under inhibit_on_failure).
 * - apply() with a new configuration changes only what differs: services and servers that
 *   stay keep their table entries (so their connections) and their checkers' state.
 * - A change the table refuses at run time is logged and counted (`refusedChanges`), never
 *   thrown: a verdict arrives from a timer, where an exception would end lvsd. The
 *   keepalived.conf loader validates every change this manager can make (validate.ts), so a
 *   refusal means the table was changed behind its back (lvsadm).
 * - A real server marked heldDown (a checker lvsd does not implement) is never alive.
 */
import { spawn } from 'node:child_process';
import type { CheckServiceInfo, Command, DestInfo, DestSpec, Result, ServiceKey } from '../ipvs/command';
import type { Log } from '../log';
import { Checker, type CheckerDeps, DEFAULT_DEPS } from './checker';
import { type RealServerSpec, type VirtualServerSpec, rsKey, vsKey, vsServiceKey } from '../control/checks';

/** What the manager needs of the director: Director.handle. */
export interface TableApi {
  handle(cmds: Command[]): Result;
}

interface RsState {
  spec: RealServerSpec;
  checkers: Checker[];
  /** Aliveness last reported (for notify scripts and logs). */
  alive: boolean;
}

interface VsState {
  spec: VirtualServerSpec;
  reals: Map<string, RsState>;
  quorumUp: boolean;
  sorryActive: boolean;
  /** addr:port of servers this manager put in the table and may take out again. */
  owned: Set<string>;
}

export interface ManagerOptions {
  deps?: CheckerDeps;
  /** Runs notify scripts; default /bin/sh -c, detached, output ignored. */
  runScript?: (cmd: string) => void;
}

function defaultRunScript(cmd: string): void {
  const child = spawn('/bin/sh', ['-c', cmd], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

function keyOf(vs: VirtualServerSpec): ServiceKey {
  return vsServiceKey(vs);
}

/** Same checkers (so the server keeps its checkers and their state across a reload). */
function sameChecks(a: RealServerSpec, b: RealServerSpec): boolean {
  return a.heldDown === b.heldDown && JSON.stringify(a.checks) === JSON.stringify(b.checks);
}

export class HealthManager {
  private readonly vss = new Map<string, VsState>();
  private readonly deps: CheckerDeps;
  private readonly runScript: (cmd: string) => void;
  /** Table changes refused at run time (logged each). */
  refusedChanges = 0;

  constructor(private readonly table: TableApi, private readonly log: Log, opts: ManagerOptions = {}) {
    const deps = opts.deps ?? DEFAULT_DEPS;
    // Failed probes are logged at info (as keepalived logs each failure), passes at debug.
    this.deps = {
      ...deps,
      onProbe: (c, o, ms) => {
        deps.onProbe?.(c, o, ms);
        const f = { dest: `${c.target.addr}:${c.target.port}`, check: c.spec.kind, detail: o.detail, ms, retry: c.retryIt };
        if (o.ok) this.log.debug(f, 'health probe passed');
        else this.log.info(f, 'health probe failed');
      },
    };
    this.runScript = opts.runScript ?? defaultRunScript;
  }

  /**
   * Makes the running configuration `specs`: services and servers are added, edited or
   * removed as needed, then the checkers of new servers start. A batch the table refuses is
   * logged and counted (each service's change is one atomic batch), never thrown.
   */
  apply(specs: VirtualServerSpec[]): void {
    const next = new Map(specs.map((s) => [vsKey(s), s]));
    for (const [k, st] of this.vss) {
      if (next.has(k)) continue;
      this.stopVs(st);
      this.vss.delete(k);
      this.handle(st.spec, [{ op: 'delete-service', service: keyOf(st.spec) }]);
      this.log.info({ service: k }, 'virtual server removed from the configuration');
    }
    for (const [k, spec] of next) {
      let st = this.vss.get(k);
      if (!st) {
        st = { spec, reals: new Map(), quorumUp: true, sorryActive: false, owned: new Set() };
        this.vss.set(k, st);
      }
      const old = st.spec;
      st.spec = spec;
      const wanted = new Map(spec.reals.map((r) => [rsKey(r), r]));
      for (const [rk, rs] of st.reals) {
        const nr = wanted.get(rk);
        if (nr && sameChecks(rs.spec, nr)) {
          rs.spec = nr;
          continue;
        }
        for (const c of rs.checkers) c.stop();
        st.reals.delete(rk);
      }
      for (const [rk, r] of wanted) {
        if (!st.reals.has(rk)) st.reals.set(rk, this.makeRs(st, r));
      }
      if (old.sorry && (!spec.sorry || rsKey(old.sorry) !== rsKey(spec.sorry))) st.sorryActive = false;
      this.reconcile(st);
      for (const rs of st.reals.values()) for (const c of rs.checkers) c.start();
    }
  }

  stop(): void {
    for (const st of this.vss.values()) this.stopVs(st);
  }

  private stopVs(st: VsState): void {
    for (const rs of st.reals.values()) for (const c of rs.checkers) c.stop();
  }

  private makeRs(st: VsState, spec: RealServerSpec): RsState {
    const rs: RsState = { spec, checkers: [], alive: false };
    const target = { addr: spec.addr, port: spec.port };
    for (const cs of spec.checks) {
      const alpha = cs.alpha ?? spec.alpha ?? st.spec.alpha;
      rs.checkers.push(new Checker(cs, target, !alpha, (c) => this.checkerChanged(st, rs, c), this.deps));
    }
    rs.alive = HealthManager.alive(rs);
    return rs;
  }

  private checkerChanged(st: VsState, rs: RsState, c: Checker): void {
    if (this.vss.get(vsKey(st.spec)) !== st || st.reals.get(rsKey(rs.spec)) !== rs) return;
    this.log.info({
      service: vsKey(st.spec), dest: rsKey(rs.spec), check: c.spec.kind, state: c.state,
      weight: c.dynamicWeight, detail: c.lastDetail,
    }, `health check ${c.state}`);
    this.reconcile(st);
  }

  private static alive(rs: RsState): boolean {
    return rs.spec.heldDown === undefined && rs.checkers.every((c) => c.state === 'up');
  }

  private static weight(rs: RsState): number {
    for (const c of rs.checkers) if (c.dynamicWeight !== undefined) return c.dynamicWeight;
    return rs.spec.weight;
  }

  private liveWeight(st: VsState): number {
    let w = 0;
    for (const rs of st.reals.values()) if (HealthManager.alive(rs)) w += HealthManager.weight(rs);
    return w;
  }

  /** Brings the service's table entries in line with the checkers' verdicts. */
  private reconcile(st: VsState): void {
    const vs = st.spec;
    const k = vsKey(vs);
    for (const rs of st.reals.values()) {
      const alive = HealthManager.alive(rs);
      if (alive === rs.alive) continue;
      rs.alive = alive;
      this.log.info({ service: k, dest: rsKey(rs.spec) }, alive ? 'real server up' : 'real server down');
      const script = alive ? rs.spec.notifyUp : rs.spec.notifyDown;
      if (script) this.runScript(script);
    }
    const w = this.liveWeight(st);
    if (st.quorumUp && (w === 0 || w < vs.quorum - vs.hysteresis)) {
      st.quorumUp = false;
      this.log.warn({ service: k, liveWeight: w, quorum: vs.quorum }, 'quorum lost');
      if (vs.quorumDown) this.runScript(vs.quorumDown);
    } else if (!st.quorumUp && w >= vs.quorum + vs.hysteresis) {
      st.quorumUp = true;
      this.log.info({ service: k, liveWeight: w, quorum: vs.quorum }, 'quorum regained');
      if (vs.quorumUp) this.runScript(vs.quorumUp);
    }

    const useSorry = !st.quorumUp && vs.sorry !== undefined;
    const desired = new Map<string, DestSpec>();
    for (const rs of st.reals.values()) {
      const r = rs.spec;
      const dest: DestSpec = { addr: r.addr, port: r.port, fwd: r.fwd, upper: r.upper, lower: r.lower };
      if (!useSorry && rs.alive) desired.set(rsKey(r), { ...dest, weight: HealthManager.weight(rs) });
      else if (r.inhibitOnFailure) desired.set(rsKey(r), { ...dest, weight: 0 });
    }
    if (vs.sorry) {
      if (useSorry) desired.set(rsKey(vs.sorry), { addr: vs.sorry.addr, port: vs.sorry.port, fwd: vs.sorry.fwd, weight: 1 });
      else if (vs.sorry.inhibit) desired.set(rsKey(vs.sorry), { addr: vs.sorry.addr, port: vs.sorry.port, fwd: vs.sorry.fwd, weight: 0 });
      if (useSorry !== st.sorryActive) {
        this.log.info({ service: k, sorry: rsKey(vs.sorry) }, useSorry ? 'sorry server in' : 'sorry server out');
      }
    }
    st.sorryActive = useSorry;
    const cmds = this.diff(st, desired);
    if (cmds.length === 0) return;
    if (this.handle(vs, cmds)) {
      for (const c of cmds) {
        if (c.op === 'add-server' || c.op === 'edit-server' || c.op === 'delete-server') {
          this.log.info({ service: k, op: c.op, dest: `${c.dest.addr}:${c.dest.port}`, weight: (c.dest as DestSpec).weight }, 'table updated');
        }
      }
    }
  }

  /** Applies one atomic batch; a refusal is logged and counted, and the table stays as it was. */
  private handle(vs: VirtualServerSpec, cmds: Command[]): boolean {
    try {
      this.table.handle(cmds);
      return true;
    } catch (err) {
      this.refusedChanges++;
      this.log.error({
        service: vsKey(vs), where: vs.where, error: (err as Error).message, refused: this.refusedChanges,
        cmds: cmds.map((c) => c.op + ('dest' in c ? ` ${c.dest.addr}:${c.dest.port}` : '')),
      }, 'table refused a health-check change; the table stays as it was');
      return false;
    }
  }

  /** Commands that turn the table's entries for st into `desired`. */
  private diff(st: VsState, desired: Map<string, DestSpec>): Command[] {
    const vs = st.spec;
    const service = keyOf(vs);
    const cmds: Command[] = [];
    const r = this.table.handle([{ op: 'list-services' }]);
    const info = r.kind === 'services'
      ? r.services.find((s) => (vs.fwmark ? s.fwmark === vs.fwmark : !s.fwmark && s.proto === vs.proto && s.addr === vs.addr && s.port === vs.port))
      : undefined;
    const svcSpec = {
      ...service, scheduler: vs.scheduler, ops: vs.ops,
      persistent: vs.persistent > 0 ? vs.persistent : undefined, netmask: vs.netmask,
    };
    if (!info) {
      cmds.push({ op: 'add-service', service: svcSpec });
    } else if (info.scheduler !== vs.scheduler || (info.persistent ?? 0) !== vs.persistent
      || info.ops !== vs.ops || (vs.netmask !== undefined && info.netmask !== vs.netmask)) {
      if ((info.persistent ?? 0) > 0 && vs.persistent === 0) {
        // -E cannot make a persistent service non-persistent; keepalived re-creates it too.
        cmds.push({ op: 'delete-service', service }, { op: 'add-service', service: svcSpec });
        st.owned.clear();
      } else {
        cmds.push({ op: 'edit-service', service: svcSpec });
      }
    }
    const current = new Map<string, DestInfo>();
    if (info && cmds[0]?.op !== 'delete-service') for (const d of info.dests) current.set(`${d.addr}:${d.port}`, d);
    for (const [k, d] of current) {
      if (!desired.has(k) && st.owned.has(k)) {
        cmds.push({ op: 'delete-server', service, dest: { addr: d.addr, port: d.port } });
        st.owned.delete(k);
      }
    }
    for (const [k, d] of desired) {
      const cur = current.get(k);
      if (!cur) cmds.push({ op: 'add-server', service, dest: d });
      else if (cur.weight !== d.weight || cur.fwd !== d.fwd || cur.upper !== (d.upper ?? 0) || cur.lower !== (d.lower ?? 0)) {
        cmds.push({ op: 'edit-server', service, dest: d });
      }
      st.owned.add(k);
    }
    return cmds;
  }

  /** lvsadm --checks. */
  snapshot(): CheckServiceInfo[] {
    const now = this.deps.now();
    const out: CheckServiceInfo[] = [];
    for (const st of this.vss.values()) {
      const vs = st.spec;
      const info: CheckServiceInfo = {
        proto: vs.proto, addr: vs.addr, port: vs.port, ...(vs.fwmark ? { fwmark: vs.fwmark } : {}), quorum: vs.quorum, hysteresis: vs.hysteresis,
        liveWeight: this.liveWeight(st), quorumUp: st.quorumUp, sorryActive: st.sorryActive,
        alive: [], checks: [],
      };
      for (const [rk, rs] of st.reals) {
        if (HealthManager.alive(rs)) info.alive.push(rk);
        for (const c of rs.checkers) {
          info.checks.push({
            dest: rk, check: c.spec.kind, state: c.state, retries: c.retryIt, probes: c.probes,
            failures: c.failures, detail: c.lastDetail, since: Math.max(0, Math.round((now - c.lastChange) / 1000)),
          });
        }
      }
      out.push(info);
    }
    return out;
  }

  /** Every checker with its virtual and real server, read-only (metrics). */
  checkers(): Array<{ vs: VirtualServerSpec; dest: string; checker: Readonly<Checker> }> {
    const out: Array<{ vs: VirtualServerSpec; dest: string; checker: Readonly<Checker> }> = [];
    for (const st of this.vss.values()) {
      for (const [rk, rs] of st.reals) for (const c of rs.checkers) out.push({ vs: st.spec, dest: rk, checker: c });
    }
    return out;
  }
}
