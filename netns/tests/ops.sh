#!/usr/bin/env bash
# Running lvsd as a service: the sd_notify sequence a Type=notify unit sees (READY=1 only once
# the control socket answers, RELOADING=1/READY=1 around SIGHUP, WATCHDOG=1, STOPPING=1),
# --pid-file, readable log records with one record per rule change, and a --pcap capture of
# both directions read by tcpdump -r and by src/phy/pcap.ts while lvsd runs; then
# `lvsd --pcap - | tcpdump -r -` live.
#
#   client c-TAG ── director d-TAG (lvsd, TUN lvs0) ── br0 ── r1-TAG
#   198.18.0.2      198.18.0.1 | 198.19.0.1                   198.19.0.11 (nginx)
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

topo_nat 1
run_http_servers
R1=$(rip 1)
NOTIFY=$LVS_STATE/notify.sock
NLOG=$LVS_STATE/notify.log
PCAP=$LVS_STATE/capture.pcap
PIDF=$LVS_STATE/lvsd.pid

bg_in_ns notify "$NS_D" python3 "$LVS_ROOT/netns/notify-listen.py" "$NOTIFY" "$LVSD_SOCK"
NLOG=$LVS_STATE/notify.log
wait_for grep -q listening "$NLOG" || die "notify listener did not start"

NOTIFY_SOCKET=$NOTIFY WATCHDOG_USEC=400000 start_lvsd --pcap "$PCAP" --pid-file "$PIDF" || die "lvsd did not start"

quiet() { "$@" >/dev/null 2>&1; }
notified() { grep -q -- "$1" "$NLOG"; }
check "READY=1 reaches NOTIFY_SOCKET" wait_for notified 'READY=1'
check "the control socket answered when READY=1 arrived" \
  expect_eq "line after READY=1" "$(grep -A1 -m1 'READY=1' "$NLOG" | tail -n 1)" "control ok"
check "--pid-file holds lvsd's pid" expect_eq "pid file" "$(cat "$PIDF")" "$LVSD_PID"
check "WATCHDOG=1 every WATCHDOG_USEC/2 (at least 3 in 1.5 s)" \
  wait_for -t 2 bash -c "(( \$(grep -c '^WATCHDOG=1\$' '$NLOG') >= 3 ))"

lvsadm -A -t "$VIP:80" -s rr
lvsadm -a -t "$VIP:80" -r "$R1:80" -m -w 2
lvsadm -e -t "$VIP:80" -r "$R1:80" -m -w 3
lvsadm --set 900 120 300
check "lvsadm --vrrp answers without vrrp_instance" \
  expect_eq "--vrrp" "$(lvsadm --vrrp)" "no VRRP instances (lvsd runs without vrrp_instance)"
check "traffic through the VIP" expect_eq "answers" "$(curl_n 3 "http://$VIP/" | tr '\n' ' ')" "rs1 rs1 rs1 "

# --- the capture, read while lvsd runs --------------------------------------------------
# (no pipe into grep -q: under pipefail tcpdump's SIGPIPE would fail the check)
tcpdump_has() {
  local out
  out=$(tcpdump -n -r "$PCAP" 2>/dev/null)
  grep -q -E -- "$1" <<<"$out"
}
check "tcpdump -r reads the running capture: client to VIP (received)" \
  wait_for -t 2 tcpdump_has "$CIP\.[0-9]* > $VIP\.80: Flags \[S\]"
check "tcpdump -r: director to real server, translated (sent)" wait_for -t 2 tcpdump_has "$CIP\.[0-9]* > $R1\.80: Flags \[S\]"
check "tcpdump -r: real server's reply (received)" wait_for -t 2 tcpdump_has "$R1\.80 > $CIP\.[0-9]*: Flags \[S\.\]"
check "tcpdump -r: reply to the client from the VIP (sent)" wait_for -t 2 tcpdump_has "$VIP\.80 > $CIP\.[0-9]*: Flags \[S\.\]"
reader_counts() {
  node -e '
    const { parsePcap } = require(process.argv[1] + "/dist/src/phy/pcap.js");
    const f = parsePcap(require("fs").readFileSync(process.argv[2]));
    const ip = (b, o) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
    const c = {};
    for (const r of f.records) { const k = `${ip(r.data, 12)}>${ip(r.data, 16)}`; c[k] = (c[k] ?? 0) + 1; }
    const n = (k) => c[k] ?? 0;
    const [cip, vip, rip] = process.argv.slice(3);
    console.log([n(`${cip}>${vip}`) > 0, n(`${cip}>${rip}`) > 0, n(`${rip}>${cip}`) > 0, n(`${vip}>${cip}`) > 0,
      f.linktype, f.records.length > 8].join(" "));
  ' "$LVS_ROOT" "$PCAP" "$CIP" "$VIP" "$R1"
}
check "src/phy/pcap.ts reads the running capture: both directions on both sides" \
  expect_eq "reader" "$(reader_counts)" "true true true true 101 true"
