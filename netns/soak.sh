#!/usr/bin/env bash
# Soak test (`npm run soak`, not part of CI): SOAK_SECONDS (default 600) of mixed traffic
# through two lvsd directors (VRRP master/backup with connection sync, netns/lib-ha.sh) while
# the control plane churns, then a summary table (netns/soak-report.js); exit 1 on failure.
# Needs root, /dev/net/tun, nginx, wrk, python3 and a build (dist/).
#
#   client ── brc ── d1 (lvsd, prio 150) / d2 (lvsd, prio 100, both nopreempt) ── brl ── r1..r6
#
# Services (keepalived.conf, NAT, the same on both directors):
#   tcp VIP:8000  rr   r1..r3 nginx :8000 (TCP_CHECK)   long streams + wrk keep-alive
#   udp VIP:5300  rr   r1..r3 UDP echo :5300            UDP request/response
#   tcp VIP:80    wrr  r4 (weight 2), r5 (TCP_CHECK, delay_loop 1)
#                      + r6:80 and r6:8080 added/edited/deleted by the churn, never checked
#                                                       wrk with Connection: close
# Traffic (from the client namespace, every loop bounded in rate and time):
#   - SOAK_STREAMS (6) downloads of one random file from VIP:8000, paced by nginx (limit_rate)
#     at SOAK_STREAM_RATE (64 KB/s) and sized to last the whole run; each is compared with the
#     file (sha256) at the end
#   - wrk keep-alive on VIP:8000: 4 connections, each at most one request per 20 ms
#   - wrk with `Connection: close` on VIP:80: 2 connections, one request per 50 ms each
#   - netns/soak-udp.py: 4 UDP flows at 20 requests/s, a new source port every 100 requests
# Churn:
#   - every second, one add/edit/delete of r6:80 or r6:8080 on both directors (soak-monitor.js)
#   - health flap: r5's nginx stopped for SOAK_FLAP_DOWN (8) s every SOAK_FLAP_EVERY (30) s,
#     so that its TCP_CHECK takes it out of VIP:80 and puts it back
#   - a VRRP failover every SOAK_FAILOVER_EVERY (60) s: the master's client-side link goes
#     down (FAULT), the backup takes over with the synced connections, the link comes back and
#     the old master stays backup (nopreempt), so masters alternate
#   - connection sync (lvs_sync_daemon + lvs_sync_auth) all along
# Sampling every SOAK_SAMPLE (5) s: VmRSS and open fds of both lvsd processes, named drop
# counters and counters, the TUN's kernel counters (soak-monitor.js).
# Pass (soak-report.js): every stream intact; both lvsd alive, no uncaught exception; after
# SOAK_WARMUP (360) s, RSS and fds within ±SOAK_TOLERANCE (5) % of their post-warm-up mean
# (the warm-up ends after V8's first full collection of the main isolate, which came at
# 313-320 s in docs/SOAK.md's runs: before it, garbage promoted to old space grows RSS);
# every packet lvsd read either sent or counted under a named drop.
# Raw files and the summary go to bench-results/soak-<stamp>/ (SOAK_OUT to choose).
set -Eeuo pipefail
cd "$(dirname "$0")/.."

DUR=${SOAK_SECONDS:-600}
WARMUP=${SOAK_WARMUP:-360}
SAMPLE=${SOAK_SAMPLE:-5}
NSTREAMS=${SOAK_STREAMS:-6}
RATE_KB=${SOAK_STREAM_RATE:-64}
FAILOVER_EVERY=${SOAK_FAILOVER_EVERY:-60}
FLAP_EVERY=${SOAK_FLAP_EVERY:-30}
FLAP_DOWN=${SOAK_FLAP_DOWN:-8}
TOL=${SOAK_TOLERANCE:-5}

[[ $(id -u) -eq 0 ]] || { echo "soak: needs root (network namespaces)" >&2; exit 1; }
[[ $DUR =~ ^[0-9]+$ ]] && ((DUR >= 30 && DUR <= 7200)) || { echo "soak: SOAK_SECONDS must be 30..7200" >&2; exit 1; }
[[ $WARMUP =~ ^[0-9]+$ ]] && ((WARMUP < DUR)) || { echo "soak: SOAK_WARMUP must be below SOAK_SECONDS" >&2; exit 1; }
[[ $NSTREAMS =~ ^[0-9]+$ ]] && ((NSTREAMS >= 1 && NSTREAMS <= 32)) || { echo "soak: SOAK_STREAMS must be 1..32" >&2; exit 1; }
[[ $RATE_KB =~ ^[0-9]+$ ]] && ((RATE_KB >= 8 && RATE_KB <= 1024)) || { echo "soak: SOAK_STREAM_RATE must be 8..1024 (KB/s)" >&2; exit 1; }
for v in SAMPLE FAILOVER_EVERY FLAP_EVERY FLAP_DOWN TOL; do
  [[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} >= 1)) || { echo "soak: SOAK_$v must be a positive integer" >&2; exit 1; }
