#!/usr/bin/env bash
# Smoke test of every scheduler through the real lvsd: a service per scheduler (and -b flag)
# with real servers of weights 1, 2, 3, N sequential connections from one client, and the
# distribution each scheduler's rule implies. Sequential connections leave no ACTIVE ones
# behind (closed entries count as inactive), which makes most picks deterministic.
# Needs root, /dev/net/tun and a build (dist/).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

topo_nat 3
run_http_servers
start_lvsd || die "lvsd did not start"
R1=$(rip 1) R2=$(rip 2) R3=$(rip 3)

# counts PORT N: "rs1=A rs2=B rs3=C fail=F" over N new connections to VIP:PORT.
counts() {
  in_ns "$NS_C" bash -c 'for ((i = 0; i < $1; i++)); do curl -s -m 3 "$0" || echo FAIL; done' "http://$VIP:$1/" "$2" |
    awk '{c[$1]++} END {printf "rs1=%d rs2=%d rs3=%d fail=%d\n", c["rs1"], c["rs2"], c["rs3"], c["FAIL"]}'
}
n_of() { sed -E "s/.*$2=([0-9]+).*/\1/" <<<"$1"; }
servers_used() { awk '{n = 0; for (i = 1; i <= 3; i++) { split($i, kv, "="); if (kv[2] > 0) n++ } print n}' <<<"$1"; }

port=100
# service SCHED [FLAGS]: a new service on the next port with weights 1, 2, 3; sets $port.
service() {
  port=$((port + 1))
  if [[ -n ${2:-} ]]; then lvsadm -A -t "$VIP:$port" -s "$1" -b "$2"; else lvsadm -A -t "$VIP:$port" -s "$1"; fi
  lvsadm -a -t "$VIP:$port" -r "$R1:80" -m -w 1
  lvsadm -a -t "$VIP:$port" -r "$R2:80" -m -w 2
  lvsadm -a -t "$VIP:$port" -r "$R3:80" -m -w 3
}

# Rules with nothing active: sed picks the least 1/weight (rs3); nq the first idle (rs1);
# fo the highest weight (rs3); ovf the highest weight with active ≤ weight (rs3); lblc and
# lblcr remember the first wlc pick (all idle: rs1) for the VIP; sh/dh/mh hash one client
# (or one VIP) to one server.
for spec in "sed rs3" "nq rs1" "fo rs3" "ovf rs3" "lblc rs1" "lblcr rs1"; do
  read -r s want <<<"$spec"
  service "$s"
  got=$(counts "$port" 10)
  # A connection's FIN may still be in flight when the next SYN arrives, so allow one miss.
  check "$s: 10 connections, the rule's server $want takes ≥ 9 ($got)" \
    bash -c '[[ $0 == *fail=0 ]] && (( $(sed -E "s/.*$1=([0-9]+).*/\1/" <<<"$0") >= 9 ))' "$got" "$want"
done

for s in sh dh mh; do
  service "$s"
  got=$(counts "$port" 10)
  check "$s: one client, one server ($got)" bash -c '[[ $0 == *fail=0 ]] && [[ $(tr " " "\n" <<<"$0" | grep -c "=10$") == 1 ]]' "$got"
done

for spec in "sh sh-port" "mh mh-port"; do
  read -r s f <<<"$spec"
  service "$s" "$f"
  got=$(counts "$port" 30)
  check "$s -b $f: the source port spreads one client over servers ($got)" \
    bash -c '[[ $0 == *fail=0 ]] && (( $1 >= 2 ))' "$got" "$(servers_used "$got")"
done

service twos
got=$(counts "$port" 30)
check "twos: weighted random two choices use several servers ($got)" \
  bash -c '[[ $0 == *fail=0 ]] && (( $1 >= 2 ))' "$got" "$(servers_used "$got")"

# sh-fallback / mh-fallback: quiesce the client's server; without the flag the client gets
# no server (connection refused), with it the next usable one.
for spec in "sh sh-fallback" "mh mh-fallback"; do
  read -r s f <<<"$spec"
  service "$s"
  plain=$port
  service "$s" "$f"
  fb=$port
  got=$(counts "$fb" 3)
  owner=$(tr ' ' '\n' <<<"$got" | grep "=3$" | cut -d= -f1)
  oip=$(rip "${owner#rs}")
  lvsadm -e -t "$VIP:$plain" -r "$oip:80" -m -w 0
  lvsadm -e -t "$VIP:$fb" -r "$oip:80" -m -w 0
  # the plain service keeps the same table layout, so the client hashes to the same owner
  p=$(counts "$plain" 2)
  g=$(counts "$fb" 3)
  check "$s: owner $owner quiesced: without $f no server ($p)" bash -c '[[ $0 == "rs1=0 rs2=0 rs3=0 fail=2" ]]' "$p"
  check "$s -b $f: owner $owner quiesced, the client moves on ($g)" \
    bash -c '[[ $0 == *fail=0 ]] && [[ $(sed -E "s/.*$1=([0-9]+).*/\1/" <<<"$0") == 0 ]]' "$g" "$owner"
done

check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVSD_LOG'"
((LVS_FAILS == 0))
