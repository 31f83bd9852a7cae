#!/usr/bin/env bash
# keepalived.conf as LVS users have it, through the real lvsd (-f) on namespaces: the two
# configurations that used to end lvsd (a TUN service in alpha mode whose real servers' port
# differs; a DR service whose sorry server is on another port), each driven through quorum
# loss and regain with the sorry server answering; lvsd -t on a file with errors changes
# nothing and works without root; a SIGHUP reload under a running socat stream that stays
# byte-exact; SIGHUP adding, keeping, changing and removing a vrrp_instance and the sync daemon;
# SSL_GET against nginx with TLS (SNI, Host, digest from lvs-genhash) and SMTP_CHECK against a
# server speaking SMTP, failing and recovering. Needs root, /dev/net/tun and a build (dist/). Prints PASS/FAIL lines.
#
#   client c-TAG ── director d-TAG (lvsd -f keepalived.conf) ── br0 ── r1-TAG, r2-TAG, r3-TAG
#   198.18.0.2      198.18.0.1 | 198.19.0.1                             198.19.0.11 .12 .13
#        └ eth1 198.19.0.2 ───────────────────────────────── br0 (replies of DR/TUN servers)
#   VIP 198.18.100.1
#     :80    TUN, alpha, real servers r1/r2 written on port 8080 (reset to 80), sorry r3
#     :8080  DR, real servers r1/r2, sorry_server r3 9090 (reset to 8080)
#     :9000  DR, r1:9000 (socat sink) for the reload-under-traffic check
#     :8443  DR, SSL_GET to nginx with TLS in r1 and r2 (added by a reload)
#     :25    DR, SMTP_CHECK to r3:2525 (added by a reload)
set -Eeuo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/forwarding-lib.sh"

topo_nat 3
direct_return
run_http_servers
for i in 1 2 3; do start_realserver "$i" --vip "$VIP" --tunnel; done
R1=$(rip 1) R2=$(rip 2) R3=$(rip 3)
CONF=$LVS_STATE/keepalived.conf
LVSD_JS=$LVS_ROOT/dist/src/cli/lvsd.js

# real_server I PORT: a real server whose MISC_CHECK fails while $LVS_STATE/down-rsI exists.
real_server() {
  cat <<EOF
    real_server $(rip "$1") $2 {
        weight 1
        MISC_CHECK {
            misc_path "test ! -e $LVS_STATE/down-rs$1"
            delay_loop 1
        }
    }
EOF
}

write_conf() { # write_conf [EXTRA_FOR_9000]
  cat >"$CONF" <<EOF
! keepalived.conf: the two configurations of issue 12 that ended lvsd
global_defs {
    router_id lvsd_keepalived_test
}

virtual_server $VIP 80 {
    delay_loop 1
    lb_algo rr
    lb_kind TUN
    protocol TCP
    alpha
    quorum 1
    sorry_server $R3 80
$(real_server 1 8080)
$(real_server 2 8080)
}

virtual_server $VIP 8080 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    sorry_server $R3 9090
$(real_server 1 8080)
$(real_server 2 8080)
}

virtual_server $VIP 9000 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server $R1 9000 {
        weight 1
    }
${1:-}
}
EOF
}

# --- lvsd -t: a file with errors, every error with its line, nothing changes on the host ---
cat >"$LVS_STATE/errors.conf" <<EOF
virtual_server $VIP 80 {
    lb_algo nosuch
    lb_kind dr
    protocol TCP
    persistence_timeout 0
    real_server $R1 80 {
        weight lots
    }
}
EOF
host_state() { ip netns exec "$NS_D" bash -c 'ip -o link; ip rule; ip route show table all; sysctl -n net.ipv4.ip_forward'; }
before=$(host_state)
t_out=$(ip netns exec "$NS_D" node "$LVSD_JS" -t -f "$LVS_STATE/errors.conf" 2>&1) && t_rc=0 || t_rc=$?
log "lvsd -t errors.conf: exit $t_rc"$'\n'"$t_out"
check "lvsd -t: every error of the file with its line (2, 3, 5, 7), exit 0 (keepalived would run it)" bash -c '
  [[ $1 == 0 ]] && for l in 2 3 5 7; do grep -q "^$2:$l: " <<<"$3" || exit 1; done' _ "$t_rc" "$LVS_STATE/errors.conf" "$t_out"
