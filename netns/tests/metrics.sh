#!/usr/bin/env bash
# End-to-end tests of lvsd --metrics-listen (docs/METRICS.md) through the real lvsd, with real
# clients (curl through the VIP, curl and Python sockets against the metrics port) and
# Debian's promtool. Needs root, /dev/net/tun and a build. Prints PASS/FAIL lines.
#
#   client c-TAG ── director d-TAG (lvsd, TUN lvs0; metrics on 127.0.0.1:9101) ── r1, r2, r3
#   198.18.0.2      198.18.0.1 | 198.19.0.1                                        198.19.0.11 .12 .13
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
HELPER=$LVS_ROOT/netns/tests/metrics-check.py
LVSD_JS=$LVS_ROOT/dist/src/cli/lvsd.js
MPORT=9101
MURL=http://127.0.0.1:$MPORT

topo_nat 3
run_http_servers
R1=$(rip 1) R2=$(rip 2) R3=$(rip 3)

# --- the option is checked before anything exists --------------------------------------------
no_tun() { ! ip -n "$NS_D" link show lvs0 >/dev/null 2>&1; }
# lvsd_fails_cleanly WANT_RC PATTERN ARGS...: lvsd exits with WANT_RC, one line on stderr
# matching PATTERN, and leaves no TUN device.
lvsd_fails_cleanly() {
  local want=$1 pat=$2 rc=0 err
  shift 2
  err=$(timeout 10 ip netns exec "$NS_D" node "$LVSD_JS" --socket "$LVS_STATE/bad.sock" --tun lvs0 "$@" 2>&1 >/dev/null) || rc=$?
  [[ $rc == "$want" ]] || { log "exit $rc, want $want: $err"; return 1; }
  [[ $(wc -l <<<"$err") == 1 && $err =~ $pat ]] || { log "stderr: $err"; return 1; }
  no_tun
}
check "--metrics-listen 70000: one line, exit 2, no TUN device" \
  lvsd_fails_cleanly 2 'PORT 1\.\.65535' --metrics-listen 70000
check "--metrics-listen nohost:80: one line, exit 2, no TUN device" \
  lvsd_fails_cleanly 2 'not an IPv4 address' --metrics-listen nohost:80
bg_in_ns holder "$NS_D" socat TCP-LISTEN:$MPORT,bind=127.0.0.1,reuseaddr,fork SYSTEM:true
holder=$LVS_LAST_PID
wait_listen "$NS_D" $MPORT
check "--metrics-listen on a port in use: one line, exit 1, before the TUN device exists" \
  lvsd_fails_cleanly 1 "127\.0\.0\.1:$MPORT: address already in use" --metrics-listen 127.0.0.1:$MPORT
stop_pid "$holder"

start_lvsd --metrics-listen 127.0.0.1:$MPORT || die "lvsd did not start"
scrape() { in_ns "$NS_D" curl -sf -m 5 "$MURL/metrics"; }
check "GET /metrics answers" wait_for scrape

lvsadm -A -t "$VIP:80" -s rr
for r in "$R1" "$R2" "$R3"; do lvsadm -a -t "$VIP:80" -r "$r:80" -m -w 2; done
lvsadm -A -t "$VIP:8080" -s wlc
lvsadm -a -t "$VIP:8080" -r "$R1:8080" -m -w 1
lvsadm -a -t "$VIP:8080" -r "$R2:8080" -m -w 3
lvsadm -A -u "$VIP:53" -s rr
lvsadm -a -u "$VIP:53" -r "$R3:53" -m

S=$LVS_STATE
# snap NAME: lvsadm --stats --exact to $S/NAME.stats, -L -n to $S/NAME.list.
snap() { lvsadm -L -n --stats --exact >"$S/$1.stats"; lvsadm -L -n >"$S/$1.list"; }
# curl_loop N FILE PORT...: N requests to the VIP, one connection each, cycling over the
# ports; the number of failed requests in FILE.
curl_loop() {
  local n=$1 file=$2
  shift 2
  bg_in_ns "loop-$file" "$NS_C" bash -c 'n=$0 vip=$1; shift; ports=("$@"); f=0; for ((i = 0; i < n; i++)); do
    curl -sf -m 3 -o /dev/null "http://$vip:${ports[i % ${#ports[@]}]}/" || f=$((f + 1)); done; echo $f >"'"$S/$file"'"' \
    "$n" "$VIP" "$@"
}

# --- during traffic: every counter of a scrape lies between the listings before and after ----
curl_loop 400 traffic.fail 80 8080
loop=$LVS_LAST_PID
rounds=0 inside=0
while lvs__alive "$loop" && ((rounds < 5)); do
  snap before
  scrape >"$S/during.prom"
  snap after
  rounds=$((rounds + 1))
  python3 "$HELPER" bounds "$S/before.stats" "$S/during.prom" "$S/after.stats" && inside=$((inside + 1))
done
wait_for -t 120 test -s "$S/traffic.fail"
check "during traffic: $inside of $rounds scrapes lie between lvsadm --stats --exact before and after" \
  test "$rounds" -ge 1 -a "$inside" -eq "$rounds"
check "the traffic loop never failed" expect_eq "failed requests" "$(cat "$S/traffic.fail")" 0

