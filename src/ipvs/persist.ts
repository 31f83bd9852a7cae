/**
 * Persistence (connection affinity) as net/netfilter/ipvs/ip_vs_core.c ip_vs_sched_persist
 * and ip_vs_conn.c keep it.
 *
 * A template is an entry of the connection table keyed (proto, client address & netmask,
 * client port 0, VIP, vport) — vport 0 for a port-0 ("all ports") service — pointing at the
 * real server that client network was given. It has flags F_TEMPLATE|F_NO_CPORT, state NONE
 * (0), counts in the server's persistConns rather than active/inactive, and a timeout of the
 * service's persistence timeout, re-armed every time a connection is made from it. Each
 * connection made from a template records it (its control link) and the template counts the
 * connections it controls (n_control); a template whose timer fires while it still controls
 * connections is re-armed for another timeout instead of expiring, so it expires within one
 * timeout after its last controlled connection ends.
 *
 * A firewall-mark service's template is keyed (IPPROTO_IP, client address & netmask, 0, mark,
 * 0): one template per client network for every VIP, port and protocol the mark covers
 * (ip_vs_sched_persist: "fwmark template: <IPPROTO_IP,caddr,0,fwmark,0,daddr,0>").
 *
 * A template is only used while its server is still in the service (and, with
 * expire_quiescent_template, has weight > 0): otherwise it is invalidated — marked F_DEAD
 * so lookups no longer find it, left to expire — and the service schedules afresh
 * (ip_vs_check_template). A quiescent server (weight 0) keeps receiving the connections of
 * its live templates unless expire_quiescent_template is set; overload does not stop a
 * template either.
 */
import { ConnTable, F_DEAD, F_NO_CPORT, F_NOOUTPUT, F_TEMPLATE } from './conn';
import type { Knobs } from './knobs';
import type { Service, ServiceTable } from './service';
import { FWD_MASQ, type Dest, type SchedPacket } from './types';

/** State of a template entry (IP_VS_TCP_S_NONE; shown as NONE). */
export const TEMPLATE_STATE = 0;
/** Protocol of a firewall-mark service's template (IPPROTO_IP: any protocol). */
export const TEMPLATE_PROTO_ANY = 0;

export class Persistence {
  /** Template id chosen by the last schedule() that returned a server; -1 otherwise. */
  template = -1;

  constructor(
    private readonly conns: ConnTable,
    private readonly services: ServiceTable,
    private readonly knobs: Knobs,
  ) {}

  /**
   * Picks the real server of a new connection to persistent service `svc` from pkt
   * (saddr/sport/daddr/dport), creating its template when there is none. Returns null when
   * no server is usable or the table is full; sets `template`.
   */
  schedule(svc: Service, proto: number, pkt: SchedPacket, now: number): Dest | null {
    const conns = this.conns;
    const snet = (pkt.saddr & svc.netmask) >>> 0;
    const fwm = svc.fwmark !== 0;
    const tproto = fwm ? TEMPLATE_PROTO_ANY : proto;
    const vaddr = fwm ? svc.fwmark : pkt.daddr;
    const vport = fwm || svc.port === 0 ? 0 : pkt.dport;
    this.template = -1;
    let ct = conns.lookupTemplate(tproto, snet, 0, vaddr, vport);
    if (ct >= 0) {
      const d = this.services.dest(conns.destId(ct));
      if (d !== undefined && d.available && !(this.knobs.expire_quiescent_template !== 0 && d.weight === 0)) {
        conns.touch(ct, svc.persistent, now);
        this.template = ct;
        return d;
      }
      conns.setFlags(ct, conns.flags(ct) | F_DEAD);
    }
    const dest = svc.sched.schedule(svc, pkt);
    if (dest === null) return null;
    ct = conns.insert(tproto, snet, 0, vaddr, vport, dest.addr, dest.port, dest.fwd,
      F_TEMPLATE | F_NO_CPORT | (dest.fwd === FWD_MASQ ? 0 : F_NOOUTPUT), dest.id, svc.id,
      TEMPLATE_STATE, svc.persistent, now);
    if (ct < 0) return null;
    conns.setControl(ct, 0);
    this.services.holdDest(dest.id);
    dest.persistConns++;
    this.template = ct;
    return dest;
  }

  /** Puts connection `id` under the template chosen by the last schedule() (ip_vs_control_add). */
  control(id: number): void {
    const ct = this.template;
    if (ct < 0) return;
    this.conns.setControl(id, ct);
    this.conns.setControl(ct, this.conns.control(ct) + 1);
  }

  /** Connection `id` is going away: its template controls one connection less (ip_vs_control_del). */
  release(id: number): void {
    const conns = this.conns;
    const ct = conns.control(id);
    if (ct < 0) return;
    conns.setControl(id, -1);
    if (conns.has(ct) && (conns.flags(ct) & F_TEMPLATE) !== 0) {
      conns.setControl(ct, Math.max(0, conns.control(ct) - 1));
    }
  }

  /**
   * Template `id`'s timer fired: while it controls connections it is re-armed for another
   * persistence timeout and true is returned; otherwise false (it expires).
   */
  keepTemplate(id: number, now: number): boolean {
    const conns = this.conns;
    if (conns.control(id) <= 0) return false;
    const svc = this.services.service(conns.svcId(id));
    conns.touch(id, svc !== undefined && svc.persistent > 0 ? svc.persistent : 1, now);
    return true;
  }

  /** Releases what template `id` holds: its server's persistConns and reference. */
  expireTemplate(id: number): void {
    const d = this.services.dest(this.conns.destId(id));
    if (d === undefined) return;
    d.persistConns--;
    this.services.releaseDest(d.id);
  }
}