done
((FLAP_DOWN < FLAP_EVERY)) || { echo "soak: SOAK_FLAP_DOWN must be below SOAK_FLAP_EVERY" >&2; exit 1; }
for tool in nginx wrk python3 node curl; do
  command -v "$tool" >/dev/null || { echo "soak: $tool missing (netns/deps.sh installs it)" >&2; exit 1; }
done
[[ -f dist/src/cli/lvsd.js ]] || { echo "soak: no build (npm run build)" >&2; exit 1; }

source netns/lib.sh
source netns/lib-ha.sh

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${SOAK_OUT:-$LVS_ROOT/bench-results/soak-$STAMP}
mkdir -p "$OUT"
EVENTS=$OUT/events.jsonl
: >"$EVENTS"
event() { printf '{"t":%s,"kind":"%s"%s}\n' "$(date +%s.%N | cut -c1-14)" "$1" "${2:+,$2}" >>"$EVENTS"; }

log "soak: ${DUR}s, warm-up ${WARMUP}s, $NSTREAMS streams at ${RATE_KB} KB/s, failover every ${FAILOVER_EVERY}s, flap every ${FLAP_EVERY}s; results in $OUT"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "kernel: $(uname -r)"
  echo "cpus: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "mem: $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
  echo "node: $(node --version)"
  echo "load-before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

topo_ha 6

# --- real servers ------------------------------------------------------------------------------
STREAM_BYTES=$((RATE_KB * 1024 * (DUR - 10)))
head -c "$STREAM_BYTES" /dev/urandom >"$LVS_STATE/blob"
WANT=$(sha256sum <"$LVS_STATE/blob" | cut -d' ' -f1)
for ((i = 1; i <= 3; i++)); do
  dir=$LVS_STATE/www-rs$i
  mkdir -p "$dir/root"
  ln "$LVS_STATE/blob" "$dir/root/blob"
  cat >"$dir/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  default_type text/plain;
  client_body_temp_path $dir/body;
  server {
    listen $(rip "$i"):8000;
    root $dir/root;
    location = / { return 200 "rs$i\n"; }
    # The server paces the stream: a client that paces itself (curl --limit-rate) reads in
    # bursts and may stop reading for longer than nginx's send_timeout (60 s) while the
    # data waits in its receive buffer, and nginx then closes the connection.
    location = /blob { limit_rate ${RATE_KB}k; }
  }
}
EOF
  bg_in_ns "www-rs$i" "${NS_RS[i - 1]}" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
  bg_in_ns "udp-rs$i" "${NS_RS[i - 1]}" python3 "$LVS_ROOT/netns/soak-udp.py" serve "$(rip "$i")" 5300
done
for ((i = 1; i <= 3; i++)); do wait_tcp "${NS_RS[i - 1]}" "$(rip "$i")" 8000 || die "nginx in rs$i did not start"; done
run_http_servers 4 5 6
R5_PID=
r5_pid() { R5_PID=$(cat "$LVS_STATE/nginx-rs5/nginx.pid" 2>/dev/null || true); }
r5_pid

# --- directors -------------------------------------------------------------------------------
lvsd_conf() { # lvsd_conf PRIORITY
  cat <<EOF
global_defs {
    router_id lvsd_$1
    lvs_sync_daemon lan0 VI_1 id 9
    lvs_sync_auth soak-test-sync-key
}
vrrp_instance VI_1 {
    state BACKUP
    nopreempt
    interface cli0
    virtual_router_id 53
    priority $1
    advert_int 1
    virtual_ipaddress {
        $DIP_C/24 dev cli0
        $DIP/24 dev lan0
    }
}
virtual_server $VIP 8000 {
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    protocol TCP
EOF
  for ((i = 1; i <= 3; i++)); do
    printf '    real_server %s 8000 {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n' "$(rip "$i")"
  done
  cat <<EOF
}
virtual_server $VIP 5300 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
EOF
  for ((i = 1; i <= 3; i++)); do printf '    real_server %s 5300 {\n    }\n' "$(rip "$i")"; done
  cat <<EOF
}
virtual_server $VIP 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server $(rip 4) 80 {
        weight 2
    }
    real_server $(rip 5) 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
