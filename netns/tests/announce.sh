#!/usr/bin/env bash
# Scale-out directors (docs/SCALEOUT.md): three lvsd on one LAN, each with --announce-table 100,
# sync master and backup together (authenticated), the mh scheduler and sloppy_tcp, direct
# routing. No BGP daemon: the client's route to the VIP stands in for the router's ECMP choice
# and is moved by hand. Needs root, /dev/net/tun, python3 and a build (dist/).
#
#   client c-TAG 198.18.0.2 ─┐
#   d1 d2 d3 (lvsd) .11-.13 ─┼─ br0 (sw-TAG)       VIP 198.18.100.1 via dI (the client's route)
#   r1 r2 (echo :8000) .21 .22 ─┘                   r1, r2: VIP on lo, replies straight to the client
#
# Checks: the VIP route appears in table 100 only once the director is ready (service with a
# usable real server, bulk resync finished) and goes on withdraw and with the process; sync
# both ways without echo; a connection moved to another director keeps its real server (from
# the synced entry, also after a restart with bulk resync); a connection nobody synced is picked
# up mid-stream (sloppy TCP) by mh to the same real server; bad input is refused and counted.
set -Eeuo pipefail
source "$(dirname "$0")/../lib.sh"

VIP=198.18.100.1
TABLE=100
NS_SW=sw-$LVS_TAG
NS_DS=(d1-$LVS_TAG d2-$LVS_TAG d3-$LVS_TAG)
D_IP=(198.18.0.11 198.18.0.12 198.18.0.13)
R_IP=(198.18.0.21 198.18.0.22)
NS_RS=(r1-$LVS_TAG r2-$LVS_TAG)
D_PIDS=()
KEY=$LVS_STATE/sync.key

# --- topology ----------------------------------------------------------------------------
lvs__new_ns "$NS_SW"
ip -n "$NS_SW" link add br0 type bridge forward_delay 0 stp_state 0
ip -n "$NS_SW" link set br0 up
port=0
attach() { # attach NS ADDR: eth0 of NS on br0 with ADDR/24
  port=$((port + 1))
  ip -n "$NS_SW" link add "p$port" type veth peer name eth0 netns "$1"
  ip -n "$NS_SW" link set "p$port" master br0 up
  ip -n "$1" addr add "$2/24" dev eth0
  ip -n "$1" link set eth0 up
}
lvs__new_ns "$NS_C"
attach "$NS_C" "$CIP"
for i in 0 1 2; do
  lvs__new_ns "${NS_DS[i]}"
  attach "${NS_DS[i]}" "${D_IP[i]}"
  ip netns exec "${NS_DS[i]}" sysctl -qw net.ipv4.ip_forward=1
done
for i in 0 1; do
  ns=${NS_RS[i]}
  lvs__new_ns "$ns"
  attach "$ns" "${R_IP[i]}"
  ip -n "$ns" addr add "$VIP/32" dev lo
  for k in all eth0; do
    ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$k.arp_ignore=1" "net.ipv4.conf.$k.arp_announce=2"
  done
done
ip -n "$NS_C" route add "$VIP/32" via "${D_IP[0]}"
# Forged sync messages leave the client for the group on its LAN.
ip -n "$NS_C" route add 224.0.0.0/4 dev eth0

# Echo servers: the first line names the real server, then every line comes back.
cat >"$LVS_STATE/echo.py" <<'EOF'
import socket, sys, threading
name = sys.argv[1].encode()
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 8000)); srv.listen(64)
def serve(c):
    with c:
        c.sendall(name + b"\n")
        f = c.makefile("rb")
        for line in f:
            c.sendall(line)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
for i in 0 1; do bg_in_ns "echo-r$((i + 1))" "${NS_RS[i]}" python3 "$LVS_STATE/echo.py" "r$((i + 1))"; done
for i in 0 1; do wait_listen "${NS_RS[i]}" 8000 || die "echo server r$((i + 1)) did not start"; done

