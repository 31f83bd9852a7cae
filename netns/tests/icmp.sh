#!/usr/bin/env bash
# End-to-end tests of ICMP relaying through the real lvsd (LVS-NAT), with ICMP errors crafted
# by scapy and captures (tcpdump in the receiving namespace) as evidence, checked field by
# field and checksum by checksum with scapy:
# - a fragmentation-needed from the client side about a connection reaches its real server
#   with outer destination, quoted source address and port rewritten;
# - a port unreachable from the NAT real server reaches the client from the VIP, quoting the
#   VIP and the virtual port;
# - a quote of an unknown connection, a truncated quote and a bad ICMP checksum are dropped
#   and counted. Needs root, /dev/net/tun, tcpdump and python3 scapy (Debian python3-scapy).
#
#   client c-TAG ── director d-TAG (lvsd, TUN lvs0) ── br0 ── r1-TAG (NAT, rport 8080)
#   198.18.0.2      198.18.0.1 | 198.19.0.1                   198.19.0.11
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/forwarding-lib.sh"

PY=/usr/bin/python3
topo_nat 1
run_http_servers
start_lvsd --pcap "$LVS_STATE/lvsd.pcap" || die "lvsd did not start"
R1=$(rip 1)
NS_R1=${NS_RS[0]}
CPORT=41000

lvsadm -A -t "$VIP:80" -s rr
lvsadm -a -t "$VIP:80" -r "$R1:8080" -m

# An established connection CIP:41000 -> VIP:80 (-> R1:8080), held open.
bg_in_ns hold "$NS_C" socat -u EXEC:"sleep 60" "TCP:$VIP:80,sourceport=$CPORT"
conn_up() { lvsadm -L -n -c | grep -q "ESTABLISHED.*198.18.0.2:$CPORT"; }
check "connection $CIP:$CPORT -> $VIP:80 established through NAT" wait_for -t 5 conn_up

# capture NAME NS FILTER: tcpdump in NS writing $LVS_STATE/NAME.pcap, one packet; waits until it listens.
capture() {
  bg_in_ns "cap-$1" "$2" tcpdump -n -U -i any -c 1 -w "$LVS_STATE/$1.pcap" "$3"
  CAP_PID=$LVS_LAST_PID
  wait_for -t 5 grep -q "listening on" "$LVS_STATE/cap-$1.log"
}

# --- client side -> real server -------------------------------------------------------------
capture rs "$NS_R1" icmp
in_ns "$NS_C" $PY - "$VIP" "$CIP" "$CPORT" <<'EOF'
import sys
from scapy.all import IP, TCP, ICMP, send, conf
conf.verb = 0
vip, cip, cport = sys.argv[1], sys.argv[2], int(sys.argv[3])
quote = IP(src=vip, dst=cip, id=4242, flags='DF') / TCP(sport=80, dport=cport, flags='A', seq=12345, ack=1)
send(IP(src=cip, dst=vip) / ICMP(type=3, code=4, nexthopmtu=1200) / bytes(quote)[:28])
EOF
wait_for -t 5 bash -c '! kill -0 "$0" 2>/dev/null' "$CAP_PID" || true
check "frag-needed from the client side reaches the real server: dst RIP, quoted src RIP:8080, checksums valid" \
  $PY - "$LVS_STATE/rs.pcap" "$CIP" "$R1" "$CPORT" <<'EOF'
import sys
from scapy.all import rdpcap, IP, ICMP, raw
from scapy.utils import checksum
pkts = rdpcap(sys.argv[1])
cip, rip, cport = sys.argv[2], sys.argv[3], int(sys.argv[4])
p = pkts[0][IP]
b = raw(p)
icmp = b[20:]
q = icmp[8:]
print(p.summary())
ok = (p.src == cip and p.dst == rip and icmp[0] == 3 and icmp[1] == 4
      and int.from_bytes(icmp[6:8], 'big') == 1200
      and checksum(b[:20]) == 0 and checksum(icmp) == 0 and checksum(q[:20]) == 0
      and q[12:16] == bytes(map(int, rip.split('.'))) and q[16:20] == bytes(map(int, cip.split('.')))
      and int.from_bytes(q[20:22], 'big') == 8080 and int.from_bytes(q[22:24], 'big') == cport
      and int.from_bytes(q[24:28], 'big') == 12345)
sys.exit(0 if ok else 1)
EOF

