/**
 * VIP announcement for scale-out (docs/SCALEOUT.md): every VIP this director is ready to serve
 * is a host route (/32) through lvsd's own TUN device in kernel routing table N
 * (`--announce-table N`), and only while it is ready. A BGP daemon on the host (BIRD 2, FRR)
 * exports that table to the routers, which spread the VIP's traffic over every director
 * announcing it (ECMP). lvsd speaks no BGP itself.
 *
 * Ready (readyVips): a virtual service exists for the VIP (address services; firewall-mark
 * services name no address), at least one of its real servers is usable (still in the
 * service, weight > 0), connection sync reports the director synced (its backup daemon's
 * bulk resync done or timed out: src/ha/sync-control.ts), and VRRP, where configured, has an
 * instance in MASTER state. When any of those stops holding the route is withdrawn at the
 * next evaluation (at once after a control command, else within EVALUATE_MS).
 *
 * The routes carry protocol RTPROT_LVSD (248, "lvsd" in /etc/iproute2/rt_protos.d) so that a
 * BGP daemon can learn them (BIRD 2.0's `learn` skips proto kernel and proto bird) and so that
 * another program's routes in the same table are recognised: a table holding any route of
 * another protocol, or lvsd routes through a device that is not ours, is refused at start.
 * The main, local and default tables (254, 255, 253), 0 (unspecified) and lvsd's own steering
 * tables (--table and the firewall-mark tables above it) are refused too.
 *
 * The routes go through the TUN device, so they vanish with it when lvsd dies (the kernel
 * flushes a deleted device's routes); a clean stop withdraws them first. Table N has no
 * policy rule pointing at it: the routes steer nothing on the director itself.
 *
 * All changes are asynchronous rtnetlink requests (RTM_NEWROUTE/RTM_DELROUTE) on a socket of
 * the native addon, applied one at a time; a failed change is logged, counted and tried again
 * at the next evaluation.
 */
import { ipToString } from '../ipvs/types';
import {
  encodeDump, NLM_F_ACK, NLM_F_REQUEST, type NlMessage, parseLink, parseRoute, RTM_DELROUTE, RTM_GETLINK,
  RTM_GETROUTE, RTM_NEWROUTE, RTN_UNICAST,
} from './rtnetlink';

/** rtm_protocol of lvsd's announced routes (not one of iproute2's registered numbers). */
export const RTPROT_LVSD = 248;
/** Routing tables an announcement may never use: unspecified, default, main, local. */
export const RESERVED_TABLES: ReadonlyMap<number, string> = new Map([
  [0, 'unspecified'], [253, 'default'], [254, 'main'], [255, 'local'],
]);
/**
 * The firewall-mark services' tables are --table + k for k = 1, 2, … (src/host/plumbing.ts
 * fwmarkRoute, which also flushes them): an announcement table is kept this far from them.
 */
export const STEERING_TABLES_SPAN = 65535;
/** Periodic evaluation of readiness (health checkers change weights without a command). */
export const EVALUATE_MS = 200;

const NLM_F_CREATE = 0x400;
const NLM_F_REPLACE = 0x100;
const AF_INET = 2;
const RT_SCOPE_LINK = 253;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_TABLE = 15;
const NLMSG_HDRLEN = 16;
const RTMSG_LEN = 12;

/** The one-line refusal of --announce-table N, or undefined when N may be used. */
export function announceTableError(table: number, steeringTable: number): string | undefined {
  if (!Number.isInteger(table) || table < 0 || table > 0xffffffff) return `--announce-table: not a table number: '${table}'`;
  const reserved = RESERVED_TABLES.get(table);
  if (reserved !== undefined) return `--announce-table ${table}: the ${reserved} table cannot hold announcements`;
  if (table >= steeringTable && table - steeringTable <= STEERING_TABLES_SPAN) {
    return `--announce-table ${table}: one of lvsd's own steering tables (--table ${steeringTable} and the `
      + `firewall-mark tables above it, up to ${steeringTable + STEERING_TABLES_SPAN}); choose another`;
  }
  return undefined;
}

