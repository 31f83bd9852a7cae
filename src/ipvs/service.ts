/**
 * The service table (ip_vs_ctl.c's role): virtual services, their real servers, and the
 * rules for changing them. Lookups on the packet path are by number, never by string.
 *
 * Destinations removed from a service stay reachable by id while connection entries
 * still point at them (the kernel's "trash" list); they are marked unavailable, so
 * packets of those connections are dropped rather than rescheduled mid-stream. A real
 * server added again to the same service while its entries live is that same destination
 * made available again (ip_vs_trash_get_dest), so its connections go on: what
 * expire_nodest_conn=0 is for (ipvs-sysctl: "deletes the destination server ... and add back
 * the server later, and the connections to the server can continue").
 */
import {
  type Counters, type Dest, type FwdMethod, type Rates, type Scheduler, type SchedService,
  type ServiceProto, FWD_MASQ, FWD_ROUTE, FWD_TUNNEL, IPPROTO_TCP, IPPROTO_UDP,
  ipFromString, ipToString, makeDest, zeroCounters, zeroRates,
} from './types';
import type {
  Command, CountersInfo, DestInfo, DestSpec, FwdName, ProtoName, ServiceInfo, ServiceKey, ServiceSpec,
} from './command';
import { canonicalSchedFlags, createScheduler } from '../sched/index';
import { E, IpvsError } from './errors';

export const DEFAULT_SCHEDULER = 'wlc';
export const DEFAULT_PERSISTENT_TIMEOUT = 300;

export class Service implements SchedService {
  readonly dests: Dest[] = [];
  /** Removed destinations that connection entries still point at (ServiceTable.addDest revives them). */
  readonly trash: Dest[] = [];
  readonly stats: Counters = zeroCounters();
  readonly rates: Rates = zeroRates();
  sched: Scheduler;
  schedName: string;
  schedFlags: string[];
  /** Persistence timeout in seconds; 0 = not persistent. */
  persistent = 0;
  netmask = 0xffffffff;
  ops = false;
  /** -f: firewall mark (1..2^32-1) of a firewall-mark service; 0 = keyed by (proto, addr, port). */
  fwmark = 0;

  constructor(
    readonly id: number,
    readonly proto: ServiceProto,
    readonly addr: number,
    readonly port: number,
    schedName: string,
    schedFlags: string[],
  ) {
    this.schedName = schedName;
    this.schedFlags = schedFlags;
    this.sched = createScheduler(schedName, schedFlags);
  }

  findDest(addr: number, port: number): Dest | undefined {
    for (const d of this.dests) if (d.addr === addr && d.port === port) return d;
    return undefined;
  }
}

/** Hooks through which the kernel plumbing follows the table. */
export interface ServiceHooks {
  serviceAdded?(svc: Service): void;
  serviceRemoved?(svc: Service): void;
  destAdded?(svc: Service, dest: Dest): void;
  destRemoved?(svc: Service, dest: Dest): void;
}

function protoNum(p: ProtoName): ServiceProto {
  return p === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP;
}

export function protoName(p: number): ProtoName {
  return p === IPPROTO_TCP ? 'tcp' : 'udp';
}

const FWD_BY_NAME: Record<FwdName, FwdMethod> = { masq: FWD_MASQ, tunnel: FWD_TUNNEL, route: FWD_ROUTE };
const NAME_BY_FWD: Record<number, FwdName> = { [FWD_MASQ]: 'masq', [FWD_TUNNEL]: 'tunnel', [FWD_ROUTE]: 'route' };

function addrOf(s: string): number {
  const a = ipFromString(s);
  if (a < 0) throw E.invalid(`Invalid address: ${s}`);
  return a;
}

function portOf(p: number): number {
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw E.invalid(`Illegal port: ${p}`);
  return p;
}

/** A firewall mark as -f takes it: 1..2^32-1 (mark 0 means "no mark"). */
function fwmarkOf(v: number): number {
  if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) throw E.invalid(`Illegal fwmark: ${v}`);
  return v;
}

