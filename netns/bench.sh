#!/usr/bin/env bash
# Benchmark: lvsd against its peers on one NAT topology (topo_nat 2 in lib.sh), in one run.
# Run as root: `npm run bench` or `bash netns/bench.sh`.
#
# Phases, measured one after the other from the client namespace:
#   kernel   client -> real server 1 at its own address, forwarded by the director's kernel
#            (the physical limit of a middlebox on this machine)
#   nft      nftables DNAT in the director: VIP:80 -> numgen inc mod 2 over rs1, rs2;
#            VIP:5201 -> rs1 (iperf3 needs one server)
#   haproxy  HAProxy `mode tcp`, nbthread 2, bound on the VIP (added to the director's lo),
#            roundrobin over rs1, rs2; VIP:5201 -> rs1
#   lvsd     lvsd NAT: VIP:80 rr over rs1, rs2 (-m), VIP:5201 -> rs1 (-m)
# Per phase: wrk keep-alive, wrk with `Connection: close` (a new connection per request),
# iperf3 one stream; /proc snapshots around each run give the CPU time of the balancing
# process (haproxy, lvsd) and the machine's softirq share.
#
# Environment:
#   BENCH_DURATION   seconds per measurement (default 10; 4 phases x 3 runs stay < 3 min)
#   BENCH_CONNS      wrk connections (default 50), BENCH_THREADS wrk threads (default 2)
#   BENCH_PHASES     subset/order of phases (default "kernel nft haproxy lvsd")
#   BENCH_ROUNDS     rounds over all phases (default 1; even rounds run the phases in reverse
#                    order); the report gives medians, and ratios as the median of the ratios
#                    within each round. Use 3 rounds of 5 s on a machine with other load.
#   BENCH_SKIP_DEPS  1: do not run netns/deps.sh first
#
# Output: a table on stdout, raw files in bench-results/raw-<stamp>/ and the summary in
# bench-results/bench-<stamp>.json (netns/bench-report.js). A phase that fails is reported as
# failed; the other phases still run.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNS:-50}
THREADS=${BENCH_THREADS:-2}
PHASES=${BENCH_PHASES:-kernel nft haproxy lvsd}
ROUNDS=${BENCH_ROUNDS:-1}
# A run that does not end within its duration plus this many seconds is killed.
RUN_SLACK=30
IPERF_PORT=5201
HTTP_PORT=80

[[ $(id -u) -eq 0 ]] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }
[[ $DUR =~ ^[1-9][0-9]*$ ]] && ((DUR <= 120)) || { echo "bench: BENCH_DURATION must be 1..120" >&2; exit 1; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_ROUNDS must be a positive integer" >&2; exit 1; }
# Three runs of DUR per phase plus about 5 s of setup; the whole bench stays under 10 minutes.
read -ra phase_list <<<"$PHASES"
estimate=$((ROUNDS * ${#phase_list[@]} * (3 * DUR + 5)))
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
bg_in_ns iperf3-rs1 "${NS_RS[0]}" iperf3 -s -p "$IPERF_PORT"
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
director_state >"$LVS_STATE/director.baseline"

# director_restore: puts the director back to the baseline after a phase that left state
# behind (the difference is recorded as a finding first).
director_restore() {
  local pref
  in_ns "$NS_D" nft flush ruleset
  ip -n "$NS_D" addr del "$VIP/32" dev lo 2>/dev/null || true
  ip -n "$NS_D" link del lvs0 2>/dev/null || true
  for pref in $(ip -n "$NS_D" rule show | awk -F: '$1 != 0 && $1 != 32766 && $1 != 32767 { print $1 }'); do
    ip -n "$NS_D" rule del pref "$pref" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------------------------------------
# Phases: phase_X_up sets TARGET (address the client uses), BAL_PID (balancing process, empty
# when the kernel does the work) and EXPECT (bodies that must all appear in the sanity check);
# phase_X_down undoes it.

TARGET=
BAL_PID=
EXPECT=

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
phase_lvsd_down() {
  if [[ -n $LVSD_PID ]]; then lvsadm -L -n >"$DIR/lvsadm-L.txt" 2>&1 || true; fi
  stop_lvsd
  cp "$LVSD_LOG" "$DIR/lvsd.log" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# Measurements

# snap FILE: a timestamp, the machine's CPU counters and the balancer's /proc/PID/stat.
snap() {
  {
    echo "t $(date +%s%N)"
    head -n 1 /proc/stat
    if [[ -n $BAL_PID ]]; then echo "proc $(cat "/proc/$BAL_PID/stat" 2>/dev/null)"; fi
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
  declare -F "phase_${PHASE}_up" >/dev/null || { echo "failed: unknown phase" >"$DIR/status"; return; }
  log "phase $PHASE (round $2 of $ROUNDS): setup"
  cut -d' ' -f1-3 /proc/loadavg >"$DIR/loadavg"
  RUN_SEQ=$((RUN_SEQ + 1))
  local src=198.18.0.$((CLIENT_SRC_BASE + RUN_SEQ))
  use_client_src "$src"
  echo "$src" >"$DIR/client.src"
  local status=ok
  if ! "phase_${PHASE}_up" >"$DIR/setup.log" 2>&1; then
    status="failed: setup (see $DIR/setup.log)"
  elif ! wait_tcp "$NS_C" "$TARGET" "$HTTP_PORT" 5 || ! sanity; then
    status="failed: no balanced HTTP answer from $TARGET:$HTTP_PORT"
    if [[ -n $BAL_PID ]] && ! lvs__alive "$BAL_PID"; then
      status+=" (the balancing process exited, see $DIR/setup.log and its log there)"
    fi
  else
    echo "${BAL_PID:-}" >"$DIR/balancer.pid"
    log "phase $PHASE: wrk keep-alive ${DUR}s"
    measure wrk-ka wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --timeout 2s --latency "http://$TARGET:$HTTP_PORT/"
    log "phase $PHASE: wrk new connection per request ${DUR}s"
    measure wrk-close wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --timeout 2s --latency \
      -H 'Connection: close' "http://$TARGET:$HTTP_PORT/"
    log "phase $PHASE: iperf3 ${DUR}s"
    measure iperf3 iperf3 -c "$TARGET" -p "$IPERF_PORT" -t "$DUR" -J
  fi
  time_wait_counts "$src" >"$DIR/time-wait"
  "phase_${PHASE}_down" >>"$DIR/setup.log" 2>&1 || log "phase $PHASE: teardown reported an error"
  BAL_PID=
  director_state >"$DIR/director.after"
  if ! diff -u "$LVS_STATE/director.baseline" "$DIR/director.after" >"$DIR/leftovers.diff"; then
    log "phase $PHASE left state in the director (restored): $(grep -c '^[-+][^-+]' "$DIR/leftovers.diff") lines, see $DIR/leftovers.diff"
    director_restore
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