# A long-lived client connection driven through a FIFO: each "ping" line sends one line and
# logs "ok N" when it comes back within 3 s, else "fail N". The first log line names the server.
cat >"$LVS_STATE/client.py" <<'EOF'
import os, socket, sys
fifo, vip = sys.argv[1], sys.argv[2]
s = socket.create_connection((vip, 8000), timeout=5)
f = s.makefile("rb")
print("server", f.readline().decode().strip(), "port", s.getsockname()[1], flush=True)
ctl = os.fdopen(os.open(fifo, os.O_RDWR), "r")
n = 0
for cmd in ctl:
    if cmd.strip() != "ping":
        break
    n += 1
    try:
        s.settimeout(3)
        s.sendall(b"ping-%d\n" % n)
        got = f.readline()
        print("ok" if got == b"ping-%d\n" % n else "fail", n, flush=True)
    except Exception as e:
        print("fail", n, type(e).__name__, flush=True)
EOF
# open_client NAME: a connection to the VIP; CPORT_NAME is its client port, SERVER_NAME its server.
open_client() {
  local name=$1
  mkfifo "$LVS_STATE/$name.in"
  bg_in_ns "$name" "$NS_C" python3 "$LVS_STATE/client.py" "$LVS_STATE/$name.in" "$VIP"
  wait_for -t 5 grep -q '^server' "$LVS_STATE/$name.log" || die "client $name: $(cat "$LVS_STATE/$name.log")"
  read -r _ srv _ cport <"$LVS_STATE/$name.log"
  printf -v "CPORT_$name" %s "$cport"
  printf -v "SERVER_$name" %s "$srv"
}
# say NAME: one line through connection NAME comes back.
say() {
  local name=$1 before
  before=$(grep -c '^ok\|^fail' "$LVS_STATE/$name.log" || true)
  echo ping >"$LVS_STATE/$name.in"
  wait_for -t 5 eval "[[ \$(grep -c '^ok\|^fail' '$LVS_STATE/$name.log') -gt $before ]]" || return 1
  [[ $(tail -n 1 "$LVS_STATE/$name.log") == ok* ]]
}
route_via() { ip -n "$NS_C" route replace "$VIP/32" via "${D_IP[$1 - 1]}"; }

# --- directors ---------------------------------------------------------------------------
printf 'scale-out-test-sync-key-0123456789\n' >"$KEY"
chmod 600 "$KEY"
cat >"$LVS_STATE/rules" <<EOF
-A -t $VIP:8000 -s mh
-a -t $VIP:8000 -r ${R_IP[0]}:8000 -g -w 1
-a -t $VIP:8000 -r ${R_IP[1]}:8000 -g -w 1
EOF
use_director() {
  NS_D=${NS_DS[$1 - 1]}
  LVSD_SOCK=$LVS_STATE/lvsd$1.sock
  LVSD_LOG=$LVS_STATE/lvsd$1-${2:-0}.log
  LVSD_PID=${D_PIDS[$1 - 1]:-}
}
# start_director I [RUN]: lvsd with the rules and --announce-table, then sync master and backup.
start_director() {
  start_lvsd_only "$@" || return 1
  start_sync
}
start_lvsd_only() {
  use_director "$1" "${2:-0}"
  start_lvsd --announce-table "$TABLE" --config "$LVS_STATE/rules" --sysctl sloppy_tcp=1 || return 1
  D_PIDS[$1 - 1]=$LVSD_PID
}
start_sync() {
  lvsadm --start-daemon master --mcast-interface eth0 --syncid 9 --sync-key "$KEY"
  lvsadm --start-daemon backup --mcast-interface eth0 --syncid 9 --sync-key "$KEY"
}
kill_director() {
  kill -KILL "${D_PIDS[$1 - 1]}"
  wait "${D_PIDS[$1 - 1]}" 2>/dev/null || true
  D_PIDS[$1 - 1]=
}
announced() { ip -n "${NS_DS[$1 - 1]}" route show table "$TABLE" proto 248 2>/dev/null | grep -q "^$VIP dev lvs0"; }
not_announced() { ! announced "$1"; }
counter() { # counter I NAME: a counter of director I (lvsadm --status)
  use_director "$1"
  lvsadm --status | awk -v n="$2" '$1 == n { print $NF; found = 1 } END { if (!found) print 0 }'
}
has_conn() { # has_conn I CPORT: director I has an ESTABLISHED entry of the client port
  use_director "$1"
  lvsadm -L -n -c | awk -v c="$CIP:$2" '$4 == c && $3 == "ESTABLISHED" { f = 1 } END { exit !f }'
}
conn_rs() { # conn_rs I CPORT: the real server of director I's entry for the client port
  use_director "$1"
  lvsadm -L -n -c | awk -v c="$CIP:$2" '$4 == c { split($6, a, ":"); print a[1]; exit }'
}
log_order() { # log_order FILE FIRST THEN: FIRST's line comes before THEN's
  local a b
  a=$(grep -n -m1 "$2" "$1" | cut -d: -f1)
  b=$(grep -n -m1 "$3" "$1" | cut -d: -f1)
  [[ -n $a && -n $b && $a -lt $b ]]
}