function u32Field(v: number | undefined, what: string, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0 || v > max) throw E.invalid(`Illegal ${what}: ${v}`);
  return v;
}

function countersInfo(c: Counters): CountersInfo {
  return { conns: c.conns, inpkts: c.inpkts, outpkts: c.outpkts, inbytes: c.inbytes, outbytes: c.outbytes };
}

function ratesInfo(r: Rates): CountersInfo {
  return { conns: r.cps, inpkts: r.inpps, outpkts: r.outpps, inbytes: r.inbps, outbytes: r.outbps };
}

/** The commands that rebuild one service and its real servers (-S). */
function serviceCommands(svc: Service): Command[] {
  const key: ServiceKey = { proto: protoName(svc.proto), addr: ipToString(svc.addr), port: svc.port };
  if (svc.fwmark) key.fwmark = svc.fwmark;
  const spec: ServiceSpec = { ...key, scheduler: svc.schedName, schedFlags: svc.schedFlags, ops: svc.ops };
  if (svc.persistent) {
    spec.persistent = svc.persistent;
    spec.netmask = ipToString(svc.netmask);
  }
  const out: Command[] = [{ op: 'add-service', service: spec }];
  for (const d of svc.dests) {
    out.push({
      op: 'add-server', service: key,
      dest: {
        addr: ipToString(d.addr), port: d.port, fwd: NAME_BY_FWD[d.fwd], weight: d.weight,
        upper: d.upperThreshold, lower: d.lowerThreshold,
      },
    });
  }
  return out;
}

export class ServiceTable {
  /**
   * Services by protocol, then int32 address, then port: the keys are small integers (a flat
   * addr * 65536 + port key would be a double, boxed on every Map call of the packet path).
   */
  private readonly tcpByAddr = new Map<number, Map<number, Service>>();
  private readonly udpByAddr = new Map<number, Map<number, Service>>();
  /** Firewall-mark services by mark (ip_vs_svc_fwm_table). */
  private readonly fwm = new Map<number, Service>();
  /** Services in the order they were added, by id (ids are never reused): removal is O(1). */
  private readonly ordered = new Map<number, Service>();
  /** services() as an array, rebuilt after a change. */
  private orderedList: Service[] | null = [];
  /**
   * executeAtomically's validation overlay: the table it validates against. Services of the
   * base are copied in when a command touches them (copy on write), so a batch costs what it
   * touches, not the size of the table.
   */
  private readonly base: ServiceTable | null;
  /** Ids of base services copied in or deleted here (no longer read from the base). */
  private readonly shadowed = new Set<number>();
  /** The overlay ran -C: nothing of the base is seen any more. */
  private baseCleared = false;
  /** Indexed by id (ids grow and are never reused): packet-path lookups are array loads. */
  private readonly byId: Array<Service | undefined> = [];
  /** Every dest by id, including removed ones still referenced by connections. */
  private readonly destsById: Array<Dest | undefined> = [];
  /** Connection entries pointing at each dest, by id (an array: the packet path's hold is a store). */
  private readonly destRefs: number[] = [];
  /** The service whose trash holds a removed, still referenced destination, by dest id. */
  private readonly trashOf = new Map<number, Service>();
  private nextSvcId = 1;
  private nextDestId = 1;
  /**
   * Traffic of services since removed, so that totals over the table only grow between -Z:
   * the kernel's ip_vs_stats (/proc/net/ip_vs_stats) keeps counting across -D as well.
   */
  readonly removedStats: Counters = zeroCounters();

  constructor(private readonly hooks: ServiceHooks = {}, base: ServiceTable | null = null) {
    this.base = base;
  }

