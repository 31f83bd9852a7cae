#!/usr/bin/env bash
# Stall benchmark: does anything lvsd's control plane does delay a packet? Run as root:
# `npm run bench:stall` or `bash netns/bench-stall.sh`.
#
#   client c-TAG ── director d-TAG (lvsd) ── br0 ── r1 (echo server :7007 :7008 :7009)
#                                              ├─ r2 (nginx; drops tcp :9000, the synthetic conns)
#                                              └─ r3 (the DR/tunnel farm: 48 + 64 addresses, nginx)
#
# A probe client in the client namespace (netns/stall-probe.py) sends STALL_RATE UDP echoes per
# second for STALL_DURATION seconds to two targets in the same loop: "lvsd", the virtual service
# VIP:7007 (NAT, rr over r1:7007 and r1:7009), and "control", r1:7008 at its own address,
# forwarded by the director's kernel (not through lvsd; its replies are not steered). Both go
# through the same client, director and echo server, so machine noise shows in both.
#
# Scenarios, each with and without lvsd --rt-priority 10 (name-rt):
#   baseline  the probe service only: 2 NAT real servers, a quiet control plane
#   churn     lvsd -f keepalived.conf: a VRRP master with a sync daemon (lvs_sync_daemon),
#             64 DR real servers (16 of them addresses nobody answers ARP for) with TCP_CHECK at
#             delay_loop 1, 64 tunnel real servers; 200,000 synthetic connections (SYN then ACK
#             from 200,000 client ports, ESTABLISHED in lvsd's table, dropped by r2); during the
#             probe `lvsadm -L -n -c` every second and a `lvsadm -R` of 2,000 NAT services every
#             10 s (added, then deleted, alternately)
#   churn-host  churn without the VRRP instance, the sync daemon and the listings: what is left
#             is the host layer's work (routes, neighbours, unresolved real servers, health
#             checks, the -R plumbing), separated from the sync scan and the listing, whose
#             stalls are addressed elsewhere
#
# Output: the table of netns/bench-stall-report.js on stdout, raw files in
# bench-results/stall-<stamp>/ and the summary in bench-results/stall-<stamp>.json.
#
# Environment: STALL_DURATION (default 30), STALL_RATE (default 1000), STALL_CONNS (default
# 200000), STALL_SCENARIOS (default all six), BENCH_SKIP_DEPS=1.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${STALL_DURATION:-30}
RATE=${STALL_RATE:-1000}
NCONNS=${STALL_CONNS:-200000}
SCENARIOS=${STALL_SCENARIOS:-baseline baseline-rt churn churn-rt churn-host churn-host-rt}
RT=10

[[ $(id -u) -eq 0 ]] || { echo "bench-stall: needs root (network namespaces)" >&2; exit 1; }
[[ $DUR =~ ^[1-9][0-9]*$ ]] && ((DUR <= 120)) || { echo "bench-stall: STALL_DURATION must be 1..120" >&2; exit 1; }
[[ $RATE =~ ^[1-9][0-9]*$ ]] && ((RATE <= 5000)) || { echo "bench-stall: STALL_RATE must be 1..5000" >&2; exit 1; }
[[ $NCONNS =~ ^[0-9]+$ ]] && ((NCONNS <= 250000)) || { echo "bench-stall: STALL_CONNS must be 0..250000" >&2; exit 1; }
if [[ ${BENCH_SKIP_DEPS:-0} != 1 ]]; then
  bash netns/deps.sh || echo "bench-stall: netns/deps.sh failed; continuing with what is installed" >&2
fi
for tool in python3 nginx nft node; do
  command -v "$tool" >/dev/null || { echo "bench-stall: $tool missing (netns/deps.sh installs it)" >&2; exit 1; }
done

source netns/lib.sh

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$LVS_ROOT/bench-results
RAW=$OUT/stall-$STAMP
mkdir -p "$RAW"
PROBE=$LVS_ROOT/netns/stall-probe.py
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine=$(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), kernel $(uname -r), $(node --version)"
  echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RAW/meta.env"
: >"$RAW/scenarios"