# --- bad --announce-table values: one line, nothing created -------------------------------
refused() { # refused RC MESSAGE ARGS...
  local rc_want=$1 want=$2 out rc=0
  shift 2
  out=$(ip netns exec "${NS_DS[0]}" node "$LVS_ROOT/dist/src/cli/lvsd.js" --tun lvsbad0 --socket "$LVS_STATE/bad.sock" "$@" 2>&1) || rc=$?
  [[ $rc == "$rc_want" && $(wc -l <<<"$out") == 1 && $out == *"$want"* ]] && ! ip -n "${NS_DS[0]}" link show lvsbad0 >/dev/null 2>&1
}
for t in 0 253 254 255; do
  check "--announce-table $t (a reserved table) is refused with one line, before anything changes" \
    refused 2 "--announce-table $t: the" --announce-table "$t"
done
ip -n "${NS_DS[0]}" route add 198.18.7.0/24 dev eth0 proto static table 101
check "--announce-table 101 holding another program's route is refused with one line, before anything changes" \
  refused 1 "--announce-table 101: the table is in use by another program" --announce-table 101
ip -n "${NS_DS[0]}" route flush table 101

# --- 1. the first director: announces after its resync found no peer ---------------------
start_director 1 || die "lvsd d1 did not start"
check "d1: nothing announced right after start (resync still waiting for peers)" not_announced 1
check "d1: the VIP is announced in table $TABLE once the resync timed out (no peer)" wait_for -t 8 announced 1
check "d1: its log says the resync ended before the VIP was announced" \
  log_order "$LVS_STATE/lvsd1-0.log" '"msg":"bulk resync finished"' '"msg":"VIP announced"'
check "d1: the resync found no peer" grep -q '"reason":"no peer answered"' "$LVS_STATE/lvsd1-0.log"
check "d1: lvsadm --status: one VIP announced, synced" \
  eval '[[ $(counter 1 announce_vips) == 1 && $(counter 1 announce_synced) == 1 ]]'

open_client A
check "connection A through d1 works (server $SERVER_A)" say A

# --- 2. d2 and d3 join: bulk resync from a peer, then announce ----------------------------
start_director 2 || die "lvsd d2 did not start"
start_director 3 || die "lvsd d3 did not start"
check "d2: announced after its resync" wait_for -t 8 announced 2
check "d3: announced after its resync" wait_for -t 8 announced 3
for i in 2 3; do
  check "d$i: the resync was a complete dump from a peer, before the announcement" \
    log_order "$LVS_STATE/lvsd$i-0.log" '"reason":"complete"' '"msg":"VIP announced"'
  check "d$i: connection A came with the dump" has_conn "$i" "$CPORT_A"
