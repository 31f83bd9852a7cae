#!/usr/bin/env bash
# Failover that loses nothing, and a director whose link goes down (netns/lib-ha.sh topology):
# two lvsd directors from keepalived.conf (VRRP + lvs_sync_daemon with lvs_sync_auth), NAT.
# Needs root, /dev/net/tun, nginx, curl, and a build (dist/).
#
#   client ── brc ── d1 (lvsd, prio 150) / d2 (lvsd, prio 100) ── brl ── r1 r2 r3 (nginx :8000)
#   floating 198.18.0.1 (client gateway) and 198.19.0.1 (real servers' gateway) on the master
#
# 1. Link down on the master's client interface: it goes to FAULT and withdraws its addresses,
#    the backup takes over, lvsd keeps running; link up: only one director holds the addresses.
# 2. 10 rate-limited downloads of a 3 MB file; SIGKILL of the master once every connection is
#    older than 1 s: all 10 complete intact through the backup; the dead master's addresses go
#    at once (reaper) and it does not keep them when it starts again.
set -Eeuo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib-ha.sh"

topo_ha 3
NDL=10
head -c 3000000 /dev/urandom >"$LVS_STATE/blob"
want=$(sha256sum <"$LVS_STATE/blob" | cut -d' ' -f1)
for ((i = 1; i <= 3; i++)); do
  dir=$LVS_STATE/www-rs$i
  mkdir -p "$dir/root"
  cp "$LVS_STATE/blob" "$dir/root/blob"
  cat >"$dir/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  server { listen $(rip "$i"):8000; root $dir/root; }
}
EOF
  bg_in_ns "www-rs$i" "${NS_RS[i - 1]}" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
done
for ((i = 1; i <= 3; i++)); do wait_tcp "${NS_RS[i - 1]}" "$(rip "$i")" 8000 || die "nginx in rs$i did not start"; done

lvsd_conf() { # lvsd_conf PRIORITY
  cat <<EOF
global_defs {
    router_id lvsd_$1
    lvs_sync_daemon lan0 VI_1 id 9
    lvs_sync_auth failover-test-sync-key
}
vrrp_instance VI_1 {
    state BACKUP
    interface cli0
    virtual_router_id 52
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
  echo '}'
}
lvsd_conf 150 >"$LVS_STATE/d1.conf"
lvsd_conf 100 >"$LVS_STATE/d2.conf"

not_holds() { ! holds_vip "$1"; }
holds_lan() { ip -n "${NS_DS[$1 - 1]}" -4 addr show dev lan0 | grep -q "inet $DIP/"; }
only() { # only I: director I holds both addresses, the other neither
  local o=$((3 - $1))
  holds_vip "$1" && holds_lan "$1" && ! holds_vip "$o" && ! holds_lan "$o"
}
fetch_ok() { in_ns "$NS_C" curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$VIP:8000/blob" | grep -q 200; }

start_director 1 -f "$LVS_STATE/d1.conf" || die "lvsd d1 did not start"
check "d1 (priority 150) becomes master" wait_for -t 8 holds_vip 1
start_director 2 -f "$LVS_STATE/d2.conf" || die "lvsd d2 did not start"
check "d2 (priority 100) is backup" wait_for -t 4 only 1
check "a download through the VIP works" wait_for -t 5 fetch_ok

# --- 1. link down / up on the master ---------------------------------------------------------
ip -n "${NS_DS[0]}" link set cli0 down
check "link down on d1: d2 holds both addresses" wait_for -t 8 only 2
check "link down on d1: lvsd d1 is still running" lvs__alive "${D_PIDS[0]}"
check "link down on d1: d1 logged FAULT" grep -q '"msg":"VRRP FAULT"' "$LVS_STATE/lvsd1.log"
check "traffic through d2 while d1's link is down" wait_for -t 5 fetch_ok
ip -n "${NS_DS[0]}" link set cli0 up
check "link up on d1: d1 (150) preempts, only d1 holds the addresses" wait_for -t 10 only 1
stable_one() { local k; for ((k = 0; k < 10; k++)); do only 1 || return 1; sleep 0.2; done; }
check "and that stays so (2 s)" stable_one
check "link up on d1: lvsd d1 is still running" lvs__alive "${D_PIDS[0]}"
check "traffic through d1 again" wait_for -t 5 fetch_ok

# --- 2. SIGKILL of the master during 10 long downloads ----------------------------------------
DL_PIDS=()
for ((k = 1; k <= NDL; k++)); do
  bg_in_ns "dl-$k" "$NS_C" curl -s -m 60 --limit-rate 200k -o "$LVS_STATE/dl-$k.out" "http://$VIP:8000/blob"
  DL_PIDS+=("$LVS_LAST_PID")
done
synced() { # the backup holds NDL ESTABLISHED :8000 entries (only sync messages create them)
  use_director 2
  [[ $(lvsadm -L -n -c | awk -v v="$VIP:8000" '$5 == v && $3 == "ESTABLISHED"' | wc -l) -ge $NDL ]]
}
check "connection sync: the backup holds the $NDL downloads" wait_for -t 8 synced
sleep 1.5 # every connection is older than 1 s (the promise being tested), none is finished yet
kill_director 1
check "SIGKILL of the master: its addresses are withdrawn at once" wait_for -t 2 not_holds 1
check "SIGKILL of the master: d2 holds the addresses" wait_for -t 8 only 2
dls_done() { local p; for p in "${DL_PIDS[@]}"; do lvs__alive "$p" && return 1; done; return 0; }
wait_for -t 60 dls_done || log "some downloads still running"
intact=0
for ((k = 1; k <= NDL; k++)); do
  got=$(sha256sum <"$LVS_STATE/dl-$k.out" 2>/dev/null | cut -d' ' -f1)
  if [[ $got == "$want" ]]; then intact=$((intact + 1)); else log "download $k: $(stat -c %s "$LVS_STATE/dl-$k.out" 2>/dev/null) bytes"; fi
done
check "SIGKILL of the master: $intact of $NDL downloads completed intact through the backup" test "$intact" -eq "$NDL"
use_director 2
lvsadm --status | grep -E 'sync_(applied|lost|nacksSent|auth|replay)' >&2 || true

# --- the killed master starts again -----------------------------------------------------------
start_director 1 -f "$LVS_STATE/d1.conf" || die "lvsd d1 did not restart"
check "a restarted d1 preempts and only it holds the addresses" wait_for -t 10 only 1
check "traffic through d1 after its restart" wait_for -t 5 fetch_ok
use_director 1
stop_lvsd
D_PIDS[0]=
check "SIGTERM: d1 removed its addresses" not_holds 1
check "SIGTERM: d2 holds them again" wait_for -t 5 only 2
use_director 2
stop_lvsd
D_PIDS[1]=
check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVS_STATE/lvsd1.log' '$LVS_STATE/lvsd2.log'"
((LVS_FAILS == 0))
