#!/usr/bin/env bash
# VRRP tracking and authentication against a keepalived peer, through the real lvsd (-f) on
# namespaces (netns/lib-ha.sh topology, no real servers). Needs root, /dev/net/tun, keepalived
# (Debian's, netns/deps.sh) and a build (dist/). Prints PASS/FAIL lines.
#
#   d1-TAG: lvsd, priority 150        d2-TAG: keepalived --vrrp, priority 100
#   both on brc (cli0 198.18.0.11 / .12), floating 198.18.0.1 on the master
#
# 1. auth_type AH (IPSEC-AH, password "ah!pass1" quoted): keepalived stays backup under lvsd's
#    AH adverts; a track_script (weight -60, fall 2, rise 2) that starts failing lowers lvsd to
#    90 and keepalived takes over; lvsd then stays backup under keepalived's AH adverts (it
#    would take over within 3.6 s if it refused them); the script passing again gives lvsd 150
#    back and it preempts. A track_file (weight -1) with 70 in it does the same.
# 2. auth_type PASS with `!` in the password, unicast_src_ip/unicast_peer on both sides: quoted
#    ("pa!ss99") both sides agree and lvsd stays backup under keepalived (200); written bare (pa!ss99: a comment from `!`, password "pa") it
#    does not match keepalived's, lvsd drops keepalived's adverts and takes the address.
# 3. track_script with weight 0: failing puts lvsd in FAULT (addresses released, notify_fault),
#    and the other member of its vrrp_sync_group with it (GROUP notify); passing brings both
#    back; an unweighted track_interface going down does the same; 5 gratuitous ARPs at the
#    takeover and 5 more garp_master_delay later. notify_stop and `notify ... STOP` run at
#    SIGTERM (phase 1).
set -Eeuo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib-ha.sh"

if ! command -v keepalived >/dev/null; then
  printf 'FAIL: keepalived is not installed (netns/deps.sh installs it)\n'
  exit 1
fi
topo_ha 0
not_holds() { ! holds_vip "$1"; }

# The tracked script: fails while $LVS_STATE/fail exists. Written by root, mode 0755.
cat >"$LVS_STATE/chk.sh" <<EOF
#!/bin/sh
[ ! -e "$LVS_STATE/fail" ]
EOF
chmod 0755 "$LVS_STATE/chk.sh"

# vrrp_conf PRIORITY AUTH_TYPE PASS [BODY]: the instance both sides run; with UNICAST_SRC and
# UNICAST_PEER set, unicast_src_ip / unicast_peer instead of multicast.
UNICAST_SRC= UNICAST_PEER=
vrrp_conf() {
  cat <<EOF
vrrp_instance VI_1 {
    state BACKUP
    interface cli0
    virtual_router_id 61
    priority $1
    advert_int 1
    authentication {
        auth_type $2
        auth_pass $3
    }
    virtual_ipaddress {
        $DIP_C/24 dev cli0
    }
${4:-}
${UNICAST_SRC:+    unicast_src_ip $UNICAST_SRC
    unicast_peer {
        $UNICAST_PEER
    }}
}
EOF
}

LVSD_TRACK="    track_script {
        chk
    }
    track_file {
        tf
    }
    notify_fault \"/bin/sh -c 'echo fault >>$LVS_STATE/notify.log'\"
    notify_stop \"/bin/sh -c 'echo stop >>$LVS_STATE/notify.log'\"
    notify \"echo >>$LVS_STATE/notify.log\""
lvsd_conf() { # lvsd_conf AUTH_TYPE PASS WEIGHT: lvsd's file
  cat <<EOF
vrrp_script chk {
    script "$LVS_STATE/chk.sh"
    interval 1
    fall 2
    rise 2
    weight $3
}
track_file tf {
    file $LVS_STATE/prio
    weight -1
}
EOF
  vrrp_conf 150 "$1" "$2" "$LVSD_TRACK"
}

# ka_start NAME CONF: keepalived's VRRP process in d2.
KA_PID=
ka_start() {
  bg_in_ns "$1" "${NS_DS[1]}" stdbuf -oL -eL keepalived --vrrp -n -l -D -f "$2" \
    -p "$LVS_STATE/$1.pid" -r "$LVS_STATE/$1-vrrp.pid"
  KA_PID=$LVS_LAST_PID
}
ka_stop() {
  [[ -n $KA_PID ]] && stop_pid "$KA_PID" 5
  KA_PID=
}
vrrp_line() { use_director 1; lvsadm --vrrp | awk '$1 == "VI_1" { print $2, $3 }'; }
lvsd_is() { [[ $(vrrp_line) == "$1" ]]; }
# stays_backup I SECONDS: director I never holds the address during SECONDS (polled).
stays_without() {
  local end=$((SECONDS + $2))
  while ((SECONDS < end)); do holds_vip "$1" && return 1; sleep 0.2; done
  return 0
}
# takeover_s I LIMIT: seconds (0.1 s steps) until director I holds the address, or -1.
takeover_s() {
  local t0 now
  t0=$(date +%s%1N)
  while true; do
    now=$(date +%s%1N)
    holds_vip "$1" && { echo "$(((now - t0) / 10)).$(((now - t0) % 10))"; return 0; }
    ((now - t0 < $2 * 10)) || { echo -1; return 0; }
    sleep 0.1
  done
}