# --- NAT real server -> client ------------------------------------------------------------
capture cl "$NS_C" "icmp and src host $VIP"
in_ns "$NS_R1" $PY - "$R1" "$CIP" "$CPORT" <<'EOF'
import sys
from scapy.all import IP, TCP, ICMP, send, conf
conf.verb = 0
rip, cip, cport = sys.argv[1], sys.argv[2], int(sys.argv[3])
quote = IP(src=cip, dst=rip, id=99) / TCP(sport=cport, dport=8080, flags='A', seq=7, ack=12345)
send(IP(src=rip, dst=cip) / ICMP(type=3, code=3) / bytes(quote)[:28])
EOF
wait_for -t 5 bash -c '! kill -0 "$0" 2>/dev/null' "$CAP_PID" || true
check "port unreachable from the NAT real server reaches the client from the VIP quoting VIP:80" \
  $PY - "$LVS_STATE/cl.pcap" "$VIP" "$CIP" "$CPORT" <<'EOF'
import sys
from scapy.all import rdpcap, IP, raw
from scapy.utils import checksum
vip, cip, cport = sys.argv[2], sys.argv[3], int(sys.argv[4])
p = rdpcap(sys.argv[1])[0][IP]
b = raw(p)
icmp = b[20:]
q = icmp[8:]
print(p.summary())
ok = (p.src == vip and p.dst == cip and icmp[0] == 3 and icmp[1] == 3
      and checksum(b[:20]) == 0 and checksum(icmp) == 0 and checksum(q[:20]) == 0
      and q[12:16] == bytes(map(int, cip.split('.'))) and q[16:20] == bytes(map(int, vip.split('.')))
      and int.from_bytes(q[20:22], 'big') == cport and int.from_bytes(q[22:24], 'big') == 80)
sys.exit(0 if ok else 1)
EOF

# --- dropped and counted ------------------------------------------------------------------
in_ns "$NS_C" $PY - "$VIP" "$CIP" "$CPORT" <<'EOF'
import sys
from scapy.all import IP, TCP, ICMP, send, conf
conf.verb = 0
vip, cip, cport = sys.argv[1], sys.argv[2], int(sys.argv[3])
unknown = IP(src=vip, dst=cip) / TCP(sport=80, dport=cport + 1, flags='A')
known = IP(src=vip, dst=cip) / TCP(sport=80, dport=cport, flags='A')
send(IP(src=cip, dst=vip) / ICMP(type=3, code=4, nexthopmtu=1200) / bytes(unknown)[:28])
send(IP(src=cip, dst=vip) / ICMP(type=11, code=0) / bytes(known)[:24])
send(IP(src=cip, dst=vip) / ICMP(type=3, code=4, nexthopmtu=1200, chksum=0x1234) / bytes(known)[:28])
EOF
counted() { (($(drop_count icmp-no-conn) == 1 && $(drop_count icmp-quote-short) == 1 && $(drop_count icmp-csum) == 1)); }
check "unknown connection, truncated quote and bad ICMP checksum dropped and counted (icmp-no-conn, icmp-quote-short, icmp-csum)" \
  wait_for -t 5 counted
check "lvsd generated no ICMP error of its own about any of them (icmp_sent 0)" \
  expect_eq "icmp_sent" "$(lvsadm --status | awk '$1 == "icmp_sent" { print $NF }')" 0

stop_lvsd
# tcpdump names the quoted destination after "ICMP": the client for the rewritten
# frag-needed, the VIP:80 for the rewritten port unreachable.
check "lvsd --pcap: tcpdump -r shows both errors as received and as rewritten by lvsd" bash -c '
  out=$(tcpdump -n -r "$0" icmp 2>/dev/null)
  grep -q "198.18.0.2 > $2: ICMP 198.18.0.2 unreachable - need to frag (mtu 1200)" <<<"$out" &&
  grep -q "198.18.0.2 > $1: ICMP 198.18.0.2 unreachable - need to frag (mtu 1200)" <<<"$out" &&
  grep -q "$1 > 198.18.0.2: ICMP $1 tcp port 8080 unreachable" <<<"$out" &&
  grep -q "$2 > 198.18.0.2: ICMP $2 tcp port 80 unreachable" <<<"$out"' "$LVS_STATE/lvsd.pcap" "$R1" "$VIP"

((LVS_FAILS == 0)) || die "$LVS_FAILS check(s) failed"
log "ICMP tests passed"
