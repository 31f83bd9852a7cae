#!/usr/bin/env bash
# Health checking, keepalived.conf and graceful drain through the real lvsd on the NAT
# topology. Needs root, /dev/net/tun and a build (dist/). Prints PASS/FAIL lines.
#
#   client c-TAG ── director d-TAG (lvsd -f keepalived.conf) ── br0 ── r1-TAG, r2-TAG, r3-TAG
#   198.18.0.2      198.18.0.1 | 198.19.0.1                            198.19.0.11 .12 .13
#   VIP 198.18.100.1
#     :80    TCP_CHECK   -> rI:80    (nginx)
#     :8081  HTTP_GET    -> rI:8081  (node server answering the status in $LVS_STATE/status-rsI)
#     :8082  MISC_CHECK  -> rI:80    (script: down while $LVS_STATE/misc-down-rsI exists)
#     :8083  MISC_CHECK, quorum 2, sorry_server r3:8090 (socat answering "sorry")
#     :8084  lvsadm-made, for --drain
set -Eeuo pipefail
source "$(dirname "$0")/../lib.sh"

topo_nat 3
run_http_servers
R1=$(rip 1) R2=$(rip 2) R3=$(rip 3)
CONF=$LVS_STATE/keepalived.conf

# HTTP servers on 8081 whose status code is read from a file on every request.
for i in 1 2 3; do
  echo 200 >"$LVS_STATE/status-rs$i"
  bg_in_ns "status-rs$i" "${NS_RS[i - 1]}" node -e '
    const fs = require("fs");
    require("http").createServer((q, s) => {
      const code = Number(fs.readFileSync(process.argv[1], "utf8").trim());
      s.writeHead(code, { "content-type": "text/plain" }); s.end(process.argv[2] + "\n");
    }).listen(8081, process.argv[3]);' "$LVS_STATE/status-rs$i" "rs$i" "$(rip "$i")"
done
bg_in_ns udp-rs2 "${NS_RS[1]}" socat UDP-RECVFROM:5353,fork SYSTEM:"echo udp-rs2"
bg_in_ns sorry "${NS_RS[2]}" socat "TCP-LISTEN:8090,reuseaddr,fork" SYSTEM:"echo sorry"
for i in 1 2 3; do wait_listen "${NS_RS[i - 1]}" 8081; done
wait_listen "${NS_RS[2]}" 8090

# real_servers PORT CHECKER_BODY: three real_server blocks with the same checker.
real_servers() {
  local i
  for i in 1 2 3; do
    printf '    real_server %s %s {\n        weight 1\n%s\n    }\n' "$(rip "$i")" "$1" "${2//@I@/$i}"
  done
}

write_conf() { # write_conf [EXTRA_REAL_SERVER_FOR_80]
  cat >"$CONF" <<EOF
! keepalived.conf as a keepalived user writes it (1.x and 2.x keyword names mixed)
global_defs {
    router_id lvsd_health_test
    notification_email {
        root@localhost
    }
}

virtual_server $VIP 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
$(real_servers 80 '        TCP_CHECK {
            connect_timeout 1
            retry 2
            delay_before_retry 1
        }')
${1:-}
}

virtual_server $VIP 8081 {
    delay_loop 1
    lvs_sched rr
    lvs_method NAT
    protocol TCP
$(real_servers 8081 '        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            nb_get_retry 2
            delay_before_retry 1
        }')
}

virtual_server $VIP 8082 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
$(real_servers 80 "        MISC_CHECK {
            misc_path \"test ! -e $LVS_STATE/misc-down-rs@I@\"
            misc_timeout 2
            retry 2
            delay_before_retry 1
        }")
}

virtual_server $VIP 53 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server $R2 5353 {
        UDP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server $R1 5353 {
        UDP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}

virtual_server $VIP 8085 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server $R1 80 {
        PING_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server $LAN_PREFIX.50 80 {
        PING_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}

virtual_server $VIP 8083 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 2
    sorry_server $R3 8090
    real_server $R1 80 {
        weight 1
        MISC_CHECK {
            misc_path "test ! -e $LVS_STATE/quorum-down-rs1"
            retry 0
        }
    }
    real_server $R2 80 {
        weight 1
        MISC_CHECK {
            misc_path "test ! -e $LVS_STATE/quorum-down-rs2"
            retry 0
        }
    }
}
EOF
}