done

# --- BGP: the configurations of docs/SCALEOUT.md, BIRD 2 on d1 and FRR on d2 --------------
# The client namespace plays the router (a BIRD that only learns; its kernel routes stay as the
# test sets them). The directors' configurations are the documented ones, addresses adapted.
doc_block() { # doc_block FIRST_LINE: the indented block of docs/SCALEOUT.md starting there, unindented
  awk -v start="    $1" '
    !on && index($0, start) == 1 { on = 1 }
    on { if ($0 != "" && substr($0, 1, 4) != "    ") exit; print substr($0, 5) }
  ' "$LVS_ROOT/docs/SCALEOUT.md"
}
# FRR drops to its own user: it must reach its directory.
chmod 711 "$LVS_STATE"
mkdir -m 0777 "$LVS_STATE/bgp"
doc_block '# /etc/bird/bird.conf' | sed -E 's/198\.18\.0\.1\b/198.18.0.2/g' >"$LVS_STATE/bgp/d1-bird.conf"
doc_block '! /etc/frr/frr.conf' | sed -E 's/198\.18\.0\.11\b/198.18.0.12/g; s/198\.18\.0\.1\b/198.18.0.2/g' \
  >"$LVS_STATE/bgp/d2-frr.conf"
[[ -s $LVS_STATE/bgp/d1-bird.conf && -s $LVS_STATE/bgp/d2-frr.conf ]] || die "configurations not found in docs/SCALEOUT.md"
chmod 644 "$LVS_STATE"/bgp/*.conf
cat >"$LVS_STATE/bgp/router.conf" <<EOF
router id $CIP;
protocol device {}
# The router's BFD is lenient (detection after 5 × 300 ms): a loaded test machine must not
# flap the sessions. The directors' side is the documented 100 ms.
protocol bfd { interface "eth0" { min rx interval 300 ms; min tx interval 300 ms; multiplier 5; }; }
# The router connects early and retries often: the test does not wait for the directors' timers.
template bgp dir { local $CIP as 65000; bfd on; start delay time 1; connect retry time 1; ipv4 { import all; export none; }; }
protocol bgp d1 from dir { neighbor ${D_IP[0]} as 65001; }
protocol bgp d2 from dir { neighbor ${D_IP[1]} as 65001; }
EOF
bg_in_ns bird-router "$NS_C" bird -f -c "$LVS_STATE/bgp/router.conf" -s "$LVS_STATE/bgp/router.ctl"
bg_in_ns bird-d1 "${NS_DS[0]}" bird -f -c "$LVS_STATE/bgp/d1-bird.conf" -s "$LVS_STATE/bgp/d1.ctl"
for d in zebra bfdd bgpd; do
  bg_in_ns "frr-$d" "${NS_DS[1]}" "/usr/lib/frr/$d" -u frr -g frr -f "$LVS_STATE/bgp/d2-frr.conf" \
    -i "$LVS_STATE/bgp/$d.pid" --vty_socket "$LVS_STATE/bgp" -z "$LVS_STATE/bgp/zserv.api" -A 127.0.0.1
  if [[ $d == zebra ]]; then wait_for -t 5 test -S "$LVS_STATE/bgp/zserv.api" || die "zebra: $(tail -n 3 "$LVS_STATE/frr-zebra.log")"; fi
done
router_has() { # router_has PEER: the router learnt the VIP from session PEER (d1: BIRD, d2: FRR)
  in_ns "$NS_C" birdc -s "$LVS_STATE/bgp/router.ctl" show route protocol "$1" 2>/dev/null | grep -q "^$VIP/32"
}
# router_lacks PEER: the session to PEER is up and the VIP is not among its routes (a withdrawal,
# not a session that went down).
router_lacks() {
  in_ns "$NS_C" birdc -s "$LVS_STATE/bgp/router.ctl" show protocols "$1" 2>/dev/null | grep -q Established &&
    ! router_has "$1"
}
check "BGP: the router learns the VIP from d1's BIRD (documented configuration)" wait_for -t 20 router_has d1
check "BGP: the router learns the VIP from d2's FRR (documented configuration)" wait_for -t 20 router_has d2

# --- 3. sync both ways, no echo -------------------------------------------------------------
route_via 2
check "connection A moved to d2 (an ECMP change) goes on from d2's synced entry" say A
check "d2 forwards A to the server d1 chose" expect_eq "real server" "$(conn_rs 2 "$CPORT_A")" "$(conn_rs 1 "$CPORT_A")"
open_client B
check "connection B, opened through d2, works" say B
check "d1 learns B from d2 (sync both ways)" wait_for -t 5 has_conn 1 "$CPORT_B"
check "d3 learns B from d2" wait_for -t 5 has_conn 3 "$CPORT_B"
route_via 1
check "A back through d1" say A
sleep 1
check "d3 handled no packet and sent no entry (learnt entries are not echoed)" \
  expect_eq "d3 sync_sent" "$(counter 3 sync_sent)" 0
check "d1 applied what d2 sent, d2 what d1 sent" \
  eval '[[ $(counter 1 sync_applied) -gt 0 && $(counter 2 sync_applied) -gt 0 ]]'
for i in 1 2 3; do
  check "d$i: no echo refused (nobody sent a director its own entries)" expect_eq "sync_echo" "$(counter "$i" sync_echo)" 0
done

# --- 4. a director dies, another takes the flow; the dead one restarts and resyncs ---------
route_via 3
check "connection B through d3 (moved)" say B
kill_director 3
check "SIGKILL of d3: its route went with its TUN device" not_announced 3
route_via 2
check "d3 dead: connection B continues through d2" say B
start_lvsd_only 3 1 || die "lvsd d3 did not restart"
check "restarted d3, no sync daemon yet: nothing announced (not synced)" not_announced 3
start_sync
check "restarted d3: announced after a complete resync" wait_for -t 8 announced 3
check "restarted d3: the resync was complete, and preceded the announcement" \
  log_order "$LVS_STATE/lvsd3-1.log" '"reason":"complete"' '"msg":"VIP announced"'
check "restarted d3 has connection A again" has_conn 3 "$CPORT_A"
check "restarted d3 has connection B again" has_conn 3 "$CPORT_B"
route_via 3
check "connection A through the restarted d3" say A
check "connection B through the restarted d3" say B

# --- 5. nobody synced it: sloppy TCP and mh pick the same server ---------------------------
route_via 1
use_director 1
lvsadm --stop-daemon master
open_client C
check "connection C through d1 (d1's sync sender stopped)" say C
sleep 1
nobody_knows() { ! has_conn 2 "$1" && ! has_conn 3 "$1"; }
check "no other director knows C" nobody_knows "$CPORT_C"
route_via 2
check "C moved to d2: picked up mid-stream (sloppy TCP), mh chose the same server" say C
check "d2's entry for C has d1's server" expect_eq "real server" "$(conn_rs 2 "$CPORT_C")" "$(conn_rs 1 "$CPORT_C")"
use_director 1
lvsadm --start-daemon master --mcast-interface eth0 --syncid 9 --sync-key "$KEY"

# --- 6. withdraw: no usable real server, then no service ----------------------------------
use_director 2
for r in "${R_IP[@]}"; do lvsadm -e -t "$VIP:8000" -r "$r:8000" -g -w 0; done
check "d2: every real server at weight 0: the VIP is withdrawn" wait_for -t 2 not_announced 2
bgp_state() { in_ns "$NS_C" birdc -s "$LVS_STATE/bgp/router.ctl" show protocols >&2; in_ns "$NS_C" birdc -s "$LVS_STATE/bgp/router.ctl" show route >&2; }
check "BGP: FRR withdrew d2's route at the router" wait_for -t 10 router_lacks d2 || { bgp_state; false; }
check "d1 keeps announcing" announced 1
check "d3 keeps announcing" announced 3
for r in "${R_IP[@]}"; do lvsadm -e -t "$VIP:8000" -r "$r:8000" -g -w 1; done
check "d2: weights back: announced again" wait_for -t 2 announced 2
check "BGP: and the router has d2's route again" wait_for -t 15 router_has d2
lvsadm -D -t "$VIP:8000"
check "d2: service deleted: withdrawn" wait_for -t 2 not_announced 2

# --- 7. bad sync input: dropped and counted; a request flood starts one dump per director ---
cat >"$LVS_STATE/forge.py" <<'EOF'
import hashlib, hmac, os, socket, struct, sys, time
key = open(sys.argv[1], "rb").read().rstrip(b"\n")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
dst = ("224.0.0.81", 8848)
entry = struct.pack("!BBHIHHHHIIIII", 0, 6, 36, 0, 1, 40000, 80, 8000, 0, 900,
                    0xc6120002, 0xc6126401, 0xc6120015)
def mesg(syncid=9, version=1, size=None, body=entry, n=1):
    size = 8 + len(body) if size is None else size
    return struct.pack("!BBHBBH", 0, syncid, size, n, version, 0) + body
def seal(m):
    t = struct.pack("!4sIII", b"LVS1", 1, 1, int(time.time()))
    b = m + t
    return b + hmac.new(key, b, hashlib.sha256).digest()[:16]
s.sendto(seal(mesg(syncid=8)), dst)            # wrong syncid
s.sendto(seal(mesg(version=2)), dst)           # wrong version
s.sendto(mesg(size=400), dst)                  # size beyond the datagram
s.sendto(mesg(), dst)                          # no MAC
s.sendto(mesg() + b"LVS1" + bytes(28), dst)    # wrong MAC
for i in range(200):                           # a flood of valid, authenticated resync requests
    r = struct.pack("!BBH4sII", 0xfe, 9, 0, b"LVSR", i + 1, int(time.time()))
    s.sendto(r + hmac.new(key, r, hashlib.sha256).digest()[:16], dst)
    time.sleep(0.001)
EOF
declare -A before
for i in 1 2 3; do
  for k in sync_syncid sync_version sync_size sync_auth sync_resyncRequests sync_resyncDumps sync_resyncRefused; do
    before[$i.$k]=$(counter "$i" "$k")
  done
done
in_ns "$NS_C" python3 "$LVS_STATE/forge.py" "$KEY"
grew() { [[ $(counter "$1" "$2") -ge $((${before[$1.$2]} + $3)) ]]; }
for i in 1 2 3; do
  check "d$i: forged messages counted (wrong syncid, version, size, MAC)" wait_for -t 5 eval \
    "grew $i sync_syncid 1 && grew $i sync_version 1 && grew $i sync_size 1 && grew $i sync_auth 2"
  check "d$i: 200 resync requests: at most one dump, the rest refused" wait_for -t 5 eval \
    "grew $i sync_resyncRequests 200 && grew $i sync_resyncRefused 199 && [[ \$(counter $i sync_resyncDumps) -le $((${before[$i.sync_resyncDumps]} + 1)) ]]"
done
route_via 1
check "connection A still works through d1" say A
for i in 1 2 3; do check "d$i is still running" lvs__alive "${D_PIDS[i - 1]}"; done

# --- 8. the process dies: its route goes with the TUN device -------------------------------
kill_director 1
check "SIGKILL of d1: its route vanished" not_announced 1
check "BGP: d1's BIRD withdrew the VIP at the router" wait_for -t 10 router_lacks d1
use_director 3
stop_lvsd
D_PIDS[2]=
check "SIGTERM of d3: its route is gone" not_announced 3
check "SIGTERM of d3: it withdrew the VIP itself before exiting" grep -q '"msg":"VIP withdrawn"' "$LVS_STATE/lvsd3-1.log"

((LVS_FAILS == 0)) || exit 1