check "lvsd -t: no device, rule, route or sysctl changed in the director namespace" \
  expect_eq "host state" "$(host_state)" "$before"
printf 'virtual_server %s 80 {\n    lb_algo rr\n    delay_loop\n}\n' "$VIP" >"$LVS_STATE/broken.conf"
refused_start() {
  local out rc=0
  out=$(timeout 10 ip netns exec "$NS_D" node "$LVSD_JS" --socket "$LVS_STATE/broken.sock" --tun lvsb0 \
    -f "$LVS_STATE/broken.conf" 2>&1) || rc=$?
  log "refused start: exit $rc: $out"
  [[ $rc == 1 && $(wc -l <<<"$out") == 1 && $out == *"broken.conf:3: Configuration line starting \`delay_loop\` is missing a parameter"* ]]
}
check "lvsd -f with a file keepalived refuses: one line with file:line, exit 1" refused_start
check "the refused start changed nothing on the host" expect_eq "host state" "$(host_state)" "$before"
# Without root: a copy readable by anyone, run as nobody.
cp "$LVS_STATE/errors.conf" /tmp/lvsd-t-$LVS_TAG.conf
chmod 0644 /tmp/lvsd-t-$LVS_TAG.conf
nobody_t() {
  local rc=0
  setpriv --reuid=65534 --regid=65534 --clear-groups node "$LVSD_JS" -t -f /tmp/lvsd-t-$LVS_TAG.conf >/dev/null 2>&1 || rc=$?
  rm -f /tmp/lvsd-t-$LVS_TAG.conf
  [[ $rc == 0 ]]
}
check "lvsd -t works without root (setpriv to nobody)" nobody_t

# --- the two configurations that ended lvsd -------------------------------------------------
write_conf
start_lvsd -f "$CONF" || die "lvsd -f did not start"
lvsd_up() { lvs__alive "$LVSD_PID"; }
dests() {
  lvsadm -L -n | awk -v s="$1" '
    $1 == "TCP" || $1 == "UDP" { cur = $2 }
    $1 == "->" && cur == s { print $2 "/" $3 "/" $4 }' | sort | tr '\n' ' '
}
check "keepalived's port rules: TUN real servers on :80, DR sorry server reset to :8080 (logged)" bash -c '
  grep -q "ports don.t match - resetting to 80" "$0" && grep -q "sorry server ports don.t match - resetting to 8080" "$0"' "$LVSD_LOG"
check "TUN + alpha: after the first passing checks both real servers join (lvsd stays up)" wait_for -t 10 \
  eval '[[ $(dests "$VIP:80") == "$R1:80/Tunnel/1 $R2:80/Tunnel/1 " ]]'
check "DR: both real servers in the table" wait_for -t 10 \
  eval '[[ $(dests "$VIP:8080") == "$R1:8080/Route/1 $R2:8080/Route/1 " ]]'
check "TUN: requests reach r1 and r2" expect_eq "counts" "$(counts 10 "http://$VIP:80/")" "rs1=5 rs2=5 rs3=0 fail=0"
check "DR: requests reach r1 and r2" expect_eq "counts" "$(counts 10 "http://$VIP:8080/")" "rs1=5 rs2=5 rs3=0 fail=0"

for round in 1 2; do
  touch "$LVS_STATE/down-rs1" "$LVS_STATE/down-rs2"
  check "round $round: quorum lost on :80 (TUN): the sorry server alone" wait_for -t 10 \
    eval '[[ $(dests "$VIP:80") == "$R3:80/Tunnel/1 " ]]'
  check "round $round: quorum lost on :8080 (DR): the sorry server alone, on the virtual port" wait_for -t 10 \
    eval '[[ $(dests "$VIP:8080") == "$R3:8080/Route/1 " ]]'
  check "round $round: lvsd is still running" lvsd_up
  check "round $round: the sorry servers answer" \
    expect_eq "counts" "$(counts 4 "http://$VIP:80/") $(counts 4 "http://$VIP:8080/")" \
    "rs1=0 rs2=0 rs3=4 fail=0 rs1=0 rs2=0 rs3=4 fail=0"
  rm -f "$LVS_STATE/down-rs1" "$LVS_STATE/down-rs2"
  check "round $round: quorum regained on both: real servers back, sorry servers out" wait_for -t 10 \
    eval '[[ $(dests "$VIP:80")$(dests "$VIP:8080") == "$R1:80/Tunnel/1 $R2:80/Tunnel/1 $R1:8080/Route/1 $R2:8080/Route/1 " ]]'
  check "round $round: requests reach the real servers again" \
    expect_eq "counts" "$(counts 4 "http://$VIP:80/")" "rs1=2 rs2=2 rs3=0 fail=0"
