#!/usr/bin/env bash
# End-to-end tests of lvsd's packet workers (--workers 2): queue steering by client address
# (both directions of every NAT connection, persistence, -M networks), real-server counts
# shared by the workers (wlc), a worker that crashes (the test-only hook LVSD_TEST_CRASH_HOOK=1:
# SIGUSR2 makes worker 1 throw), and refused --workers values. Real clients (curl, socat, node
# sockets) through the real lvsd. Needs root, /dev/net/tun and a build (dist/).
#
#   client c-TAG (198.18.0.2, .10-.59; 198.18.3.0/24) ── director (2 workers) ── r1, r2, r3
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

LVSD_WORKERS=2
CLIENTS=$LVS_ROOT/netns/tests/workers-clients.js
topo_nat 3
run_http_servers
for i in 1 2 3; do start_echo "${NS_RS[i - 1]}" 7; done
export LVSD_TEST_CRASH_HOOK=1
start_lvsd || die "lvsd did not start"
R1=$(rip 1) R2=$(rip 2) R3=$(rip 3)

ADDRS=()
for h in $(seq 10 59); do
  in_ns "$NS_C" ip addr add "198.18.0.$h/24" dev eth0
  ADDRS+=("198.18.0.$h")
done
in_ns "$NS_C" ip addr add 198.18.3.1/24 dev eth0
for h in $(seq 2 40); do in_ns "$NS_C" ip addr add "198.18.3.$h/32" dev eth0; done
in_ns "$NS_D" ip route add 198.18.3.0/24 via "$CIP"

# queues MASK ADDR...: the worker index lvsd's steering gives each address (one per line).
queues() {
  node -e 'const { steerQueue, } = require(process.argv[1]); const { ipFromString } = require(process.argv[2]);
    const mask = ipFromString(process.argv[3]) >>> 0;
    for (const a of process.argv.slice(4)) console.log(steerQueue(ipFromString(a), mask, 2));' \
    "$LVS_ROOT/dist/src/datapath/steering.js" "$LVS_ROOT/dist/src/ipvs/types.js" "$@"
}
# status_of NAME: one counter of lvsadm --status.
status_of() { lvsadm --status | awk -v n="$1" '$1 == n { print $NF; f = 1 } END { if (!f) print 0 }'; }