topo_nat 3
R1=$(rip 1) R2=$(rip 2) R3=$(rip 3)
NS_R1=${NS_RS[0]} NS_R2=${NS_RS[1]} NS_R3=${NS_RS[2]}
run_http_servers 2 3
bg_in_ns echo "$NS_R1" python3 "$PROBE" server 7007 7008 7009
wait_for -t 10 bash -c 'ip netns exec "$0" ss -Hlun | grep -q ":7009 "' "$NS_R1" || die "echo server did not start"
# r2 silently drops the synthetic connections (no RST, no answer: the entries stay ESTABLISHED).
in_ns "$NS_R2" nft -f - <<EOF
table ip stall {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 9000 drop
  }
}
EOF

# The farm: DR real servers .100-.163 (of which .148-.163 are nobody's: no ARP answer) and
# tunnel real servers .164-.227; r3 owns the answering ones (nginx listens on all of them).
DR_RIPS=() TUN_RIPS=()
for ((i = 100; i < 164; i++)); do DR_RIPS+=("198.19.0.$i"); done
for ((i = 164; i < 228; i++)); do TUN_RIPS+=("198.19.0.$i"); done
for ((i = 100; i < 148; i++)); do echo "addr add 198.19.0.$i/24 dev eth0"; done >"$LVS_STATE/farm.batch"
for a in "${TUN_RIPS[@]}"; do echo "addr add $a/24 dev eth0"; done >>"$LVS_STATE/farm.batch"
in_ns "$NS_R3" ip -batch "$LVS_STATE/farm.batch"

