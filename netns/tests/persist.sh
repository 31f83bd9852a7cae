#!/usr/bin/env bash
# End-to-end tests of persistence (-p, -M), its listings (-L -c, --persistent-conn) and the
# statistics listings (--stats, --rate, --thresholds) with true counts after a known
# workload, through the real lvsd. Needs root, /dev/net/tun and a build (dist/).
#
#   client c-TAG (198.18.0.2 .. .9, 198.18.1.2, 198.18.2.2) ── director ── r1, r2, r3
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

topo_nat 3
run_http_servers
start_lvsd || die "lvsd did not start"
R1=$(rip 1) R2=$(rip 2) R3=$(rip 3)

# More client addresses: 198.18.0.3-9 in the client's /24, and one in each of two more /24s
# (the director routes those back through the client link).
for h in 3 4 5 6 7 8 9; do in_ns "$NS_C" ip addr add "198.18.0.$h/24" dev eth0; done
for n in 1 2; do
  in_ns "$NS_C" ip addr add "198.18.$n.2/32" dev eth0
  in_ns "$NS_D" ip route add "198.18.$n.0/24" via "$CIP"
done

# answers FROM N URL: N requests from client address FROM, one connection each; the answers
# (rsI or FAIL) counted as "rs1=A rs2=B rs3=C fail=F".
answers() {
  in_ns "$NS_C" bash -c 'for ((i = 0; i < $1; i++)); do curl -s -m 3 --interface "$0" "$2" || echo FAIL; done' "$1" "$2" "$3" |
    awk '{c[$1]++} END {printf "rs1=%d rs2=%d rs3=%d fail=%d\n", c["rs1"], c["rs2"], c["rs3"], c["FAIL"]}'
}

# one_server COUNTS N: all N answers came from a single real server.
one_server() { grep -qE "^(rs1=$2 rs2=0 rs3=0|rs1=0 rs2=$2 rs3=0|rs1=0 rs2=0 rs3=$2) fail=0$" <<<"$1"; }

# server_of COUNTS: the rsI that answered.
server_of() { awk '{for (i = 1; i <= 3; i++) { split($i, kv, "="); if (kv[2] > 0) print kv[1] }}' <<<"$1"; }

# --- affinity of one client -------------------------------------------------------------
lvsadm -A -t "$VIP:80" -s rr -p 300
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP:80" -r "$r:80" -m; done
got=$(answers "$CIP" 50 "http://$VIP/")
check "-p: 50 connections from one client all land on one real server ($got)" one_server "$got" 50
first=$(server_of "$got")
got2=$(answers 198.18.1.2 10 "http://$VIP/")
got3=$(answers 198.18.2.2 10 "http://$VIP/")
check "-p: clients elsewhere get their own servers: spread over the others ($got2; $got3)" \
  bash -c '[[ $0 != "$1" && $0 != "$2" && $1 != "$2" ]]' "$first" "$(server_of "$got2")" "$(server_of "$got3")"

conns=$(lvsadm -L -n -c)
tpl_line=$(grep -E "^TCP [0-9]{2}:[0-9]{2}  NONE        $CIP:0 +$VIP:80 +198\.19\.0\.1[123]:80$" <<<"$conns" || true)
check "-L -c shows the template: client port 0, state NONE ($tpl_line)" test -n "$tpl_line"
check "-L -c shows exactly 3 templates" expect_eq "templates" "$(grep -c ' NONE ' <<<"$conns")" 3

# --- true counts in the listings ----------------------------------------------------------
rs_ip() { echo "198.19.0.1${1#rs}"; }
F=$(rs_ip "$first")
stats=$(lvsadm -L -n --stats -t "$VIP:80")
check "--stats: the service counts exactly 70 connections" \
  expect_eq "service conns" "$(awk -v s="$VIP:80" '$1 == "TCP" && $2 == s {print $3}' <<<"$stats")" 70
check "--stats: the affinity server counts exactly 50" \
  expect_eq "dest conns" "$(awk -v d="$F:80" '$1 == "->" && $2 == d {print $3}' <<<"$stats")" 50
inpkts=$(awk -v d="$F:80" '$1 == "->" && $2 == d {print $4}' <<<"$stats")
outpkts=$(awk -v d="$F:80" '$1 == "->" && $2 == d {print $5}' <<<"$stats")
# An HTTP/1.1 exchange over a fresh connection is at least SYN, ACK, request, FIN, last ACK
# from the client and SYN-ACK, response, FIN from the server.
check "--stats: packets of 50 exchanges: in $inpkts ≥ 250, out $outpkts ≥ 150" \
  test "$inpkts" -ge 250 -a "$outpkts" -ge 150
pc=$(lvsadm -L -n --persistent-conn -t "$VIP:80")
check "--persistent-conn title" grep -qxF "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn " <<<"$pc"
check "--persistent-conn: PersistConn 1 and InActConn 50 on the affinity server" \
  grep -qxF "  -> $(printf '%-28s' "$F:80") 1         1           0          50        " <<<"$pc"