EOF
}
lvsd_conf 150 >"$LVS_STATE/d1.conf"
lvsd_conf 100 >"$LVS_STATE/d2.conf"

only() { # only I: director I holds both floating addresses, the other neither
  local o=$((3 - $1))
  holds_vip "$1" && ip -n "${NS_DS[$1 - 1]}" -4 addr show dev lan0 | grep -q "inet $DIP/" &&
    ! holds_vip "$o" && ! ip -n "${NS_DS[o - 1]}" -4 addr show dev lan0 | grep -q "inet $DIP/"
}
fetch_ok() { in_ns "$NS_C" curl -s -m 3 "http://$VIP:$1/" | grep -q '^rs'; }

start_director 1 -f "$LVS_STATE/d1.conf" || die "lvsd d1 did not start"
wait_for -t 8 holds_vip 1 || die "d1 did not become master"
start_director 2 -f "$LVS_STATE/d2.conf" || die "lvsd d2 did not start"
wait_for -t 6 only 1 || die "d2 did not settle as backup"
wait_for -t 8 fetch_ok 8000 || die "no answer from VIP:8000"
wait_for -t 8 fetch_ok 80 || die "no answer from VIP:80"
log "directors up: d1 pid ${D_PIDS[0]} (master), d2 pid ${D_PIDS[1]}"
fd_list() { # fd_list WHEN: what each lvsd has open, for telling a leak from a lazily opened socket
  local i
  for ((i = 1; i <= 2; i++)); do ls -l "/proc/${D_PIDS[i - 1]}/fd" >"$OUT/fds-d$i-$1.txt" 2>&1 || true; done
}
fd_list start

# --- traffic ---------------------------------------------------------------------------------
cat >"$LVS_STATE/wrk.lua" <<'EOF'
-- at most one request per `pace` ms per connection; the summary as one JSON line on stdout
local pace = tonumber(os.getenv("SOAK_PACE") or "20")
function delay() return pace end
function done(s, lat, req)
  local e = s.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p99_us":%d}\n',
    s.requests, s.duration, s.bytes, e.connect, e.read, e.write, e.status, e.timeout, lat:percentile(99)))
end
EOF
T0=$(date +%s)
event start "\"seconds\":$DUR,\"warmup\":$WARMUP,\"streams\":$NSTREAMS,\"stream_bytes\":$STREAM_BYTES,\"tolerance\":$TOL"
STREAM_PIDS=()
for ((k = 1; k <= NSTREAMS; k++)); do
  bg_in_ns "stream-$k" "$NS_C" curl -sS -m $((DUR + 120)) -o "$LVS_STATE/stream-$k.out" "http://$VIP:8000/blob"
  STREAM_PIDS+=("$LVS_LAST_PID")
done
bg_in_ns wrk-keepalive "$NS_C" env SOAK_PACE=20 wrk -t1 -c4 -d"${DUR}s" --timeout 15s -s "$LVS_STATE/wrk.lua" "http://$VIP:8000/"
WRK_KA=$LVS_LAST_PID
bg_in_ns wrk-close "$NS_C" env SOAK_PACE=10 wrk -t1 -c2 -d"${DUR}s" --timeout 15s -H 'Connection: close' -s "$LVS_STATE/wrk.lua" "http://$VIP:80/"
WRK_CL=$LVS_LAST_PID
bg_in_ns udp "$NS_C" python3 "$LVS_ROOT/netns/soak-udp.py" client "$VIP" 5300 "$DUR" "$OUT/udp.json" 4 20 100
UDP_PID=$LVS_LAST_PID
# In the client namespace so that cleanup finds it; it needs only the control sockets (paths)
# and /proc, which are the same from every namespace.
bg_in_ns monitor "$NS_C" node "$LVS_ROOT/netns/soak-monitor.js" "$DUR" "$SAMPLE" "$OUT/samples.jsonl" "$VIP" \
  "$LVS_STATE/lvsd1.sock:${D_PIDS[0]}" "$LVS_STATE/lvsd2.sock:${D_PIDS[1]}" -- "$(rip 6):80" "$(rip 6):8080"
MON_PID=$LVS_LAST_PID