  /** Packet-path lookup of a virtual service. */
  lookup(proto: number, addr: number, port: number): Service | undefined {
    const m = proto === IPPROTO_TCP ? this.tcpByAddr : proto === IPPROTO_UDP ? this.udpByAddr : undefined;
    if (m === undefined) return undefined;
    const ports = m.get(addr | 0);
    if (ports === undefined) return undefined;
    // A port-0 (all ports, persistent) service takes what no exact service does (ip_vs_service_find).
    return ports.get(port) ?? ports.get(0);
  }

  /** Packet-path lookup of the firewall-mark service of `mark` (__ip_vs_svc_fwm_find). */
  lookupFwmark(mark: number): Service | undefined {
    return this.fwm.get(mark);
  }

  service(id: number): Service | undefined {
    return this.byId[id];
  }

  dest(id: number): Dest | undefined {
    return this.destsById[id];
  }

  services(): readonly Service[] {
    if (this.orderedList === null) this.orderedList = [...this.ordered.values()];
    return this.orderedList;
  }

  /** A connection entry now points at dest id (ip_vs_bind_dest). */
  holdDest(id: number): void {
    this.destRefs[id] = (this.destRefs[id] ?? 0) + 1;
  }

  /** A connection entry released dest id; a removed dest is forgotten with its last entry. */
  releaseDest(id: number): void {
    const n = (this.destRefs[id] ?? 0) - 1;
    this.destRefs[id] = n > 0 ? n : 0;
    if (n > 0) return;
    const d = this.destsById[id];
    if (d && !d.available) {
      this.destsById[id] = undefined;
      const svc = this.trashOf.get(id);
      if (svc) svc.trash.splice(svc.trash.indexOf(d), 1);
      this.trashOf.delete(id);
    }
  }

  private byAddrFor(proto: ServiceProto): Map<number, Map<number, Service>> {
    return proto === IPPROTO_TCP ? this.tcpByAddr : this.udpByAddr;
  }

  /** The service of exactly (proto, addr, port), without the port-0 fallback of lookup(). */
  private exact(proto: ServiceProto, addr: number, port: number): Service | undefined {
    return this.byAddrFor(proto).get(addr | 0)?.get(port);
  }

  private find(key: ServiceKey, forDest = false): Service {
    const svc = this.findLocal(key) ?? this.copyFromBase(key);
    if (!svc) throw forDest ? E.serviceUndefined() : E.noService();
    return svc;
  }

  private findLocal(key: ServiceKey): Service | undefined {
    return key.fwmark
      ? this.fwm.get(fwmarkOf(key.fwmark))
      : this.exact(protoNum(key.proto), addrOf(key.addr), portOf(key.port));
  }

  /** The base's service of `key` that this overlay has not copied or deleted yet. */
  private inBase(key: ServiceKey): Service | undefined {
    if (this.base === null || this.baseCleared) return undefined;
    const svc = this.base.findLocal(key) ?? this.base.inBase(key);
    return svc !== undefined && !this.shadowed.has(svc.id) ? svc : undefined;
  }

  /** Overlay: copies the base's service of `key` (and its real servers) in; undefined when none. */
  private copyFromBase(key: ServiceKey): Service | undefined {
    const svc = this.inBase(key);
    if (svc === undefined) return undefined;
    this.shadowed.add(svc.id);
    for (const c of serviceCommands(svc)) this.execute(c);
    return this.findLocal(key);
  }

  private schedulerFor(name: string, flags: string[]): Scheduler {
    try {
      return createScheduler(name, flags);
    } catch (err) {
      if (err instanceof IpvsError) throw err;
      throw E.badScheduler(name);
    }
  }

  private applyServiceOptions(svc: Service, spec: ServiceSpec, isAdd: boolean): void {
    if (spec.persistent !== undefined) {
      svc.persistent = u32Field(spec.persistent, 'persistent timeout', 0x7fffffff) ?? 0;
    }
    if (spec.netmask !== undefined) {
      const m = addrOf(spec.netmask);
      svc.netmask = m;
    } else if (isAdd) {
      svc.netmask = 0xffffffff;
    }
    if (spec.ops !== undefined) svc.ops = spec.ops;
    if (svc.port === 0 && svc.persistent === 0 && svc.fwmark === 0) {
      throw E.invalid('Zero port specified for non-persistent service');
    }
    // A firewall-mark service may carry UDP: -o then applies to its UDP packets.
    if (svc.ops && svc.proto !== IPPROTO_UDP && svc.fwmark === 0) {
      throw E.invalid('One-Packet Scheduling is only for UDP virtual services');
    }
  }

