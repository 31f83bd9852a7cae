#!/usr/bin/env bash
# End-to-end tests of LVS-NAT through the real lvsd on a namespace topology, with real
# clients (curl, socat) and real servers (nginx, socat). Needs root, /dev/net/tun and a
# build (dist/). Prints PASS/FAIL lines; exits non-zero on the first failure.
#
#   client c-TAG ── director d-TAG (lvsd, TUN lvs0) ── br0 ── r1-TAG, r2-TAG, r3-TAG
#   198.18.0.2      198.18.0.1 | 198.19.0.1                   198.19.0.11 .12 .13
#   VIP 198.18.100.1 (routed to the director by the client's default route)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

topo_nat 3
run_http_servers
start_lvsd || die "lvsd did not start"

R1=$(rip 1) R2=$(rip 2) R3=$(rip 3)
NS_R1=${NS_RS[0]}

# --- the kernel IPVS selftest's NAT check (tools/testing/selftests/netfilter/ipvs.sh) -----
lvsadm -A -t "$VIP:8000" -s rr
lvsadm -a -t "$VIP:8000" -r "$R1:8000" -m
check "selftest: 32 random bytes through NAT arrive intact (cmp)" \
  data_check "$NS_C" "$VIP" 8000 "$NS_R1"

# --- balancing ------------------------------------------------------------------------
lvsadm -A -t "$VIP:80" -s rr
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP:80" -r "$r:80" -m -w 1; done

check "curl through the VIP reaches all three real servers" \
  expect_eq "first three answers" "$(curl_n 3 "http://$VIP/" | sort | tr '\n' ' ')" "rs1 rs2 rs3 "

check "rr: 300 new connections give exactly 100/100/100" \
  expect_eq "rr counts" "$(counts 300 "http://$VIP/")" "rs1=100 rs2=100 rs3=100 fail=0"

lvsadm -E -t "$VIP:80" -s wrr
lvsadm -e -t "$VIP:80" -r "$R1:80" -m -w 3
lvsadm -e -t "$VIP:80" -r "$R2:80" -m -w 2
lvsadm -e -t "$VIP:80" -r "$R3:80" -m -w 1
check "wrr 3:2:1: 300 new connections give 150/100/50" \
  expect_eq "wrr counts" "$(counts 300 "http://$VIP/")" "rs1=150 rs2=100 rs3=50 fail=0"

# status_counter NAME: a counter of `lvsadm --status`.
status_counter() { lvsadm --status | awk -v n="$1" '$1 == n { print $2; exit }'; }
direct=$(status_counter tx_direct) viatun=$(status_counter tx_packets)
check "--xmit packet (default): NAT packets left through AF_PACKET ($direct), not the TUN ($viatun)" \
  test "$direct" -gt 1000 -a "$viatun" -lt $((direct / 10))

# hold_conns N PORT: N idle TCP connections from the client to VIP:PORT, held 60 s.
hold_conns() {
  local i
  for ((i = 0; i < $1; i++)); do
    bg_in_ns "hold-$2-$i" "$NS_C" socat -u EXEC:"sleep 60" "TCP:$VIP:$2"
  done
}

# active_of SERVICE RIP:PORT: ActiveConn of one real server in `lvsadm -L -n`.
active_of() {
  lvsadm -L -n | awk -v s="$1" -v d="$2" '
    $1 == "TCP" || $1 == "UDP" { cur = $2 }
    $1 == "->" && cur == s && $2 == d { print $5; exit }'
}

# active_is SERVICE RIP:PORT N: ActiveConn equals N.
active_is() { [[ $(active_of "$1" "$2") == "$3" ]]; }

for sched in lc wlc; do
  port=$([[ $sched == lc ]] && echo 90 || echo 91)
  lvsadm -A -t "$VIP:$port" -s "$sched"
  lvsadm -a -t "$VIP:$port" -r "$R1:80" -m -w 1
  lvsadm -a -t "$VIP:$port" -r "$R2:80" -m -w 0
  lvsadm -a -t "$VIP:$port" -r "$R3:80" -m -w 0
  hold_conns 3 "$port"
  check "$sched: three long-lived connections are ESTABLISHED on rs1" \
    wait_for -t 5 active_is "$VIP:$port" "$R1:80" 3
  lvsadm -e -t "$VIP:$port" -r "$R2:80" -m -w 1
  lvsadm -e -t "$VIP:$port" -r "$R3:80" -m -w 1
  got=$(counts 20 "http://$VIP:$port/")
  check "$sched: new connections avoid the loaded server ($got)" \
    expect_eq "$sched counts" "$(sed 's/ rs2=[0-9]* rs3=[0-9]*//' <<<"$got")" "rs1=0 fail=0"
