#!/usr/bin/env bash
# Director failover with VRRP: two lvsd directors (netns/lib-ha.sh topology), then lvsd against
# keepalived's VRRP. Needs root, /dev/net/tun, keepalived, and a build (dist/).
#
#   client ── brc ── d1 (lvsd, prio 150) / d2 (lvsd or keepalived, prio 100) ── brl ── r1 r2 r3
#   floating 198.18.0.1 (client gateway) and 198.19.0.1 (real servers' gateway) on the master
set -Eeuo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib-ha.sh"

topo_ha 3
run_http_servers
R1=$(rip 1) R2=$(rip 2) R3=$(rip 3)
for ns in "${NS_RS[@]}"; do start_echo "$ns" 9000; done

# vrrp_conf PRIORITY [EXTRA]: the vrrp_instance both directors run (keepalived syntax).
vrrp_conf() {
  cat <<EOF
vrrp_instance VI_1 {
    state ${3:-BACKUP}
    interface cli0
    virtual_router_id 51
    priority $1
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        $DIP_C/24 dev cli0
        $DIP/24 dev lan0
    }
    notify "echo >>$LVS_STATE/notify-\$(basename \$(ip netns identify) -$LVS_TAG).log"
${2:-}
}
EOF
}

lvsd_conf() { # lvsd_conf PRIORITY: keepalived.conf for an lvsd director
  cat <<EOF
global_defs {
    router_id lvsd_$1
    lvs_sync_daemon lan0 VI_1 id 7
    lvs_sync_auth sync-s3cret
}
EOF
  vrrp_conf "$1"
  cat <<EOF
virtual_server $VIP 9000 {
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server $R1 9000 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server $R2 9000 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server $R3 9000 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}

virtual_server $VIP 80 {
    delay_loop 2
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
    real_server $R3 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
EOF
}

lvsd_conf 150 >"$LVS_STATE/d1.conf"
lvsd_conf 100 >"$LVS_STATE/d2.conf"

counts() { # counts N: answers of N new connections through the VIP
  in_ns "$NS_C" bash -c 'for ((i = 0; i < $0; i++)); do curl -s -m 2 "$1" || echo FAIL; done' "$1" "http://$VIP/" |
    awk '{c[$1]++} END {printf "rs1=%d rs2=%d rs3=%d fail=%d\n", c["rs1"], c["rs2"], c["rs3"], c["FAIL"]}'
}
no_fail() { [[ $(counts "$1") == *" fail=0" ]]; }
not_holds() { ! holds_vip "$1"; }

# master_ms I T0: milliseconds from T0 (epoch ms) until lvsd in director I logged its
# transition to MASTER (logged after the addresses are added and announced), or -1.
master_ms() {
  node -e '
    let t = -1;
    for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) {
      if (!l.startsWith("{")) continue;
      const j = JSON.parse(l);
      if (j.msg === "VRRP MASTER" && Date.parse(j.time) >= Number(process.argv[2])) { t = Date.parse(j.time) - Number(process.argv[2]); break; }
    }
    console.log(t);' "$LVS_STATE/lvsd$1.log" "$2"
  grep -F '"msg":"VRRP' "$LVS_STATE/lvsd$1.log" | tail -n 4 | cut -c1-300 >&2
}

# takeover_ms I LIMIT: milliseconds until director I holds the VIP (polled every 20 ms), or -1.
# The poll itself costs a process per probe: used where the new master is keepalived.
takeover_ms() {
  local t0 now
  t0=$(date +%s%3N)
  while true; do
    now=$(date +%s%3N)
    if holds_vip "$1"; then echo $((now - t0)); return 0; fi
    ((now - t0 < $2)) || { echo -1; return 0; }
    sleep 0.02
  done
}

start_director 1 -f "$LVS_STATE/d1.conf" || die "lvsd d1 did not start"
check "d1 (priority 150) becomes master" wait_for -t 8 holds_vip 1
start_director 2 -f "$LVS_STATE/d2.conf" || die "lvsd d2 did not start"
# Started about together, both may claim mastership for a moment; d2 must yield to 150.
check "d2 (priority 100) is backup without the addresses" wait_for -t 3 not_holds 2
check "the real servers' gateway floats with the master" \
  bash -c "ip -n ${NS_DS[0]} -4 addr show dev lan0 | grep -q 'inet $DIP/24'"