  addService(spec: ServiceSpec): Service {
    // A firewall-mark service is stored as ipvsadm sends it: TCP, address 0, port 0.
    const fwmark = spec.fwmark ? fwmarkOf(spec.fwmark) : 0;
    const proto = fwmark ? IPPROTO_TCP : protoNum(spec.proto);
    const addr = fwmark ? 0 : addrOf(spec.addr);
    const port = fwmark ? 0 : portOf(spec.port);
    if (fwmark ? this.fwm.has(fwmark) : this.exact(proto, addr, port) !== undefined) throw E.serviceExists();
    if (this.base !== null && this.inBase(fwmark ? { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark } : spec) !== undefined) {
      throw E.serviceExists();
    }
    const name = spec.scheduler ?? DEFAULT_SCHEDULER;
    const flags = canonicalSchedFlags(spec.schedFlags ?? []);
    this.schedulerFor(name, flags);
    const svc = new Service(this.nextSvcId, proto, addr, port, name, flags);
    svc.fwmark = fwmark;
    this.applyServiceOptions(svc, spec, true);
    this.nextSvcId++;
    if (fwmark) this.fwm.set(fwmark, svc);
    else {
      const byAddr = this.byAddrFor(proto);
      let ports = byAddr.get(addr | 0);
      if (ports === undefined) byAddr.set(addr | 0, (ports = new Map()));
      ports.set(port, svc);
    }
    this.ordered.set(svc.id, svc);
    this.orderedList = null;
    this.byId[svc.id] = svc;
    svc.sched.update?.(svc);
    this.hooks.serviceAdded?.(svc);
    return svc;
  }

  editService(spec: ServiceSpec): Service {
    const svc = this.find(spec);
    const name = spec.scheduler ?? svc.schedName;
    const flags = spec.schedFlags !== undefined ? canonicalSchedFlags(spec.schedFlags) : svc.schedFlags;
    const probe = new Service(svc.id, svc.proto, svc.addr, svc.port, name, flags);
    probe.persistent = svc.persistent;
    probe.netmask = svc.netmask;
    probe.ops = svc.ops;
    probe.fwmark = svc.fwmark;
    this.applyServiceOptions(probe, spec, false);
    if (name !== svc.schedName || flags.join(',') !== svc.schedFlags.join(',')) {
      svc.sched = probe.sched;
      svc.schedName = name;
      svc.schedFlags = flags;
      svc.sched.update?.(svc);
    }
    svc.persistent = probe.persistent;
    svc.netmask = probe.netmask;
    svc.ops = probe.ops;
    return svc;
  }

  deleteService(key: ServiceKey): void {
    const local = this.findLocal(key);
    // Overlay: a base service is hidden, not copied first.
    const based = local === undefined ? this.inBase(key) : undefined;
    if (based !== undefined) this.shadowed.add(based.id);
    else this.removeService(local ?? this.find(key));
  }

  private removeService(svc: Service): void {
    for (const d of [...svc.dests]) this.unlinkDest(svc, d);
    if (svc.fwmark) this.fwm.delete(svc.fwmark);
    else {
      const byAddr = this.byAddrFor(svc.proto);
      const ports = byAddr.get(svc.addr | 0);
      ports?.delete(svc.port);
      if (ports?.size === 0) byAddr.delete(svc.addr | 0);
    }
    this.ordered.delete(svc.id);
    this.orderedList = null;
    this.byId[svc.id] = undefined;
    const r = this.removedStats;
    r.conns += svc.stats.conns;
    r.inpkts += svc.stats.inpkts;
    r.outpkts += svc.stats.outpkts;
    r.inbytes += svc.stats.inbytes;
    r.outbytes += svc.stats.outbytes;
    this.hooks.serviceRemoved?.(svc);
  }