done

# --- weight 0 keeps an open connection, new ones go elsewhere ---------------------------
lvsadm -A -t "$VIP:92" -s rr
lvsadm -a -t "$VIP:92" -r "$R1:80" -m
lvsadm -a -t "$VIP:92" -r "$R2:80" -m
quiesce_test() {
  # One keep-alive connection: a request, weight 0 for its server, a second request on the
  # same connection. Prints the two answers.
  in_ns "$NS_C" bash -c '
    exec 3<>"/dev/tcp/$0/92"
    req() { printf "GET / HTTP/1.1\r\nHost: vip\r\n\r\n" >&3; local l body=""
      while IFS= read -r -t 3 l <&3; do l=${l%$'"'"'\r'"'"'}; [[ -z $l ]] && break; done
      IFS= read -r -t 3 body <&3; echo "$body"; }
    first=$(req)
    ip netns exec "$1" node "$2" --socket "$3" -e -t "$0:92" -r "$4:80" -m -w 0
    second=$(req)
    echo "$first $second"' "$VIP" "$NS_D" "$LVS_ROOT/dist/src/cli/lvsadm.js" "$LVSD_SOCK" "$R1"
}
got=$(quiesce_test)
check "weight 0: the open connection keeps working on rs1 ($got)" expect_eq "answers" "$got" "rs1 rs1"
check "weight 0: new connections go to the other server" \
  expect_eq "counts" "$(counts 10 "http://$VIP:92/")" "rs1=0 rs2=10 rs3=0 fail=0"

# --- port mapping and no server --------------------------------------------------------
lvsadm -A -t "$VIP:81" -s rr
lvsadm -a -t "$VIP:81" -r "$R3:8080" -m
check "port mapping: VIP:81 -> rs3:8080" expect_eq "answer" "$(curl_n 1 "http://$VIP:81/")" "rs3"

lvsadm -A -t "$VIP:82" -s wlc
refused() {
  local t0 rc=0 out
  t0=$(date +%s%N)
  out=$(in_ns "$NS_C" timeout 5 socat -u /dev/null "TCP:$VIP:82" 2>&1) || rc=$?
  local ms=$((($(date +%s%N) - t0) / 1000000))
  log "no server: socat exit $rc after ${ms} ms: $out"
  [[ $rc -ne 0 && $out == *"Connection refused"* && $ms -lt 2000 ]]
}
check "a service without servers answers ICMP port unreachable: connect refused fast" refused

# --- UDP ---------------------------------------------------------------------------------
bg_in_ns udp-rs2 "${NS_RS[1]}" socat UDP-RECVFROM:5353,fork SYSTEM:"echo udp-rs2"
lvsadm -A -u "$VIP:53" -s rr
lvsadm -a -u "$VIP:53" -r "$R2:5353" -m
udp_ask() { in_ns "$NS_C" bash -c "echo q | timeout 3 socat -T2 - UDP:$VIP:53"; }
udp_ok() { [[ $(udp_ask) == udp-rs2 ]]; }
check "UDP through NAT with port mapping" wait_for -t 5 udp_ok

# --- listings with real counters and states ------------------------------------------
lvsadm -A -t "$VIP:83" -s rr
lvsadm -a -t "$VIP:83" -r "$R1:80" -m
curl_n 10 "http://$VIP:83/" >/dev/null
stats_line=$(lvsadm -L -n --stats | grep "^TCP  $VIP:83 ")
check "--stats counts exactly 10 connections ($stats_line)" \
  expect_eq "conns" "$(awk '{print $3}' <<<"$stats_line")" 10
inpkts=$(awk '{print $4}' <<<"$stats_line") outpkts=$(awk '{print $5}' <<<"$stats_line")
check "--stats packet counters are plausible for 10 HTTP exchanges (in $inpkts, out $outpkts)" \
  test "$inpkts" -ge 50 -a "$outpkts" -ge 40
check "--stats line layout matches ipvsadm's %-33s%9u..." \
  grep -qE "^TCP  $VIP:83 {1,}[0-9]{1,9} {1,}[0-9]+ {1,}[0-9]+ {1,}[0-9]+ {1,}[0-9]+$" <<<"$stats_line"

bg_in_ns sess "$NS_C" socat -u EXEC:"sleep 3" "TCP:$VIP:83"
sess_state() {
  lvsadm -L -n -c | awk -v v="$VIP:83" '$5 == v && $3 == "ESTABLISHED" { n++ } END { print n + 0 }'
}
sess_open() { [[ $(sess_state) == 1 ]]; }
check "-L -c shows the open session ESTABLISHED" wait_for -t 5 sess_open
check "ActiveConn is 1 while the session is open" test "$(active_of "$VIP:83" "$R1:80")" = 1
closed_state() {
  lvsadm -L -n -c | awk -v v="$VIP:83" '$5 == v && $3 != "ESTABLISHED" && $3 != "TIME_WAIT" { n++ } END { exit n > 0 }' &&
    [[ $(active_of "$VIP:83" "$R1:80") == 0 ]]
}
check "after the session closes: no ESTABLISHED entry left, every entry in TIME_WAIT, ActiveConn 0" \
  wait_for -t 10 closed_state
