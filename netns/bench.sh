#!/usr/bin/env bash
# Benchmark: lvsd against its peers on one topology (topo_nat 2 in lib.sh), in one run.
# Run as root: `npm run bench` or `bash netns/bench.sh`.
#
# Phases, measured one after the other from the client namespace:
#   kernel   client -> real server 1 at its own address, forwarded by the director's kernel
#            (the physical limit of a middlebox on this machine)
#   nft      nftables DNAT in the director: VIP:80 -> numgen inc mod 2 over rs1, rs2;
#            VIP:5201 -> rs1 (iperf3 needs one server)
#   haproxy  HAProxy `mode tcp`, nbthread 2, bound on the VIP (added to the director's lo),
#            roundrobin over rs1, rs2; VIP:5201 -> rs1
#   lvsd     lvsd NAT: VIP:80 rr over rs1, rs2 (-m), VIP:5201 -> rs1 (-m), lvsd's default
#            packet workers (one per CPU)
#   lvsd-w1, lvsd-w2  the same with --workers 1 and --workers 2
#   lvsd-dr  lvsd direct routing (-g), same services; lvs-realserver --vip VIP on rs1, rs2 and a
#            direct return path (bypass_up): replies go from the real servers to the client
#            over the LAN bridge without the director, as in netns/tests/dr.sh
#   lvsd-tun lvsd IP tunneling (-i), same services; lvs-realserver --vip VIP --tunnel (IPIP
#            decapsulated by its eBPF program where the kernel has no ipip module) and the
#            same bypass
#   lvsd-tun-user (only when named in BENCH_PHASES) the same with --tunnel-mode userspace
#   lvsd-scrape (only when named in BENCH_PHASES; npm run bench:metrics) lvsd NAT as in the
#            lvsd phase, with --metrics-listen and a scrape of /metrics every second;
#            lvsd-scrape-fast the same with 20 scrapes a second
# Per phase: wrk keep-alive, wrk with `Connection: close` (a new connection per request),
# iperf3 one stream upload (client -> server) and one stream download (-R, server -> client);
# /proc snapshots around each run give the CPU time of the balancing process (haproxy, lvsd),
# of the lvs-realserver helpers, and the machine's softirq share.
#
# Environment:
#   BENCH_DURATION   seconds per measurement (default 8; 7 phases x 4 runs stay < 7 min)
#   BENCH_CONNS      wrk connections (default 50), BENCH_THREADS wrk threads (default 2)
#   BENCH_PHASES     subset/order of phases (default "kernel nft haproxy lvsd-w1 lvsd-w2 lvsd-dr lvsd-tun")
#   BENCH_ROUNDS     rounds over all phases (default 1; even rounds run the phases in reverse
#                    order); the report gives medians, and ratios as the median of the ratios
#                    within each round. Use 3 rounds of 5 s on a machine with other load.
#   BENCH_SKIP_DEPS  1: do not run netns/deps.sh first
#   BENCH_RT_PRIORITY  lvsd --rt-priority in the phases where the
#                    director forwards only the client's packets (lvsd-dr, lvsd-tun); default
#                    10, 0 = ordinary scheduling. The NAT phase and HAProxy run without it:
#                    a real-time balancer preempts the load generator and batches less, which
#                    costs both of them keep-alive throughput (docs/BENCHMARKS.md)
#
# Output: a table on stdout, raw files in bench-results/raw-<stamp>/ and the summary in
# bench-results/bench-<stamp>.json (netns/bench-report.js). A phase that fails is reported as
# failed; the other phases still run.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${BENCH_DURATION:-8}
CONNS=${BENCH_CONNS:-50}
THREADS=${BENCH_THREADS:-2}
PHASES=${BENCH_PHASES:-kernel nft haproxy lvsd-w1 lvsd-w2 lvsd-dr lvsd-tun}
ROUNDS=${BENCH_ROUNDS:-1}
RT=${BENCH_RT_PRIORITY:-10}
# A run that does not end within its duration plus this many seconds is killed.
RUN_SLACK=30
IPERF_PORT=5201
HTTP_PORT=80