done
check "no table change was refused (the loader validated them all)" bash -c "! grep -q 'table refused' '$LVSD_LOG'"

# --- SIGHUP under a running socat stream -----------------------------------------------------
SRC=$LVS_STATE/stream.src
head -c $((4 << 20)) /dev/urandom >"$SRC"
start_sink "${NS_RS[0]}" 9000 "$LVS_STATE/stream.got"
SINK_PID=$LVS_LAST_PID
# 64 chunks of 64 KiB, 50 ms apart: about 3 s of stream across the reloads.
in_ns "$NS_C" bash -c 'for i in $(seq 0 63); do dd if="$0" bs=65536 skip=$i count=1 status=none; sleep 0.05; done \
  | socat -u - "TCP:$1:9000,connect-timeout=3"' "$SRC" "$VIP" >"$LVS_STATE/stream.log" 2>&1 &
STREAM_PID=$!
stream_est() { lvsadm -L -n -c | grep -q "ESTABLISHED.*$VIP:9000 *$R1:9000"; }
check "the stream is established through VIP:9000" wait_for -t 5 stream_est
# Reload 1: a second real server for :9000, the checkers of :8080 changed (delay_loop); those
# of :80 (alpha: a restarted checker would take its server out) unchanged.
log_lines=$(wc -l <"$LVSD_LOG")
write_conf "    real_server $R2 9000 {
        weight 1
    }"
sed -i "/^virtual_server $VIP 8080 {/,/^}/ s/delay_loop 1\$/delay_loop 2/" "$CONF"
kill -HUP "$LVSD_PID"
check "reload 1 applied: a second real server on :9000" wait_for -t 5 \
  eval '[[ $(dests "$VIP:9000") == "$R1:9000/Route/1 $R2:9000/Route/1 " ]]'
# Reload 2: the file as at the start.
write_conf
kill -HUP "$LVSD_PID"
check "reload 2 applied: r2 left :9000 again" wait_for -t 5 \
  eval '[[ $(dests "$VIP:9000") == "$R1:9000/Route/1 " ]]'
removed_since() { tail -n +"$((log_lines + 1))" "$LVSD_LOG" | grep '"table updated"' | grep "\"service\":\"tcp:$VIP:$1\"" | grep -c '"delete-server"' || true; }
check "real servers whose check did not change kept their state across the reloads (none left :80)" \
  expect_eq "delete-server on :80 since the reloads" "$(removed_since 80)" 0
check "... and both are still in :80" eval '[[ $(dests "$VIP:80") == "$R1:80/Tunnel/1 $R2:80/Tunnel/1 " ]]'
check "the reloads were applied without errors" bash -c "! tail -n +$((log_lines + 1)) '$LVSD_LOG' | grep -q 'reload rejected\|reload failed'"
check "the stream was still running after both reloads were applied" kill -0 "$STREAM_PID"
wait "$STREAM_PID" || true
wait_for -t 10 bash -c "! kill -0 $SINK_PID 2>/dev/null" || true
check "the stream arrived byte-exact across both reloads ($(stat -c %s "$LVS_STATE/stream.got" 2>/dev/null) bytes)" \
  cmp -s "$SRC" "$LVS_STATE/stream.got"

# --- SIGHUP applies VRRP and the sync daemon too ------------------------------------------
vrrp_conf() { # vrrp_conf VIP_ADDR [SYNC]: the file plus a vrrp_instance on cli0 (and lvs_sync_daemon)
  write_conf
  cat >>"$CONF" <<EOF
vrrp_instance VI_1 {
    state BACKUP
    interface $CLI_IF
    virtual_router_id 77
    priority 200
    advert_int 1
    virtual_ipaddress {
        $1/24 dev $CLI_IF
    }
}
EOF
  [[ -z ${2:-} ]] || sed -i "s/^    router_id lvsd_keepalived_test$/&\n    lvs_sync_daemon $LAN_IF VI_1 id 7/" "$CONF"
}
has_addr() { ip -n "$NS_D" -o addr show dev "$CLI_IF" | grep -q "inet $1/24"; }
lacks_addr() { ! has_addr "$1"; }
vrrp_conf 198.18.0.100
kill -HUP "$LVSD_PID"
check "reload adds a vrrp_instance: it becomes MASTER and holds its address" wait_for -t 10 has_addr 198.18.0.100
log_lines=$(wc -l <"$LVSD_LOG")
vrrp_conf 198.18.0.100
kill -HUP "$LVSD_PID"
reloaded_since() { tail -n +"$((log_lines + 1))" "$LVSD_LOG" | grep -q 'configuration reloaded'; }
wait_for -t 5 reloaded_since
check "an unchanged vrrp_instance keeps running through a reload (not restarted)" \
  bash -c "! tail -n +$((log_lines + 1)) '$LVSD_LOG' | grep -q 'vrrp instances changed'"