  clear(): void {
    // Last first, as the kernel's ip_vs_flush; each removal is O(1).
    const all = [...this.ordered.values()];
    for (let i = all.length - 1; i >= 0; i--) this.removeService(all[i]);
    this.baseCleared = true;
  }

  private checkDestSpec(svc: Service, spec: DestSpec, fwd: FwdMethod, port: number): void {
    if (fwd !== FWD_MASQ && port !== svc.port && svc.port !== 0) {
      throw E.invalid('The real server port must equal the virtual port for tunneling and direct routing');
    }
    if (spec.weight !== undefined) u32Field(spec.weight, 'weight', 65535);
    u32Field(spec.upper, 'upper threshold', 0x7fffffff);
    u32Field(spec.lower, 'lower threshold', 0x7fffffff);
  }

  addDest(key: ServiceKey, spec: DestSpec): Dest {
    const svc = this.find(key, true);
    const addr = addrOf(spec.addr);
    const port = portOf(spec.port ?? svc.port);
    const fwd = FWD_BY_NAME[spec.fwd ?? 'route'];
    this.checkDestSpec(svc, spec, fwd, port);
    if (svc.findDest(addr, port)) throw E.destExists();
    const old = svc.trash.findIndex((d) => d.addr === addr && d.port === port);
    let dest: Dest;
    if (old >= 0) {
      // Back from the trash with the new settings; its counters and connections stay.
      dest = svc.trash.splice(old, 1)[0];
      this.trashOf.delete(dest.id);
      dest.fwd = fwd;
      dest.weight = spec.weight ?? 1;
      dest.available = true;
    } else {
      dest = makeDest(this.nextDestId++, addr, port, spec.weight ?? 1, fwd);
    }
    dest.upperThreshold = spec.upper ?? 0;
    dest.lowerThreshold = spec.lower ?? 0;
    updateOverload(dest);
    svc.dests.push(dest);
    this.destsById[dest.id] = dest;
    svc.sched.update?.(svc);
    this.hooks.destAdded?.(svc, dest);
    return dest;
  }

  editDest(key: ServiceKey, spec: DestSpec): Dest {
    const svc = this.find(key, true);
    const addr = addrOf(spec.addr);
    const port = portOf(spec.port ?? svc.port);
    const dest = svc.findDest(addr, port);
    if (!dest) throw E.noDest();
    const fwd = spec.fwd ? FWD_BY_NAME[spec.fwd] : dest.fwd;
    this.checkDestSpec(svc, spec, fwd, port);
    const fwdChanged = fwd !== dest.fwd;
    if (fwdChanged) this.hooks.destRemoved?.(svc, dest);
    dest.fwd = fwd;
    if (spec.weight !== undefined) dest.weight = spec.weight;
    if (spec.upper !== undefined) dest.upperThreshold = spec.upper;
    if (spec.lower !== undefined) dest.lowerThreshold = spec.lower;
    updateOverload(dest);
    svc.sched.update?.(svc);
    if (fwdChanged) this.hooks.destAdded?.(svc, dest);
    return dest;
  }

  deleteDest(key: ServiceKey, target: { addr: string; port?: number }): void {
    const svc = this.find(key, true);
    const dest = svc.findDest(addrOf(target.addr), portOf(target.port ?? svc.port));
    if (!dest) throw E.noDest();
    this.unlinkDest(svc, dest);
  }

  private unlinkDest(svc: Service, dest: Dest): void {
    svc.dests.splice(svc.dests.indexOf(dest), 1);
    dest.available = false;
    if ((this.destRefs[dest.id] ?? 0) === 0) {
      this.destsById[dest.id] = undefined;
    } else {
      svc.trash.push(dest);
      this.trashOf.set(dest.id, svc);
    }
    svc.sched.update?.(svc);
    this.hooks.destRemoved?.(svc, dest);
  }