# --- at rest: equal to lvsadm -L -n --stats --exact and -L -n ------------------------------
exact_now() { snap rest && scrape >"$S/rest.prom" && python3 "$HELPER" exact "$S/rest.stats" "$S/rest.list" "$S/rest.prom"; }
check "metrics equal lvsadm -L -n --stats --exact and -L -n (every service, real server, total)" wait_for -t 10 exact_now
check "the scrape has counted the traffic (400 connections)" \
  grep -qx 'node_ipvs_connections_total 400' "$S/rest.prom"
check "promtool check metrics passes" bash -c "promtool check metrics <'$S/rest.prom'"

# --- removed real servers and services leave no series -------------------------------------
lvsadm -d -t "$VIP:80" -r "$R3:80"
scrape >"$S/afterd.prom"
check "-d: the real server's series are gone" bash -c "! grep -q 'remote_address=\"$R3\",remote_port=\"80\"' '$S/afterd.prom'"
check "-d: the other real servers' series stay" grep -q "remote_address=\"$R2\",remote_port=\"80\"" "$S/afterd.prom"
lvsadm -D -t "$VIP:8080"
scrape >"$S/afterD.prom"
check "-D: the service's series are gone" bash -c "! grep -q 'local_port=\"8080\"' '$S/afterD.prom'"
check "-D: the totals keep its traffic" grep -qx 'node_ipvs_connections_total 400' "$S/afterD.prom"

# --- 200 add/remove cycles leave the series count where it started -------------------------
base=$(python3 "$HELPER" count "$S/afterD.prom")
grew=0
for ((i = 0; i < 200; i++)); do
  printf -- '-A -t 198.18.100.2:%d -s rr\n-a -t 198.18.100.2:%d -r %s:80 -m\n' $((2000 + i)) $((2000 + i)) "$R1" | lvsadm -R
  if ((i % 20 == 0)); then
    scrape >"$S/cycle.prom"
    (($(python3 "$HELPER" count "$S/cycle.prom") > base)) && grew=$((grew + 1))
  fi
  lvsadm -D -t 198.18.100.2:$((2000 + i))
done
scrape >"$S/cycled.prom"
check "200 add/remove cycles: series appeared ($grew of 10 looks) and the count is back to $base" \
  expect_eq "series after 200 cycles" "$grew $(python3 "$HELPER" count "$S/cycled.prom")" "10 $base"

# --- 200 concurrent scrapes while a curl loop runs through the VIP --------------------------
curl_loop 300 concurrent.fail 80
in_ns "$NS_D" bash -c 'for ((i = 0; i < 200; i++)); do curl -s -m 20 -o /dev/null -w "%{http_code}\n" "$0/metrics" & done; wait' \
  "$MURL" >"$S/codes"
wait_for -t 120 test -s "$S/concurrent.fail"
check "200 concurrent scrapes all answered 200" expect_eq "answers" "$(sort "$S/codes" | uniq -c | awk '{print $2 "x" $1}')" "200x200"
check "the curl loop through the VIP never failed during them" expect_eq "failed requests" "$(cat "$S/concurrent.fail")" 0

# --- bad input ----------------------------------------------------------------------------
check "GET /nope: 404" expect_eq "status" "$(in_ns "$NS_D" curl -s -o /dev/null -w '%{http_code}' "$MURL/nope")" 404
check "1 MB of request headers: 431" \
  expect_eq "status line" "$(in_ns "$NS_D" python3 "$HELPER" bighdr 127.0.0.1 $MPORT 1048576)" "HTTP/1.1 431 Request Header Fields Too Large"
slow=$(in_ns "$NS_D" python3 "$HELPER" slow 127.0.0.1 $MPORT)
check "a client trickling its headers is cut off (after ${slow}s)" python3 -c "import sys; sys.exit(not float('$slow') < 15)"

# timed_loop N: seconds for N requests through the VIP (each must succeed).
timed_loop() {
  in_ns "$NS_C" bash -c 's=$(date +%s%N); for ((i = 0; i < $0; i++)); do curl -sf -m 3 -o /dev/null "http://$1/" || exit 1; done
    echo $(( ($(date +%s%N) - s) / 1000000 ))' "$1" "$VIP"
}
base_ms=$(timed_loop 200)
bg_in_ns idle "$NS_D" python3 "$HELPER" idle 127.0.0.1 $MPORT 1000 40
idle=$LVS_LAST_PID
wait_for -t 20 test -s "$S/idle.log"
idle_ms=$(timed_loop 200) || idle_ms=fail
check "1,000 idle connections ($(head -n1 "$S/idle.log") opened): 200 requests through the VIP in ${idle_ms} ms (${base_ms} ms without)" \
  test "$idle_ms" != fail -a "$idle_ms" -le $((2 * base_ms + 3000))
check "scrapes are answered again while the idle connections are still held (idle timeout)" \
  bash -c "for ((i = 0; i < 100; i++)); do ip netns exec $NS_D curl -sf -m 2 -o /dev/null $MURL/metrics && kill -0 $idle && exit 0; sleep 0.3; done; exit 1"
stop_pid "$idle"
check "lvsd is alive and forwarding after the bad clients" expect_eq "answer" "$(curl_n 1 "http://$VIP/")" "rs1"