# --- 1. IPSEC-AH and track_script / track_file ---------------------------------------------
lvsd_conf AH '"ah!pass1"' -60 >"$LVS_STATE/d1-ah.conf"
vrrp_conf 100 AH '"ah!pass1"' >"$LVS_STATE/ka-ah.conf"
start_director 1 -f "$LVS_STATE/d1-ah.conf" || die "lvsd did not start"
check "AH: lvsd (150) alone becomes master" wait_for -t 8 holds_vip 1
ka_start ka-ah "$LVS_STATE/ka-ah.conf"
ka_backup() {
  wait_for -t 5 grep -q "(VI_1) Entering BACKUP STATE" "$LVS_STATE/ka-ah.log" || return 1
  stays_without 2 5 && ! grep -q "(VI_1) Entering MASTER STATE" "$LVS_STATE/ka-ah.log" && return 0
  tail -n 15 "$LVS_STATE/ka-ah.log" >&2
  return 1
}
check "AH: keepalived accepts lvsd's AH adverts (BACKUP for 5 s, never MASTER)" ka_backup
check "AH: keepalived found no bad ICV in lvsd's adverts" bash -c "! grep -q 'IPSEC-AH : invalid' '$LVS_STATE/ka-ah.log'"

touch "$LVS_STATE/fail"
s=$(takeover_s 2 12)
check "track_script failing (fall 2, weight -60): keepalived (100) takes over from lvsd (150-60) after ${s} s (limit 12)" test "$s" != -1
check "lvsd released the address" wait_for -t 3 not_holds 1
check "lvsd is BACKUP at effective priority 90" wait_for -t 3 lvsd_is "BACKUP 90"
check "lvsd accepts keepalived's AH adverts: it stays backup (4 s > Master_Down_Interval)" stays_without 1 4
check "lvsd logged the priority change" grep -q 'Changing effective priority from 150 to 90' "$LVS_STATE/lvsd1.log"
rm -f "$LVS_STATE/fail"
s=$(takeover_s 1 12)
check "track_script passing again (rise 2): lvsd (150) preempts after ${s} s (limit 12)" test "$s" != -1
check "keepalived released the address" wait_for -t 3 not_holds 2
check "lvsd is MASTER at priority 150" wait_for -t 3 lvsd_is "MASTER 150"

echo 70 >"$LVS_STATE/prio"
s=$(takeover_s 2 10)
check "track_file 70 x weight -1: keepalived takes over after ${s} s (limit 10)" test "$s" != -1
check "lvsd is BACKUP at 80" wait_for -t 3 lvsd_is "BACKUP 80"
echo 0 >"$LVS_STATE/prio"
check "track_file 0: lvsd preempts again" wait_for -t 10 holds_vip 1
ka_stop
use_director 1
stop_lvsd
D_PIDS[0]=
check "notify_stop and notify STOP ran at SIGTERM" \
  bash -c "grep -qx stop '$LVS_STATE/notify.log' && grep -q 'INSTANCE VI_1 STOP 150' '$LVS_STATE/notify.log'"

# --- 2. PASS with ! in the password, unicast ------------------------------------------------
UNICAST_SRC=${D_CLI[1]} UNICAST_PEER=${D_CLI[0]}
vrrp_conf 200 PASS '"pa!ss99"' >"$LVS_STATE/ka-pass.conf"
UNICAST_SRC=${D_CLI[0]} UNICAST_PEER=${D_CLI[1]}
ka_start ka-pass "$LVS_STATE/ka-pass.conf"
check "PASS: keepalived (200) becomes master" wait_for -t 8 holds_vip 2
lvsd_conf PASS '"pa!ss99"' -60 >"$LVS_STATE/d1-pass.conf"
start_director 1 -f "$LVS_STATE/d1-pass.conf" || die "lvsd did not start"
check 'PASS "pa!ss99" (quoted), unicast_peer: lvsd (150) accepts keepalived'"'"'s adverts and stays backup' stays_without 1 5
check "lvsd is BACKUP" lvsd_is "BACKUP 150"
use_director 1
stop_lvsd
D_PIDS[0]=
lvsd_conf PASS 'pa!ss99' -60 >"$LVS_STATE/d1-bare.conf"
start_director 1 -f "$LVS_STATE/d1-bare.conf" || die "lvsd did not start"
check "PASS pa!ss99 (bare: password \"pa\"): lvsd refuses keepalived's adverts and takes the address" wait_for -t 8 holds_vip 1
ka_stop
use_director 1
stop_lvsd
D_PIDS[0]=
UNICAST_SRC= UNICAST_PEER=

