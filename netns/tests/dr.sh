#!/usr/bin/env bash
# End-to-end tests of LVS-DR (ipvsadm -g) through the real lvsd: frames leave by AF_PACKET on
# the director's LAN bridge to the real servers' MACs, lvs-realserver puts the VIP on their
# loopback, and replies reach the client directly. Also: a bulk upload (GSO frames through
# PACKET_VNET_HDR), and the three methods mixed in one service. Needs root, /dev/net/tun and a
# build (dist/ and native/ with packet.cc).
#
#   client c-TAG ── director d-TAG (lvsd, TUN lvs0) ── br0 ── r1-TAG, r2-TAG, r3-TAG
#   198.18.0.2      198.18.0.1 | 198.19.0.1                   198.19.0.11 .12 .13
#        └ eth1 198.19.0.2 ─────────────────────────── br0    (RS → client bypasses lvsd)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/forwarding-lib.sh"

topo_nat 3
direct_return
run_http_servers
start_lvsd --rt-priority 5 || die "lvsd did not start"
start_realserver 1 --vip "$VIP"
start_realserver 2 --vip "$VIP" --tunnel
start_realserver 3 --vip "$VIP"

R1=$(rip 1) R2=$(rip 2) R3=$(rip 3)
NS_R1=${NS_RS[0]}

# --- scheduling of the packet thread (--rt-priority) ---------------------------------------
# rt_threads: "SCHED_RR|SCHED_RESET_ON_FORK 5" once per thread of lvsd under that policy.
rt_threads() {
  local t
  for t in /proc/"$LVSD_PID"/task/*; do
    chrt -p "${t##*/}" | sed -n 's/.*scheduling policy: //p; s/.*scheduling priority: //p' | tr '\n' ' '
    echo
  done | grep -c "^SCHED_RR|SCHED_RESET_ON_FORK 5 $"
}
rt_workers() { [[ $(rt_threads) == "${LVSD_WORKERS:-$(nproc)}" ]]; }
check "lvsd --rt-priority 5: each packet worker runs under SCHED_RR at priority 5 (${LVSD_WORKERS:-$(nproc)} workers)" \
  wait_for -t 5 rt_workers
check "lvsd --rt-priority 5: the main thread (control plane) stays ordinary" \
  expect_eq "chrt -p" "$(chrt -p "$LVSD_PID" | sed -n 's/.*scheduling policy: //p' | cut -d'|' -f1)" "SCHED_OTHER"
# refused_cleanly MESSAGE ARGS...: lvsd ARGS exits 2 with one line containing MESSAGE, and
# neither its TUN device (lvsbad0) nor its capture file was created.
refused_cleanly() {
  local want=$1 out rc=0 cap=$LVS_STATE/refused.pcap
  shift
  out=$(ip netns exec "$NS_D" node "$LVS_ROOT/dist/src/cli/lvsd.js" --tun lvsbad0 --socket "$LVS_STATE/bad.sock" \
    --pcap "$cap" "$@" 2>&1) || rc=$?
  [[ $rc == 2 && $(wc -l <<<"$out") == 1 && $out == *"$want"* ]] &&
    ! ip -n "$NS_D" link show lvsbad0 >/dev/null 2>&1 && [[ ! -e $cap ]]
}
check "lvsd --rt-priority 100 is refused with one line, before anything changes" \
  refused_cleanly "--rt-priority must be" --rt-priority 100
check "lvsd --xmit bogus is refused with one line, before anything changes" \
  refused_cleanly "--xmit must be 'packet' or 'tun'" --xmit bogus
check "lvsd --pcap-max-bytes 5 is refused with one line, before anything changes" \
  refused_cleanly "--pcap-max-bytes must be" --pcap-max-bytes 5

# --- the kernel IPVS selftest's DR check ----------------------------------------------
lvsadm -A -t "$VIP:8000" -s rr
lvsadm -a -t "$VIP:8000" -r "$R1:8000" -g
check "selftest: 32 random bytes through direct routing arrive intact (cmp)" \
  data_check "$NS_C" "$VIP" 8000 "$NS_R1"
check "the real server's MAC was resolved (no dr-no-neigh drops)" \
  expect_eq "dr-no-neigh" "$(drop_count dr-no-neigh)" 0

# --- HTTP through three DR real servers --------------------------------------------------
http_bypass_check -g Route 80

# --- bulk upload: super-packets handed to the kernel with PACKET_VNET_HDR ------------------
lvsadm -A -t "$VIP:8002" -s rr
lvsadm -a -t "$VIP:8002" -r "$R1:8002" -g
head -c 3000000 /dev/urandom >"$LVS_STATE/bulk"
start_sink "$NS_R1" 8002 "$LVS_STATE/bulk.got"
sink=$LVS_LAST_PID
timeout 20 ip netns exec "$NS_C" socat -u "OPEN:$LVS_STATE/bulk" "TCP:$VIP:8002,connect-timeout=3" || true
wait_for -t 15 bash -c '! kill -0 "$0" 2>/dev/null' "$sink" || true
check "3 MB upload through direct routing arrives intact" cmp -s "$LVS_STATE/bulk" "$LVS_STATE/bulk.got"
check "the AF_PACKET socket took PACKET_VNET_HDR (the kernel segments super-packets)" \
  grep -q '"vnetHdr":true.*AF_PACKET socket opened' "$LVSD_LOG"
check "no frames refused by the AF_PACKET socket" expect_eq "dr-send-failed" "$(drop_count dr-send-failed)" 0

# --- methods mixed within one service ------------------------------------------------------
# r3 is a NAT server here: its replies must go back through the director.
ip -n "${NS_RS[2]}" route replace 198.18.0.0/24 via "$DIP"
lvsadm -A -t "$VIP:8080" -s rr
lvsadm -a -t "$VIP:8080" -r "$R1:8080" -g
lvsadm -a -t "$VIP:8080" -r "$R2:8080" -i
lvsadm -a -t "$VIP:8080" -r "$R3:8080" -m
check "one service, three methods: lvsadm -L -n lists Route, Tunnel and Masq" \
  expect_eq "forward column" "$(fwd_names "$VIP:8080")" "Masq Route Tunnel "
check "one service, three methods: 30 requests, 10 per real server" \
  expect_eq "rr counts" "$(counts 30 "http://$VIP:8080/")" "rs1=10 rs2=10 rs3=10 fail=0"

((LVS_FAILS == 0)) || die "$LVS_FAILS check(s) failed"
log "direct routing tests passed"