check "... and keeps its address" has_addr 198.18.0.100
vrrp_conf 198.18.0.101 sync
kill -HUP "$LVSD_PID"
check "reload with a changed virtual_ipaddress: the new address is held" wait_for -t 10 has_addr 198.18.0.101
check "... and the old one released" lacks_addr 198.18.0.100
daemons() { lvsadm -L --daemon; }
check "reload adds lvs_sync_daemon: master while VI_1 is MASTER" wait_for -t 10 \
  eval '[[ $(daemons) == "master sync daemon (mcast=$LAN_IF, syncid=7)" ]]'
write_conf
kill -HUP "$LVSD_PID"
check "reload without the vrrp_instance: its address is released" wait_for -t 10 lacks_addr 198.18.0.101
check "... and no sync daemon runs" wait_for -t 5 eval '[[ -z $(daemons) ]]'

# --- SSL_GET against nginx with TLS, failing and recovering ---------------------------------
# nginx in r1 and r2 on 8443 (TLS, the test certificate), /health served from a file; its
# access log records the SNI and Host each check sent.
for i in 1 2; do
  dir=$LVS_STATE/nginx-tls-rs$i
  mkdir -p "$dir/www"
  echo "healthy rs$i" >"$dir/www/health"
  # user root: the workers read the files in this run's state directory (mode 0700).
  cat >"$dir/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
  log_format sni '\$ssl_server_name|\$host|\$request';
  access_log $dir/access.log sni;
  default_type text/plain;
  client_body_temp_path $dir/body;
  server {
    listen 8443 ssl;
    ssl_certificate $LVS_ROOT/test/fixtures/tls/cert.pem;
    ssl_certificate_key $LVS_ROOT/test/fixtures/tls/key.pem;
    root $dir/www;
    location = / { return 200 "tls rs$i\n"; }
  }
}
EOF
  bg_in_ns "nginx-tls-rs$i" "${NS_RS[i - 1]}" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
  wait_tcp "${NS_RS[i - 1]}" "$(rip "$i")" 8443 || die "nginx TLS in rs$i did not start"
done
genhash_d() { ip netns exec "$NS_D" node "$LVS_ROOT/dist/src/cli/lvs-genhash.js" "$@"; }
D1=$(genhash_d -S -I -s "$R1" -p 8443 -u /health -V www.example.test)
D2=$(genhash_d -S -I -s "$R2" -p 8443 -u /health -V www.example.test)
check "lvs-genhash over TLS: the MD5 of the body ($D1)" \
  expect_eq "digest" "$D1" "$(printf 'healthy rs1\n' | md5sum | cut -d' ' -f1)"
if command -v genhash >/dev/null; then
  check "keepalived's genhash prints the same digest" \
    expect_eq "genhash" "$(ip netns exec "$NS_D" genhash -S -s "$R1" -p 8443 -u /health -V www.example.test)" "$D1"
fi
ssl_vs() {
  cat <<EOF
virtual_server $VIP 8443 {
    delay_loop 1
    alpha
    lb_algo rr
    lb_kind DR
    protocol TCP
    virtualhost www.example.test
    real_server $R1 8443 {
        SSL_GET {
            enable_sni
            url {
                path /health
                digest $D1
            }
            connect_timeout 2
            retry 0
        }
    }
    real_server $R2 8443 {
        SSL_GET {
            enable_sni
            url {
                path /health
                digest $D2
            }
            connect_timeout 2
            retry 0
        }
    }
}
EOF
}
write_conf
ssl_vs >>"$CONF"
kill -HUP "$LVSD_PID"
check "SSL_GET (alpha): both TLS real servers pass and join VIP:8443" wait_for -t 10 \
  eval '[[ $(dests "$VIP:8443") == "$R1:8443/Route/1 $R2:8443/Route/1 " ]]'
