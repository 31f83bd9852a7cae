#!/usr/bin/env bash
# End-to-end tests of LVS-TUN (ipvsadm -i) through the real lvsd, with lvs-realserver --tunnel
# on the real servers (this kernel has no ipip module: rs1 decapsulates in userspace, rs2 and
# rs3 with the eBPF program), whose replies reach the client directly. Also: path MTU (frag-needed 1480 for a 1500-byte DF
# packet), a bulk upload through super-packet segmentation, and an lvsd --pcap capture read
# back with tcpdump -r. Needs root, /dev/net/tun, python3 scapy, a build (dist/ and native/).
#
#   client c-TAG ── director d-TAG (lvsd, TUN lvs0) ── br0 ── r1-TAG, r2-TAG, r3-TAG
#   198.18.0.2      198.18.0.1 | 198.19.0.1                   198.19.0.11 .12 .13
#        └ eth1 198.19.0.2 ─────────────────────────── br0    (RS → client bypasses lvsd)
#   VIP 198.18.100.1 on the real servers' loopback; IPIP 198.19.0.1 → RIP
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/forwarding-lib.sh"

topo_nat 3
direct_return
run_http_servers
PCAP=$LVS_STATE/lvsd.pcap
start_lvsd --pcap "$PCAP" --pcap-max-bytes 20000000 || die "lvsd did not start"
start_realserver 1 --vip "$VIP" --tunnel --tunnel-mode userspace --rt-priority 5
for i in 2 3; do start_realserver "$i" --vip "$VIP" --tunnel; done

R1=$(rip 1)
NS_R1=${NS_RS[0]}

check "lvs-realserver: VIP on lo, arp_ignore=1, arp_announce=2, userspace IPIP" bash -c '
  ip netns exec "$0" ip -o addr show dev lo | grep -q "inet $1/32" &&
  [[ $(ip netns exec "$0" sysctl -n net.ipv4.conf.all.arp_ignore) == 1 ]] &&
  [[ $(ip netns exec "$0" sysctl -n net.ipv4.conf.eth0.arp_announce) == 2 ]] &&
  grep -q "tunnel=userspace" "$2"' "$NS_R1" "$VIP" "$LVS_STATE/realserver-1.log"
check "lvs-realserver without --tunnel-mode on a kernel without ipip: eBPF decapsulation (rs2, rs3)" \
  grep -q "tunnel=bpf" "$LVS_STATE/realserver-2.log" "$LVS_STATE/realserver-3.log"
check "lvs-realserver --tunnel-mode tunl0 on a kernel without ipip: one error line, nothing changed" bash -c '
  out=$(ip netns exec "$0" node "$1/dist/src/cli/lvs-realserver.js" --vip 198.18.100.9 --tunnel --tunnel-mode tunl0 2>&1)
  rc=$?; [[ $rc != 0 && $(wc -l <<<"$out") == 1 && $out == *"no ipip module"* ]] &&
    ! ip netns exec "$0" ip -o addr show dev lo | grep -q "198.18.100.9"' "$NS_R1" "$LVS_ROOT"
check "lvs-realserver --rt-priority 5: its decapsulating thread runs under SCHED_RR at priority 5" \
  expect_eq "chrt -p" "$(chrt -p "${RS_PID[1]}" | sed -n 's/.*scheduling policy: //p; s/.*scheduling priority: //p' | tr '\n' ' ')" \
  "SCHED_RR|SCHED_RESET_ON_FORK 5 "

# --- the kernel IPVS selftest's tunnel check ------------------------------------------
lvsadm -A -t "$VIP:8000" -s rr
lvsadm -a -t "$VIP:8000" -r "$R1:8000" -i
check "selftest: 32 random bytes through the tunnel arrive intact (cmp)" \
  data_check "$NS_C" "$VIP" 8000 "$NS_R1"

check "real server port must equal the virtual port (-i with another port is refused)" \
  bash -c '! lvsadm -a -t "$0:8000" -r "$1:8001" -i 2>/dev/null' "$VIP" "$(rip 2)"

# --- HTTP through three tunnel real servers ----------------------------------------------
http_bypass_check -i Tunnel 80