# --- 3. weight 0: FAULT; a sync group shares it; track_interface ----------------------------
# VI_1 tracks the script (weight 0) and trk0 (a veth of its own); VI_2 (the LAN address) is in a
# sync group with it and tracks nothing itself.
: >"$LVS_STATE/notify.log"
ip -n "${NS_DS[0]}" link add trk0 type veth peer name trk1
ip -n "${NS_DS[0]}" link set trk1 up
ip -n "${NS_DS[0]}" link set trk0 up
LVSD_TRACK="$LVSD_TRACK
    garp_master_delay 2
    track_interface {
        trk0
    }"
{
  lvsd_conf PASS '"pa!ss99"' 0
  cat <<EOF
vrrp_instance VI_2 {
    interface lan0
    virtual_router_id 62
    priority 150
    advert_int 1
    virtual_ipaddress {
        $DIP/24 dev lan0
    }
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
    notify "echo >>$LVS_STATE/notify.log"
}
EOF
} >"$LVS_STATE/d1-fault.conf"
holds_lan() { ip -n "${NS_DS[0]}" -4 addr show dev lan0 | grep -q "inet $DIP/"; }
both_held() { holds_vip 1 && holds_lan; }
none_held() { ! holds_vip 1 && ! holds_lan; }
states_are() { use_director 1; [[ $(lvsadm --vrrp | awk '$1 ~ /^VI_/ { printf "%s %s;", $1, $2 }') == "$1" ]]; }
# Gratuitous ARPs for the client-side address, as the switch sees them (epoch seconds).
bg_in_ns garp "$NS_SW" tcpdump -l -n -tt -i brc arp and src host "$DIP_C"
GARP_PID=$LVS_LAST_PID
sleep 0.5
start_director 1 -f "$LVS_STATE/d1-fault.conf" || die "lvsd did not start"
check "weight 0: lvsd becomes master of both instances while the script passes" wait_for -t 8 both_held
# garp_bursts: "N1 N2 GAP": announcements in the first 0.5 s, after it, and seconds between them.
garp_bursts() {
  awk '/ARP, Request who-has '"${DIP_C//./\.}"' tell '"${DIP_C//./\.}"'/ { t[n++] = $1 }
    END { if (!n) { print "0 0 0"; exit } a = 0; b = 0; g = 0
          for (i = 0; i < n; i++) if (t[i] - t[0] < 0.5) a++; else { if (!b) g = t[i] - t[0]; b++ }
          printf "%d %d %.1f\n", a, b, g }' "$LVS_STATE/garp.log"
}
garp_ok() { read -r a b g < <(garp_bursts); ((a == 5 && b == 5)) && awk -v g="$g" 'BEGIN { exit !(g >= 1.5 && g <= 3) }'; }
check "gratuitous ARP: 5 at takeover (once the address is up), 5 more garp_master_delay (2 s) after the takeover, gap 1.5-3 s ($(sleep 3; garp_bursts))" garp_ok
stop_pid "$GARP_PID" 2
touch "$LVS_STATE/fail"
check "weight 0: a failing script puts VI_1 in FAULT, and VI_2 with it (sync group)" wait_for -t 6 states_are "VI_1 FAULT;VI_2 FAULT;"
check "FAULT releases both addresses" wait_for -t 3 none_held
check "notify_fault, notify INSTANCE ... FAULT and the group's notify GROUP G FAULT ran" \
  wait_for -t 3 bash -c "grep -qx fault '$LVS_STATE/notify.log' && grep -q 'INSTANCE VI_1 FAULT 150' '$LVS_STATE/notify.log' && grep -q 'GROUP G FAULT' '$LVS_STATE/notify.log'"
rm -f "$LVS_STATE/fail"
check "the script passing again: both leave FAULT and take their addresses (alone)" wait_for -t 10 both_held
ip -n "${NS_DS[0]}" link set trk0 down
check "track_interface trk0 down: VI_1 and VI_2 in FAULT, addresses released" wait_for -t 4 none_held
check "lvsadm --vrrp: both FAULT" states_are "VI_1 FAULT;VI_2 FAULT;"
ip -n "${NS_DS[0]}" link set trk0 up
check "trk0 up: both masters again" wait_for -t 10 both_held
use_director 1
stop_lvsd
D_PIDS[0]=
check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVS_STATE/lvsd1.log'"
((LVS_FAILS == 0))