check "lvsd still runs while its capture is read" lvs__alive "$LVSD_PID"

# --- the log ------------------------------------------------------------------------------
logged() { grep -c -F -- "$1" "$LVSD_LOG" || true; }
check "records carry ISO times and level names" \
  grep -q -E '^\{"level":"info","time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z","pid":[0-9]+,"name":"lvsd"' "$LVSD_LOG"
check "-A logged once, service as ipvsadm prints it" \
  expect_eq "-A records" "$(logged '"cmd":"-A","service":"TCP 198.18.100.1:80","scheduler":"rr","msg":"virtual service added"')" 1
check "-a logged once: dest a.b.c.d:port, method by name" \
  expect_eq "-a records" "$(logged '"cmd":"-a","service":"TCP 198.18.100.1:80","dest":"198.19.0.11:80","fwd":"Masq","weight":2')" 1
check "-e logged once" expect_eq "-e records" "$(logged '"cmd":"-e","service":"TCP 198.18.100.1:80","dest":"198.19.0.11:80","fwd":"Masq","weight":3')" 1
check "--set logged once" expect_eq "--set records" "$(logged '"cmd":"--set","tcp":900,"tcpfin":120,"udp":300')" 1
check "no listing is logged" expect_eq "list-services records" "$(logged 'list-services')" 0
check "no spurious warnings at start" expect_eq "warn/error records" \
  "$(grep -c -E '"level":"(warn|error|fatal)"' "$LVSD_LOG" || true)" 0
check "NAT does not call its AF_PACKET output direct routing" expect_eq "records" "$(logged 'direct routing')" 0
check "no addresses as integers" expect_eq "records" "$(grep -c -E '"(dest|service|vip|rip)":"?[0-9]{6,}' "$LVSD_LOG" || true)" 0

# --- reload and stop --------------------------------------------------------------------
kill -HUP "$LVSD_PID"
check "SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1" \
  wait_for -t 5 bash -c "grep -A3 -E '^RELOADING=1 MONOTONIC_USEC=[0-9]+\$' '$NLOG' | grep -q 'READY=1'"
check "lvsd survives SIGHUP" quiet lvsadm -L -n
stop_lvsd
check "SIGTERM: STOPPING=1" notified 'STOPPING=1'
check "the pid file is removed on exit" test ! -e "$PIDF"
check "the capture is whole after exit (tcpdump -r exits 0)" quiet tcpdump -n -r "$PCAP"
check "the capture's counters are logged at exit" grep -q '"msg":"capture closed"' "$LVSD_LOG"

# --- lvsd --pcap - | tcpdump -r -, live ---------------------------------------------------
PIDF2=$LVS_STATE/lvsd2.pid
TD=$LVS_STATE/tcpdump-live.log
rm -f "$LVSD_SOCK"
ip netns exec "$NS_D" bash -c 'exec node "$0/dist/src/cli/lvsd.js" --socket "$1" --tun lvs0 --pcap - --pid-file "$2" 2>"$3"' \
  "$LVS_ROOT" "$LVSD_SOCK" "$PIDF2" "$LVSD_LOG.2" | tcpdump -l -n -r - >"$TD" 2>&1 &
TDPID=$!
LVS_PIDS+=("$TDPID")
wait_for test -s "$PIDF2" || die "lvsd --pcap - did not start: $(tail -n 5 "$LVSD_LOG.2")"
LVSD_PID=$(cat "$PIDF2")
LVS_PIDS+=("$LVSD_PID")
echo "$LVSD_PID" >>"$LVS_STATE/pids"
wait_for lvsadm -L -n
lvsadm -A -t "$VIP:80" -s rr
lvsadm -a -t "$VIP:80" -r "$R1:80" -m
check "traffic with --pcap -" expect_eq "answers" "$(curl_n 2 "http://$VIP/" | tr '\n' ' ')" "rs1 rs1 "
live() { grep -q -E "$CIP\.[0-9]+ > $VIP\.80: Flags \[S\]" "$TD" && grep -q -E "$VIP\.80 > $CIP\.[0-9]+: Flags \[S\.\]" "$TD"; }
check "tcpdump -r - prints both directions while lvsd runs" wait_for -t 3 live
check "logs go to stderr with --pcap -" grep -q '"msg":"lvsd started"' "$LVSD_LOG.2"
stop_lvsd
check "tcpdump ends cleanly when lvsd exits" wait_for -t 5 bash -c "! kill -0 $TDPID 2>/dev/null"
wait "$TDPID" || die "tcpdump -r - failed: $(tail -n 3 "$TD")"
echo "ops: $LVS_FAILS failures"
((LVS_FAILS == 0))
