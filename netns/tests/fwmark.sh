#!/usr/bin/env bash
# End-to-end test of firewall-mark services (-f mark) through the real lvsd: nftables in the
# director namespace marks two VIP:port pairs with mark 1; one persistent `-f 1` service
# with NAT real servers takes both. Needs root, /dev/net/tun, nft and a build (dist/).
#
#   client c-TAG ── director d-TAG ── br0 ── r1-TAG, r2-TAG (nginx on 80 and 8080)
#   198.18.0.2      lvsd: lvs0 (main TUN, NAT replies)
#   198.18.0.3            lvs0f1 (mark 1: fwmark 1 lookup 4041, default dev lvs0f1)
#   VIP1 198.18.100.1:80 and VIP2 198.18.100.2:8080 marked 1 in prerouting (priority mangle)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

VIP2=198.18.100.2
CIP2=198.18.0.3
MARK_DEV=lvs0f1
MARK_TABLE=4041 # lvsd's table (4040) + 1: the first firewall-mark table

topo_nat 2
run_http_servers
in_ns "$NS_C" ip addr add "$CIP2/24" dev eth0
R1=$(rip 1) R2=$(rip 2)

in_ns "$NS_D" nft -f - <<EOF
table ip lvsmark {
  chain pre {
    type filter hook prerouting priority mangle; policy accept;
    ip daddr $VIP tcp dport 80 meta mark set 1
    ip daddr $VIP2 tcp dport 8080 meta mark set 1
  }
}
EOF

# answers FROM N URL: N requests from client address FROM, one connection each, counted
# as "rs1=A rs2=B fail=F".
answers() {
  in_ns "$NS_C" bash -c 'for ((i = 0; i < $1; i++)); do curl -s -m 3 --interface "$0" "$2" || echo FAIL; done' "$1" "$2" "$3" |
    awk '{c[$1]++} END {printf "rs1=%d rs2=%d fail=%d\n", c["rs1"], c["rs2"], c["FAIL"]}'
}

# mark_plumbing_present / mark_plumbing_gone: lvsd's device, rule and table for mark 1.
# (Outputs are captured, not piped into grep -q, which would SIGPIPE under pipefail.)
mark_plumbing_present() {
  in_ns "$NS_D" ip link show "$MARK_DEV" >/dev/null 2>&1 &&
    grep -qE "^90:.*fwmark 0x1 lookup $MARK_TABLE" <<<"$(in_ns "$NS_D" ip rule show)" &&
    grep -q "default dev $MARK_DEV" <<<"$(in_ns "$NS_D" ip route show table "$MARK_TABLE")"
}
mark_plumbing_gone() {
  ! in_ns "$NS_D" ip link show "$MARK_DEV" >/dev/null 2>&1 &&
    ! grep -q "fwmark" <<<"$(in_ns "$NS_D" ip rule show)" &&
    [[ -z $(in_ns "$NS_D" ip route show table "$MARK_TABLE" 2>/dev/null) ]]
}

start_lvsd || die "lvsd did not start"
lvsadm -A -f 1 -s rr -p 10
lvsadm -a -f 1 -r "$R1" -m
lvsadm -a -f 1 -r "$R2" -m
check "-A -f 1 opens $MARK_DEV and installs 'fwmark 1 lookup $MARK_TABLE'" mark_plumbing_present

listing=$(lvsadm -L -n)
check "-L -n lists the service as 'FWM  1 rr persistent 10'" grep -qxF "FWM  1 rr persistent 10" <<<"$listing"
# ipvsadm.c print_service_entry's destination line: "  -> %-28s %-7s %-6d %-10u %-10u".
check "-L -n lists a port-0 real server as ipvsadm does" \
  grep -qxF "$(printf '  -> %-28s %-7s %-6d %-10u %-10u' "$R1:0" Masq 1 0 0)" <<<"$listing"
check "-S -n prints -A -f 1 and -a -f 1" expect_eq "save" "$(lvsadm -S -n)" "-A -f 1 -s rr -p 10
-a -f 1 -r $R1:0 -m -w 1
-a -f 1 -r $R2:0 -m -w 1"

# Client 1 first on VIP1:80, then on VIP2:8080: one template, one server for both.
a1=$(answers "$CIP" 5 "http://$VIP/")
a2=$(answers "$CIP" 5 "http://$VIP2:8080/")
check "client 1: 5 connections to VIP1:80 land on one server ($a1)" \
  grep -qE '^(rs1=5 rs2=0|rs1=0 rs2=5) fail=0$' <<<"$a1"