# --- bulk upload: TSO super-packets segmented in userspace, path MTU learnt ----------------
lvsadm -A -t "$VIP:8002" -s rr
lvsadm -a -t "$VIP:8002" -r "$R1:8002" -i
head -c 3000000 /dev/urandom >"$LVS_STATE/bulk"
start_sink "$NS_R1" 8002 "$LVS_STATE/bulk.got"
sink=$LVS_LAST_PID
timeout 20 ip netns exec "$NS_C" socat -u "OPEN:$LVS_STATE/bulk" "TCP:$VIP:8002,connect-timeout=3" || true
wait_for -t 15 bash -c '! kill -0 "$0" 2>/dev/null' "$sink" || true
check "3 MB upload through the tunnel arrives intact (segmentation + PMTU)" cmp -s "$LVS_STATE/bulk" "$LVS_STATE/bulk.got"
# --xmit packet (the default): encapsulated frames leave by AF_PACKET to the real servers'
# MACs; the TUN carries only what lvsd builds for the client side (ICMP errors).
direct=$(drop_count tx_direct) viatun=$(drop_count tx_packets)
check "--xmit packet: tunnel frames left through AF_PACKET ($direct), not the TUN ($viatun)" \
  test "$direct" -gt 1500 -a "$viatun" -lt 10

# --- path MTU: a 1500-byte DF packet gets frag-needed with MTU 1480 -----------------------
check "1500-byte DF packet on a tunnel path: frag-needed with MTU 1480 from the VIP" \
  in_ns "$NS_C" timeout 20 /usr/bin/python3 - "$VIP" <<'EOF'
import sys
from scapy.all import IP, TCP, ICMP, Raw, sr1, conf
conf.verb = 0
vip = sys.argv[1]
p = IP(dst=vip, flags='DF') / TCP(sport=45555, dport=80, flags='S', seq=1) / Raw(b'x' * 1460)
assert len(p) == 1500
r = sr1(p, timeout=3, iface='eth0')
assert r is not None, 'no answer'
assert r.haslayer(ICMP), r.summary()
raw = bytes(r[ICMP])
mtu = int.from_bytes(raw[6:8], 'big')
print(f'got ICMP type {raw[0]} code {raw[1]} mtu {mtu} from {r[IP].src}')
sys.exit(0 if (raw[0], raw[1], mtu, r[IP].src) == (3, 4, 1480, vip) else 1)
EOF
frag_counted() { (($(drop_count tunnel-frag-needed) >= 1)); }
check "tunnel-frag-needed counted ($(drop_count tunnel-frag-needed))" frag_counted

# --- frag-needed about the director's own IPIP packet --------------------------------------
# A router between director and rs1 with a 1400-byte MTU (played by scapy in rs1) reports
# frag-needed for an IPIP packet DIP -> rs1 that carried the client's segment of an open
# connection. lvsd (nftables mark + rule) gets it, lowers the tunnel MTU towards rs1 and tells
# the client, from the VIP, MTU 1400 - 20; a ping to the director stays with its kernel.
lvsadm -A -t "$VIP:8020" -s rr
lvsadm -a -t "$VIP:8020" -r "$R1:8020" -i
start_sink "$NS_R1" 8020 "$LVS_STATE/hold.got"
hold_sink=$LVS_LAST_PID
bg_in_ns hold "$NS_C" bash -c "sleep 20 | socat -u - TCP:$VIP:8020,sourceport=45678,connect-timeout=3"
hold=$LVS_LAST_PID
conn_open() { lvsadm -L -n -c | grep -q "198.18.0.2:45678 *$VIP:8020 *$R1:8020"; }
check "a tunnel connection from port 45678 is open" wait_for -t 5 conn_open
check "the frag-needed steering rule is installed (nftables table and fwmark rule)" bash -c '
  ip netns exec "$0" nft list table ip lvsd_4040 >/dev/null && ip -n "$0" rule show | grep -q "^95:.*fwmark"' "$NS_D"