check "traffic through the VIP via the master: 12 requests, none failed" no_fail 12
use_director 1
check "lvsadm -L --daemon on the VRRP master: the master sync daemon" \
  expect_eq "daemons" "$(lvsadm -L --daemon)" "master sync daemon (mcast=lan0, syncid=7)"
use_director 2
check "lvsadm -L --daemon on the VRRP backup: the backup sync daemon" \
  expect_eq "daemons" "$(lvsadm -L --daemon)" "backup sync daemon (mcast=lan0, syncid=7)"

# --- SIGKILL the master while 20 long-lived NAT streams run through it --------------------
# Stream K: 120 numbered lines with a random tag, one every 100 ms, echoed back by the real
# server (socat PIPE); intact when the echo equals what was sent.
NSTREAMS=20
STREAM_PIDS=()
stream_text() { # stream_text K TAG [DELAY]
  local i
  for ((i = 1; i <= 120; i++)); do
    printf 'stream %02d line %03d %s\n' "$1" "$i" "$2"
    [[ -n ${3:-} ]] && sleep "$3"
  done
  return 0
}
for ((k = 1; k <= NSTREAMS; k++)); do
  head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$LVS_STATE/stream-$k.tag"
  bg_in_ns "stream-$k" "$NS_C" bash -c "$(declare -f stream_text)"'
    stream_text "$1" "$(cat "$2/stream-$1.tag")" 0.1 |
      socat -t 20 - "TCP:$3:9000,connect-timeout=3" >"$2/stream-$1.out"' _ "$k" "$LVS_STATE" "$VIP"
  STREAM_PIDS+=("$LVS_LAST_PID")
done
synced() { # the backup holds NSTREAMS ESTABLISHED :9000 entries (only sync messages create them)
  use_director 2
  [[ $(lvsadm -L -n -c | awk -v v="$VIP:9000" '$5 == v && $3 == "ESTABLISHED"' | wc -l) -ge $NSTREAMS ]]
}
check "connection sync: the backup holds the $NSTREAMS established streams" wait_for -t 8 synced
t0=$(date +%s%3N)
kill_director 1
check "SIGKILL of the master: d2 holds the VIP" wait_for -t 8 holds_vip 2
ms=$(master_ms 2 "$t0")
check "SIGKILL of the master: d2 took over ${ms} ms after the kill (limit 3·advert_int + 1 s = 4000)" \
  test "$ms" -ge 0 -a "$ms" -le 4000
streams_done() { local p; for p in "${STREAM_PIDS[@]}"; do lvs__alive "$p" && return 1; done; return 0; }
wait_for -t 45 streams_done || log "some streams still running"
intact=0
for ((k = 1; k <= NSTREAMS; k++)); do
  if [[ $(cat "$LVS_STATE/stream-$k.out" 2>/dev/null) == "$(stream_text "$k" "$(cat "$LVS_STATE/stream-$k.tag")")" ]]; then
    intact=$((intact + 1))
  else
    log "stream $k: $(wc -l <"$LVS_STATE/stream-$k.out" 2>/dev/null) lines echoed"
  fi
done
check "connection sync: $intact of $NSTREAMS streams kept flowing across the takeover, data intact (need 95%)" \
  test $((intact * 100)) -ge $((NSTREAMS * 95))
check "new connections succeed through the new master" wait_for -t 5 no_fail 10
check "notify script ran on d2 with INSTANCE VI_1 MASTER 100" \
  wait_for -t 3 grep -q "INSTANCE VI_1 MASTER 100" "$LVS_STATE/notify-d2.log"

# --- the old master returns and preempts (its stale addresses are released first) --------
start_director 1 -f "$LVS_STATE/d1.conf" || die "lvsd d1 did not restart"
check "a restarted d1 preempts: it holds the VIP again" wait_for -t 8 holds_vip 1
check "and d2 released the addresses" wait_for -t 3 not_holds 2
check "traffic flows through d1 again" wait_for -t 5 no_fail 10

# --- graceful stop: priority 0 lets the backup take over after Skew_Time ------------------
use_director 1
t0=$(date +%s%3N)
stop_lvsd
D_PIDS[0]=
check "SIGTERM of the master: d2 holds the VIP" wait_for -t 5 holds_vip 2
ms=$(master_ms 2 "$t0")
check "SIGTERM of the master: d2 took over ${ms} ms after it (priority 0: Skew_Time, limit 1500)" \
  test "$ms" -ge 0 -a "$ms" -le 1500
