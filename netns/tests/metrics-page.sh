#!/usr/bin/env bash
# The live page of lvsd --metrics-listen in a real browser: Debian's headless Chromium driven
# by playwright-core (test/netns/browser.ts) inside the director's namespace, while curl runs
# through the VIP; lvsd runs a keepalived.conf (checkers, one VRRP instance), whose health and
# VRRP series are checked in /metrics too. Needs root, /dev/net/tun, a build and /usr/bin/chromium (netns/deps.sh).
# Keeps a screenshot: $LVS_ARTIFACTS (default /tmp/lvsd-artifacts)/live-page-TAG.png.
#
#   client c-TAG ── director d-TAG (lvsd; metrics and page on 127.0.0.1:9101; chromium) ── r1, r2
#
#   metrics-page.sh [--settle S]    S more seconds of traffic before the screenshot
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
MPORT=9101
ARTIFACTS=${LVS_ARTIFACTS:-/tmp/lvsd-artifacts}
SHOT=$ARTIFACTS/live-page-$LVS_TAG.png
mkdir -p "$ARTIFACTS"

topo_nat 2
run_http_servers
R1=$(rip 1) R2=$(rip 2)
# keepalived.conf: two virtual servers with checkers (one real server fails its check and stays
# at weight 0, inhibit_on_failure), one VRRP instance that becomes MASTER alone on cli0.
cat >"$LVS_STATE/keepalived.conf" <<EOF
vrrp_instance VI_1 {
    state BACKUP
    interface $CLI_IF
    virtual_router_id 61
    priority 100
    advert_int 1
    virtual_ipaddress {
        198.18.0.100/24 dev $CLI_IF
    }
}
virtual_server $VIP 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server $R1 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server $R2 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
virtual_server $VIP 8080 {
    delay_loop 1
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    real_server $R1 8080 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server $R2 8080 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 1
            connect_port 9
        }
    }
}
EOF
start_lvsd -f "$LVS_STATE/keepalived.conf" --metrics-listen 127.0.0.1:$MPORT || die "lvsd did not start"
lvsadm -A -u "$VIP:53" -s rr
lvsadm -a -u "$VIP:53" -r "$R2:53" -m

metric() { in_ns "$NS_D" curl -sf -m 5 "http://127.0.0.1:$MPORT/metrics" | grep -F "$1" | awk '{print $2}'; }
metric_is() { [[ $(metric "$1") == "$2" ]]; }
check "lvsd_vrrp_state: VI_1 becomes MASTER" wait_for -t 20 metric_is 'lvsd_vrrp_state{instance="VI_1",state="MASTER"}' 1
check "lvsd_vrrp_transitions_total counts its transitions (INIT -> BACKUP -> MASTER)" \
  test "$(metric 'lvsd_vrrp_transitions_total{instance="VI_1"}')" -ge 2
up_label="{local_address=\"$VIP\",local_port=\"8080\",remote_address=\"$R1\",remote_port=\"8080\",proto=\"TCP\",check=\"TCP_CHECK\"}"
down_label="{local_address=\"$VIP\",local_port=\"8080\",remote_address=\"$R2\",remote_port=\"8080\",proto=\"TCP\",check=\"TCP_CHECK\"}"
check "lvsd_healthcheck_up: 1 for a passing checker" wait_for -t 20 metric_is "lvsd_healthcheck_up$up_label" 1
check "lvsd_healthcheck_up: 0 for the checker of a closed port" wait_for -t 20 metric_is "lvsd_healthcheck_up$down_label" 0
check "lvsd_healthcheck_duration_seconds of the last probe is below the 1 s connect timeout" \
  python3 -c "import sys; v = float('$(metric "lvsd_healthcheck_duration_seconds$up_label")'); sys.exit(not 0 <= v < 1)"

# Every service and real server as the page names them, from lvsadm -L -n.
mapfile -t names < <(lvsadm -L -n | awk '
  $1 == "TCP" || $1 == "UDP" { svc = $1 " " $2; print svc }
  $1 == "->" && $2 != "RemoteAddress:Port" { print svc " " $2 }')
check "lvsadm lists 3 services and 5 real servers" expect_eq "names" "${#names[@]}" 8

# Traffic for the page to show: at most 3,000 requests, 20 a second, through both TCP services.
bg_in_ns traffic "$NS_C" bash -c 'for ((i = 0; i < 3000; i++)); do
  curl -s -m 2 -o /dev/null "http://$0:$(( i % 3 ? 80 : 8080 ))/"; sleep 0.05; done' "$VIP"

out=$(in_ns "$NS_D" node "$LVS_ROOT/dist/test/netns/browser.js" "http://127.0.0.1:$MPORT/" "$SHOT" "$@" \
  --expect "tr[data-instance=\"VI_1\"] td[data-field=\"state\"]=MASTER" \
  --expect "tr[data-dest=\"TCP $VIP:8080 $R2:8080\"] td[data-field=\"health\"]=down" \
  --expect "tr[data-dest=\"TCP $VIP:80 $R1:80\"] td[data-field=\"health\"]=up" \
  "${names[@]}") || rc=$?
printf '%s\n' "$out"
check "the browser checks ran to the end" test "${rc:-0}" -eq 0
check "the screenshot was kept" test -s "$SHOT"