  zero(key?: ServiceKey): void {
    const list = key ? [this.find(key)] : this.ordered.values();
    // ip_vs_zero_all also zeroes the totals.
    if (!key) Object.assign(this.removedStats, zeroCounters());
    for (const svc of list) {
      Object.assign(svc.stats, zeroCounters());
      Object.assign(svc.rates, zeroRates());
      for (const d of svc.dests) {
        Object.assign(d.stats, zeroCounters());
        Object.assign(d.rates, zeroRates());
      }
    }
  }

  /** Applies one configuration command; throws IpvsError and leaves the table unchanged on error. */
  execute(cmd: Command): void {
    switch (cmd.op) {
      case 'add-service': this.addService(cmd.service); return;
      case 'edit-service': this.editService(cmd.service); return;
      case 'delete-service': this.deleteService(cmd.service); return;
      case 'clear': this.clear(); return;
      case 'add-server': this.addDest(cmd.service, cmd.dest); return;
      case 'edit-server': this.editDest(cmd.service, cmd.dest); return;
      case 'delete-server': this.deleteDest(cmd.service, cmd.dest); return;
      case 'zero': this.zero(cmd.service); return;
      default: throw E.invalid(`Not a table command: ${cmd.op}`);
    }
  }

  /**
   * Applies commands all-or-nothing: they are first run against an overlay of the current
   * configuration (same code, no hooks; the services a command touches are copied into it);
   * only when every one succeeds are they applied here. The check costs what the batch
   * touches, whatever the size of the table.
   */
  executeAtomically(cmds: readonly Command[]): void {
    if (cmds.length > 1) {
      const shadow = new ServiceTable({}, this);
      for (const c of cmds) shadow.execute(c);
    }
    for (const c of cmds) this.execute(c);
  }

  /** The configuration as commands that rebuild it (what -S prints). */
  configCommands(): Command[] {
    const out: Command[] = [];
    for (const svc of this.ordered.values()) out.push(...serviceCommands(svc));
    return out;
  }

  info(key?: ServiceKey): ServiceInfo[] {
    const list = key ? [this.find(key)] : this.services();
    return list.map((svc) => {
      const dests: DestInfo[] = svc.dests.map((d) => ({
        addr: ipToString(d.addr), port: d.port, fwd: NAME_BY_FWD[d.fwd] ?? 'route', weight: d.weight,
        upper: d.upperThreshold, lower: d.lowerThreshold,
        activeConns: d.activeConns, inactiveConns: d.inactiveConns, persistConns: d.persistConns,
        stats: countersInfo(d.stats), rates: ratesInfo(d.rates),
      }));
      const info: ServiceInfo = {
        proto: protoName(svc.proto), addr: ipToString(svc.addr), port: svc.port,
        scheduler: svc.schedName, netmask: ipToString(svc.netmask), schedFlags: [...svc.schedFlags],
        ops: svc.ops, dests, stats: countersInfo(svc.stats), rates: ratesInfo(svc.rates),
      };
      if (svc.persistent) info.persistent = svc.persistent;
      if (svc.fwmark) info.fwmark = svc.fwmark;
      return info;
    });
  }
}

/**
 * Overload flag from the thresholds, as ip_vs_bind_dest / ip_vs_unbind_dest: set once
 * active+inactive >= upper; cleared below lower, or below 3/4 of upper when lower is 0.
 */
export function updateOverload(d: Dest): void {
  const total = d.activeConns + d.inactiveConns;
  if (d.upperThreshold !== 0 && total >= d.upperThreshold) {
    d.overloaded = true;
  } else if (d.lowerThreshold !== 0) {
    if (total < d.lowerThreshold) d.overloaded = false;
  } else if (d.upperThreshold !== 0) {
    if (total * 4 < d.upperThreshold * 3) d.overloaded = false;
  } else {
    d.overloaded = false;
  }
}