lvsadm -e -t "$VIP:80" -r "$F:80" -m -x 100 -y 50
th=$(lvsadm -L -n --thresholds -t "$VIP:80")
check "--thresholds shows -x 100 -y 50 and the counts" \
  grep -qxF "  -> $(printf '%-28s' "$F:80") 100        50         0          50        " <<<"$th"
rate_up() {
  lvsadm -L -n --rate -t "$VIP:80" | awk -v s="$VIP:80" '$1 == "TCP" && $2 == s && $4 > 0 { ok = 1 } END { exit !ok }'
}
# keep traffic flowing while the 2 s estimator runs
answers "$CIP" 20 "http://$VIP/" >/dev/null
check "--rate: InPPS becomes non-zero within two estimator periods" wait_for -t 6 rate_up

# --- -M 255.255.255.0: a /24 shares one server -------------------------------------------
lvsadm -A -t "$VIP:8080" -s rr -p 300 -M 255.255.255.0
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP:8080" -r "$r:8080" -m; done
all=""
for h in 2 3 4 5 6 7 8 9; do all+=$(in_ns "$NS_C" bash -c 'for i in 1 2 3 4 5 6; do curl -s -m 3 --interface "$0" "$1" || echo FAIL; done' "198.18.0.$h" "http://$VIP:8080/")$'\n'; done
m24=$(grep -v '^$' <<<"$all" | sort | uniq -c | awk '{printf "%s=%d ", $2, $1}')
check "-M /24: 48 connections from 8 addresses of one /24 land on one server ($m24)" \
  bash -c '[[ $0 =~ ^rs[123]=48\ $ ]]' "$m24"
m24tpl=$(lvsadm -L -n -c | grep -cE " NONE +198\.18\.0\.0:0 +$VIP:8080 " || true)
check "-M /24: one template, keyed by the masked address 198.18.0.0" expect_eq "templates" "$m24tpl" 1
o1=$(answers 198.18.1.2 5 "http://$VIP:8080/")
check "-M /24: another /24 is scheduled on its own ($o1)" one_server "$o1" 5

# --- a port-0 (all ports) persistent service: every port of the VIP shares one template ---
VIP0=198.18.100.2
lvsadm -A -t "$VIP0:0" -s rr -p 60
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP0:0" -r "$r:0" -m; done
p80=$(answers 198.18.2.2 3 "http://$VIP0:80/")
p8080=$(answers 198.18.2.2 3 "http://$VIP0:8080/")
check "port 0: ports 80 and 8080 of the VIP reach one server ($p80; $p8080)" \
  bash -c '[[ $0 == "$1" ]] && [[ $0 =~ =3\  ]] && [[ $0 == *fail=0 ]]' "$p80" "$p8080"
check "port 0: one template with virtual port 0" \
  expect_eq "templates" "$(lvsadm -L -n -c | grep -cE " NONE +198\.18\.2\.2:0 +$VIP0:0 ")" 1

# --- the template expires after its timeout, then scheduling starts afresh ----------------
# Connections closed with RST go to CLOSE (10 s), so the template's controlled connections
# are gone soon; the template (-p 3) follows within one timeout.
lvsadm -A -t "$VIP:81" -s rr -p 3
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP:81" -r "$r:80" -m; done
rst_get() { # rst_get N: N HTTP requests to VIP:81 closed with RST; prints the answers
  in_ns "$NS_C" python3 - "$VIP" "$1" <<'PY'
import socket, struct, sys
vip, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    s = socket.create_connection((vip, 81), timeout=3)
    s.sendall(b"GET / HTTP/1.1\r\nHost: v\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith((b"rs1", b"rs2", b"rs3")):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    print(data.decode(errors="replace").split("\r\n")[-1].strip())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
PY
}
e1=$(rst_get 5 | sort | uniq -c | awk '{printf "%s=%d ", $2, $1}')
check "-p 3: five connections on one server ($e1)" bash -c '[[ $0 =~ ^rs[123]=5\ $ ]]' "$e1"
tpl81() { lvsadm -L -n -c | grep -cE " NONE +$CIP:0 +$VIP:81 " || true; }
check "-p 3: the template is there while its connections live" test "$(tpl81)" = 1
no_tpl() { [[ $(tpl81) == 0 ]]; }
t0=$SECONDS
check "-p 3: the template expires once its connections are gone (CLOSE 10 s + ≤ 3 s)" wait_for -t 25 no_tpl
log "template gone after $((SECONDS - t0)) s"
e2=$(rst_get 1)
check "-p 3: after expiry the next connection is scheduled afresh: rr moves on (${e1%%=*} -> $e2)" \
  test "${e1%%=*}" != "$e2"

check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVSD_LOG'"
((LVS_FAILS == 0))
