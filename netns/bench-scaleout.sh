#!/usr/bin/env bash
# Scale-out benchmark (netns/lib-scaleout.sh topology; root, /dev/net/tun, bird2, wrk):
#   1. aggregate HTTP rates through the VIP with 1, 2 and 3 directors in one run: wrk
#      keep-alive (60 connections) and one new connection per request, with each director's
#      share of the client packets (its InPkts counter);
#   2. the failover figures per event and flows moved: netns/tests/scaleout.sh with every
#      event, once with the resilient nexthop group and once with plain ECMP, then once more
#      with 5 % sync loss (resilient); prints their "event:" lines and results.
# BENCH_SECS (default 8) per wrk run. Prints a summary at the end; figures of 2 cores are bounded
# by the machine (clients, router, directors and servers share it): the shares, the moved flows
# and the 0-broken counts are the point.
set -Eeuo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SECS=${BENCH_SECS:-8}
PARTS=${BENCH_PARTS:-rates events}   # which parts to run
SUMMARY=$(mktemp)
trap 'rm -f "$SUMMARY"' EXIT

rates() (
  source "$HERE/lib.sh"
  source "$HERE/lib-scaleout.sh"
  topo_scaleout 4
  so_start_realservers
  so_start_router
  for i in 1 2 3; do so_bring_up_director "$i"; done
  wait_for -t 30 so_nexthop_count 3 || die "the router does not forward to 3 directors"
  # Packets from clients each director forwarded (InPkts of the service): its share of the
  # traffic. (Conns undercounts here: wrk reuses source ports, and a SYN that matches an entry
  # in TIME_WAIT, its own or synced, reuses that entry.)
  pkts_of() { so_use "$1"; lvsadm -L -n --stats --exact | awk -v a="$VIP:80" '$2 == a { print $4 }'; }
  wrk_run() { # wrk_run LABEL N [ARGS]: one wrk run; prints requests/s and the shares
    local label=$1 n=$2 i before=() after=() out rps shares=""
    shift 2
    sleep 2.5
    for ((i = 1; i <= n; i++)); do before[i]=$(pkts_of "$i"); done
    out=$(in_ns "$NS_C" wrk -t 2 -c 60 -d "${SECS}s" "$@" "http://$VIP/" 2>&1)
    rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
    errs=$(awk '/Socket errors|Non-2xx/ { print }' <<<"$out" | tr -s ' ' | tr '\n' ';')
    sleep 2.5 # the counters are the packet workers' totals, collected every 2 s
    local tot=0
    for ((i = 1; i <= n; i++)); do after[i]=$(pkts_of "$i"); tot=$((tot + after[i] - before[i])); done
    for ((i = 1; i <= n; i++)); do shares+="d$i=$(((after[i] - before[i]) * 100 / (tot ? tot : 1)))% "; done
    printf '%-22s %d director(s): %10s req/s  packets %s%s\n' "$label" "$n" "$rps" "$shares" "${errs:+ ($errs)}"
  }
  # From 3 directors down to 1 (SIGTERM), then measured going up again.
  so_stop_lvsd 3
  so_stop_lvsd 2
  wait_for -t 10 so_nexthop_count 1 || die "the router still forwards to more than d1"
  for n in 1 2 3; do
    if ((n > 1)); then
      so_start_lvsd "$n" || die "lvsd d$n did not start"
      wait_for -t 30 so_nexthop_count "$n" || die "the router does not forward to $n directors"
      wait_for -t 10 so_group_balanced || die "the resilient group did not rebalance"
    fi
    log "router: $(so_route)"
    wrk_run "keep-alive" "$n"
    wrk_run "new connection each" "$n" -H "Connection: close"
  done
)

if [[ " $PARTS " == *" rates "* ]]; then
  echo "== 1. rates with 1, 2, 3 directors ($(date -u '+%F %H:%M UTC'), $(nproc) cores)"
  rates 2>&1 | tee -a "$SUMMARY" | grep -v '^\['
fi

VARIANTS=()
[[ " $PARTS " == *" events "* ]] && VARIANTS=("resilient 0" "ecmp 0" "resilient 5")
for variant in "${VARIANTS[@]}"; do
  read -r mode loss <<<"$variant"
  echo "== 2. failover events: router $mode, sync loss $loss %"
  rc=0
  out=$(SO_ROUTER_MODE=$mode SO_SYNC_LOSS=$loss bash "$HERE/tests/scaleout.sh" 2>&1) || rc=$?
  { grep -E 'event:|streams:|new connections over|FAIL|FATAL' <<<"$out" || true; } | sed 's/^\[[^]]*\] //' | tee -a "$SUMMARY"
  echo "result: $(grep -c '^PASS' <<<"$out") checks passed, $(grep -c '^FAIL' <<<"$out") failed, exit $rc" | tee -a "$SUMMARY"
done
echo
echo "== summary"
grep -v '^\[' "$SUMMARY"
