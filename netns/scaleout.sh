#!/usr/bin/env bash
# Scale-out demo (npm run demo:scaleout): clients, a router running BIRD 2 with ECMP and BFD,
# N directors each with lvsd (mh, sloppy_tcp=1, sync as master and backup, --announce-table),
# BIRD and sync, and 4 real servers by direct routing and IPIP tunnelling
# (netns/lib-scaleout.sh). Drives traffic and prints the router's route, the BGP sessions and
# each director's share; then SIGKILLs one director's lvsd during 64 long-lived streams, shows
# how fast the router dropped it, restarts it and shows it back.
#
#   sudo bash netns/scaleout.sh [-n DIRECTORS (1..4, default 3)] [--ecmp] [--keep]
#
# --ecmp: plain multipath route from BIRD instead of the resilient group of
# netns/router/resilient-nh.py. --keep: leave everything running; prints how to reach it and
# how to remove it. Installs bird2 (and the rest) through netns/deps.sh when missing.
set -Eeuo pipefail
N=3
KEEP=0
while (($#)); do
  case $1 in
    -n) N=${2:?-n needs a number}; shift 2 ;;
    --ecmp) export SO_ROUTER_MODE=ecmp; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "scaleout.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $N =~ ^[1-4]$ ]] || { echo "scaleout.sh: -n must be 1..4" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "scaleout.sh: needs root (network namespaces)" >&2; exit 1; }
command -v bird >/dev/null || bash "$(dirname "$0")/deps.sh"

source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-scaleout.sh"
CLIENTS_JS=$LVS_ROOT/netns/tests/scaleout-clients.js
say() { printf '\n== %s\n' "$*"; }

topo_scaleout 4
so_start_realservers
so_start_router
for ((i = 1; i <= N; i++)); do so_bring_up_director "$i"; done
wait_for -t 30 so_nexthop_count "$N" || die "the router does not forward to $N directors: $(so_route)"
wait_for -t 10 so_group_balanced || true

say "router $NS_RT: route to the VIP ($SO_ROUTER_MODE)"
ip -n "$NS_RT" route show "$VIP/32"
[[ $SO_ROUTER_MODE == resilient ]] && ip -n "$NS_RT" nexthop show
say "router: BGP sessions and BFD"
so_birdc "$NS_RT" "$LVS_STATE/bird-rt.ctl" show protocols | grep -E 'BGP|Name'
so_birdc "$NS_RT" "$LVS_STATE/bird-rt.ctl" show bfd sessions | tail -n +2

# shares LABEL: each director's share of the client packets on the HTTP services since the
# last call (InPkts of VIP:80 and VIP:8080).
declare -A LAST
shares() {
  local i p tot=0 out=() d=()
  sleep 2.5 # packet workers' counters are collected every 2 s
  for ((i = 1; i <= SO_MAX_DIRECTORS; i++)); do
    d[i]=0
    [[ -n ${SO_DPID[i]:-} ]] || continue
    so_use "$i"
    p=$(lvsadm -L -n --stats --exact | awk -v a="$VIP:80" -v b="$VIP:8080" '($2 == a || $2 == b) { n += $4 } END { print n + 0 }')
    d[i]=$((p - ${LAST[$i]:-0}))
    LAST[$i]=$p
    tot=$((tot + d[i]))
  done
  for ((i = 1; i <= SO_MAX_DIRECTORS; i++)); do
    [[ -n ${SO_DPID[i]:-} ]] && out+=("d$i $((d[i] * 100 / (tot ? tot : 1)))%")
  done
  echo "$1: ${out[*]}"
}
shares baseline >/dev/null

say "wrk, 5 s keep-alive (60 connections) and 5 s one connection per request, VIP:80 by DR"
in_ns "$NS_C" wrk -t 2 -c 60 -d 5s "http://$VIP/" | grep -E 'Requests/sec|errors'
shares "keep-alive, share of client packets per director"
in_ns "$NS_C" wrk -t 2 -c 60 -d 5s -H 'Connection: close' "http://$VIP:8080/" | grep -E 'Requests/sec|errors'
shares "new connections (VIP:8080 by IPIP), share per director"

say "64 long-lived byte-verified echo streams from 64 client addresses (9000 DR, 9001 IPIP)"
mapfile -t CADDRS < <(so_clients)
bg_in_ns streams "$NS_C" node "$CLIENTS_JS" streams "$LVS_STATE/streams.json" "$VIP" 9000,9001 64 300 "${CADDRS[@]}"
STREAMS_PID=$LVS_LAST_PID
sf() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$LVS_STATE/streams.json" "$1"; }
wait_for -t 20 bash -c "[[ -f '$LVS_STATE/streams.json' && \$(python3 -c 'import json; print(json.load(open(\"$LVS_STATE/streams.json\"))[\"up\"])') == 64 ]]" \
  || die "the streams did not come up"
python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["flows"]))' "$LVS_STATE/streams.json" >"$LVS_STATE/live.flows"
so_flow_map "$LVS_STATE/live.map" 0 "$LVS_STATE/live.flows"
echo "streams per director (the router's choice): $(awk '{ print "d" $2 }' "$LVS_STATE/live.map" | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')"

if ((N >= 2)); then
  say "kill -9 of d1's lvsd"
  t0=$(date +%s%N)
  so_kill_lvsd 1
  wait_for -t 5 so_no_nexthop 1 || true
  t1=$(date +%s%N)
  echo "router's BGP route lost d1 after $(so_route_event lost 1 $((t0 / 1000000))) (the poll saw it after $(((t1 - t0) / 1000000)) ms): $(so_nexthops)"
  so_flow_map "$LVS_STATE/live.map2" 0 "$LVS_STATE/live.flows"
  echo "live streams: $(so_flow_moves "$LVS_STATE/live.map" "$LVS_STATE/live.map2")"
  sleep 3
  echo "streams: $(sf up) up, $(sf broken) broken, $(sf stalled) stalled, longest echo wait $(sf maxStallMs) ms"
  say "d1 starts again: bulk resync from its peers, then its route"
  so_start_lvsd 1 || die "lvsd d1 did not restart"
  wait_for -t 20 so_announced 1 || true
  so_use 1
  echo "d1 announces with $(lvsadm -L -n -c | grep -c ESTABLISHED) ESTABLISHED entries in its table"
  wait_for -t 15 so_has_nexthop 1 || true
  echo "router: $(so_nexthops)"
  sleep 2
  echo "streams: $(sf up) up, $(sf broken) broken, $(sf stalled) stalled"
fi

kill -TERM "$STREAMS_PID"
wait "$STREAMS_PID" || true
say "streams: $(tail -n 1 "$LVS_STATE/streams.log")"

if ((KEEP)); then
  lvs_keep
  say "kept (tag $LVS_TAG): namespaces $(lvs_namespaces | tr '\n' ' ')"
  echo "  router:   ip netns exec $NS_RT birdc -s $LVS_STATE/bird-rt.ctl show route"
  echo "  director: ip netns exec ${SO_DS[1]} node dist/src/cli/lvsadm.js --socket $LVS_STATE/lvsd1.sock -L -n -c"
  echo "  remove:   LVS_TAG=$LVS_TAG LVS_STATE=$LVS_STATE bash -c 'source netns/lib.sh'  (its exit handler cleans up)"
fi