check "the stopped master removed its addresses" not_holds 1
use_director 2
stop_lvsd
D_PIDS[1]=

# --- interoperation with keepalived's VRRP ---------------------------------------------------
if ! command -v keepalived >/dev/null; then
  printf 'FAIL: keepalived is not installed (netns/deps.sh installs it)\n'
  exit 1
fi
# lvsd first (alone it becomes master), then keepalived joins as backup and must stay one.
start_director 1 -f "$LVS_STATE/d1.conf" || die "lvsd d1 did not start against keepalived"
check "lvsd (150) alone becomes master" wait_for -t 8 holds_vip 1
vrrp_conf 100 >"$LVS_STATE/ka-backup.conf"
bg_in_ns ka-backup "${NS_DS[1]}" stdbuf -oL -eL keepalived --vrrp -n -l -D -f "$LVS_STATE/ka-backup.conf" \
  -p "$LVS_STATE/ka-backup.pid" -r "$LVS_STATE/ka-backup-vrrp.pid"
KA_PID=$LVS_LAST_PID
ka_backup_ok() {
  sleep 5 # longer than keepalived's Master_Down_Interval (3·1 s + skew): it would have taken over
  grep -q "(VI_1) Entering BACKUP STATE" "$LVS_STATE/ka-backup.log" &&
    ! grep -q "(VI_1) Entering MASTER STATE" "$LVS_STATE/ka-backup.log" && not_holds 2 && return 0
  log "keepalived log:"
  tail -n 15 "$LVS_STATE/ka-backup.log" >&2
  return 1
}
check "keepalived as backup: keepalived accepts lvsd's adverts (BACKUP, never MASTER, no addresses)" ka_backup_ok
check "keepalived as backup: traffic through lvsd" no_fail 6
kill_director 1
ms=$(takeover_ms 2 6000)
check "SIGKILL of lvsd: keepalived takes the VIP after ${ms} ms (limit 4000)" test "$ms" -ge 0 -a "$ms" -le 4000
start_director 1 -f "$LVS_STATE/d1.conf" || die "lvsd d1 did not restart"
check "lvsd (150) preempts keepalived (100)" wait_for -t 8 holds_vip 1
check "keepalived released the VIP on lvsd's adverts" wait_for -t 3 not_holds 2
stop_pid "$KA_PID" 5
use_director 1
stop_lvsd
D_PIDS[0]=

# keepalived as master (200) against lvsd (100) as backup.
vrrp_conf 200 "" MASTER >"$LVS_STATE/ka-master.conf"
bg_in_ns ka-master "${NS_DS[1]}" stdbuf -oL -eL keepalived --vrrp -n -l -D -f "$LVS_STATE/ka-master.conf" \
  -p "$LVS_STATE/ka-master.pid" -r "$LVS_STATE/ka-master-vrrp.pid"
KA_PID=$LVS_LAST_PID
check "keepalived (200) becomes master" wait_for -t 8 holds_vip 2
lvsd_conf 100 >"$LVS_STATE/d1-low.conf"
start_director 1 -f "$LVS_STATE/d1-low.conf" || die "lvsd d1 did not start as backup"
check "lvsd (100) stays backup while keepalived advertises" bash -c "sleep 4; ! ip -n ${NS_DS[0]} -4 addr show dev cli0 | grep -q 'inet $DIP_C/'"
# A dead keepalived box: SIGSTOP freezes its parent and VRRP child (a SIGKILL of the parent
# alone makes the child resign with priority 0, a graceful handover), then they are killed.
ka_pids=()
for p in $(ip netns pids "${NS_DS[1]}"); do [[ $(ps -o comm= -p "$p") == keepalived ]] && ka_pids+=("$p"); done
t0=$(date +%s%3N)
kill -STOP "${ka_pids[@]}"
check "keepalived master frozen: lvsd holds the VIP" wait_for -t 8 holds_vip 1
ms=$(master_ms 1 "$t0")
check "keepalived master frozen: lvsd took over ${ms} ms after it (limit 3·advert_int + 1 s = 4000)" \
  test "$ms" -ge 0 -a "$ms" -le 4000
kill -KILL "${ka_pids[@]}"
kill -CONT "${ka_pids[@]}" 2>/dev/null || true
check "traffic through lvsd after taking over from keepalived" wait_for -t 5 no_fail 6

use_director 1
stop_lvsd
check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVS_STATE/lvsd1.log' '$LVS_STATE/lvsd2.log'"
((LVS_FAILS == 0))
