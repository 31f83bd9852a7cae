/**
 * The control protocol between lvsadm and lvsd: ipvsadm commands as data, and the
 * snapshots the daemon returns for listings. lvsadm parses its argv into a Command
 * (as ipvsadm does before talking to the kernel), lvsd executes it against the
 * service table, lvsadm formats the answer.
 *
 * Wire format on the Unix socket: one JSON object per line (NDJSON; framing in socket.ts).
 *   request:  { "id": n, "commands": Command[], "more"?: true }
 *             (frames of one id up to the one without "more" form one batch, applied
 *             atomically: all or none)
 *   response: { "id": n, "ok": true, "result": Result }
 *          |  { "id": n, "ok": false, "error": { "code": string, "message": string } }
 *          |  { "id": n, "ok": true, "stream": "conns" | "services", "tableSize"?: n },
 *             then { "id": n, "rows": [...] } ..., then { "id": n, "end": true } or an error
 * Every field of a raw request is checked by schema.ts before the daemon sees it.
 */

export type ProtoName = 'tcp' | 'udp';

/**
 * A virtual service key: -t/-u addr:port, or -f mark. Addresses are dotted quads. A
 * firewall-mark service (fwmark 1..2^32-1) is keyed by its mark alone; as ipvsadm fills it,
 * proto is then 'tcp' (unused), addr '0.0.0.0' and port 0.
 */
export interface ServiceKey {
  proto: ProtoName;
  addr: string;
  port: number;
  /** -f: firewall mark of the service; absent or 0 = an address:port service. */
  fwmark?: number;
}

/** -A / -E arguments. Unset optional fields keep the current value on -E. */
export interface ServiceSpec extends ServiceKey {
  /** -s, default "wlc". */
  scheduler?: string;
  /** -p: persistence timeout in seconds (present = persistent). */
  persistent?: number;
  /** -M: persistence netmask as dotted quad, default 255.255.255.255. */
  netmask?: string;
  /** -b: scheduler flags, e.g. ["sh-port"]. */
  schedFlags?: string[];
  /** -o: one-packet scheduling. */
  ops?: boolean;
}

export type FwdName = 'masq' | 'tunnel' | 'route';

/** -a / -e arguments. */
export interface DestSpec {
  addr: string;
  /** Defaults to the virtual port. */
  port?: number;
  /** -g (default) / -i / -m. */
  fwd?: FwdName;
  /** -w, default 1. */
  weight?: number;
  /** -x */
  upper?: number;
  /** -y */
  lower?: number;
}

export type Command =
  | { op: 'add-service'; service: ServiceSpec }
  | { op: 'edit-service'; service: ServiceSpec }
  | { op: 'delete-service'; service: ServiceKey }
  | { op: 'clear' }
  | { op: 'add-server'; service: ServiceKey; dest: DestSpec }
  | { op: 'edit-server'; service: ServiceKey; dest: DestSpec }
  | { op: 'delete-server'; service: ServiceKey; dest: { addr: string; port?: number } }
  | { op: 'zero'; service?: ServiceKey }
  | { op: 'set-timeout'; tcp: number; tcpfin: number; udp: number }
  /** Snapshot of services (one service when given) for -L, -S. */
  | { op: 'list-services'; service?: ServiceKey }
  /** Snapshot of the connection table for -L -c. */
  | { op: 'list-conns' }
  | { op: 'get-timeout' }
  /** lvsd extension: drop counters and daemon status. */
  | { op: 'status' }
  /** lvsd extension: health checker states (lvsadm --checks). */
  | { op: 'list-checks' }
  /** lvsd extension: VRRP instance states of lvsd -f (lvsadm --vrrp). */
  | { op: 'list-vrrp' }
  /** --start-daemon master|backup: the connection sync daemon (src/ha/sync.ts). */
  | { op: 'start-daemon'; daemon: SyncDaemonInfo }
  | { op: 'stop-daemon'; state: SyncState }
  /** -L --daemon. */
  | { op: 'list-daemons' }
  /** lvsd extension: set a knob (src/ipvs/knobs.ts; lvsadm --sysctl NAME=VALUE). */
  | { op: 'set-sysctl'; name: string; value: number }
  /** lvsd extension: every knob and its value (lvsadm --sysctl). */
  | { op: 'get-sysctl' };

export type SyncState = 'master' | 'backup';

/** One VRRP instance (src/ha/vrrp-node.ts): keepalived's state name, its priority, the master seen. */
export interface VrrpStateInfo {
  name: string;
  state: string;
  priority: number;
  /** Address of the current master ('' while none is known). */
  master: string;
}

