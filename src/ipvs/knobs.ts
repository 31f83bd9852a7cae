/**
 * Run-time knobs of the director, named after the kernel's net.ipv4.vs sysctls
 * (Documentation/networking/ipvs-sysctl.rst) where one exists. Values are integers; each
 * knob has a range. Set with `lvsd --sysctl NAME=VALUE` at start and `lvsadm --sysctl
 * NAME=VALUE` at run time; `lvsadm --sysctl` lists them. See docs/KNOBS.md.
 */

export interface Knobs {
  /** 1: a packet of an entry whose real server was removed expires the entry at once. */
  expire_nodest_conn: number;
  /** 1: a template whose real server has weight 0 is invalidated on its next use. */
  expire_quiescent_template: number;
  /** Non-zero: a SYN hitting a TIME_WAIT/CLOSE entry schedules a new connection. */
  conn_reuse_mode: number;
  /** 1: TCP entries may be created by any segment but RST, not only SYN. */
  sloppy_tcp: number;
  /** lvsd: most half-open (SYN_RECV) entries; the oldest is evicted beyond it. 0 = no cap. */
  max_half_open: number;
}

interface KnobSpec {
  def: number;
  min: number;
  max: number;
}

/** Defaults as the kernel's (conn_reuse_mode 1, the rest 0); max_half_open is lvsd's own. */
export const KNOB_SPECS: Readonly<Record<keyof Knobs, KnobSpec>> = {
  expire_nodest_conn: { def: 0, min: 0, max: 1 },
  expire_quiescent_template: { def: 0, min: 0, max: 1 },
  conn_reuse_mode: { def: 1, min: 0, max: 2 },
  sloppy_tcp: { def: 0, min: 0, max: 1 },
  max_half_open: { def: 65536, min: 0, max: 1 << 26 },
};

export const KNOB_NAMES = Object.keys(KNOB_SPECS) as (keyof Knobs)[];

export function createKnobs(): Knobs {
  const k = {} as Knobs;
  for (const n of KNOB_NAMES) k[n] = KNOB_SPECS[n].def;
  return k;
}

export function isKnobName(name: string): name is keyof Knobs {
  return Object.prototype.hasOwnProperty.call(KNOB_SPECS, name);
}

/** Why `name`=`value` cannot be set, or null when it can. */
export function knobError(name: string, value: number): string | null {
  if (!isKnobName(name)) return `Unknown sysctl: ${name} (known: ${KNOB_NAMES.join(', ')})`;
  const s = KNOB_SPECS[name];
  if (!Number.isInteger(value) || value < s.min || value > s.max) {
    return `Illegal value for ${name}: ${value} (${s.min}..${s.max})`;
  }
  return null;
}

/** Parses "NAME=VALUE" (NAME may carry the net.ipv4.vs. prefix); throws Error when invalid. */
export function parseKnob(text: string): { name: keyof Knobs; value: number } {
  const m = /^(?:net\.ipv4\.vs\.)?([a-z_]+)=(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`Expected NAME=VALUE, got "${text}"`);
  const value = Number(m[2]);
  const err = knobError(m[1], value);
  if (err) throw new Error(err);
  return { name: m[1] as keyof Knobs, value };
}