check "SSL_GET sent SNI and Host www.example.test (nginx access log)" \
  grep -q '^www.example.test|www.example.test|GET /health HTTP/1.0$' "$LVS_STATE/nginx-tls-rs1/access.log"
tls_counts() {
  in_ns "$NS_C" bash -c 'for ((i = 0; i < $0; i++)); do curl -sk -m 3 "$1" || echo FAIL; done' "$1" "https://$VIP:8443/" \
    | awk '{c[$2]++} END {printf "rs1=%d rs2=%d fail=%d\n", c["rs1"], c["rs2"], c[""]}'
}
check "HTTPS through VIP:8443 reaches both" expect_eq "counts" "$(tls_counts 6)" "rs1=3 rs2=3 fail=0"
echo "broken" >"$LVS_STATE/nginx-tls-rs1/www/health"
check "SSL_GET: a changed body (digest mismatch) takes r1 out" wait_for -t 10 \
  eval '[[ $(dests "$VIP:8443") == "$R2:8443/Route/1 " ]]'
check "HTTPS through VIP:8443 reaches r2 only" expect_eq "counts" "$(tls_counts 4)" "rs1=0 rs2=4 fail=0"
echo "healthy rs1" >"$LVS_STATE/nginx-tls-rs1/www/health"
check "SSL_GET: the body restored, r1 comes back" wait_for -t 10 \
  eval '[[ $(dests "$VIP:8443") == "$R1:8443/Route/1 $R2:8443/Route/1 " ]]'
stop_pid "$(cat "$LVS_STATE/nginx-tls-rs2/nginx.pid")" 5
check "SSL_GET: r2's TLS server stopped, r2 leaves" wait_for -t 10 \
  eval '[[ $(dests "$VIP:8443") == "$R1:8443/Route/1 " ]]'

# --- SMTP_CHECK against a server speaking SMTP, failing and recovering ---------------------
# r3 on 2525: greets with the code in $LVS_STATE/smtp-code (220, or 421 to refuse), answers
# HELO with 250 and logs it.
echo 220 >"$LVS_STATE/smtp-code"
bg_in_ns smtp-rs3 "${NS_RS[2]}" node -e '
  const fs = require("fs");
  require("net").createServer((s) => {
    s.write(fs.readFileSync(process.argv[1], "utf8").trim() + " rs3 ESMTP\r\n");
    let buf = "";
    s.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const l = buf.slice(0, i); buf = buf.slice(i + 2);
        if (l.startsWith("HELO ")) { fs.appendFileSync(process.argv[2], l + "\n"); s.write("250 rs3\r\n"); }
        else if (l === "QUIT") s.end("221 bye\r\n");
      }
    });
    s.on("error", () => {});
  }).listen(2525, process.argv[3]);' "$LVS_STATE/smtp-code" "$LVS_STATE/smtp-helo.log" "$R3"
wait_listen "${NS_RS[2]}" 2525
write_conf
cat >>"$CONF" <<EOF
virtual_server $VIP 25 {
    delay_loop 1
    alpha
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server $R3 25 {
        SMTP_CHECK {
            connect_port 2525
            helo_name lb.example.test
            connect_timeout 2
            retry 0
        }
    }
}
EOF
kill -HUP "$LVSD_PID"
check "SMTP_CHECK (alpha): the server greeting 220 and answering HELO joins VIP:25" wait_for -t 10 \
  eval '[[ $(dests "$VIP:25") == "$R3:25/Route/1 " ]]'
check "SMTP_CHECK sent HELO lb.example.test" grep -qx 'HELO lb.example.test' "$LVS_STATE/smtp-helo.log"
echo 421 >"$LVS_STATE/smtp-code"
check "SMTP_CHECK: a 421 greeting takes it out" wait_for -t 10 eval '[[ -z $(dests "$VIP:25") ]]'
echo 220 >"$LVS_STATE/smtp-code"
check "SMTP_CHECK: greeting 220 again, it comes back" wait_for -t 10 \
  eval '[[ $(dests "$VIP:25") == "$R3:25/Route/1 " ]]'

stop_lvsd
check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVSD_LOG'"
((LVS_FAILS == 0)) || die "$LVS_FAILS check(s) failed"
log "keepalived.conf tests passed"