/** A connection sync daemon as ipvsadm shows it: "master sync daemon (mcast=eth0, syncid=1)". */
export interface SyncDaemonInfo {
  state: SyncState;
  /** --mcast-interface */
  mcastIface: string;
  /** --syncid, 0..255 */
  syncid: number;
  /** --mcast-group, --mcast-port, --mcast-ttl (ipvsadm >= 1.28) */
  group?: string;
  port?: number;
  ttl?: number;
  /** lvsd extension (--sync-peer): a unicast peer instead of the group; the only source a backup accepts. */
  peer?: string;
  /** lvsd extension (--sync-key FILE, read by lvsadm): the shared HMAC key, hex; never listed back. */
  key?: string;
}

export interface DestInfo {
  addr: string;
  port: number;
  fwd: FwdName;
  weight: number;
  upper: number;
  lower: number;
  activeConns: number;
  inactiveConns: number;
  persistConns: number;
  stats: CountersInfo;
  rates: CountersInfo;
}

/** conns/inpkts/outpkts/inbytes/outbytes; for rates: cps/inpps/outpps/inbps/outbps. */
export interface CountersInfo {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

export interface ServiceInfo {
  proto: ProtoName;
  addr: string;
  port: number;
  /** Present for a firewall-mark service (then addr is 0.0.0.0 and port 0). */
  fwmark?: number;
  scheduler: string;
  /** Present when persistent. */
  persistent?: number;
  netmask: string;
  schedFlags: string[];
  ops: boolean;
  dests: DestInfo[];
  stats: CountersInfo;
  rates: CountersInfo;
}

export interface ConnInfo {
  /** 'ip' (IPPROTO_IP): a firewall-mark service's persistence template, shared by TCP and UDP. */
  proto: ProtoName | 'ip';
  /** Seconds until the entry expires. */
  expires: number;
  /** IPVS state name: ESTABLISHED, SYN_RECV, FIN_WAIT, ..., UDP, NONE. */
  state: string;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daddr: string;
  dport: number;
}

export interface TimeoutInfo {
  tcp: number;
  tcpfin: number;
  udp: number;
}

export interface StatusInfo {
  version: string;
  uptime: number;
  device: string;
  conns: number;
  drops: Record<string, number>;
  counters: Record<string, number>;
}

export type Result =
  | { kind: 'done' }
  | { kind: 'services'; tableSize: number; services: ServiceInfo[] }
  | { kind: 'conns'; conns: ConnInfo[] }
  | { kind: 'timeout'; timeout: TimeoutInfo }
  | { kind: 'status'; status: StatusInfo }
  | { kind: 'checks'; services: CheckServiceInfo[] }
  | { kind: 'vrrp'; instances: VrrpStateInfo[] }
  | { kind: 'daemons'; daemons: SyncDaemonInfo[] }
  | { kind: 'sysctl'; values: Record<string, number> };

/** lvsd extension: one health checker of a real server (src/health/). */
export interface CheckInfo {
  /** Real server addr:port. */
  dest: string;
  /** TCP_CHECK, HTTP_GET, UDP_CHECK, PING_CHECK, MISC_CHECK. */
  check: string;
  state: 'up' | 'down';
  /** Failed probes since the last pass (counted against retry). */
  retries: number;
  probes: number;
  failures: number;
  /** Last probe's result. */
  detail: string;
  /** Seconds since the last transition. */
  since: number;
}

/** lvsd extension: health state of one virtual service. */
export interface CheckServiceInfo {
  proto: ProtoName;
  addr: string;
  port: number;
  /** A firewall-mark virtual server. */
  fwmark?: number;
  quorum: number;
  hysteresis: number;
  /** Sum of the weights of the real servers whose checkers all pass. */
  liveWeight: number;
  quorumUp: boolean;
  /** The sorry server is in the table. */
  sorryActive: boolean;
  /** Real servers (addr:port) whose checkers all pass. */
  alive: string[];
  checks: CheckInfo[];
}

/**
 * A listing the daemon produces in chunks (rows of a few hundred to a few thousand), yielding
 * to the event loop between them; the control socket sends it as row frames (socket.ts).
 * Consecutive service rows with the same key carry further real servers of one service.
 */
export type StreamReply =
  | { kind: 'stream'; of: 'conns'; rows: AsyncIterable<ConnInfo[]> }
  | { kind: 'stream'; of: 'services'; tableSize: number; rows: AsyncIterable<ServiceInfo[]> };

export interface Request {
  id: number;
  commands: Command[];
}

export type Response =
  | { id: number; ok: true; result: Result }
  | { id: number; ok: false; error: { code: string; message: string } };
