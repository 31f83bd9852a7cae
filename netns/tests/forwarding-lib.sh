# shellcheck shell=bash
# Helpers shared by the tunnel, direct-routing and ICMP end-to-end tests (source after lib.sh).
#
# direct_return: the replies of tunnel/DR real servers must reach the client without the
# director, as in the kernel selftest (tools/testing/selftests/netfilter/ipvs.sh), where the
# real server has its own path to the client. Here the client gets a second leg on the LAN
# bridge, and every real server routes the client network through it:
#
#   client c-TAG  eth0 198.18.0.2 ── cli0  director d-TAG  br0 198.19.0.1 ──┬── r1..rN
#                 eth1 198.19.0.2 ─────────────────────────── (LAN bridge) ──┘
#   rI: 198.18.0.0/24 via 198.19.0.2 (replies from the VIP bypass the director)

CIP_LAN=198.19.0.2
RS_PID=()   # lvs-realserver PID by real server index

direct_return() {
  local ns
  ip -n "$NS_D" link add cl1 type veth peer name eth1 netns "$NS_C"
  ip -n "$NS_D" link set cl1 master "$LAN_IF" up
  ip -n "$NS_C" addr add "$CIP_LAN/24" dev eth1
  ip -n "$NS_C" link set eth1 up
  # Replies from the VIP arrive on eth1 while the VIP is routed via eth0.
  in_ns "$NS_C" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 \
    net.ipv4.conf.eth1.rp_filter=0
  for ns in "${NS_RS[@]}"; do
    ip -n "$ns" route replace 198.18.0.0/24 via "$CIP_LAN"
  done
}

# start_realserver I [ARGS...]: lvs-realserver in real server I (its state file in this run's
# state directory), waits for its "ready" line.
start_realserver() {
  local i=$1 ns
  shift
  ns=${NS_RS[i - 1]}
  bg_in_ns "realserver-$i" "$ns" node "$LVS_ROOT/dist/src/cli/lvs-realserver.js" \
    --state "$LVS_STATE/realserver-$i.state.json" "$@"
  RS_PID[i]=$LVS_LAST_PID
  wait_for -t 10 grep -q '^ready' "$LVS_STATE/realserver-$i.log" \
    || die "lvs-realserver in $ns: $(tail -n 5 "$LVS_STATE/realserver-$i.log")"
}

# svc_stats SERVICE: "conns inpkts outpkts" of one service in `lvsadm -L -n --stats --exact`.
svc_stats() {
  lvsadm -L -n --stats --exact | awk -v s="$1" '($1 == "TCP" || $1 == "UDP") && $2 == s { print $3, $4, $5; exit }'
}

# fwd_names SERVICE: the Forward column of the service's real servers, sorted, one line.
fwd_names() {
  lvsadm -L -n | awk -v s="$1" '($1 == "TCP" || $1 == "UDP") { cur = $2 } $1 == "->" && cur == s { print $3 }' \
    | sort | tr '\n' ' '
}

# drop_count NAME: a drop counter of lvsd (lvsadm --status).
drop_count() {
  lvsadm --status | awk -v n="$1" '$1 == n || $1 == n":" { print $NF; exit }'
}

# http_bypass_check METHOD_FLAG FORWARD_NAME PORT: three real servers by METHOD on VIP:PORT;
# every request answered, all three used, OutPkts 0 while InPkts > 0, listing shows the method.
http_bypass_check() {
  local flag=$1 name=$2 port=$3 r st
  lvsadm -A -t "$VIP:$port" -s rr
  for r in "${RIPS[@]}"; do lvsadm -a -t "$VIP:$port" -r "$r:$port" "$flag" -w 1; done
  check "lvsadm -L -n shows $name for the three real servers" \
    expect_eq "forward column" "$(fwd_names "$VIP:$port")" "$name $name $name "
  check "HTTP through $name: 30 new connections all answered, 10 per real server" \
    expect_eq "rr counts" "$(counts 30 "http://$VIP:$port/")" "rs1=10 rs2=10 rs3=10 fail=0"
  st=$(svc_stats "$VIP:$port")
  log "stats $VIP:$port (conns inpkts outpkts): $st"
  check "$name: 30 connections counted, InPkts > 0, OutPkts 0 (replies bypassed the director)" \
    awk '{ exit !($1 == 30 && $2 > 0 && $3 == 0) }' <<<"$st"
}