bg_in_ns icmp-cap "$NS_C" timeout 20 tcpdump -l -n -v -c 1 -i eth0 "icmp and src host $VIP"
cap=$LVS_LAST_PID
wait_for -t 5 grep -q "listening on" "$LVS_STATE/icmp-cap.log" || log "tcpdump in the client did not start"
in_ns "$NS_R1" timeout 10 /usr/bin/python3 - "$DIP" "$R1" "$VIP" <<'EOF'
import sys
from scapy.all import IP, TCP, ICMP, send, conf
conf.verb = 0
dip, rip, vip = sys.argv[1:4]
inner = IP(src='198.18.0.2', dst=vip, flags='DF', id=1) / TCP(sport=45678, dport=8020, flags='A', seq=1, ack=1)
quote = IP(src=dip, dst=rip, proto=4, flags='DF', id=2) / inner
send(IP(src=rip, dst=dip) / ICMP(type=3, code=4, nexthopmtu=1400) / bytes(quote)[:20 + 28], iface='eth0')
EOF
pmtu_lowered() { grep -q '"mtu":1400.*tunnel path MTU lowered' "$LVSD_LOG"; }
check "lvsd lowered the tunnel MTU towards rs1 to 1400" wait_for -t 5 pmtu_lowered
# The client's kernel ignores it (the quoted sequence number is not in its window); what
# matters is what lvsd sent: from the VIP, MTU 1380, quoting the client's own segment.
icmp_seen() { grep -q "need to frag (mtu 1380)" "$LVS_STATE/icmp-cap.log"; }
wait_for -t 5 icmp_seen || true
stop_pid "$cap" 2
check "the client got frag-needed from the VIP with MTU 1380, quoting 198.18.0.2.45678 > VIP.8020" bash -c '
  grep -q "$1 > 198.18.0.2: ICMP $1 unreachable - need to frag (mtu 1380)" "$0" &&
  grep -q "198.18.0.2.45678 > $1.8020" "$0"' "$LVS_STATE/icmp-cap.log" "$VIP"
check "icmp-tunnel-pmtu counted" test "$(drop_count icmp-tunnel-pmtu)" -ge 1
check "a ping to the director's LAN address is still answered by its kernel" \
  in_ns "$NS_R1" ping -c 1 -W 2 "$DIP"
stop_pid "$hold" 2
stop_pid "$hold_sink" 2

# --- eBPF decapsulation goes with its process -------------------------------------------------
# The program is attached through a BPF link owned by the helper: it goes when the process
# goes, even by SIGKILL (which leaves the VIP on lo, so only the decapsulation is missing).
NS_R3=${NS_RS[2]} R3=$(rip 3)
lvsadm -A -t "$VIP:8010" -s rr
lvsadm -a -t "$VIP:8010" -r "$R3:8010" -i
check "rs3 (tunnel=bpf): 32 random bytes through the tunnel arrive intact" data_check "$NS_C" "$VIP" 8010 "$NS_R3"
kill -KILL "${RS_PID[3]}"
wait "${RS_PID[3]}" 2>/dev/null || true
no_data() { ! data_check "$@"; }
check "after SIGKILL of lvs-realserver in rs3 nothing decapsulates there: the same check fails" \
  no_data "$NS_C" "$VIP" 8010 "$NS_R3"
# Its VIP and sysctls are still set; its state file lists them. The next start undoes them
# first, and its own SIGTERM leaves rs3 as it was before either.
check "after SIGKILL the state file of rs3's helper remains" test -s "$LVS_STATE/realserver-3.state.json"
start_realserver 3 --vip "$VIP" --tunnel
check "the next lvs-realserver in rs3 undid what the killed one left" \
  grep -q "undid what an unclean stop left (1 VIPs" "$LVS_STATE/realserver-3.log"
check "and decapsulates again: 32 random bytes arrive intact" data_check "$NS_C" "$VIP" 8010 "$NS_R3"
stop_pid "${RS_PID[3]}" 5
check "its SIGTERM restores rs3 (VIP gone from lo, arp_ignore 0, rp_filter as before, no state file)" bash -c '
  ! ip netns exec "$0" ip -o addr show dev lo | grep -q "inet $1/32" &&
  [[ $(ip netns exec "$0" sysctl -n net.ipv4.conf.all.arp_ignore) == 0 ]] &&
  [[ $(ip netns exec "$0" sysctl -n net.ipv4.conf.eth0.rp_filter) == $(ip netns exec "$0" sysctl -n net.ipv4.conf.default.rp_filter) ]] &&
  [[ ! -e $2 ]]' "$NS_R3" "$VIP" "$LVS_STATE/realserver-3.state.json"