# --- churn: failovers and health flaps on a one-second clock ---------------------------------
MASTER=1
r5_up=1
failover() {
  local m=$MASTER o=$((3 - MASTER)) t1 ok=true
  t1=$(date +%s.%N | cut -c1-14)
  event failover-start "\"from\":$m,\"to\":$o"
  ip -n "${NS_DS[m - 1]}" link set cli0 down
  if wait_for -t 10 only "$o"; then
    event failover-done "\"from\":$m,\"to\":$o,\"took\":$(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')"
  else
    ok=false
    event failover-failed "\"from\":$m,\"to\":$o"
  fi
  sleep 1
  ip -n "${NS_DS[m - 1]}" link set cli0 up
  # nopreempt: the old master comes back as backup and the new one keeps the addresses
  if $ok && wait_for -t 10 only "$o"; then MASTER=$o; fi
  event link-up "\"director\":$m,\"master\":$MASTER"
}
flap() {
  if ((r5_up)); then
    r5_pid
    [[ -n $R5_PID ]] && kill -TERM "$R5_PID" 2>/dev/null || true
    wait_for -t 5 bash -c "! ip netns exec ${NS_RS[4]} ss -Htln 'sport = :80' | grep -q ." || true
    r5_up=0
    event flap-down
  else
    run_http_servers 5
    r5_up=1
    event flap-up
  fi
}
next_fo=$((FAILOVER_EVERY / 2))
next_flap=$FLAP_EVERY
warm_listed=0
while true; do
  el=$(($(date +%s) - T0))
  ((el < DUR)) || break
  if ((!warm_listed && el >= WARMUP)); then fd_list warm; warm_listed=1; fi
  for p in "${D_PIDS[@]}"; do lvs__alive "$p" || { event lvsd-died "\"pid\":$p"; log "lvsd $p died"; break 2; }; done
  if ((el >= next_flap)); then
    flap
    if ((r5_up)); then next_flap=$((next_flap + FLAP_EVERY - FLAP_DOWN)); else next_flap=$((next_flap + FLAP_DOWN)); fi
  fi
  if ((el >= next_fo && el < DUR - 20)); then
    failover
    next_fo=$((next_fo + FAILOVER_EVERY))
  fi
  sleep 1
done
((r5_up)) || { run_http_servers 5; event flap-up; }

# --- collect ---------------------------------------------------------------------------------
log "soak: traffic window over; waiting for the clients"
wait "$MON_PID" 2>/dev/null || true
for p in "$WRK_KA" "$WRK_CL" "$UDP_PID"; do wait_for -t 30 bash -c "! kill -0 $p 2>/dev/null" || log "client $p still running"; done
streams_done() { local p; for p in "${STREAM_PIDS[@]}"; do lvs__alive "$p" && return 1; done; return 0; }
wait_for -t 120 streams_done || log "some streams still running"
for ((k = 1; k <= NSTREAMS; k++)); do
  got=$(sha256sum <"$LVS_STATE/stream-$k.out" 2>/dev/null | cut -d' ' -f1)
  size=$(stat -c %s "$LVS_STATE/stream-$k.out" 2>/dev/null || echo 0)
  event stream "\"n\":$k,\"bytes\":$size,\"intact\":$([[ $got == "$WANT" ]] && echo true || echo false),\"err\":\"$(tr -d '"\\\n' <"$LVS_STATE/stream-$k.log" | cut -c1-120)\""
done
grep -h WRKJSON "$LVS_STATE/wrk-keepalive.log" | sed 's/^WRKJSON //' >"$OUT/wrk-keepalive.json" || true
grep -h WRKJSON "$LVS_STATE/wrk-close.log" | sed 's/^WRKJSON //' >"$OUT/wrk-close.json" || true
fd_list end
alive=0
for p in "${D_PIDS[@]}"; do lvs__alive "$p" && alive=$((alive + 1)); done
uncaught=$(cat "$LVS_STATE/lvsd1.log" "$LVS_STATE/lvsd2.log" | grep -c -i 'uncaught' || true)
event end "\"lvsd_alive\":$alive,\"uncaught\":$uncaught"
echo "load-after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
cp "$LVS_STATE/lvsd1.log" "$LVS_STATE/lvsd2.log" "$LVS_STATE/monitor.log" "$OUT/" 2>/dev/null || true
for n in wrk-keepalive wrk-close udp; do cp "$LVS_STATE/$n.log" "$OUT/$n.log" 2>/dev/null || true; done
for ((i = 1; i <= 2; i++)); do
  use_director "$i"
  lvsadm --status >"$OUT/status-d$i.txt" 2>&1 || true
done

rc=0
node netns/soak-report.js "$OUT" | tee "$OUT/summary.txt" || rc=$?
exit "$rc"