VIP_DR=198.18.101.1 VIP_TUN=198.18.101.2 VIP_CONNS=198.18.101.3
CONF=$LVS_STATE/keepalived.conf           # churn: everything
CONF_HOST=$LVS_STATE/keepalived-host.conf # churn-host: no VRRP, no sync daemon
cat >"$CONF" <<EOF
global_defs {
    router_id lvsd_stall
    lvs_sync_daemon $LAN_IF VI_1 id 9
}
vrrp_instance VI_1 {
    state MASTER
    interface $LAN_IF
    virtual_router_id 61
    priority 150
    advert_int 1
    virtual_ipaddress {
        198.19.0.250/24 dev $LAN_IF
    }
}
EOF
echo 'global_defs { router_id lvsd_stall_host }' >"$CONF_HOST"
{
  cat <<EOF
virtual_server $VIP_DR 80 {
    delay_loop 1
    lb_algo wlc
    lb_kind DR
    protocol TCP
EOF
  for a in "${DR_RIPS[@]}"; do
    printf '    real_server %s 80 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n' "$a"
  done
  cat <<EOF
}
virtual_server $VIP_TUN 80 {
    delay_loop 1
    lb_algo wlc
    lb_kind TUN
    protocol TCP
EOF
  for a in "${TUN_RIPS[@]}"; do printf '    real_server %s 80 {\n        weight 1\n    }\n' "$a"; done
  echo "}"
} >"$LVS_STATE/virtual-servers.conf"
cat "$LVS_STATE/virtual-servers.conf" >>"$CONF"
cat "$LVS_STATE/virtual-servers.conf" >>"$CONF_HOST"

# -R input: 2,000 NAT services (with one real server each) to add, and the same to delete.
python3 - "$LVS_STATE/restore-add" "$LVS_STATE/restore-del" "$R2" <<'PY'
import sys
add, dele, rip = sys.argv[1], sys.argv[2], sys.argv[3]
with open(add, "w") as a, open(dele, "w") as d:
    for i in range(2000):
        v = f"198.18.{64 + i // 250}.{1 + i % 250}:80"
        a.write(f"-A -t {v} -s rr\n-a -t {v} -r {rip}:80 -m\n")
        d.write(f"-D -t {v}\n")
PY

# conns_now: the connection count of lvsadm --status ("lvsd V on DEV, up S s, N connections").
conns_now() { lvsadm --status 2>/dev/null | sed -n '1s/.* \([0-9][0-9]*\) connections$/\1/p'; }
conns_at_least() { local c; c=$(conns_now); [[ -n $c ]] && ((c >= $1)); }
sync_master() { [[ $(lvsadm -L --daemon 2>/dev/null) == master* ]]; }

# churn_loops FILE [nolist]: -L -n -c every second (unless nolist), -R of 2,000 services every
# 10 s (results appended to FILE), until killed.
churn_loops() {
  if [[ ${2:-} == nolist ]]; then
    (while true; do sleep 1; done) &
  else
    (while true; do lvsadm -L -n -c >/dev/null 2>&1 || true; sleep 1; done) &
  fi
  LIST_PID=$!
  LVS_PIDS+=("$LIST_PID")
  (
    n=0
    while true; do
      sleep 10
      if ((n % 2 == 0)); then f=$LVS_STATE/restore-add; else f=$LVS_STATE/restore-del; fi
      t0=$(date +%s%N)
      rc=0
      lvsadm -R <"$f" >/dev/null 2>&1 || rc=$?
      echo "restore $((n % 2 == 0 ? 1 : 0)) rc=$rc ms=$((($(date +%s%N) - t0) / 1000000))" >>"$1"
      n=$((n + 1))
    done
  ) &
  RESTORE_PID=$!
  LVS_PIDS+=("$RESTORE_PID")
}

run_scenario() {
  local name=$1 kind=${1%-rt} args=()
  [[ $name == *-rt ]] && args+=(--rt-priority "$RT")
  [[ $kind == churn ]] && args+=(-f "$CONF")
  [[ $kind == churn-host ]] && args+=(-f "$CONF_HOST")
  log "scenario $name: lvsd ${args[*]}"
  start_lvsd "${args[@]}" || die "lvsd did not start ($name)"
  # The synthetic connections arrive in a burst: room for it in the TUN's queue (setup only).
  in_ns "$NS_D" ip link set lvs0 txqueuelen 20000
  lvsadm -A -u "$VIP:7007" -s rr
  lvsadm -a -u "$VIP:7007" -r "$R1:7007" -m
  lvsadm -a -u "$VIP:7007" -r "$R1:7009" -m
  local made=0
  if [[ $kind == churn* ]]; then
    lvsadm -A -t "$VIP_CONNS:9000" -s rr
    lvsadm -a -t "$VIP_CONNS:9000" -r "$R2:9000" -m
    # Segments dropped on the way (a loaded machine) leave connections missing: the same
    # connections are sent again (a SYN and an ACK on an ESTABLISHED entry leave it so).
    local pass
    for ((pass = 1; pass <= 3 && NCONNS > 0; pass++)); do
      in_ns "$NS_C" python3 "$PROBE" conns --dst "$VIP_CONNS" --dport 9000 --src-base 198.18.0.50 --sources 4 \
        --count "$NCONNS" --rate 40000 >>"$RAW/$name.conns.log" 2>&1 || log "conns generator failed: $(tail -1 "$RAW/$name.conns.log")"
      wait_for -t 10 conns_at_least "$NCONNS" && break
      log "pass $pass: lvsd holds $(conns_now) of $NCONNS connections"
    done
    made=$(conns_now)
    if [[ $kind == churn ]]; then
      wait_for -t 10 sync_master || log "no master sync daemon"
      churn_loops "$RAW/$name.restores"
    else
      churn_loops "$RAW/$name.restores" nolist
    fi
  fi
  in_ns "$NS_C" python3 "$PROBE" client --target "lvsd=$VIP:7007" --target "control=$R1:7008" \
    --rate "$RATE" --seconds "$DUR" --out "$RAW/$name.csv"
  if [[ $kind == churn* ]]; then
    kill "$LIST_PID" "$RESTORE_PID" 2>/dev/null || true
    wait "$LIST_PID" "$RESTORE_PID" 2>/dev/null || true
  fi
  {
    echo "kind=$kind"
    echo "label=$name"
    echo "rt=$([[ $name == *-rt ]] && echo "$RT" || echo 0)"
    echo "conns=$made"
    echo "daemon=$(lvsadm -L --daemon 2>/dev/null | head -1)"
  } >"$RAW/$name.env"
  lvsadm --status >"$RAW/$name.status" 2>&1 || true
  lvsadm -L -n >"$RAW/$name.services" 2>&1 || true
  cp "$LVSD_LOG" "$RAW/$name.lvsd.log"
  stop_lvsd
  echo "$name" >>"$RAW/scenarios"
}

for s in $SCENARIOS; do
  case $s in
    baseline | baseline-rt | churn | churn-rt | churn-host | churn-host-rt) run_scenario "$s" ;;
    *) die "unknown scenario $s" ;;
  esac
done

node netns/bench-stall-report.js "$RAW" --json "$OUT/stall-$STAMP.json"
for s in $SCENARIOS; do
  [[ -f $RAW/$s.restores ]] && { printf '%s restores: ' "$s"; tr '\n' ';' <"$RAW/$s.restores"; echo; }
done
echo "raw files: $RAW"