check "client 1: 5 connections to VIP2:8080 land on the same server ($a2)" expect_eq "VIP2 answers" "$a2" "$a1"
# Client 2: rr gives the new template the other server, for both VIP:ports.
b1=$(answers "$CIP2" 5 "http://$VIP2:8080/")
b2=$(answers "$CIP2" 5 "http://$VIP/")
check "client 2 is balanced to the other server on both VIP:ports ($b1; $b2)" \
  bash -c '[[ $0 == "$1" && $0 != "$2" && $0 =~ fail=0 ]]' "$b1" "$b2" "$a1"

conns=$(lvsadm -L -n -c)
tpl=$(grep -E "^IP  [0-9]{2}:[0-9]{2}  NONE " <<<"$conns" || true)
check "-L -c: exactly two templates, protocol IP, one per client" expect_eq "templates" "$(grep -c . <<<"$tpl")" 2
check "-L -c: client 1's template is keyed by the mark (0.0.0.1:0), whatever the VIP" \
  grep -qE "^IP  [0-9]{2}:[0-9]{2}  NONE        $CIP:0 +0\.0\.0\.1:0 +198\.19\.0\.1[12]:0$" <<<"$tpl"
check "-L -c: connections keep their own VIP:port" \
  bash -c 'grep -q " $0:80 " <<<"$2" && grep -q " $1:8080 " <<<"$2"' "$VIP" "$VIP2" "$conns"
stats=$(lvsadm -L -n --stats | grep "^FWM  1 ")
check "--stats: the one service counted all 20 connections ($stats)" \
  expect_eq "conns" "$(awk '{print $3}' <<<"$stats")" 20

unmarked() { ! in_ns "$NS_C" curl -s -m 2 "http://$VIP:8080/" >/dev/null; }
check "an unmarked VIP:port is not balanced" unmarked

stop_lvsd
check "after SIGTERM no device, rule or route of the mark remains" mark_plumbing_gone

start_lvsd || die "lvsd did not start"
lvsadm -A -f 1 -s rr
lvsadm -a -f 1 -r "$R2" -m
check "restart: the mark is served again" wait_for -t 5 mark_plumbing_present
kill -KILL "$LVSD_PID"
wait "$LVSD_PID" 2>/dev/null || true
LVSD_PID=
start_lvsd || die "lvsd did not start after SIGKILL"
check "after SIGKILL the next start removes the stale mark rule" mark_plumbing_gone
stop_lvsd
check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVSD_LOG'"

# --- the same service from keepalived.conf: virtual_server fwmark 1 with health checks ------
CONF=$LVS_STATE/keepalived-fwmark.conf
cat >"$CONF" <<EOF
virtual_server fwmark 1 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server $R1 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server $R2 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
EOF
check "lvsd -t accepts virtual_server fwmark (the protocol line is named as ignored)" bash -c \
  'out=$(node "$0/dist/src/cli/lvsd.js" -t -f "$1" 2>&1) && grep -q ":1: Warning: virtual server fwmark 1: protocol specified for fwmark" <<<"$out"' "$LVS_ROOT" "$CONF"
start_lvsd -f "$CONF" || die "lvsd -f did not start"
both_checked() { [[ $(lvsadm -L -n | grep -c -- '-> .*Masq') == 2 ]]; }
check "keepalived fwmark service: both real servers up after their checks" wait_for -t 10 both_checked
check "keepalived fwmark service: -L -n lists FWM  1" grep -qx "FWM  1 rr" <<<"$(lvsadm -L -n)"
a1=$(answers "$CIP" 10 "http://$VIP/") a2=$(answers "$CIP2" 10 "http://$VIP2:8080/")
check "keepalived fwmark service: marked traffic to both VIP:ports is balanced over both ($a1; $a2)" bash -c \
  '[[ $0 == "rs1=5 rs2=5 fail=0" && $1 == "rs1=5 rs2=5 fail=0" ]]' "$a1" "$a2"
check "keepalived fwmark service: the plumbing of mark 1 is present" mark_plumbing_present
stop_lvsd
check "keepalived fwmark service: nothing of mark 1 is left after SIGTERM" mark_plumbing_gone
check "lvsd -f logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVSD_LOG'"
((LVS_FAILS == 0))