[[ $(id -u) -eq 0 ]] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }
[[ $DUR =~ ^[1-9][0-9]*$ ]] && ((DUR <= 120)) || { echo "bench: BENCH_DURATION must be 1..120" >&2; exit 1; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_ROUNDS must be a positive integer" >&2; exit 1; }
[[ $RT =~ ^[0-9]+$ ]] && ((RT <= 99)) || { echo "bench: BENCH_RT_PRIORITY must be 0..99" >&2; exit 1; }
# Scheduling of lvsd in the bypass phases.
RT_ARGS=()
if ((RT > 0)); then RT_ARGS=(--rt-priority "$RT"); fi
# Four runs of DUR per phase plus about 8 s of setup and teardown; the whole bench stays under
# 10 minutes.
read -ra phase_list <<<"$PHASES"
estimate=$((ROUNDS * ${#phase_list[@]} * (4 * DUR + 8)))
# One client source address per phase run (198.18.0.101 ..).
((ROUNDS * ${#phase_list[@]} <= 150)) || { echo "bench: at most 150 phase runs" >&2; exit 1; }
((estimate <= 540)) || { echo "bench: about ${estimate}s estimated; lower BENCH_DURATION or BENCH_ROUNDS (limit 540 s)" >&2; exit 1; }
if [[ ${BENCH_SKIP_DEPS:-0} != 1 ]]; then
  bash netns/deps.sh || echo "bench: netns/deps.sh failed; continuing with what is installed" >&2
fi
for tool in wrk iperf3 haproxy nginx nft curl socat node; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (netns/deps.sh installs it)" >&2; exit 1; }
done

source netns/lib.sh

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$LVS_ROOT/bench-results
RAW=$OUT/raw-$STAMP
mkdir -p "$RAW"

# ---------------------------------------------------------------------------------------------
# Run description, read back by bench-report.js (key=value, split at the first '=').
{
  echo "stamp=$STAMP"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "duration_s=$DUR"
  echo "connections=$CONNS"
  echo "threads=$THREADS"
  echo "phases=$PHASES"
  echo "rounds=$ROUNDS"
  echo "rt_priority=$RT"
  echo "nproc=$(nproc)"
  echo "cpu_model=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
  echo "hypervisor=$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -n 1)"
  echo "mem_total=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "node=$(node -v)"
  echo "haproxy=$(haproxy -v | head -n 1 | awk '{ print $3 }')"
  echo "nginx=$(nginx -v 2>&1 | sed 's|.*nginx/||')"
  echo "wrk=$(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }')"
  echo "iperf3=$(iperf3 -v | head -n 1 | awk '{ print $2 }')"
  echo "clk_tck=$(getconf CLK_TCK)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RAW/meta.env"

# ---------------------------------------------------------------------------------------------
# Topology and servers

topo_nat 2
run_http_servers
# -J: the server's results (and with them its RTT as the sender of a download) come back to
# the client as JSON (iperf3 --get-server-output).
bg_in_ns iperf3-rs1 "${NS_RS[0]}" iperf3 -s -J -p "$IPERF_PORT"
wait_listen "${NS_RS[0]}" "$IPERF_PORT" || die "iperf3 server did not start"
# The load generator's own connect() cost must not depend on the balancer: when a balancer
# forwards the server's FIN after the response, wrk closes first and its TIME_WAIT sockets
# crowd the ephemeral port range, and the port search in connect() (even ports first) then
# costs the client more CPU than the balancer uses. A full port range and TIME_WAIT reuse for
# outgoing connections, as load generators are usually set up, keep the client cheap.
in_ns "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
# A balancer that leaves local sockets on the VIP (haproxy's TIME_WAIT) would capture the next
# phase's packets through early demux before routing (TESTBED.md, pitfalls).
in_ns "$NS_D" sysctl -qw net.ipv4.tcp_early_demux=0

# Each phase run uses its own client source address, 198.18.0.(CLIENT_SRC_BASE + n): the
# connection states a run leaves in the client (TIME_WAIT when the client closed first, which
# depends on the balancer's timing) then never share 4-tuples, and so ephemeral ports, with
# the next run. Without this, a run after one that left ~28k client TIME_WAIT sockets towards
# the VIP spends its time searching for a free port in connect().
CLIENT_SRC_BASE=100
RUN_SEQ=0

# use_client_src ADDR: new connections from the client leave from ADDR.
use_client_src() {
  ip -n "$NS_C" addr add "$1/24" dev eth0
  ip -n "$NS_C" route replace default via "$DIP_C" src "$1"
}

# time_wait_counts SRC: TIME_WAIT sockets of the client address SRC, then of each other
# namespace (diagnostics in the raw directory).
time_wait_counts() {
  local ns
  printf 'c %s\n' "$(in_ns "$NS_C" ss -Htan state time-wait src "$1" | wc -l)"
  for ns in "$NS_D" "${NS_RS[@]}"; do
    printf '%s %s\n' "${ns%-"$LVS_TAG"}" "$(in_ns "$ns" ss -Htan state time-wait | wc -l)"
  done
}

# director_state: the director's configuration that a phase may change, in a stable order.
director_state() {
  echo "## links"
  ip -n "$NS_D" -o link show | awk '{ print $2 }' | sed 's/@.*//; s/:$//' | sort
  echo "## addresses"
  ip -n "$NS_D" -o -4 addr show | awk '{ print $2, $4 }' | sort
  echo "## rules"
  ip -n "$NS_D" rule show
  echo "## routes"
  ip -n "$NS_D" route show table all | grep -v '^local\|^broadcast\|^multicast\|^fe80\|^ff00' || true
  echo "## nft"
  in_ns "$NS_D" nft list ruleset
  echo "## listening"
  in_ns "$NS_D" ss -Htlnu | awk '{ print $1, $5 }' | sort
}

# The per-interface sysctls that lvs-realserver (ARP suppression, rp_filter for decapsulated
# packets) and bypass_up (rp_filter in the client) change, by interface.
STATE_SYSCTL_DEVS=(all lo eth0)
STATE_SYSCTL_KEYS=(arp_ignore arp_announce rp_filter)

# endpoint_state NS [full]: links and the sysctls above of a client or real server namespace;
# with "full" also its addresses and routes (the client's change per run: use_client_src).
endpoint_state() {
  local ns=$1 dev key
  echo "## $ns links"
  ip -n "$ns" -o link show | awk '{ print $2 }' | sed 's/@.*//; s/:$//' | sort
  if [[ ${2:-} == full ]]; then
    echo "## $ns addresses"
    ip -n "$ns" -o -4 addr show | awk '{ print $2, $4 }' | sort
    echo "## $ns routes"
    ip -n "$ns" route show
  fi
  echo "## $ns sysctls"
  for dev in "${STATE_SYSCTL_DEVS[@]}"; do
    for key in "${STATE_SYSCTL_KEYS[@]}"; do
      echo "$dev.$key $(in_ns "$ns" sysctl -n "net.ipv4.conf.$dev.$key")"
    done
  done
}

# testbed_state: what any phase may change, in the director, the real servers and the client.
testbed_state() {
  local ns
  director_state
  for ns in "${NS_RS[@]}"; do endpoint_state "$ns" full; done
  endpoint_state "$NS_C"
}
testbed_state >"$LVS_STATE/testbed.baseline"

# director_restore: puts the director back to the baseline after a phase that left state
# behind (the difference is recorded as a finding first).
director_restore() {
  local pref
  in_ns "$NS_D" nft flush ruleset
  ip -n "$NS_D" addr del "$VIP/32" dev lo 2>/dev/null || true
  ip -n "$NS_D" link del lvs0 2>/dev/null || true
  ip -n "$NS_D" link del "$BYPASS_IF" 2>/dev/null || true
  for pref in $(ip -n "$NS_D" rule show | awk -F: '$1 != 0 && $1 != 32766 && $1 != 32767 { print $1 }'); do
    ip -n "$NS_D" rule del pref "$pref" 2>/dev/null || true
  done
}

# testbed_restore: director_restore, then the real servers' VIP, return routes and sysctls and
# the client's sysctls back to the baseline.
testbed_restore() {
  local ns name value
  director_restore
  for ns in "${NS_RS[@]}"; do
    ip -n "$ns" addr del "$VIP/32" dev lo 2>/dev/null || true
    ip -n "$ns" route del "$BYPASS_NET" 2>/dev/null || true
  done
  for ns in "${NS_RS[@]}" "$NS_C"; do
    while read -r name value; do
      in_ns "$ns" sysctl -qw "net.ipv4.conf.$name=$value" 2>/dev/null || true
    done < <(awk -v h="## $ns sysctls" '$0 == h { on = 1; next } /^## / { on = 0 } on' "$LVS_STATE/testbed.baseline")
  done
}

# ---------------------------------------------------------------------------------------------
# Phases: phase_X_up sets TARGET (address the client uses), BAL_PID (balancing process, empty
# when the kernel does the work) and EXPECT (bodies that must all appear in the sanity check);
# phase_X_down undoes it.

TARGET=
BAL_PID=
EXPECT=
HELPER_PIDS=()   # lvs-realserver processes of the phase (their CPU time is reported apart)

# ---------------------------------------------------------------------------------------------
# Direct return path for DR and tunneling (the layout of netns/tests/forwarding-lib.sh): the
# client gets a second leg on the LAN bridge, and the real servers route the client network
# through it, so that replies from the VIP bypass the director. Only up during those phases:
# in the others the real servers' replies must go back through the director, and the client
# must reach rs1 through the director (kernel phase).
BYPASS_IF=cl1              # its end in the director, enslaved to the LAN bridge
BYPASS_CIP=198.19.0.2      # the client's address on the LAN
BYPASS_NET=198.18.0.0/24   # the client network (every client source address of the bench)

bypass_up() {
  local ns
  ip -n "$NS_D" link add "$BYPASS_IF" type veth peer name eth1 netns "$NS_C" &&
    ip -n "$NS_D" link set "$BYPASS_IF" master "$LAN_IF" up &&
    ip -n "$NS_C" addr add "$BYPASS_CIP/24" dev eth1 &&
    ip -n "$NS_C" link set eth1 up || return 1
  # Replies from the VIP arrive on eth1 while the VIP is routed via eth0 (testbed_restore
  # puts the baseline values back).
  in_ns "$NS_C" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 \
    net.ipv4.conf.eth1.rp_filter=0 || return 1
  for ns in "${NS_RS[@]}"; do
    ip -n "$ns" route replace "$BYPASS_NET" via "$BYPASS_CIP" || return 1
  done
}

bypass_down() {
  local ns rc=0
  for ns in "${NS_RS[@]}"; do
    if ip -n "$ns" route show "$BYPASS_NET" | grep -q .; then
      ip -n "$ns" route del "$BYPASS_NET" || rc=1
    fi
  done
  # Deleting one end of the veth pair deletes the client's eth1 with it.
  if ip -n "$NS_D" link show "$BYPASS_IF" >/dev/null 2>&1; then
    ip -n "$NS_D" link del "$BYPASS_IF" || rc=1
  fi
  # The next bypass_up makes a new eth1 with a new MAC: a neighbour entry left in a real
  # server would send its first replies to the old MAC until reachability probing gives up
  # (seconds, net.ipv4.neigh.*.delay_first_probe_time and ucast_solicit).
  for ns in "${NS_RS[@]}"; do
    ip -n "$ns" neigh flush to "$BYPASS_CIP" 2>/dev/null || true
  done
  return "$rc"
}

# start_realservers ARGS...: lvs-realserver ARGS in rs1 and rs2, each waited for up to 10 s
# ("ready" on its stdout). Returns 1 (without exiting) when one does not come up.
start_realservers() {
  local i log
  for i in 1 2; do
    log=$LVS_STATE/realserver-$i.log
    # A previous phase's log holds "ready" too.
    rm -f "$log"
    bg_in_ns "realserver-$i" "${NS_RS[i - 1]}" node "$LVS_ROOT/dist/src/cli/lvs-realserver.js" \
      --state "$LVS_STATE/realserver-$i.state.json" "$@"
    HELPER_PIDS+=("$LVS_LAST_PID")
    if ! wait_for -t 10 grep -q '^ready' "$log"; then
      log "lvs-realserver in rs$i did not start: $(tail -n 5 "$log")"
      return 1
    fi
  done
}

# stop_realservers: SIGTERM (lvs-realserver undoes its changes), logs kept in the phase dir.
# Before that, each real server's raw sockets (proc(5) /proc/net/raw; the last column counts
# packets dropped because the socket's receive buffer was full: userspace IPIP decapsulation).
stop_realservers() {
  local pid i
  for i in 1 2; do
    in_ns "${NS_RS[i - 1]}" cat /proc/net/raw >"$DIR/raw-sockets-rs$i.txt" 2>/dev/null || true
  done
  for pid in "${HELPER_PIDS[@]}"; do stop_pid "$pid" 5; done
  HELPER_PIDS=()
  for i in 1 2; do
    cp "$LVS_STATE/realserver-$i.log" "$DIR/realserver-$i.log" 2>/dev/null || true
  done
}

phase_kernel_up() {
  TARGET=$(rip 1)
  BAL_PID=
  EXPECT="rs1"
}
phase_kernel_down() { :; }

phase_nft_up() {
  TARGET=$VIP
  BAL_PID=
  EXPECT="rs1 rs2"
  in_ns "$NS_D" nft -f - <<EOF
table ip lvsbench {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr $VIP tcp dport $HTTP_PORT dnat to numgen inc mod 2 map { 0 : $(rip 1), 1 : $(rip 2) }
    ip daddr $VIP tcp dport $IPERF_PORT dnat to $(rip 1)
  }
}
EOF
}
phase_nft_down() { in_ns "$NS_D" nft delete table ip lvsbench; }

phase_haproxy_up() {
  TARGET=$VIP
  EXPECT="rs1 rs2"
  ip -n "$NS_D" addr add "$VIP/32" dev lo
  cat >"$LVS_STATE/haproxy.cfg" <<EOF
global
  nbthread 2
  # Two fds per proxied connection; stays under a 20000 fd hard limit.
  maxconn 8000

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend http
  bind $VIP:$HTTP_PORT
  default_backend http

backend http
  balance roundrobin
  server rs1 $(rip 1):$HTTP_PORT
  server rs2 $(rip 2):$HTTP_PORT

frontend bulk
  bind $VIP:$IPERF_PORT
  default_backend bulk

backend bulk
  server rs1 $(rip 1):$IPERF_PORT
EOF
  bg_in_ns haproxy "$NS_D" haproxy -db -f "$LVS_STATE/haproxy.cfg"
  BAL_PID=$LVS_LAST_PID
  wait_listen "$NS_D" "$HTTP_PORT" && wait_listen "$NS_D" "$IPERF_PORT"
}
phase_haproxy_down() {
  if [[ -n $BAL_PID ]]; then stop_pid "$BAL_PID" 5; fi
  cp "$LVS_STATE/haproxy.log" "$DIR/haproxy.log" 2>/dev/null || true
  ip -n "$NS_D" addr del "$VIP/32" dev lo
}

phase_lvsd_up() {
  TARGET=$VIP
  EXPECT="rs1 rs2"
  BAL_PID=
  start_lvsd || return 1
  BAL_PID=$LVSD_PID
  lvsadm -A -t "$VIP:$HTTP_PORT" -s rr &&
    lvsadm -a -t "$VIP:$HTTP_PORT" -r "$(rip 1):$HTTP_PORT" -m -w 1 &&
    lvsadm -a -t "$VIP:$HTTP_PORT" -r "$(rip 2):$HTTP_PORT" -m -w 1 &&
    lvsadm -A -t "$VIP:$IPERF_PORT" -s rr &&
    lvsadm -a -t "$VIP:$IPERF_PORT" -r "$(rip 1):$IPERF_PORT" -m -w 1
}
phase_lvsd_w1_up() { LVSD_WORKERS=1 phase_lvsd_up; }
phase_lvsd_w1_down() { phase_lvsd_down; }
phase_lvsd_w2_up() { LVSD_WORKERS=2 phase_lvsd_up; }
phase_lvsd_w2_down() { phase_lvsd_down; }
# lvsd-scrape: the lvsd phase with its metrics listener scraped every second, as Prometheus
# would, from the director namespace (netns/bench-metrics.sh compares the two);
# lvsd-scrape-fast: the same with 20 scrapes a second, so that the cost of a scrape under load
# is twenty times larger than the noise it hides in.
lvsd_scrape_up() {
  local every=$1
  TARGET=$VIP
  EXPECT="rs1 rs2"
  BAL_PID=
  start_lvsd --metrics-listen 127.0.0.1:9101 || return 1
  BAL_PID=$LVSD_PID
  lvsadm -A -t "$VIP:$HTTP_PORT" -s rr &&
    lvsadm -a -t "$VIP:$HTTP_PORT" -r "$(rip 1):$HTTP_PORT" -m -w 1 &&
    lvsadm -a -t "$VIP:$HTTP_PORT" -r "$(rip 2):$HTTP_PORT" -m -w 1 &&
    lvsadm -A -t "$VIP:$IPERF_PORT" -s rr &&
    lvsadm -a -t "$VIP:$IPERF_PORT" -r "$(rip 1):$IPERF_PORT" -m -w 1 || return 1
  bg_in_ns scraper "$NS_D" bash -c 'while :; do curl -sf -m 2 -o /dev/null http://127.0.0.1:9101/metrics && echo >>"$0"; sleep "$1"; done' \
    "$DIR/scrapes" "$every"
  SCRAPER_PID=$LVS_LAST_PID
}
phase_lvsd_scrape_up() { lvsd_scrape_up 1; }
phase_lvsd_scrape_fast_up() { lvsd_scrape_up 0.05; }
phase_lvsd_scrape_fast_down() { phase_lvsd_scrape_down; }
phase_lvsd_scrape_down() {
  stop_pid "$SCRAPER_PID" 2
  phase_lvsd_down
}
phase_lvsd_down() {
  if [[ -n $LVSD_PID ]]; then
    lvsadm -L -n >"$DIR/lvsadm-L.txt" 2>&1 || true
    lvsadm -L -n --stats --exact >"$DIR/lvsadm-stats.txt" 2>&1 || true
  fi
  stop_lvsd
  cp "$LVSD_LOG" "$DIR/lvsd.log" 2>/dev/null || true
}

# lvsd_bypass_up FLAG REALSERVER_ARGS...: lvsd with both services over rs1, rs2 by the
# forwarding method FLAG (-g or -i), lvs-realserver on the real servers, the direct return path.
lvsd_bypass_up() {
  local flag=$1
  shift
  TARGET=$VIP
  EXPECT="rs1 rs2"
  BAL_PID=
  bypass_up || return 1
  start_realservers --vip "$VIP" "$@" || return 1
  start_lvsd "${RT_ARGS[@]}" || return 1
  BAL_PID=$LVSD_PID
  lvsadm -A -t "$VIP:$HTTP_PORT" -s rr &&
    lvsadm -a -t "$VIP:$HTTP_PORT" -r "$(rip 1):$HTTP_PORT" "$flag" -w 1 &&
    lvsadm -a -t "$VIP:$HTTP_PORT" -r "$(rip 2):$HTTP_PORT" "$flag" -w 1 &&
    lvsadm -A -t "$VIP:$IPERF_PORT" -s rr &&
    lvsadm -a -t "$VIP:$IPERF_PORT" -r "$(rip 1):$IPERF_PORT" "$flag" -w 1
}
lvsd_bypass_down() {
  local rc=0
  if [[ -n $LVSD_PID ]]; then lvsadm --status >"$DIR/lvsadm-status.txt" 2>&1 || true; fi
  phase_lvsd_down
  stop_realservers
  bypass_down || rc=1
  return "$rc"
}

phase_lvsd_dr_up() { lvsd_bypass_up -g; }
phase_lvsd_dr_down() { lvsd_bypass_down; }
phase_lvsd_tun_up() { lvsd_bypass_up -i --tunnel; }
phase_lvsd_tun_down() { lvsd_bypass_down; }
# Not in the default list: tunneling with the real servers decapsulating in userspace.
phase_lvsd_tun_user_up() { lvsd_bypass_up -i --tunnel --tunnel-mode userspace; }
phase_lvsd_tun_user_down() { lvsd_bypass_down; }

# ---------------------------------------------------------------------------------------------
# Measurements

# snap FILE: a timestamp, the machine's CPU counters and the balancer's /proc/PID/stat.
snap() {
  {
    echo "t $(date +%s%N)"
    head -n 1 /proc/stat
    if [[ -n $BAL_PID ]]; then echo "proc $(cat "/proc/$BAL_PID/stat" 2>/dev/null)"; fi
    local pid
    for pid in "${HELPER_PIDS[@]}"; do echo "helper $(cat "/proc/$pid/stat" 2>/dev/null)"; done
  } >"$1"
}

# sanity: a few requests with a new connection each; every expected body must appear.
sanity() {
  local i body seen=" " want
  for ((i = 0; i < 6; i++)); do
    body=$(in_ns "$NS_C" curl -s --max-time 2 -H 'Connection: close' "http://$TARGET:$HTTP_PORT/") || return 1
    seen+="$body "
  done
  echo "$seen" >"$DIR/sanity.txt"
  for want in $EXPECT; do [[ $seen == *" $want "* ]] || return 1; done
}

# measure NAME CMD...: snapshots around CMD (run in the client namespace), output to NAME.out.
measure() {
  local name=$1 rc=0
  shift
  snap "$DIR/$name.before"
  timeout $((DUR + RUN_SLACK)) ip netns exec "$NS_C" "$@" >"$DIR/$name.out" 2>"$DIR/$name.err" || rc=$?
  snap "$DIR/$name.after"
  ((rc == 0)) || log "$PHASE: $name exited with $rc"
  echo "$rc" >"$DIR/$name.rc"
}

# run_phase PHASE ROUND: results in $RAW/PHASE/rROUND.
run_phase() {
  PHASE=$1
  DIR=$RAW/$PHASE/r$2
  mkdir -p "$DIR"
  # Phase names may hold '-'; the functions use '_'.
  local fn=phase_${PHASE//-/_}
  declare -F "${fn}_up" >/dev/null || { echo "failed: unknown phase" >"$DIR/status"; return; }
  log "phase $PHASE (round $2 of $ROUNDS): setup"
  cut -d' ' -f1-3 /proc/loadavg >"$DIR/loadavg"
  RUN_SEQ=$((RUN_SEQ + 1))
  local src=198.18.0.$((CLIENT_SRC_BASE + RUN_SEQ))
  use_client_src "$src"
  echo "$src" >"$DIR/client.src"
  local status=ok
  if ! "${fn}_up" >"$DIR/setup.log" 2>&1; then
    status="failed: setup (see $DIR/setup.log)"
  elif ! wait_tcp "$NS_C" "$TARGET" "$HTTP_PORT" 5 || ! sanity; then
    status="failed: no balanced HTTP answer from $TARGET:$HTTP_PORT"
    if [[ -n $BAL_PID ]] && ! lvs__alive "$BAL_PID"; then
      status+=" (the balancing process exited, see $DIR/setup.log and its log there)"
    fi
  else
    echo "${BAL_PID:-}" >"$DIR/balancer.pid"
    echo "${HELPER_PIDS[*]}" >"$DIR/helpers.pid"
    log "phase $PHASE: wrk keep-alive ${DUR}s"
    measure wrk-ka wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --timeout 2s --latency "http://$TARGET:$HTTP_PORT/"
    log "phase $PHASE: wrk new connection per request ${DUR}s"
    measure wrk-close wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --timeout 2s --latency \
      -H 'Connection: close' "http://$TARGET:$HTTP_PORT/"
    log "phase $PHASE: iperf3 upload ${DUR}s"
    measure iperf3 iperf3 -c "$TARGET" -p "$IPERF_PORT" -t "$DUR" -J
    log "phase $PHASE: iperf3 download ${DUR}s"
    # --get-server-output: the sender's (server's) view, with the round-trip times it measured.
    measure iperf3-down iperf3 -c "$TARGET" -p "$IPERF_PORT" -t "$DUR" -R -J --get-server-output
  fi
  time_wait_counts "$src" >"$DIR/time-wait"
  "${fn}_down" >>"$DIR/setup.log" 2>&1 || log "phase $PHASE: teardown reported an error"
  # A helper that the teardown did not reach (setup failed before it recorded the PID list).
  if ((${#HELPER_PIDS[@]})); then stop_realservers; fi
  BAL_PID=
  testbed_state >"$DIR/testbed.after"
  if ! diff -u "$LVS_STATE/testbed.baseline" "$DIR/testbed.after" >"$DIR/leftovers.diff"; then
    log "phase $PHASE left state in the testbed (restored): $(grep -c '^[-+][^-+]' "$DIR/leftovers.diff") lines, see $DIR/leftovers.diff"
    testbed_restore
  else
    rm -f "$DIR/leftovers.diff"
  fi
  echo "$status" >"$DIR/status"
  log "phase $PHASE: $status"
}

for ((round = 1; round <= ROUNDS; round++)); do
  order=("${phase_list[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#phase_list[@]} - 1; i >= 0; i--)); do order+=("${phase_list[i]}"); done
  fi
  for phase in "${order[@]}"; do
    run_phase "$phase" "$round"
  done
done

node netns/bench-report.js "$RAW" --json "$OUT/bench-$STAMP.json"
