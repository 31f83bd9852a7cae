# shellcheck shell=bash
# Two-director topology for failover tests, on top of lib.sh (source lib.sh first).
#
#                 switch sw-TAG: two bridges (brc client side, brl server LAN)
#   client c-TAG                                                       real servers rI-TAG
#   eth0 198.18.0.2 --brc--+-- d1-TAG cli0 198.18.0.11 | lan0 198.19.0.2 --+--brl-- eth0 198.19.0.(10+I)
#   default via 198.18.0.1 +-- d2-TAG cli0 198.18.0.12 | lan0 198.19.0.3 --+        default via 198.19.0.1
#
# 198.18.0.1 (cli0) and 198.19.0.1 (lan0) float: the VRRP master holds them, so the client's
# route to the VIP and the real servers' default route follow the master.
# Contracts as in lib.sh: every namespace ends in -$LVS_TAG, cleanup removes everything.

NS_SW=sw-$LVS_TAG
NS_DS=(d1-$LVS_TAG d2-$LVS_TAG)
D_CLI=(198.18.0.11 198.18.0.12)
D_LAN=(198.19.0.2 198.19.0.3)
D_PIDS=()

# topo_ha N: the topology above with N real servers.
topo_ha() {
  local n=${1:?topo_ha N} i ns
  lvs__new_ns "$NS_SW"
  ip -n "$NS_SW" link add brc type bridge forward_delay 0 stp_state 0
  ip -n "$NS_SW" link add brl type bridge forward_delay 0 stp_state 0
  ip -n "$NS_SW" link set brc up
  ip -n "$NS_SW" link set brl up
  lvs__new_ns "$NS_C"
  ip -n "$NS_SW" link add c0 type veth peer name eth0 netns "$NS_C"
  ip -n "$NS_SW" link set c0 master brc up
  ip -n "$NS_C" addr add "$CIP/24" dev eth0
  ip -n "$NS_C" link set eth0 up
  ip -n "$NS_C" route add default via "$DIP_C"
  for i in 0 1; do
    ns=${NS_DS[i]}
    lvs__new_ns "$ns"
    ip -n "$NS_SW" link add "dc$i" type veth peer name cli0 netns "$ns"
    ip -n "$NS_SW" link add "dl$i" type veth peer name lan0 netns "$ns"
    ip -n "$NS_SW" link set "dc$i" master brc up
    ip -n "$NS_SW" link set "dl$i" master brl up
    ip -n "$ns" addr add "${D_CLI[i]}/24" dev cli0
    ip -n "$ns" addr add "${D_LAN[i]}/24" dev lan0
    ip -n "$ns" link set cli0 up
    ip -n "$ns" link set lan0 up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  done
  NS_RS=()
  RIPS=()
  for ((i = 1; i <= n; i++)); do
    ns=r$i-$LVS_TAG
    lvs__new_ns "$ns"
    ip -n "$NS_SW" link add "rs$i" type veth peer name eth0 netns "$ns"
    ip -n "$NS_SW" link set "rs$i" master brl up
    ip -n "$ns" addr add "$(rip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$DIP"
    NS_RS+=("$ns")
    RIPS+=("$(rip "$i")")
  done
  log "ha topology: client $NS_C, directors ${NS_DS[*]} (${D_CLI[*]}), real servers ${RIPS[*]}, floating $DIP_C $DIP"
}

# use_director I (1 or 2): point lvsadm, start_lvsd and stop_lvsd at director I.
use_director() {
  NS_D=${NS_DS[$1 - 1]}
  LVSD_SOCK=$LVS_STATE/lvsd$1.sock
  LVSD_LOG=$LVS_STATE/lvsd$1.log
  LVSD_PID=${D_PIDS[$1 - 1]:-}
}

# start_director I ARGS...: lvsd in director I; its PID in D_PIDS[I-1].
start_director() {
  local i=$1
  shift
  use_director "$i"
  start_lvsd "$@" || return 1
  D_PIDS[i - 1]=$LVSD_PID
}

# kill_director I: SIGKILL director I's lvsd (a crash: nothing is cleaned up).
kill_director() {
  local pid=${D_PIDS[$1 - 1]}
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  D_PIDS[$1 - 1]=
}

# holds_vip I: director I has the floating client-side address.
holds_vip() { ip -n "${NS_DS[$1 - 1]}" -4 addr show dev cli0 | grep -q "inet $DIP_C/"; }
