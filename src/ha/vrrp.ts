/**
 * The VRRP state machine of one virtual router (RFC 5798 §6.4, with RFC 3768's version 2
 * timing), independent of sockets and clocks so that it can be driven in tests.
 *
 *   Init    -> Master (priority 255) or Backup (Master_Down_Timer armed)
 *   Backup  -- Master_Down_Timer fires -> Master
 *           -- advert with priority 0 -> Master_Down_Timer = Skew_Time
 *           -- advert with priority >= ours, or preemption off (nopreempt, or inside
 *              preempt_delay after start) -> Master_Down_Timer re-armed
 *           -- advert with lower priority while preempting -> ignored (so we take over)
 *   Master  -- Adver_Timer fires -> advert sent
 *           -- advert with priority 0 -> advert sent at once
 *           -- advert with higher priority, or equal priority from a higher address -> Backup
 *   stop()  -- as Master: advert with priority 0 (a fast takeover for the backup), VIPs released
 *   fault() -- an interface it depends on is down (keepalived's FAULT state): as Master the
 *              VIPs are released; no adverts are sent and none are heard
 *   recover() -- Fault -> Backup (Master_Down_Timer armed): the election runs again, so after
 *              the link returns only one router holds the addresses
 *   setPriority() -- the effective priority (tracking, src/ha/track.ts) changed: adverts carry
 *              it from the next one on, elections use it (keepalived's effective_priority)
 *
 * A master that hears a lower-priority master (or an equal one from a lower address) answers
 * at once with an advert, unless strict (keepalived's default, "forcing new election";
 * vrrp_strict sets lower_prio_no_advert), and announces its addresses again.
 *
 * Master_Down_Interval = 3 · Master_Adver_Interval + Skew_Time,
 * Skew_Time = (256 - Priority) · Master_Adver_Interval / 256 (v3; v2 uses seconds, same formula).
 */
import type { VrrpAdvert } from '../wire/vrrp';

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOPPED';

export interface VrrpConfig {
  name: string;
  vrid: number;
  /** 1..255; 255 = address owner. */
  priority: number;
  advertIntMs: number;
  version: 2 | 3;
  preempt: boolean;
  preemptDelayMs: number;
  /** Addresses advertised (host order). */
  addrs: number[];
  authPass?: string;
  /** IPSEC-AH (auth type 2 in the advert; the AH header is the sender's). */
  authAh?: boolean;
  /** vrrp_strict: no advert in answer to a lower-priority master. */
  strict?: boolean;
}

/** What the machine asks of its environment. */
export interface VrrpActions {
  send(a: VrrpAdvert): void;
  /** Take (true) or release (false) the virtual addresses; taking includes gratuitous ARP. */
  setVips(own: boolean): void;
  /**
   * Announce the addresses again (gratuitous ARP): a lower-priority router claims mastership,
   * so neighbours may have learnt its MAC (keepalived's garp_lower_prio_repeat).
   */
  reannounce?(): void;
  transition(from: VrrpState, to: VrrpState, why: string): void;
}

export interface VrrpTimers {
  now(): number;
  set(fn: () => void, ms: number): unknown;
  clear(h: unknown): void;
}

