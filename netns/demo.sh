#!/usr/bin/env bash
# The demo: a client, a director running lvsd and three real servers in network namespaces;
# a virtual service configured with lvsadm (ipvsadm's command line), HTTP traffic through
# it, and the ipvsadm listings. Run as root on Debian: `npm run demo`. Leaves nothing behind.
#
#   client ── director (lvsd, TUN lvs0) ── LAN bridge ── rs1, rs2, rs3 (nginx)
#   198.18.0.2  198.18.0.1 | 198.19.0.1                198.19.0.11 .12 .13
#   VIP 198.18.100.1:80, NAT (-m), round robin
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (network namespaces, TUN)" >&2; exit 1; }
bash netns/deps.sh
source netns/lib.sh

topo_nat 3
run_http_servers
start_lvsd || die "lvsd did not start; see above"

say() { printf '\n$ %s\n' "$*"; }
say "lvsadm -A -t $VIP:80 -s rr"
lvsadm -A -t "$VIP:80" -s rr
for i in 1 2 3; do
  say "lvsadm -a -t $VIP:80 -r $(rip "$i"):80 -m -w $i"
  lvsadm -a -t "$VIP:80" -r "$(rip "$i"):80" -m -w "$i"
done

say "curl http://$VIP/   (12 times, from the client namespace)"
in_ns "$NS_C" bash -c 'for i in $(seq 12); do curl -s -m 3 "http://$0/" || echo FAIL; done | sort | uniq -c' "$VIP"

say "lvsadm -E -t $VIP:80 -s wrr; then 60 requests"
lvsadm -E -t "$VIP:80" -s wrr
in_ns "$NS_C" bash -c 'for i in $(seq 60); do curl -s -m 3 "http://$0/" || echo FAIL; done | sort | uniq -c' "$VIP"

say "kernel IPVS selftest's check: 32 random bytes with socat through VIP:8000 to rs1, compared with cmp"
lvsadm -A -t "$VIP:8000" -s rr
lvsadm -a -t "$VIP:8000" -r "$(rip 1):8000" -m
data_check "$NS_C" "$VIP" 8000 "${NS_RS[0]}" && echo "data check: OK" || echo "data check: FAILED"

bg_in_ns demo-session "$NS_C" socat -u EXEC:"sleep 5" "TCP:$VIP:80"
wait_for -t 5 bash -c "ip netns exec $NS_D node $LVS_ROOT/dist/src/cli/lvsadm.js --socket $LVSD_SOCK -L -n -c | grep -q ESTABLISHED" || true

say "lvsadm -L -n"
lvsadm -L -n
say "lvsadm -L -n --stats"
lvsadm -L -n --stats
say "lvsadm -L -n -c   (an open session is ESTABLISHED; finished ones wait in TIME_WAIT)"
lvsadm -L -n -c | head -8
say "lvsadm -S -n"
lvsadm -S -n
say "lvsadm --status   (daemon counters and named drop reasons)"
lvsadm --status | head -12
printf '\ndemo finished; cleaning up the namespaces\n'
