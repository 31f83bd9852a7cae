#!/usr/bin/env bash
# SYN-flood test (docs/FLOOD.md): spoofed SYNs from 198.18.128.0/17 (inside RFC 2544 space,
# no route back anywhere) at FLOOD_RATE/s (default 50,000) for FLOOD_SECS s (default 20)
# against the VIP while
#   - an established socat session keeps exchanging a line every 0.25 s (all must echo),
#   - new legitimate connections (curl, one at a time) succeed at ≥ 90 %,
#   - lvsd's resident memory stays under the documented bound (FLOOD_RSS_MB, default 160; docs/FLOOD.md),
#   - the half-open budget holds: half-open entries ≤ max_half_open, the rest evicted.
# The generator (netns/tests/synflood.c, built here with gcc) paces itself against the clock
# and reports the rate it achieved; the test prints it, and the checks use what was achieved.
# Needs root, /dev/net/tun, gcc and a build (dist/).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

RATE=${FLOOD_RATE:-50000}
SECS=${FLOOD_SECS:-20}
RSS_MB=${FLOOD_RSS_MB:-160}
HALF_OPEN=${FLOOD_HALF_OPEN:-65536}

command -v gcc >/dev/null || die "gcc is needed to build the SYN generator"
gcc -O2 -o "$LVS_STATE/synflood" "$LVS_ROOT/netns/tests/synflood.c"

topo_nat 2
run_http_servers
start_lvsd --sysctl "max_half_open=$HALF_OPEN" || die "lvsd did not start"
R1=$(rip 1) R2=$(rip 2)

lvsadm -A -t "$VIP:80" -s rr
lvsadm -a -t "$VIP:80" -r "$R1:80" -m
lvsadm -a -t "$VIP:80" -r "$R2:80" -m
start_echo "${NS_RS[0]}" 7000
lvsadm -A -t "$VIP:7000" -s rr
lvsadm -a -t "$VIP:7000" -r "$R1:7000" -m

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$LVSD_PID/status"; }
half_open() { lvsadm --status | awk '$1 == "half_open" {print $2}'; }
evicted() { lvsadm --status | awk '$1 == "half_open_evicted" {print $2}'; }

# The established session: socat connects and runs a pinger that writes "ping N" every
# 0.25 s and reads the echo back (at most 2 s each), for the flood's duration plus 2 s.
PINGS=$(((SECS + 2) * 4))
cat >"$LVS_STATE/pinger.sh" <<PINGER
ok=0
for ((i = 0; i < $PINGS; i++)); do
  echo "ping \$i"
  if IFS= read -r -t 2 line && [[ \$line == "ping \$i" ]]; then ok=\$((ok + 1)); fi
  sleep 0.25
done
echo "\$ok" >"$LVS_STATE/pings.ok"
PINGER
bg_in_ns session "$NS_C" socat "TCP:$VIP:7000" EXEC:"bash $LVS_STATE/pinger.sh"
SESSION_PID=$LVS_LAST_PID
sess_up() { lvsadm -L -n -c | grep -qE "ESTABLISHED +$CIP:[0-9]+ +$VIP:7000 "; }
check "the socat session is ESTABLISHED before the flood" wait_for -t 5 sess_up

rss0=$(rss_kb)
bg_in_ns synflood "$NS_C" "$LVS_STATE/synflood" "$VIP" 80 "$RATE" "$SECS" 198.18.128.0 17
FLOOD_PID=$LVS_LAST_PID

# Legitimate clients during the flood: one connection at a time, 2 s timeout each.
ok=0 tried=0 maxrss=$rss0 maxhalf=0
t_end=$((SECONDS + SECS))
while ((SECONDS < t_end)); do
  tried=$((tried + 1))
  if [[ $(in_ns "$NS_C" curl -s -m 2 "http://$VIP/" 2>/dev/null) == rs[12] ]]; then ok=$((ok + 1)); fi
  r=$(rss_kb); ((r > maxrss)) && maxrss=$r
  h=$(half_open); ((h > maxhalf)) && maxhalf=$h
  sleep 0.1
done
wait "$FLOOD_PID" 2>/dev/null || true
flood_out=$(cat "$LVS_STATE/synflood.log")
log "generator: $flood_out"
sent=$(awk '{print $2}' <<<"$flood_out")
achieved=$(sed -E 's/.*= ([0-9]+)\/s.*/\1/' <<<"$flood_out")
printf 'FLOOD: target %d SYN/s for %d s; achieved %s SYN/s (%s sent)\n' "$RATE" "$SECS" "$achieved" "$sent"

check "the generator reached at least 80% of its target rate ($achieved of $RATE/s)" \
  test "$achieved" -ge $((RATE * 8 / 10))
pct=$((ok * 100 / (tried > 0 ? tried : 1)))
check "new legitimate connections during the flood: $ok of $tried ($pct%) ≥ 90%" test "$pct" -ge 90
wait_for -t $((SECS + 10)) test -s "$LVS_STATE/pings.ok" || true
pings=$(cat "$LVS_STATE/pings.ok" 2>/dev/null || echo 0)
check "the established session kept working: $pings of $PINGS echoes" test "$pings" -eq "$PINGS"
check "lvsd RSS stayed under ${RSS_MB} MB: $((maxrss / 1024)) MB at most (before the flood $((rss0 / 1024)) MB)" \
  test "$maxrss" -lt $((RSS_MB * 1024))
ev=$(evicted)
log "half-open at most $maxhalf (budget $HALF_OPEN), evicted $ev, status:"
lvsadm --status | grep -E "half_open|conns_created|conn-table-full|rx_packets" >&2 || true
check "half-open entries stayed within the budget ($maxhalf ≤ $HALF_OPEN)" test "$maxhalf" -le "$HALF_OPEN"
if ((sent > HALF_OPEN)); then
  check "the oldest half-open entries were evicted ($ev)" test "$ev" -gt 0
fi
stop_pid "$SESSION_PID" 2

check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVSD_LOG'"
((LVS_FAILS == 0))