lvsadm -L -n -c | grep -E "^pro|$VIP:83 " | head -3

# -L -n title lines and a Masq line, byte for byte
listing=$(lvsadm -L -n)
check "-L -n header lines" expect_eq "header" "$(head -3 <<<"$listing")" \
  "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
check "-L -n destination line layout (%-28s %-7s %-6d %-10u %-10u)" \
  grep -qxF "  -> $R3:8080             Masq    1      0          1         " <<<"$listing"

# --- save and restore on a fresh daemon ------------------------------------------------
saved=$LVS_STATE/rules.save
lvsadm -S -n >"$saved"
stop_lvsd
start_lvsd --xmit tun || die "lvsd did not restart"
lvsadm -R <"$saved"
check "-S output fed to -R on a fresh daemon restores the same table" \
  expect_eq "rules" "$(lvsadm -S -n)" "$(cat "$saved")"
check "traffic flows after the restore" expect_eq "answer" "$(curl_n 1 "http://$VIP:81/")" "rs3"
check "--xmit tun: the 32-byte data check passes with every NAT packet through the TUN" \
  data_check "$NS_C" "$VIP" 8000 "$NS_R1"
check "--xmit tun: nothing left through AF_PACKET" test "$(status_counter tx_direct)" -eq 0 -a "$(status_counter tx_packets)" -gt 0

# --- a VIP that is local on the director ----------------------------------------------
in_ns "$NS_D" ip addr add "$VIP/32" dev lo
bg_in_ns local22 "$NS_D" socat "TCP-LISTEN:22,bind=$VIP,reuseaddr,fork" SYSTEM:"echo director-local"
wait_listen "$NS_D" 22
local22() { in_ns "$NS_C" timeout 3 socat -u "TCP:$VIP:22" - ; }
check "local VIP: a local server on VIP:22 is still reachable" expect_eq "answer" "$(local22)" "director-local"
check "local VIP: VIP:81 is still balanced" expect_eq "answer" "$(curl_n 1 "http://$VIP:81/")" "rs3"
in_ns "$NS_D" ip addr del "$VIP/32" dev lo

# --- clean exit, crash and restart ----------------------------------------------------
plumbing_gone() {
  ! in_ns "$NS_D" nft list table ip lvsd_4040 >/dev/null 2>&1 &&
    ! in_ns "$NS_D" ip link show lvs0 >/dev/null 2>&1 &&
    ! grep -q "lookup 4040" <<<"$(in_ns "$NS_D" ip rule show)" &&
    [[ -z $(in_ns "$NS_D" ip route show table 4040 2>/dev/null) ]] &&
    grep -q "^0:.*lookup local" <<<"$(in_ns "$NS_D" ip rule show)"
}
stop_lvsd
check "after SIGTERM no TUN device, route or rule of lvsd remains" plumbing_gone

start_lvsd || die "lvsd did not start"
lvsadm -A -t "$VIP:80" -s rr
lvsadm -a -t "$VIP:80" -r "$R2:80" -m
# A tunnel real server adds the nftables table that steers frag-needed about IPIP packets.
lvsadm -a -t "$VIP:80" -r "$R1:80" -i
check "a tunnel real server installs the frag-needed steering table" in_ns "$NS_D" nft list table ip lvsd_4040
kill -KILL "$LVSD_PID"
wait "$LVSD_PID" 2>/dev/null || true
LVSD_PID=
start_lvsd || die "lvsd did not start after SIGKILL"
check "after SIGKILL the stale rules are cleaned on the next start" \
  expect_eq "rules" "$(in_ns "$NS_D" ip rule show | grep -c 'lookup 4040' || true)" 0
check "after SIGKILL the stale nftables table is removed on the next start" \
  bash -c '! ip netns exec "$0" nft list table ip lvsd_4040 >/dev/null 2>&1' "$NS_D"
lvsadm -A -t "$VIP:80" -s rr
lvsadm -a -t "$VIP:80" -r "$R2:80" -m
check "a start after SIGKILL balances again" expect_eq "answer" "$(curl_n 1 "http://$VIP/")" "rs2"
stop_lvsd
check "and its SIGTERM leaves nothing behind" plumbing_gone

check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVSD_LOG'"
((LVS_FAILS == 0))
