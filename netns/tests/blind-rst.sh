#!/usr/bin/env bash
# Blind connection kill (RFC 5961 §3): RSTs spoofed from the client's address and port with
# arbitrary sequence numbers, sent by scapy, must not move an idle ESTABLISHED entry to CLOSE;
# the connection keeps working and the RSTs are counted as tcp-rst-window drops.
# Needs root, /dev/net/tun and python3 scapy (Debian python3-scapy).
#
#   client c-TAG ── director d-TAG (lvsd, TUN lvs0) ── br0 ── r1-TAG (socat echo :9000, NAT)
#   198.18.0.2      198.18.0.1 | 198.19.0.1                   198.19.0.11
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

PY=/usr/bin/python3
topo_nat 1
R1=$(rip 1)
start_echo "${NS_RS[0]}" 9000
start_lvsd || die "lvsd did not start"
lvsadm -A -t "$VIP:9000" -s rr
lvsadm -a -t "$VIP:9000" -r "$R1:9000" -m

FLAG=$LVS_STATE/go-on
bg_in_ns rst-client "$NS_C" bash -c '
  { echo "line one"; while [ ! -f "$1" ]; do sleep 0.05; done; echo "line two"; } |
    socat -t 3 - "TCP:$2:9000,connect-timeout=3" >"$3"' _ "$FLAG" "$VIP" "$LVS_STATE/echo.out"
CLIENT_PID=$LVS_LAST_PID
entry_state() { lvsadm -L -n -c | awk -v v="$VIP:9000" '$5 == v {print $3}'; }
established() { [[ $(entry_state) == ESTABLISHED ]] && grep -q 'line one' "$LVS_STATE/echo.out"; }
check "an idle echo connection is ESTABLISHED through the director" wait_for -t 5 established
CPORT=$(ip netns exec "$NS_C" ss -Htn state established "dst $VIP:9000" | awk '{split($3, a, ":"); print a[2]}' | head -n 1)
check "the client's port is known ($CPORT)" test -n "$CPORT"

drops() { lvsadm --status | awk '$1 == "tcp-rst-window" {print $2}'; }
before=$(drops)
check "3 blind RSTs with random sequence numbers from the client's address and port (scapy)" \
  ip netns exec "$NS_C" "$PY" - "$CIP" "$CPORT" "$VIP" <<'EOF'
import random, sys
from scapy.all import IP, TCP, send, conf
conf.verb = 0
cip, cport, vip = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for _ in range(3):
    send(IP(src=cip, dst=vip) / TCP(sport=cport, dport=9000, flags='R', seq=random.getrandbits(32)))
EOF
rst_counted() { [[ $(( $(drops) - ${before:-0} )) -ge 3 ]]; }
check "the RSTs are dropped and counted (tcp-rst-window)" wait_for -t 5 rst_counted
check "the entry is still ESTABLISHED, not CLOSE" expect_eq "state" "$(entry_state)" "ESTABLISHED"
touch "$FLAG"
echoed() { grep -q 'line two' "$LVS_STATE/echo.out"; }
check "the connection still carries data both ways" wait_for -t 5 echoed
wait_for -t 6 bash -c '! kill -0 "$0" 2>/dev/null' "$CLIENT_PID" || true
stop_lvsd
((LVS_FAILS == 0))