/** RTM_NEWROUTE (replace) or RTM_DELROUTE of `dst`/32 through ifindex `oif` in `table`. */
export function encodeHostRoute(type: typeof RTM_NEWROUTE | typeof RTM_DELROUTE, seq: number, dst: number,
  table: number, oif: number): Buffer {
  const len = NLMSG_HDRLEN + RTMSG_LEN + 8 + 8 + 8;
  const b = Buffer.alloc(len);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  dv.setUint32(0, len, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, NLM_F_REQUEST | NLM_F_ACK | (type === RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0), true);
  dv.setUint32(8, seq, true);
  const r = NLMSG_HDRLEN;
  b[r] = AF_INET;
  b[r + 1] = 32; // rtm_dst_len
  b[r + 4] = table < 256 ? table : 0; // rtm_table (RTA_TABLE carries the full number)
  b[r + 5] = RTPROT_LVSD;
  b[r + 6] = RT_SCOPE_LINK;
  b[r + 7] = RTN_UNICAST;
  let a = r + RTMSG_LEN;
  dv.setUint16(a, 8, true);
  dv.setUint16(a + 2, RTA_DST, true);
  dv.setUint32(a + 4, dst >>> 0, false);
  a += 8;
  dv.setUint16(a, 8, true);
  dv.setUint16(a + 2, RTA_OIF, true);
  dv.setUint32(a + 4, oif >>> 0, true);
  a += 8;
  dv.setUint16(a, 8, true);
  dv.setUint16(a + 2, RTA_TABLE, true);
  dv.setUint32(a + 4, table >>> 0, true);
  return b;
}

/** A route of a dump, with the fields the table check needs. */
export interface TableRoute {
  table: number;
  protocol: number;
  dst: number;
  dstLen: number;
  oif: number;
}

export function parseTableRoute(m: NlMessage): TableRoute | undefined {
  const r = parseRoute(m);
  if (!r) return undefined;
  return { table: r.table, protocol: m.body[5], dst: r.dst, dstLen: r.dstLen, oif: r.oif };
}

/**
 * Why table `table` is another program's (one line), or undefined when it is free for lvsd:
 * no route of another protocol, and no lvsd route through a device other than `ownIfindex`
 * (0: lvsd's device does not exist yet, so any lvsd route is another instance's).
 */
export function tableInUse(routes: readonly TableRoute[], table: number, ownIfindex: number): string | undefined {
  for (const r of routes) {
    if (r.table !== table) continue;
    const what = `${ipToString(r.dst)}/${r.dstLen}`;
    if (r.protocol !== RTPROT_LVSD) {
      return `--announce-table ${table}: the table is in use by another program (route ${what} of protocol ${r.protocol}); choose another`;
    }
    if (r.oif !== ownIfindex) {
      return `--announce-table ${table}: the table holds lvsd route ${what} of another device (ifindex ${r.oif}): another lvsd announces there`;
    }
  }
  return undefined;
}

/** The requests the announcer makes (RtnlSocket; a recorder in unit tests). */
export interface RouteRequests {
  ask(msg: Buffer, what: string): Promise<NlMessage[]>;
}

/** Dumps the IPv4 routes and refuses a table another program uses (throws the one line). */
export async function checkAnnounceTable(rtnl: RouteRequests, table: number, ownIfindex: number): Promise<void> {
  const msgs = await rtnl.ask(encodeDump(RTM_GETROUTE, 0), 'route dump');
  const routes: TableRoute[] = [];
  for (const m of msgs) {
    const r = parseTableRoute(m);
    if (r) routes.push(r);
  }
  const err = tableInUse(routes, table, ownIfindex);
  if (err !== undefined) throw new Error(err);
}