# --- 200 connections from 50 clients: each connection's two directions on one worker --------
lvsadm -A -t "$VIP:80" -s rr
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP:80" -r "$r:80" -m; done
got=$(in_ns "$NS_C" bash -c '
  vip=$0
  for a in "$@"; do
    for k in 1 2 3; do curl -s -m 3 --interface "$a" "http://$vip/" || echo FAIL; done
    printf "GET / HTTP/1.0\r\n\r\n" | timeout 3 socat - "TCP:$vip:80,bind=$a" | tail -n 1 || echo FAIL
  done' "$VIP" "${ADDRS[@]}" | awk '/^rs[123]$/ { ok++ } !/^rs[123]$/ { bad++ } END { printf "ok=%d bad=%d\n", ok, bad }')
check "200 connections (150 curl, 50 socat) from 50 client addresses all answered ($got)" \
  expect_eq "answers" "$got" "ok=200 bad=0"
mapfile -t q < <(queues 255.255.255.255 "${ADDRS[@]}")
want0=0 want1=0
for x in "${q[@]}"; do if ((x == 0)); then want0=$((want0 + 4)); else want1=$((want1 + 4)); fi; done
c0=$(status_of worker0.conns_created) c1=$(status_of worker1.conns_created)
check "each worker created the connections of the clients steered to it ($c0/$c1, hash says $want0/$want1)" \
  expect_eq "per-worker connections" "$c0/$c1" "$want0/$want1"
check "both workers carry traffic (their share of 50 clients)" test "$want0" -gt 0 -a "$want1" -gt 0
o0=$(status_of worker0.out_packets) o1=$(status_of worker1.out_packets)
check "both workers forwarded NAT replies (out_packets $o0/$o1)" test "$o0" -gt "$c0" -a "$o1" -gt "$c1"
check "no reply reached a worker without its connection (no-service 0, no-conn 0)" \
  expect_eq "drops" "$(status_of no-service)/$(status_of no-conn)" "0/0"
check "--status lists 2 workers, both running" \
  expect_eq "workers" "$(status_of workers) $(status_of worker0.running) $(status_of worker1.running)" "2 1 1"
nconns=$(lvsadm -L -n -c | grep -c "$VIP:80" || true)
check "-L -n -c merges both workers' entries (200 in TIME_WAIT or closing: $nconns)" test "$nconns" -eq 200
st=$(lvsadm -L -n --stats -t "$VIP:80" | awk -v s="$VIP:80" '$1 == "TCP" && $2 == s {print $3}')
check "--stats sums both workers: 200 connections ($st)" expect_eq "stats conns" "$st" 200
lvsadm -Z
st=$(lvsadm -L -n --stats -t "$VIP:80" | awk -v s="$VIP:80" '$1 == "TCP" && $2 == s {print $3 "/" $4}')
check "-Z zeroes the counters of both workers (conns/inpkts $st)" expect_eq "stats after -Z" "$st" "0/0"

# --- persistence: every client on one real server --------------------------------------------
lvsadm -C
lvsadm -A -t "$VIP:80" -s rr -p 300
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP:80" -r "$r:80" -m; done
bad=0 servers=""
for a in "${ADDRS[@]:0:20}"; do
  s=$(in_ns "$NS_C" bash -c 'for k in 1 2 3 4 5; do curl -s -m 3 --interface "$0" "http://$1/" || echo FAIL; done' "$a" "$VIP" | sort -u | tr '\n' ' ')
  [[ $s =~ ^rs[123]\ $ ]] || { bad=$((bad + 1)); log "client $a: $s"; }
  servers+="$s"
done
check "-p: each of 20 clients gets all 5 of its connections from one real server" expect_eq "clients split" "$bad" 0
check "-p: the 20 clients use all three real servers" \
  expect_eq "servers" "$(tr ' ' '\n' <<<"$servers" | grep -c . | tr -d ' ') $(tr ' ' '\n' <<<"$servers" | sort -u | grep -c .)" "20 3"
check "-p: 20 templates, one per client, over both workers" \
  expect_eq "templates" "$(lvsadm -L -n -c | grep -c ' NONE ')" 20

# --- -M: a template in one worker honoured for another address of its network ----------------
lvsadm -C
lvsadm -A -t "$VIP:80" -s rr -p 300 -M 255.255.255.0
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP:80" -r "$r:80" -m; done
NET_ADDRS=(); for h in $(seq 1 40); do NET_ADDRS+=("198.18.3.$h"); done
mapfile -t own < <(queues 255.255.255.255 "${NET_ADDRS[@]}")
mapfile -t masked < <(queues 255.255.255.0 "${NET_ADDRS[@]}")
W=${masked[0]}
other=()
for i in "${!NET_ADDRS[@]}"; do ((own[i] != W)) && other+=("${NET_ADDRS[i]}"); done
check "some addresses of 198.18.3.0/24 hash to the other worker on their own (${#other[@]})" test "${#other[@]}" -ge 3
before=$(status_of "worker$W.conns_created")
first=$(in_ns "$NS_C" curl -s -m 3 --interface 198.18.3.1 "http://$VIP/")
rest=$(in_ns "$NS_C" bash -c 'for a in "$@"; do curl -s -m 3 --interface "$a" "http://$0/" || echo FAIL; done' "$VIP" "${other[@]:0:5}" | sort -u | tr '\n' ' ')
check "-M /24: 5 addresses that hash elsewhere alone land on the template's server $first ($rest)" \
  expect_eq "server" "$rest" "$first "
after=$(status_of "worker$W.conns_created")
check "-M /24: worker $W (the template's) created all 6 connections" \
  expect_eq "created" "$((after - before))" 6
tpl=$(lvsadm -L -n -c | grep -c " NONE  *198.18.3.0:0 " || true)
check "-M /24: one template for the network 198.18.3.0" expect_eq "templates" "$tpl" 1

# --- wlc 1:2:3 over 600 long-lived connections: shared counts ---------------------------------
lvsadm -C
lvsadm -A -t "$VIP:80" -s wlc
lvsadm -a -t "$VIP:80" -r "$R1:80" -m -w 1
lvsadm -a -t "$VIP:80" -r "$R2:80" -m -w 2
lvsadm -a -t "$VIP:80" -r "$R3:80" -m -w 3
held=$LVS_STATE/held.out
bg_in_ns hold "$NS_C" bash -c 'exec node "$0" hold "$1" 80 600 "${@:3}" >"$2"' "$CLIENTS" "$VIP" "$held" "${ADDRS[@]}"
HOLD_PID=$LVS_LAST_PID
check "600 long-lived connections opened and answered" wait_for -t 60 grep -q "^held 600 failed 0" "$held"
active() { lvsadm -L -n -t "$VIP:80" | awk -v d="$1:80" '$1 == "->" && $2 == d {print $5}'; }
a1=$(active "$R1") a2=$(active "$R2") a3=$(active "$R3")
within() { local got=$1 want=$2; ((got * 100 >= want * 95 && got * 100 <= want * 105)); }
check "wlc 1:2:3 with 2 workers: ActiveConn $a1:$a2:$a3 within 5 % of 100:200:300" \
  bash -c "$(declare -f within); within $a1 100 && within $a2 200 && within $a3 300"
c0=$(status_of worker0.conns) c1=$(status_of worker1.conns)
check "the 600 connections are split over both workers ($c0/$c1)" test "$c0" -gt 50 -a "$c1" -gt 50
stop_pid "$HOLD_PID" 5

# --- a worker crashes: lvsd stays up, the other worker's streams go on -------------------------
lvsadm -C
lvsadm -A -t "$VIP:7" -s rr
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP:7" -r "$r:7" -m; done
lvsadm -A -t "$VIP:80" -s rr
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP:80" -r "$r:80" -m; done
mapfile -t q < <(queues 255.255.255.255 "${ADDRS[@]}")
on0=() on1=()
for i in "${!ADDRS[@]}"; do if ((q[i] == 0)); then on0+=("${ADDRS[i]}"); else on1+=("${ADDRS[i]}"); fi; done
spids=()
for a in "${on0[@]:0:3}"; do
  bg_in_ns "stream-$a" "$NS_C" bash -c 'node "$0" stream "$1" 7 "$2" 6 >"$3"' "$CLIENTS" "$VIP" "$a" "$LVS_STATE/stream-$a.out"
  spids+=("$LVS_LAST_PID")
done
bg_in_ns "stream-victim" "$NS_C" bash -c 'node "$0" stream "$1" 7 "$2" 6 >"$3"' "$CLIENTS" "$VIP" "${on1[0]}" "$LVS_STATE/victim.out"
streams_up() { (($(lvsadm -L -n -c | grep -c "ESTABLISHED .*$VIP:7 " || true) >= 4)); }
check "the 4 echo streams are ESTABLISHED" wait_for -t 5 streams_up
kill -USR2 "$LVSD_PID"
restarted() { [[ $(status_of worker1.restarts) == 1 && $(status_of worker1.running) == 1 ]]; }
check "the crashed worker is restarted (worker1.restarts 1, running)" wait_for -t 10 restarted
broken=0
for i in "${!spids[@]}"; do
  rc=0
  wait "${spids[i]}" || rc=$?
  ((rc == 0)) || broken=$((broken + 1))
done
check "lvsd stays up after the crash" lvs__alive "$LVSD_PID"
check "the other worker's 3 streams were not broken: every byte echoed in order" expect_eq "broken streams" "$broken" 0
check "the crash is logged" grep -q "packet worker exited; restarting with a fresh shard" "$LVSD_LOG"
check "the restarted worker forwards new connections of its clients" \
  wait_for -t 10 bash -c 'ip netns exec "$0" curl -s -m 2 --interface "$1" "http://$2/" | grep -q "^rs[123]$"' "$NS_C" "${on1[0]}" "$VIP"
check "both workers running again" expect_eq "running" "$(status_of worker0.running) $(status_of worker1.running)" "1 1"

# --- --workers values that are refused --------------------------------------------------------
refused_cleanly() {
  local out rc=0
  out=$(ip netns exec "$NS_D" node "$LVS_ROOT/dist/src/cli/lvsd.js" --tun lvsbad0 --socket "$LVS_STATE/bad.sock" \
    --workers "$1" 2>&1) || rc=$?
  [[ $rc == 2 && $(wc -l <<<"$out") == 1 && $out == *"--workers must be an integer from 1 to 64"* ]] &&
    ! ip -n "$NS_D" link show lvsbad0 >/dev/null 2>&1 && [[ ! -e $LVS_STATE/bad.sock ]]
}
for v in 0 abc 65; do check "lvsd --workers $v: one line, exit 2, nothing created" refused_cleanly "$v"; done

check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught exception' '$LVSD_LOG'"
((LVS_FAILS == 0))