# --- a configuration keepalived refuses is refused at start with file:line -------------------
# (keepalived stops at a keyword without its parameter; `delay_loop one` it logs and ignores)
printf 'virtual_server %s 80 {\n    lb_algo rr\n    delay_loop\n}\n' "$VIP" >"$LVS_STATE/broken.conf"
broken_start() {
  local out rc=0
  out=$(timeout 10 ip netns exec "$NS_D" node "$LVS_ROOT/dist/src/cli/lvsd.js" --socket "$LVS_STATE/broken.sock" \
    --tun lvsb0 -f "$LVS_STATE/broken.conf" 2>&1) || rc=$?
  log "broken start: exit $rc: $out"
  [[ $rc -ne 0 && $out == *"broken.conf:3: Configuration line starting \`delay_loop\` is missing a parameter"* ]]
}
check "a broken keepalived.conf is rejected at start with file:line" broken_start

write_conf
start_lvsd -f "$CONF" || die "lvsd -f did not start"

# dests SERVICE: sorted "addr:port/weight" of one service in lvsadm -L -n.
dests() {
  lvsadm -L -n | awk -v s="$1" '
    $1 == "TCP" || $1 == "UDP" { cur = $2 }
    $1 == "->" && cur == s { print $2 "/" $4 }' | sort | tr '\n' ' '
}
# has_dest SERVICE ADDR:PORT[/WEIGHT]
has_dest() {
  if [[ $2 == */* ]]; then [[ " $(dests "$1")" == *" $2 "* ]]; else [[ " $(dests "$1")" == *" $2/"* ]]; fi
}
lacks_dest() { ! has_dest "$1" "$2"; }

check "keepalived.conf as written runs: three servers behind VIP:80" \
  expect_eq "dests" "$(dests "$VIP:80")" "$R1:80/1 $R2:80/1 $R3:80/1 "
check "warmed-up state: VIP:8081 and VIP:8082 have all three servers" \
  expect_eq "dests" "$(dests "$VIP:8081")$(dests "$VIP:8082")" "$R1:8081/1 $R2:8081/1 $R3:8081/1 $R1:80/1 $R2:80/1 $R3:80/1 "

now_ms() { date +%s%3N; }
# removed_within T0 SERVICE DEST LIMIT_MS: the log's delete-server of DEST happened < LIMIT_MS after T0.
removed_ms() {
  node -e '
    const [log, svc, dest, t0] = process.argv.slice(1);
    let t = -1;
    for (const l of require("fs").readFileSync(log, "utf8").split("\n")) {
      if (!l.startsWith("{")) continue;
      const j = JSON.parse(l);
      if (j.msg === "table updated" && j.op === svc && j.dest === dest && Date.parse(j.time) >= Number(t0)) { t = Date.parse(j.time) - Number(t0); break; }
    }
    console.log(t);' "$LVSD_LOG" "$1" "$2" "$3"
}
# failover_case NAME SERVICE DEST BREAK_CMD REPAIR_CMD WANT_COUNTS
failover_case() {
  local name=$1 svc=$2 dest=$3 t0 ms
  t0=$(now_ms)
  eval "$4"
  check "$name: $dest leaves $svc" wait_for -t 8 lacks_dest "$svc" "$dest"
  ms=$(removed_ms delete-server "$dest" "$t0")
  if ((ms < 0 || ms > 4000)); then
    log "$name: t0=$t0; lvsd log for $dest:"
    grep -F "\"$dest\"" "$LVSD_LOG" | tail -n 8 >&2
    uptime >&2
  fi
  check "$name: removed ${ms} ms after the failure (limit 4000)" test "$ms" -ge 0 -a "$ms" -le 4000
  check "$name: 30 new requests all succeed on the others" \
    expect_eq "counts" "$(counts 30 "http://$svc/")" "$6"
  eval "$5"
  check "$name: $dest comes back when it passes again" wait_for -t 8 has_dest "$svc" "$dest"
}

nginx_pids() { # nginx processes of real server I
  local p
  for p in $(ip netns pids "${NS_RS[$1 - 1]}"); do
    [[ $(ps -o comm= -p "$p" 2>/dev/null) == nginx ]] && echo "$p"
  done
}
kill_nginx2() { kill -KILL $(nginx_pids 2); }
failover_case "TCP_CHECK (nginx killed)" "$VIP:80" "$R2:80" kill_nginx2 "run_http_servers 2" "rs1=15 rs2=0 rs3=15 fail=0"
failover_case "HTTP_GET (answers 500)" "$VIP:8081" "$R1:8081" "echo 500 >'$LVS_STATE/status-rs1'" \
  "echo 200 >'$LVS_STATE/status-rs1'" "rs1=0 rs2=15 rs3=15 fail=0"
failover_case "MISC_CHECK (exit 1)" "$VIP:8082" "$R3:80" "touch '$LVS_STATE/misc-down-rs3'" \
  "rm -f '$LVS_STATE/misc-down-rs3'" "rs1=15 rs2=15 rs3=0 fail=0"

# UDP_CHECK: rs1 has no listener on 5353 (ICMP port unreachable), rs2 answers.
check "UDP_CHECK: the server without a listener leaves udp VIP:53" wait_for -t 6 \
  eval '[[ $(dests "$VIP:53") == "$R2:5353/1 " ]]'
udp_ask() { in_ns "$NS_C" bash -c "echo q | timeout 3 socat -T2 - UDP:$VIP:53"; }
udp_ok() { [[ $(udp_ask) == udp-rs2 ]]; }
# UDP may lose a datagram on a loaded machine: each query is retried until answered.
check "UDP_CHECK: queries through udp VIP:53 are answered by the live server" wait_for -t 8 udp_ok
check "UDP_CHECK: a second query too" wait_for -t 8 udp_ok
# PING_CHECK: rs1 answers ICMP echo, $LAN_PREFIX.50 does not exist.
check "PING_CHECK: the host that does not answer echo leaves VIP:8085, rs1 stays" wait_for -t 6 \
  eval '[[ $(dests "$VIP:8085") == "$R1:80/1 " ]]'

checks_out=$(lvsadm --checks)
check "lvsadm --checks lists every checker (got $(grep -c -- '->' <<<"$checks_out") lines)" \
  test "$(grep -c -- '->' <<<"$checks_out")" -eq 15
check "lvsadm --checks shows PING_CHECK up and down" \
  bash -c "grep -qE -- '-> $R1:80 +PING_CHECK +UP ' <<<'$checks_out' && grep -qE -- '-> $LAN_PREFIX.50:80 +PING_CHECK +DOWN .*no echo reply' <<<'$checks_out'"
check "lvsadm --checks shows HTTP_GET state and last result" \
  grep -qE -- "-> $R1:8081 +HTTP_GET +UP .*: /: HTTP 200" <<<"$checks_out"

# --- quorum and sorry server ----------------------------------------------------------------
check "quorum 2 with two live servers: real servers answer" \
  expect_eq "counts" "$(counts 4 "http://$VIP:8083/")" "rs1=2 rs2=2 rs3=0 fail=0"
touch "$LVS_STATE/quorum-down-rs1"
check "quorum lost: table is the sorry server alone" wait_for -t 6 \
  eval '[[ $(dests "$VIP:8083") == "$R3:8090/1 " ]]'
sorry=$(in_ns "$NS_C" timeout 3 socat -u "TCP:$VIP:8083" - || true)
check "quorum lost: the sorry server answers" expect_eq "answer" "$sorry" "sorry"
rm -f "$LVS_STATE/quorum-down-rs1"
check "quorum regained: real servers again, sorry server gone" wait_for -t 6 \
  eval '[[ $(dests "$VIP:8083") == "$R1:80/1 $R2:80/1 " ]]'
check "quorum regained: requests reach the real servers" \
  expect_eq "counts" "$(counts 4 "http://$VIP:8083/")" "rs1=2 rs2=2 rs3=0 fail=0"

# --- reload (SIGHUP) ----------------------------------------------------------------------------
# One keep-alive connection across both reloads: a request before, one after each.
in_ns "$NS_C" bash -c '
  exec 3<>"/dev/tcp/$0/80"
  req() { printf "GET / HTTP/1.1\r\nHost: vip\r\n\r\n" >&3; local l body=""
    while IFS= read -r -t 5 l <&3; do l=${l%$'"'"'\r'"'"'}; [[ -z $l ]] && break; done
    IFS= read -r -t 5 body <&3; echo "$body"; }
  req; while [[ ! -e $1/go1 ]]; do sleep 0.1; done; req; while [[ ! -e $1/go2 ]]; do sleep 0.1; done; req' \
  "$VIP" "$LVS_STATE" >"$LVS_STATE/keepalive.out" 2>&1 &
KA_PID=$!
wait_for -t 5 test -s "$LVS_STATE/keepalive.out"

# Good reload: VIP:80 gains a fourth server (rs3:8081), VIP:8083 disappears.
write_conf "    real_server $R3 8081 {
        weight 2
    }"
sed -i "/^virtual_server $VIP 8083 {/,\$d" "$CONF"
kill -HUP "$LVSD_PID"
check "reload applies the difference: a fourth server on VIP:80" wait_for -t 5 has_dest "$VIP:80" "$R3:8081"
check "reload removes a virtual server that left the file" wait_for -t 5 \
  bash -c "! timeout 10 ip netns exec '$NS_D' node '$LVS_ROOT/dist/src/cli/lvsadm.js' --socket '$LVSD_SOCK' -L -n | grep -q ':8083 '"
touch "$LVS_STATE/go1"
table_before=$(lvsadm -S -n)
printf 'virtual_server %s 80 {\n    real_server %s 80 {\n        weight\n' "$VIP" "$R1" >"$CONF"
kill -HUP "$LVSD_PID"
check "a reload keepalived would refuse is logged with file:line" wait_for -t 5 \
  bash -c "grep 'reload rejected' '$LVSD_LOG' | grep -q 'keepalived.conf:3: Configuration line starting'"
check "a bad reload keeps the running configuration" expect_eq "table" "$(lvsadm -S -n)" "$table_before"
touch "$LVS_STATE/go2"
wait "$KA_PID" || true
mapfile -t ka <"$LVS_STATE/keepalive.out"
ka_same() { [[ ${#ka[@]} == 3 && ${ka[0]} == rs[123] && ${ka[1]} == "${ka[0]}" && ${ka[2]} == "${ka[0]}" ]]; }
check "a keep-alive connection survives both reloads (${ka[*]})" ka_same

# --- graceful drain ---------------------------------------------------------------------------
lvsadm -A -t "$VIP:8084" -s rr
lvsadm -a -t "$VIP:8084" -r "$R1:80" -m -w 1
lvsadm -a -t "$VIP:8084" -r "$R2:80" -m -w 0
# An open connection to rs1 that sends its request after 3 s.
in_ns "$NS_C" bash -c 'exec 3<>"/dev/tcp/$0/8084"; sleep 3; printf "GET / HTTP/1.0\r\n\r\n" >&3; tail -n 1 <&3' \
  "$VIP" >"$LVS_STATE/drain-conn.out" 2>&1 &
CONN_PID=$!
conn_est() { lvsadm -L -n -c | grep -q "ESTABLISHED.*$VIP:8084 *$R1:80"; }
wait_for -t 3 conn_est || true
lvsadm -e -t "$VIP:8084" -r "$R2:80" -m -w 1
t0=$(now_ms)
( lvsadm --drain -t "$VIP:8084" -r "$R1:80" --deadline 20 >"$LVS_STATE/drain.out" 2>&1; echo $? >"$LVS_STATE/drain.rc" ) &
DRAIN_PID=$!
check "drain: the server goes to weight 0 at once" wait_for -t 3 has_dest "$VIP:8084" "$R1:80/0"
check "drain: no new connections reach it" expect_eq "counts" "$(counts 6 "http://$VIP:8084/")" "rs1=0 rs2=6 rs3=0 fail=0"
check "drain: still in the table while its connection is open" has_dest "$VIP:8084" "$R1:80"
wait "$CONN_PID" || true
check "drain: the open connection finishes ($(cat "$LVS_STATE/drain-conn.out"))" \
  expect_eq "answer" "$(cat "$LVS_STATE/drain-conn.out")" "rs1"
wait "$DRAIN_PID" || true
elapsed=$(($(now_ms) - t0))
check "drain: then the server is gone ($(cat "$LVS_STATE/drain.out"), ${elapsed} ms)" \
  bash -c "[[ \$(cat '$LVS_STATE/drain.rc') == 0 ]] && grep -q 'no connections left' '$LVS_STATE/drain.out' && (( $elapsed < 15000 ))"
check "drain: the table no longer lists it" lacks_dest "$VIP:8084" "$R1:80"

# --- ipvsadm's sync daemon commands ---------------------------------------------------------
lvsadm --start-daemon master --mcast-interface "$LAN_IF" --syncid 3
check "--start-daemon master: listed by -L --daemon" \
  expect_eq "daemons" "$(lvsadm -L --daemon)" "master sync daemon (mcast=$LAN_IF, syncid=3)"
check "--start-daemon master twice is refused" bash -c "! timeout 10 ip netns exec '$NS_D' node '$LVS_ROOT/dist/src/cli/lvsadm.js' --socket '$LVSD_SOCK' --start-daemon master --mcast-interface '$LAN_IF' 2>/dev/null"
lvsadm --stop-daemon master
check "--stop-daemon master: nothing listed" expect_eq "daemons" "$(lvsadm -L --daemon)" ""

stop_lvsd
check "lvsd logged no uncaught exception" bash -c "! grep -q 'uncaught' '$LVSD_LOG'"
((LVS_FAILS == 0))