# --- the capture --------------------------------------------------------------------------
stop_lvsd
check "lvsd removed its frag-needed steering on exit (nftables table and fwmark rule gone)" bash -c '
  ! ip netns exec "$0" nft list table ip lvsd_4040 >/dev/null 2>&1 && ! ip -n "$0" rule show | grep -q "^95:"' "$NS_D"
tcpdump -n -r "$PCAP" 2>/dev/null >"$LVS_STATE/pcap.txt" || true
check "lvsd --pcap: tcpdump -r shows the client's packets inside IPIP towards the real servers" \
  grep -qE "IP 198\.19\.0\.1 > 198\.19\.0\.1[123]: IP 198\.18\.0\.2\.[0-9]+ > $VIP\.(80|8000):" "$LVS_STATE/pcap.txt"
check "lvsd --pcap: tcpdump -r shows the frag-needed sent to the client" \
  grep -qE "IP $VIP > 198\.18\.0\.2: ICMP $VIP unreachable - need to frag \(mtu 1480\)" "$LVS_STATE/pcap.txt"
big_in=$(tcpdump -n -r "$PCAP" "tcp and dst host $VIP and greater 3000" 2>/dev/null | wc -l)
big_out=$(tcpdump -n -r "$PCAP" "ip proto 4 and greater 1501" 2>/dev/null | wc -l)
check "TSO super-packets reached lvsd ($big_in) and no IPIP packet left above 1500 bytes ($big_out)" \
  bash -c '(($0 > 0 && $1 == 0))' "$big_in" "$big_out"
check "lvsd --pcap: bounded by --pcap-max-bytes" test "$(stat -c %s "$PCAP")" -le 20000000

stop_pid "${RS_PID[1]}" 5
check "lvs-realserver undoes its changes on SIGTERM (VIP gone from lo, arp_ignore restored)" bash -c '
  ! ip netns exec "$0" ip -o addr show dev lo | grep -q "inet $1/32" &&
  [[ $(ip netns exec "$0" sysctl -n net.ipv4.conf.all.arp_ignore) == 0 ]] &&
  ! ip netns exec "$0" ip link show lvsrs0 2>/dev/null' "$NS_R1" "$VIP"
# Its exit line counts what the userspace decapsulation did: every IPIP datagram of the tests
# above was well formed and went into its TUN device.
ipip=$(sed -n 's/^ipip //p' "$LVS_STATE/realserver-1.log")
log "lvs-realserver 1: $ipip"
check "lvs-realserver decapsulated in userspace: decapsulated > 0, malformed 0, refused 0" \
  node -e 'const c = JSON.parse(process.argv[1]); process.exit(c.decapsulated > 0 && c.malformed === 0 && c.refused === 0 ? 0 : 1)' "$ipip"


# rs2 took its share of the HTTP requests through the eBPF program: the userspace path of the
# same helper saw none of it.
stop_pid "${RS_PID[2]}" 5
bpf=$(sed -n 's/^ipip-bpf //p' "$LVS_STATE/realserver-2.log") user=$(sed -n 's/^ipip //p' "$LVS_STATE/realserver-2.log")
log "lvs-realserver 2: ipip-bpf $bpf, ipip $user"
check "lvs-realserver 2 (tunnel=bpf): the eBPF program decapsulated, the userspace path nothing" \
  node -e 'const b = JSON.parse(process.argv[1]), u = JSON.parse(process.argv[2]);
    process.exit(b.decapsulated > 0 && b.failed === 0 && u.decapsulated === 0 ? 0 : 1)' "$bpf" "$user"

((LVS_FAILS == 0)) || die "$LVS_FAILS check(s) failed"
log "tunnel tests passed"