export const REAL_TIMERS: VrrpTimers = {
  now: () => performance.now(),
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class VrrpMachine {
  state: VrrpState = 'INIT';
  /** Master_Adver_Interval: learned from the master's adverts in v3. */
  masterAdverMs: number;
  /** Address of the current master as far as we know (host order), 0 = unknown. */
  masterAddr = 0;
  private timer: unknown;
  private started = 0;
  private lastReannounce = -Infinity;

  /** A copy of the configuration; `priority` is the effective priority (setPriority). */
  readonly cfg: VrrpConfig;

  constructor(
    cfg: VrrpConfig,
    /** Our primary address on the VRRP interface (host order): the tie breaker. */
    readonly localAddr: number,
    private readonly act: VrrpActions,
    private readonly timers: VrrpTimers = REAL_TIMERS,
  ) {
    this.cfg = { ...cfg };
    this.masterAdverMs = cfg.advertIntMs;
  }

  /**
   * The effective priority changed (1..254; an address owner's 255 never changes). As backup
   * the running Master_Down_Timer keeps going (its skew changes with the next re-arm).
   */
  setPriority(p: number): void {
    if (p === this.cfg.priority || this.cfg.priority === 255 || p < 1 || p > 254) return;
    this.cfg.priority = p;
  }

  skewMs(): number {
    return ((256 - this.cfg.priority) * this.masterAdverMs) / 256;
  }

  masterDownMs(): number {
    return 3 * this.masterAdverMs + this.skewMs();
  }

  start(): void {
    this.started = this.timers.now();
    if (this.cfg.priority === 255) this.becomeMaster('address owner (priority 255)');
    else this.becomeBackup('startup');
  }

  /** Leaves the group: as master, hands over at once with a priority-0 advert. */
  stop(): void {
    this.arm(undefined, 0);
    const was = this.state;
    if (was === 'MASTER') {
      this.act.send(this.advert(0));
      this.act.setVips(false);
    }
    this.state = 'STOPPED';
    this.act.transition(was, 'STOPPED', 'stopped');
  }

  /** An interface went down: release the addresses, stop advertising and listening. */
  fault(why: string): void {
    const was = this.state;
    if (was === 'FAULT' || was === 'STOPPED') return;
    this.arm(undefined, 0);
    // INIT: a predecessor's addresses are released too (as becomeBackup would have).
    if (was === 'MASTER' || was === 'INIT') this.act.setVips(false);
    this.state = 'FAULT';
    this.act.transition(was, 'FAULT', why);
  }

  /** The interfaces are up again: Backup, then the usual election. */
  recover(why: string): void {
    if (this.state !== 'FAULT') return;
    this.started = this.timers.now();
    if (this.cfg.priority === 255) this.becomeMaster(why);
    else this.becomeBackup(why);
  }

  /**
   * vrrp_sync_group: another instance of the group changed state, this one follows
   * (keepalived's sync group rule: the members are MASTER together or BACKUP together).
   */
  follow(to: 'MASTER' | 'BACKUP', why: string): void {
    if (this.state === to || this.state === 'STOPPED' || this.state === 'INIT' || this.state === 'FAULT') return;
    if (to === 'MASTER') this.becomeMaster(why);
    else {
      this.act.setVips(false);
      this.becomeBackup(why);
    }
  }

  /** An advert for our VRID that passed the checks of §7.1 (TTL, checksum, auth, version). */
  receive(a: VrrpAdvert, src: number): void {
    if (a.vrid !== this.cfg.vrid || this.state === 'STOPPED' || this.state === 'INIT' || this.state === 'FAULT') return;
    if (this.state === 'BACKUP') {
      if (a.priority === 0) {
        this.arm(() => this.becomeMaster('master resigned (priority 0)'), this.skewMs());
        return;
      }
      const preempting = this.cfg.preempt && this.timers.now() - this.started >= this.cfg.preemptDelayMs;
      if (!preempting || a.priority >= this.cfg.priority) {
        if (this.cfg.version === 3 && a.intervalCs > 0) this.masterAdverMs = a.intervalCs * 10;
        this.masterAddr = src;
        this.armDown();
      }
      return;
    }
    // MASTER
    if (a.priority === 0) {
      this.act.send(this.advert(this.cfg.priority));
      this.armAdvert();
      return;
    }
    if (a.priority > this.cfg.priority || (a.priority === this.cfg.priority && src > this.localAddr)) {
      if (this.cfg.version === 3 && a.intervalCs > 0) this.masterAdverMs = a.intervalCs * 10;
      this.masterAddr = src;
      this.act.setVips(false);
      this.becomeBackup(`higher priority master ${a.priority}`);
    } else {
      // The other router will yield (§6.4.3) on our advert; its gratuitous ARPs may have
      // misled neighbours.
      if (!this.cfg.strict) this.act.send(this.advert(this.cfg.priority));
      if (this.timers.now() - this.lastReannounce >= this.cfg.advertIntMs) {
        this.lastReannounce = this.timers.now();
        this.act.reannounce?.();
      }
    }
  }

  private advert(priority: number): VrrpAdvert {
    return {
      version: this.cfg.version, vrid: this.cfg.vrid, priority,
      intervalCs: Math.round(this.cfg.advertIntMs / 10), addrs: this.cfg.addrs, authPass: this.cfg.authPass,
      authAh: this.cfg.authAh,
    };
  }

  private arm(fn: (() => void) | undefined, ms: number): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = fn ? this.timers.set(fn, ms) : undefined;
  }

  private armDown(): void {
    this.arm(() => this.becomeMaster('no advert within Master_Down_Interval'), this.masterDownMs());
  }

  private armAdvert(): void {
    this.arm(() => {
      this.act.send(this.advert(this.cfg.priority));
      this.armAdvert();
    }, this.cfg.advertIntMs);
  }

  private becomeBackup(why: string): void {
    const was = this.state;
    // Addresses left behind by a crashed predecessor are released at startup, as keepalived does.
    if (was === 'INIT') this.act.setVips(false);
    this.state = 'BACKUP';
    this.armDown();
    this.act.transition(was, 'BACKUP', why);
  }

  private becomeMaster(why: string): void {
    const was = this.state;
    this.state = 'MASTER';
    this.masterAddr = this.localAddr;
    this.masterAdverMs = this.cfg.advertIntMs;
    this.act.send(this.advert(this.cfg.priority));
    this.act.setVips(true);
    this.armAdvert();
    this.act.transition(was, 'MASTER', why);
  }
}