/** The ifindex of link `name`, from a link dump; 0 when there is none. */
export async function linkIndex(rtnl: RouteRequests, name: string): Promise<number> {
  const msgs = await rtnl.ask(encodeDump(RTM_GETLINK, 0), 'link dump');
  for (const m of msgs) {
    const l = parseLink(m);
    if (l && l.name === name) return l.ifindex;
  }
  return 0;
}

/** What readiness is decided from (the director's services; gates of sync and VRRP). */
export interface ReadinessInput {
  services: ReadonlyArray<{ addr: number; fwmark: number; dests: ReadonlyArray<{ weight: number; available: boolean }> }>;
  synced: boolean;
  /** No VRRP instance, or at least one in MASTER state (the gate of a VIP no instance holds). */
  vrrpAllows: boolean;
  /**
   * VIPs held by a VRRP instance (its virtual_ipaddress), each with whether that instance (any
   * of them, when several hold it) is MASTER: such a VIP is announced only then.
   */
  vrrpVips?: ReadonlyMap<number, boolean>;
}

/** The VIPs to announce: each address of a service with a usable real server, when the gates allow. */
export function readyVips(inp: ReadinessInput): Set<number> {
  const out = new Set<number>();
  if (!inp.synced) return out;
  for (const s of inp.services) {
    if (s.fwmark !== 0 || out.has(s.addr)) continue;
    if (!(inp.vrrpVips?.get(s.addr) ?? inp.vrrpAllows)) continue;
    if (s.dests.some((d) => d.available && d.weight > 0)) out.add(s.addr);
  }
  return out;
}

export interface AnnouncerStats {
  announced: number;
  withdrawn: number;
  errors: number;
}

interface AnnounceLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

/**
 * Keeps table `table` equal to the wanted set of VIPs: want() records the set and starts
 * the changes (one request at a time); `routes` is what the kernel has been told.
 */
export class Announcer {
  readonly routes = new Set<number>();
  readonly stats: AnnouncerStats = { announced: 0, withdrawn: 0, errors: 0 };
  private wanted = new Set<number>();
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly rtnl: RouteRequests, readonly table: number, readonly ifindex: number,
    private readonly log: AnnounceLog) {}

  /** Sets the VIPs to announce; resolves once the kernel matches (or a change failed). */
  want(vips: ReadonlySet<number>): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.wanted = new Set(vips);
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.apply().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async apply(): Promise<void> {
    do {
      this.again = false;
      for (const vip of [...this.routes]) {
        if (this.wanted.has(vip)) continue;
        if (await this.change(RTM_DELROUTE, vip)) {
          this.routes.delete(vip);
          this.stats.withdrawn++;
          this.log.info({ vip: ipToString(vip), table: this.table }, 'VIP withdrawn');
        }
      }
      for (const vip of this.wanted) {
        if (this.routes.has(vip)) continue;
        if (await this.change(RTM_NEWROUTE, vip)) {
          this.routes.add(vip);
          this.stats.announced++;
          this.log.info({ vip: ipToString(vip), table: this.table }, 'VIP announced');
        }
      }
    } while (this.again && !this.closed);
  }

  private async change(type: typeof RTM_NEWROUTE | typeof RTM_DELROUTE, vip: number): Promise<boolean> {
    const what = `${type === RTM_NEWROUTE ? 'announce' : 'withdraw'} ${ipToString(vip)} in table ${this.table}`;
    try {
      await this.rtnl.ask(encodeHostRoute(type, 0, vip, this.table, this.ifindex), what);
      return true;
    } catch (err) {
      // ESRCH on a withdrawal: the route is gone already (flushed by someone): done.
      if (type === RTM_DELROUTE && (err as { errno?: number }).errno === 3) return true;
      this.stats.errors++;
      this.log.warn({ err: (err as Error).message }, 'route change failed');
      return false;
    }
  }

  /** Withdraws every route (clean stop) and refuses further changes. */
  async close(): Promise<void> {
    await this.want(new Set());
    this.closed = true;
  }
}
