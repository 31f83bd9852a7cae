# shellcheck shell=bash
# Shared helpers for the network-namespace testbed: topology, servers, readiness polling,
# lvsd control and cleanup. Source it from a script running as root:
#
#   source "$(dirname "$0")/lib.sh"     # registers cleanup on EXIT, INT and TERM
#   topo_nat 2
#   run_http_servers
#
# Contracts:
# - Every namespace this library creates is named <role>-$LVS_TAG (c, d, r1..rN) and every
#   interface lives inside those namespaces, so two runs never collide and deleting the
#   namespaces removes everything.
# - Every background process is started through bg_in_ns (or a helper built on it); its PID is
#   recorded in $LVS_STATE/pids and cleanup kills it by PID, then kills whatever is still
#   running inside this run's namespaces, then deletes them.
# - cleanup is idempotent and works after a partial setup; a script that wants to keep the
#   topology (topology.sh up) calls lvs_keep.
# - Readiness is polled with a deadline (wait_for, wait_tcp, wait_listen), never slept.
# - Only addresses of RFC 2544's benchmarking range 198.18.0.0/15 are used, and no namespace
#   has a route out of the topology.
# Works under `set -euo pipefail`.

LVS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Tag shared by every name of this run: the PID plus 15 random bits (the PID alone repeats
# across PID namespaces and after reuse).
LVS_TAG=${LVS_TAG:-$$$(printf '%04x' "$RANDOM")}
LVS_STATE=${LVS_STATE:-${TMPDIR:-/tmp}/lvs-$LVS_TAG}
LVS_WAIT_TIMEOUT=${LVS_WAIT_TIMEOUT:-10}
LVS_PIDS=()
LVS_LAST_PID=
LVS_FAILS=0
LVS_KEEP=0

# Address plan (roles as in the LVS documentation: cip client, vip virtual service,
# dip director, rip real server). RFC 2544 benchmarking range only.
CIP=198.18.0.2            # client
DIP_C=198.18.0.1          # director, client side (the client's default gateway)
VIP=198.18.100.1          # virtual service; routed to the director via the client's default route
DIP=198.19.0.1            # director, server LAN (the real servers' default gateway), on br0
LAN_PREFIX=198.19.0       # real server I has $LAN_PREFIX.(10+I)
LAN_IF=br0                # the LAN bridge in the director namespace
CLI_IF=cli0               # the director's interface towards the client

# Namespace names by role.
NS_C=c-$LVS_TAG
NS_D=d-$LVS_TAG
NS_RS=()                  # filled by topo_nat: r1-$LVS_TAG ..
RIPS=()                   # filled by topo_nat: real server addresses, same order as NS_RS

# lvsd control socket and log (start_lvsd).
LVSD_SOCK=$LVS_STATE/lvsd.sock
LVSD_LOG=$LVS_STATE/lvsd.log
LVSD_PID=

mkdir -p -m 0700 "$LVS_STATE"

# ---------------------------------------------------------------------------------------------
# Logging and assertions

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "$LVS_TAG" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# check DESCRIPTION CMD...: runs CMD, prints a PASS or FAIL line, returns CMD's status (so
# under `set -e` a failed check ends the script, and cleanup runs).
check() {
  local desc=$1 rc=0
  shift
  "$@" || rc=$?
  if ((rc == 0)); then
    printf 'PASS: %s\n' "$desc"
  else
    printf 'FAIL: %s (exit %d)\n' "$desc" "$rc"
    LVS_FAILS=$((LVS_FAILS + 1))
  fi
  return "$rc"
}

# expect_eq WHAT GOT WANT: true when GOT equals WANT; otherwise logs both and fails.
expect_eq() {
  if [[ $2 == "$3" ]]; then return 0; fi
  log "$1: got '$2', want '$3'"
  return 1
}

# curl_n N URL: N requests from the client, one connection each; prints the answers.
curl_n() {
  in_ns "$NS_C" bash -c 'for ((i = 0; i < $0; i++)); do curl -s -m 3 "$1" || echo FAIL; done' "$1" "$2"
}

# counts N URL: "rs1=A rs2=B rs3=C fail=F" over N new connections.
counts() {
  curl_n "$1" "$2" | awk '{c[$1]++} END {printf "rs1=%d rs2=%d rs3=%d fail=%d\n", c["rs1"], c["rs2"], c["rs3"], c["FAIL"]}'
}

# rip I: address of real server I (1-based).
rip() { printf '%s.%d\n' "$LAN_PREFIX" $((10 + $1)); }

# ---------------------------------------------------------------------------------------------
# Namespaces and processes

in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# bg_in_ns NAME NS CMD...: starts CMD in namespace NS in the background, stdout and stderr to
# $LVS_STATE/NAME.log; records the PID for cleanup and leaves it in LVS_LAST_PID.
# `ip netns exec` execs CMD after setns(), so the PID is CMD's own.
bg_in_ns() {
  local name=$1 ns=$2
  shift 2
  ip netns exec "$ns" "$@" >"$LVS_STATE/$name.log" 2>&1 &
  LVS_LAST_PID=$!
  LVS_PIDS+=("$LVS_LAST_PID")
  echo "$LVS_LAST_PID" >>"$LVS_STATE/pids"
}

# lvs__ours PID: true when PID runs in one of this run's namespaces (guards against a PID
# that was reaped and reused by an unrelated process).
lvs__ours() {
  local ns
  ns=$(ip netns identify "$1" 2>/dev/null) || return 1
  [[ $ns == *-"$LVS_TAG" ]]
}

lvs__alive() { kill -0 "$1" 2>/dev/null && [[ $(ps -o stat= -p "$1" 2>/dev/null) != Z* ]]; }

# stop_pid PID [TIMEOUT_S]: SIGTERM, wait up to TIMEOUT_S (default 5) for the exit, then
# SIGKILL. Reaps the process when it is a child of this shell. Only touches PIDs that run in
# this run's namespaces.
stop_pid() {
  local pid=$1 timeout=${2:-5} deadline
  if lvs__alive "$pid" && lvs__ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while lvs__alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    lvs__alive "$pid" && { kill -KILL "$pid" 2>/dev/null || true; }
  fi
  wait "$pid" 2>/dev/null || true
}

# lvs_namespaces: this run's namespaces (also those a crashed setup left half-built).
lvs_namespaces() {
  ip netns list 2>/dev/null | awk -v tag="-$LVS_TAG" \
    'substr($1, length($1) - length(tag) + 1) == tag { print $1 }'
}

# cleanup: kill recorded PIDs, then anything left in this run's namespaces, delete the
# namespaces and the state directory. Idempotent; never fails.
cleanup() {
  local opts=$- pid ns pids=() left=()
  set +e
  if ((LVS_KEEP)); then
    [[ $opts == *e* ]] && set -e
    return 0
  fi
  [[ -f $LVS_STATE/pids ]] && mapfile -t pids <"$LVS_STATE/pids"
  pids+=("${LVS_PIDS[@]}")
  for ns in $(lvs_namespaces); do
    left+=($(ip netns pids "$ns" 2>/dev/null))
  done
  # TERM everything first so that shutdowns overlap, then wait for each with a deadline.
  for pid in "${pids[@]}" "${left[@]}"; do
    [[ -n $pid ]] && lvs__alive "$pid" && lvs__ours "$pid" && kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${pids[@]}" "${left[@]}"; do
    [[ -n $pid ]] && stop_pid "$pid" 3
  done
  for ns in $(lvs_namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null || log "cleanup: could not delete namespace $ns"
  done
  LVS_PIDS=()
  LVSD_PID=
  [[ -n $LVS_STATE && -d $LVS_STATE && $LVS_STATE == */lvs-"$LVS_TAG" ]] && rm -rf -- "$LVS_STATE"
  [[ $opts == *e* ]] && set -e
  return 0
}

# lvs_keep: leave namespaces, processes and the state directory in place on exit.
lvs_keep() { LVS_KEEP=1; }

lvs__on_exit() {
  local rc=$?
  cleanup
  exit "$rc"
}
# lvs__on_err LINE: under `set -e`, names the command that ends the script.
lvs__on_err() {
  local rc=$?
  [[ $- == *e* ]] && log "exit $rc at ${BASH_SOURCE[1]:-?}:$1: $BASH_COMMAND"
  return 0
}
trap lvs__on_exit EXIT
trap 'lvs__on_err "$LINENO"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Readiness

# wait_for [-t SECONDS] CMD...: polls CMD every 50 ms until it succeeds; fails after SECONDS
# (default LVS_WAIT_TIMEOUT).
wait_for() {
  local timeout=$LVS_WAIT_TIMEOUT deadline now
  if [[ ${1:-} == -t ]]; then
    timeout=$2
    shift 2
  fi
  deadline=$(($(date +%s%N) + timeout * 1000000000))
  while true; do
    "$@" >/dev/null 2>&1 && return 0
    now=$(date +%s%N)
    ((now < deadline)) || break
    sleep 0.05
  done
  log "wait_for: timed out after ${timeout}s: $*"
  return 1
}

# tcp_open NS ADDR PORT: one connect attempt from NS, at most 1 s.
tcp_open() {
  timeout 1 ip netns exec "$1" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3"
}

# wait_tcp NS ADDR PORT [TIMEOUT_S]: polls until ADDR:PORT accepts a connection from NS.
# Each probe opens a connection: use wait_listen for one-shot servers.
wait_tcp() { wait_for -t "${4:-$LVS_WAIT_TIMEOUT}" tcp_open "$1" "$2" "$3"; }

# tcp_listening NS PORT: a TCP socket in NS listens on PORT.
tcp_listening() {
  [[ -n $(ip netns exec "$1" ss -Htln "sport = :$2" 2>/dev/null) ]]
}

# wait_listen NS PORT [TIMEOUT_S]: polls until a socket in NS listens on PORT (no connection).
wait_listen() { wait_for -t "${3:-$LVS_WAIT_TIMEOUT}" tcp_listening "$1" "$2"; }

# ---------------------------------------------------------------------------------------------
# Topology

# lvs__new_ns NAME: a fresh namespace with lo up, IPv6 off (the testbed is IPv4 only; this also
# keeps router solicitations and DAD off the wire).
lvs__new_ns() {
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# topo_nat N: client, director and N real servers (1 <= N <= 100).
#
#      client c-TAG              director d-TAG                    real servers rI-TAG
#   +-----------------+        +--------------------------+        +----------------------+
#   | eth0 198.18.0.2 |--veth--| cli0 198.18.0.1          |   +----| eth0 198.19.0.11  r1 |
#   | default via     |        |                          |   |    | default 198.19.0.1   |
#   |   198.18.0.1    |        | br0  198.19.0.1  rs1 ----+---+    +----------------------+
#   +-----------------+        | (bridge = LAN)   rs2 ----+---+    +----------------------+
#                              |                  ..rsN   |   +----| eth0 198.19.0.12  r2 |
#   VIP 198.18.100.1: the      | ip_forward=1             |        +----------------------+
#   client reaches it via its  +--------------------------+          ..  198.19.0.(10+N) rN
#   default route; NAT needs no director address for it.
#
# The LAN is a bridge in the director namespace with one veth per real server, so that direct
# routing can share it later (director and real servers on one L2 segment).
topo_nat() {
  local n=${1:?topo_nat N} i ns
  ((n >= 1 && n <= 100)) || die "topo_nat: N must be 1..100, got $n"
  lvs__new_ns "$NS_C"
  lvs__new_ns "$NS_D"

  ip -n "$NS_D" link add "$CLI_IF" type veth peer name eth0 netns "$NS_C"
  ip -n "$NS_D" addr add "$DIP_C/24" dev "$CLI_IF"
  ip -n "$NS_D" link set "$CLI_IF" up
  ip -n "$NS_C" addr add "$CIP/24" dev eth0
  ip -n "$NS_C" link set eth0 up
  ip -n "$NS_C" route add default via "$DIP_C"

  ip -n "$NS_D" link add "$LAN_IF" type bridge forward_delay 0 stp_state 0
  ip -n "$NS_D" addr add "$DIP/24" dev "$LAN_IF"
  ip -n "$NS_D" link set "$LAN_IF" up
  ip netns exec "$NS_D" sysctl -qw net.ipv4.ip_forward=1

  NS_RS=()
  RIPS=()
  for ((i = 1; i <= n; i++)); do
    ns=r$i-$LVS_TAG
    lvs__new_ns "$ns"
    ip -n "$NS_D" link add "rs$i" type veth peer name eth0 netns "$ns"
    ip -n "$NS_D" link set "rs$i" master "$LAN_IF" up
    ip -n "$ns" addr add "$(rip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$DIP"
    NS_RS+=("$ns")
    RIPS+=("$(rip "$i")")
  done
  log "topology: client $NS_C ($CIP), director $NS_D ($DIP_C | $DIP on $LAN_IF), real servers ${NS_RS[*]} (${RIPS[*]}), vip $VIP"
}

# ---------------------------------------------------------------------------------------------
# Servers

# run_http_servers [I...]: nginx in real servers I (default: all) on ports 80 and 8080,
# answering every request with "rsI\n". One worker, no access log, keep-alive without a
# request limit, so that it measures the balancer and not the server.
run_http_servers() {
  local idx=("$@") i dir ns
  ((${#idx[@]})) || for ((i = 1; i <= ${#NS_RS[@]}; i++)); do idx+=("$i"); done
  for i in "${idx[@]}"; do
    ns=${NS_RS[i - 1]:?no real server $i}
    dir=$LVS_STATE/nginx-rs$i
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  default_type text/plain;
  client_body_temp_path $dir/body;
  server {
    listen 80 reuseport backlog=4096;
    listen 8080 reuseport backlog=4096;
    location / { return 200 "rs$i\n"; }
  }
}
EOF
    bg_in_ns "nginx-rs$i" "$ns" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
  done
  for i in "${idx[@]}"; do
    wait_tcp "${NS_RS[i - 1]}" "$(rip "$i")" 80 || die "nginx in rs$i did not start: $(tail -n 5 "$LVS_STATE/nginx-rs$i.log")"
    wait_tcp "${NS_RS[i - 1]}" "$(rip "$i")" 8080 || die "nginx in rs$i did not listen on 8080"
  done
}

# start_sink NS PORT FILE: a one-shot TCP server in NS writing what it receives to FILE, as in
# the kernel's IPVS selftest (tools/testing/selftests/netfilter/ipvs.sh). PID in LVS_LAST_PID.
start_sink() {
  local ns=$1 port=$2 file=$3
  bg_in_ns "sink-$ns-$port" "$ns" socat -u "TCP-LISTEN:$port,reuseaddr" "OPEN:$file,creat,trunc"
  wait_listen "$ns" "$port"
}

# start_echo NS PORT: a TCP echo server in NS (one child per connection). PID in LVS_LAST_PID.
start_echo() {
  bg_in_ns "echo-$1-$2" "$1" socat "TCP-LISTEN:$2,reuseaddr,fork" PIPE
  wait_listen "$1" "$2"
}

# send_file NS ADDR PORT FILE: sends FILE from NS to ADDR:PORT and closes, at most 5 s.
send_file() {
  timeout 5 ip netns exec "$1" socat -u "OPEN:$4" "TCP:$2:$3,connect-timeout=2"
}

lvs__one_exited() {
  local p
  for p in "$@"; do lvs__alive "$p" || return 0; done
  return 1
}

# data_check CLIENT_NS ADDR PORT SERVER_NS...: the selftest's data check. Sinks on PORT in
# every SERVER_NS, 32 random bytes sent from CLIENT_NS to ADDR:PORT; true when exactly one
# server received them intact. Stops all its sinks before returning.
data_check() {
  local cns=$1 addr=$2 port=$3 ns sent got=0 rc=0 sinks=() pid
  shift 3
  sent=$LVS_STATE/data-$port.sent
  head -c 32 /dev/urandom >"$sent"
  for ns in "$@"; do
    start_sink "$ns" "$port" "$LVS_STATE/data-$port.$ns" || rc=1
    sinks+=("$LVS_LAST_PID")
  done
  if ((rc == 0)) && send_file "$cns" "$addr" "$port" "$sent"; then
    # The sink that received the data exits after the sender's FIN: wait for one to finish.
    wait_for -t 5 lvs__one_exited "${sinks[@]}" || rc=1
    for ns in "$@"; do
      cmp -s "$sent" "$LVS_STATE/data-$port.$ns" && got=$((got + 1))
    done
    ((got == 1)) || rc=1
  else
    rc=1
  fi
  for pid in "${sinks[@]}"; do stop_pid "$pid" 2; done
  return "$rc"
}

# ---------------------------------------------------------------------------------------------
# lvsd in the director namespace

# lvsadm ARGS...: the ipvsadm-compatible client against this run's lvsd, at most
# LVSADM_TIMEOUT seconds (default 10; exit 124 and a line on stderr when it is exceeded).
lvsadm() {
  local rc=0
  timeout "${LVSADM_TIMEOUT:-10}" ip netns exec "$NS_D" node "$LVS_ROOT/dist/src/cli/lvsadm.js" --socket "$LVSD_SOCK" "$@" || rc=$?
  ((rc != 124)) || log "lvsadm $* killed after ${LVSADM_TIMEOUT:-10} s"
  return "$rc"
}

# lvs__lvsd_ready: 0 when lvsadm -L -n answers, 2 when lvsd is gone, else 1.
lvs__lvsd_ready() {
  lvs__alive "$LVSD_PID" || return 2
  lvsadm -L -n >/dev/null 2>&1 || return 1
}

# start_lvsd [EXTRA_ARGS...]: starts lvsd in the director namespace on TUN lvs0 with control
# socket $LVSD_SOCK and log $LVSD_LOG; waits (at most 10 s) until `lvsadm -L -n` answers.
# LVSD_NODE_FLAGS (e.g. --trace-gc, --cpu-prof) are passed to node for debugging;
# LVSD_WORKERS=N adds --workers N.
# On failure prints the end of the log and returns 1 (does not exit), leaving nothing running.
start_lvsd() {
  local js=$LVS_ROOT/dist/src/cli/lvsd.js
  if [[ ! -f $js ]]; then
    log "start_lvsd: $js missing (build with npx tsc -p tsconfig.json)"
    return 1
  fi
  rm -f "$LVSD_SOCK"
  # LVSD_WORKERS=N runs lvsd with --workers N (default: lvsd's own, one per CPU).
  ip netns exec "$NS_D" node ${LVSD_NODE_FLAGS:-} "$js" --socket "$LVSD_SOCK" --tun lvs0 \
    ${LVSD_WORKERS:+--workers "$LVSD_WORKERS"} "$@" >"$LVSD_LOG" 2>&1 &
  LVSD_PID=$!
  LVS_PIDS+=("$LVSD_PID")
  echo "$LVSD_PID" >>"$LVS_STATE/pids"
  local deadline=$((SECONDS + 10)) rc
  while true; do
    rc=0
    lvs__lvsd_ready || rc=$?
    ((rc == 0)) && break
    if ((rc == 2)); then
      log "start_lvsd: lvsd exited; log:"
      tail -n 20 "$LVSD_LOG" >&2
      wait "$LVSD_PID" 2>/dev/null || true
      LVSD_PID=
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "start_lvsd: no answer from lvsadm -L -n within 10 s; log:"
      tail -n 20 "$LVSD_LOG" >&2
      stop_lvsd
      return 1
    fi
    sleep 0.1
  done
  log "lvsd running in $NS_D, pid $LVSD_PID, socket $LVSD_SOCK"
}

# stop_lvsd: SIGTERM so that lvsd removes its TUN device, routes and rules, wait up to 5 s.
stop_lvsd() {
  [[ -n $LVSD_PID ]] || return 0
  stop_pid "$LVSD_PID" 5
  LVSD_PID=
}
