# shellcheck shell=bash
# Scale-out topology: one VIP served by several active directors behind a router that spreads
# flows over them by ECMP, learnt by BGP (BIRD 2) with BFD. Source lib.sh first.
#
#   client c-TAG                router rt-TAG                    switch sw-TAG: bridges
#   eth0 198.18.0.2/24 ─veth─── eth0 198.18.0.1/24               brf  front  198.18.1.0/24
#   + 198.18.0.10 .. (clients)  fr0  198.18.1.1   ── brf ──┐     brl  LAN    198.19.0.0/24
#   default via 198.18.0.1      lan0 198.19.0.1   ── brl ──┤     brs  sync   198.19.1.0/24
#                               BIRD: BGP + BFD to every director, ECMP (L4 hash) to the VIP
#                                                          │
#   director dI-TAG (I = 1..4)                             │     real server rJ-TAG (J = 1..4)
#   fr0   198.18.1.(10+I)  ── brf (BGP, BFD, VIP traffic in)      eth0 198.19.0.(10+J) on brl
#   lan0  198.19.0.(1+I)   ── brl (DR frames, IPIP to the RS)     VIP on lo (lvs-realserver),
#   sync0 198.19.1.(10+I)  ── brs (IPVS sync multicast)           IPIP decapsulation, default
#   lvsd on TUN lvs0 (mh, sloppy_tcp=1), sync master+backup,      via the router (replies go
#   BIRD: kernel table $SO_TABLE (learn) → BGP to the router      client-wards, not through
#                                                                 a director)
#
# A director announces the VIP by a /32 route through lvs0 in kernel table $SO_TABLE; its BIRD
# learns that table and exports the VIP to the router; when lvsd dies its TUN device, and with
# it the route, vanishes, and BIRD withdraws. BFD (100 ms × 3) covers a director whose BIRD or
# link dies. The sync link is separate so that loss can be injected on sync alone.
#
# Router modes (SO_ROUTER_MODE): ecmp: BIRD installs the multipath route into the main table
# (plain hash-threshold ECMP); resilient: BIRD installs it into table $SO_RT_TABLE, which
# netns/router/resilient-nh.py follows with a resilient nexthop group and a main-table route
# over it (metric 0), and into the main table at metric 32 as the fallback while the
# controller is not running.
#
# Contracts as in lib.sh: every namespace ends in -$LVS_TAG, every process is started through
# bg_in_ns (PID recorded), cleanup removes everything.

SO_MAX_DIRECTORS=4
SO_NRS=${SO_NRS:-4}
SO_TABLE=${SO_TABLE:-100}          # the directors' announcement table
SO_RT_TABLE=${SO_RT_TABLE:-200}    # the router's BGP table in resilient mode
SO_ROUTER_MODE=${SO_ROUTER_MODE:-resilient}
SO_SYNCID=${SO_SYNCID:-7}
SO_ROUTER_AS=65000
SO_DIRECTOR_AS=65001
SO_CLIENTS=${SO_CLIENTS:-64}       # client addresses 198.18.0.10 ..
SO_BFD_MS=${SO_BFD_MS:-100}
SO_BFD_MULT=${SO_BFD_MULT:-3}

NS_SW=sw-$LVS_TAG
NS_RT=rt-$LVS_TAG
RT_FRONT=198.18.1.1
RT_LAN=198.19.0.1
SO_DS=()          # director namespaces by index 1..4 (SO_DS[I])
SO_DPID=()        # lvsd PID by director index
SO_BPID=()        # bird PID by director index
SO_RTPID=         # router bird
SO_CTLPID=        # resilient-group controller
SO_ANNOUNCE=      # lvsd (lvsd --announce-table) or static (the testbed adds the route)

so_front() { printf '198.18.1.%d\n' $((10 + $1)); }
so_lan() { printf '198.19.0.%d\n' $((1 + $1)); }
so_sync() { printf '198.19.1.%d\n' $((10 + $1)); }
so_client() { printf '198.18.0.%d\n' $((10 + $1)); }   # client address K (0-based)
so_clients() { local k; for ((k = 0; k < SO_CLIENTS; k++)); do so_client "$k"; done; }

# so_announce_mode: lvsd when this build has --announce-table, else static.
so_announce_mode() {
  if node "$LVS_ROOT/dist/src/cli/lvsd.js" --help 2>&1 | grep -q -- '--announce-table'; then
    echo lvsd
  else
    echo static
  fi
}

# topo_scaleout NRS: switch, client, router and NRS real servers; directors come with
# so_add_director.
topo_scaleout() {
  local n=${1:-$SO_NRS} i ns k
  SO_NRS=$n
  SO_ANNOUNCE=${SO_ANNOUNCE:-$(so_announce_mode)}
  lvs__new_ns "$NS_SW"
  for br in brf brl brs; do
    ip -n "$NS_SW" link add "$br" type bridge forward_delay 0 stp_state 0 mcast_snooping 0
    ip -n "$NS_SW" link set "$br" up
  done

  lvs__new_ns "$NS_C"
  lvs__new_ns "$NS_RT"
  ip -n "$NS_RT" link add eth0 type veth peer name eth0 netns "$NS_C"
  ip -n "$NS_RT" addr add 198.18.0.1/24 dev eth0
  ip -n "$NS_C" addr add "$CIP/24" dev eth0
  for ((k = 0; k < SO_CLIENTS; k++)); do
    ip -n "$NS_C" addr add "$(so_client "$k")/24" dev eth0
  done
  ip -n "$NS_C" link set eth0 up
  ip -n "$NS_RT" link set eth0 up
  ip -n "$NS_C" route add default via 198.18.0.1
  # Many short connections from few addresses: widen the port range, reuse TIME_WAIT ports.
  in_ns "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="10000 60999" net.ipv4.tcp_tw_reuse=1

  ip -n "$NS_SW" link add rtf type veth peer name fr0 netns "$NS_RT"
  ip -n "$NS_SW" link add rtl type veth peer name lan0 netns "$NS_RT"
  ip -n "$NS_SW" link set rtf master brf up
  ip -n "$NS_SW" link set rtl master brl up
  ip -n "$NS_RT" addr add "$RT_FRONT/24" dev fr0
  ip -n "$NS_RT" addr add "$RT_LAN/24" dev lan0
  ip -n "$NS_RT" link set fr0 up
  ip -n "$NS_RT" link set lan0 up
  # Forwarding with an L4 multipath hash over the 5-tuple (policy 3 with fields 0x37: source
  # and destination address, protocol, source and destination port; TESTBED.md); replies of
  # DR/TUN real servers come in on lan0 from the VIP, which is routed out of fr0: no rp_filter.
  in_ns "$NS_RT" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=3 \
    net.ipv4.fib_multipath_hash_fields=0x37 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.lan0.rp_filter=0 net.ipv4.conf.fr0.rp_filter=0

  NS_RS=()
  RIPS=()
  for ((i = 1; i <= n; i++)); do
    ns=r$i-$LVS_TAG
    lvs__new_ns "$ns"
    ip -n "$NS_SW" link add "rs$i" type veth peer name eth0 netns "$ns"
    ip -n "$NS_SW" link set "rs$i" master brl up
    ip -n "$ns" addr add "$(rip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$RT_LAN"
    NS_RS+=("$ns")
    RIPS+=("$(rip "$i")")
  done
  log "scaleout topology: client $NS_C (${SO_CLIENTS} addresses), router $NS_RT ($SO_ROUTER_MODE), real servers ${RIPS[*]}, vip $VIP, announce by $SO_ANNOUNCE"
}

# so_add_director I: namespace dI-TAG with its three legs (no daemons yet).
so_add_director() {
  local i=$1 ns=d$1-$LVS_TAG
  lvs__new_ns "$ns"
  ip -n "$NS_SW" link add "df$i" type veth peer name fr0 netns "$ns"
  ip -n "$NS_SW" link add "dl$i" type veth peer name lan0 netns "$ns"
  ip -n "$NS_SW" link add "ds$i" type veth peer name sync0 netns "$ns"
  ip -n "$NS_SW" link set "df$i" master brf up
  ip -n "$NS_SW" link set "dl$i" master brl up
  ip -n "$NS_SW" link set "ds$i" master brs up
  ip -n "$ns" addr add "$(so_front "$i")/24" dev fr0
  ip -n "$ns" addr add "$(so_lan "$i")/24" dev lan0
  ip -n "$ns" addr add "$(so_sync "$i")/24" dev sync0
  for l in fr0 lan0 sync0; do ip -n "$ns" link set "$l" up; done
  # SO_SYNC_LOSS=P: every director drops P % of the datagrams it sends on the sync link (sync
  # messages, NACKs, resync requests and dumps), each independently at random. nftables'
  # numgen rather than tc netem, which this kernel lacks (CONFIG_NET_SCH_NETEM unset).
  if [[ ${SO_SYNC_LOSS:-0} != 0 ]]; then
    ((SO_SYNC_LOSS > 0 && SO_SYNC_LOSS < 100)) || die "SO_SYNC_LOSS must be 1..99"
    ip netns exec "$ns" nft -f - <<EOF
table inet synclossy {
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "sync0" meta l4proto udp numgen random mod 100 < $SO_SYNC_LOSS counter drop
  }
}
EOF
  fi
  # The client network is reached through the router (ICMP errors, nothing else).
  ip -n "$ns" route add 198.18.0.0/24 via "$RT_FRONT"
  # VIP traffic that arrives while lvsd is down (between its death and the router's reaction)
  # is dropped silently: without this the kernel answers "network unreachable", which aborts a
  # client's connect() in SYN-SENT instead of letting it retransmit the SYN.
  ip -n "$ns" route add blackhole 198.18.100.0/24
  in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
  SO_DS[i]=$ns
}

# ---------------------------------------------------------------------------------------------
# BIRD

# so_bird_router_conf: the router's BIRD 2 configuration on stdout.
so_bird_router_conf() {
  local i table
  if [[ $SO_ROUTER_MODE == resilient ]]; then table=$SO_RT_TABLE; else table=254; fi
  # With the resilient group, BIRD also installs its plain multipath route in the main table,
  # at BIRD's metric 32: the controller's route (metric 0) wins while it runs, the plain one
  # takes over when the controller stops (it removes its routes) or before its first pass.
  local fallback=''
  # (BIRD attaches one kernel protocol per BIRD table: a pipe feeds a second one.)
  [[ $SO_ROUTER_MODE == resilient ]] && fallback='ipv4 table fallback4;
protocol pipe { table master4; peer table fallback4; import none; export all; }
protocol kernel fallback {
  kernel table 254;
  merge paths on;
  ipv4 { table fallback4; import none; export all; };
}'
  cat <<EOF
# Router: one BGP session per director, BFD on the front link, the VIP's routes from all
# directors merged into one multipath route (ECMP) in kernel table $table.
router id $RT_FRONT;
log stderr all;
protocol device { scan time 10; }
protocol bfd {
  interface "fr0" {
    min rx interval $SO_BFD_MS ms;
    min tx interval $SO_BFD_MS ms;
    idle tx interval 300 ms;
    multiplier $SO_BFD_MULT;
  };
}
protocol kernel {
  kernel table $table;
  merge paths on;
  ipv4 { import none; export all; };
}
$fallback
filter vip_only {
  if net ~ [ 198.18.100.0/24{32,32} ] then accept;
  reject;
}
template bgp director {
  local $RT_FRONT as $SO_ROUTER_AS;
  bfd on;
  hold time 9;
  keepalive time 3;
  connect retry time 1;
  error wait time 1, 4;
  ipv4 { import filter vip_only; export none; };
}
EOF
  for ((i = 1; i <= SO_MAX_DIRECTORS; i++)); do
    printf 'protocol bgp d%d from director { neighbor %s as %d; }\n' "$i" "$(so_front "$i")" "$SO_DIRECTOR_AS"
  done
}

# so_bird_director_conf I: director I's BIRD 2 configuration on stdout. The kernel protocol
# learns table $SO_TABLE (routes put there by lvsd, protocol other than kernel/bird) and
# exports nothing to the kernel; BGP exports the learnt VIP routes with next hop self.
so_bird_director_conf() {
  local i=$1
  cat <<EOF
router id $(so_front "$i");
log stderr all;
protocol device { scan time 10; }
protocol bfd {
  interface "fr0" {
    min rx interval $SO_BFD_MS ms;
    min tx interval $SO_BFD_MS ms;
    idle tx interval 300 ms;
    multiplier $SO_BFD_MULT;
  };
}
protocol kernel lvsd_vips {
  kernel table $SO_TABLE;
  learn;
  scan time 5;
  ipv4 { import all; export none; };
}
protocol bgp uplink {
  local $(so_front "$i") as $SO_DIRECTOR_AS;
  neighbor $RT_FRONT as $SO_ROUTER_AS;
  bfd on;
  hold time 9;
  keepalive time 3;
  connect retry time 1;
  error wait time 1, 4;
  ipv4 {
    import none;
    export where net ~ [ 198.18.100.0/24{32,32} ];
    next hop self;
  };
}
EOF
}

# so_birdc NS SOCK ARGS...: birdc against the BIRD in NS.
so_birdc() {
  local ns=$1 sock=$2
  shift 2
  timeout 5 ip netns exec "$ns" birdc -s "$sock" "$@"
}

# so_start_bird NAME NS CONF: bird in NS in the foreground (-f, so that its PID is ours).
so_start_bird() {
  local name=$1 ns=$2 conf=$3
  bird -p -c "$conf" || die "bird -p: $conf does not parse"
  bg_in_ns "bird-$name" "$ns" bird -f -c "$conf" -s "$LVS_STATE/bird-$name.ctl" -P "$LVS_STATE/bird-$name.pid"
  wait_for -t 5 so_birdc "$ns" "$LVS_STATE/bird-$name.ctl" show status || die "bird $name did not start: $(tail -n 5 "$LVS_STATE/bird-$name.log")"
}

# so_start_controller: the resilient-group controller in the router (resilient mode).
so_start_controller() {
  bg_in_ns resilient-nh "$NS_RT" python3 "$LVS_ROOT/netns/router/resilient-nh.py" \
    --table "$SO_RT_TABLE" --buckets "${SO_BUCKETS:-256}" --idle-timer "${SO_IDLE_TIMER:-1}"
  SO_CTLPID=$LVS_LAST_PID
  wait_for -t 5 grep -q '^ready' "$LVS_STATE/resilient-nh.log" || die "resilient-nh did not start: $(tail -n 5 "$LVS_STATE/resilient-nh.log")"
}

so_start_router() {
  # Every route and nexthop change in the router, time-stamped (so_route_event).
  bg_in_ns rt-monitor "$NS_RT" ip -ts -o monitor route nexthop
  so_bird_router_conf >"$LVS_STATE/bird-rt.conf"
  so_start_bird rt "$NS_RT" "$LVS_STATE/bird-rt.conf"
  SO_RTPID=$LVS_LAST_PID
  [[ $SO_ROUTER_MODE == resilient ]] && so_start_controller
  return 0
}

# so_bgp_up I: the router's session with director I is Established.
so_bgp_up() { so_birdc "$NS_RT" "$LVS_STATE/bird-rt.ctl" show protocols "d$1" | grep -q Established; }

so_start_director_bird() {
  local i=$1
  so_bird_director_conf "$i" >"$LVS_STATE/bird-d$i.conf"
  so_start_bird "d$i" "${SO_DS[i]}" "$LVS_STATE/bird-d$i.conf"
  SO_BPID[i]=$LVS_LAST_PID
}

# ---------------------------------------------------------------------------------------------
# lvsd on the directors

# so_use I: point lvsadm/start_lvsd/stop_lvsd (lib.sh) at director I.
so_use() {
  NS_D=${SO_DS[$1]}
  LVSD_SOCK=$LVS_STATE/lvsd$1.sock
  LVSD_LOG=$LVS_STATE/lvsd$1.log
  LVSD_PID=${SO_DPID[$1]:-}
}

# so_services_conf: the director's services (lvsd --config format is lvsadm -R input).
# 9000: echo by direct routing, 9001: echo by IPIP tunnel, 80: HTTP by direct routing,
# 8080: HTTP by tunnel; mh so that every director picks the same real server for a flow.
so_rules() {
  local port flag r
  for port in 9000:-g 9001:-i 80:-g 8080:-i; do
    flag=${port#*:}
    port=${port%:*}
    # HTTP services hash the source port too (mh-port): wrk's connections come from one address.
    case $port in 80 | 8080) echo "-A -t $VIP:$port -s mh -b mh-port" ;; *) echo "-A -t $VIP:$port -s mh" ;; esac
    for r in "${RIPS[@]}"; do echo "-a -t $VIP:$port -r $r:$port $flag -w 1"; done
  done
}

# so_start_lvsd I [ARGS...]: lvsd on director I with the services, sloppy_tcp=1 and sync as
# master and backup on sync0 (authenticated); then the announcement (by lvsd, or the testbed's
# stand-in route while lvsd lacks --announce-table). Does not wait for the route.
so_start_lvsd() {
  local i=$1
  shift
  so_use "$i"
  [[ -f $LVS_STATE/sync.key ]] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$LVS_STATE/sync.key"; chmod 600 "$LVS_STATE/sync.key"; }
  local extra=()
  [[ $SO_ANNOUNCE == lvsd ]] && extra+=(--announce-table "$SO_TABLE")
  LVSD_WORKERS=${SO_WORKERS:-1} start_lvsd --sysctl sloppy_tcp=1 "${extra[@]}" "$@" || return 1
  SO_DPID[i]=$LVSD_PID
  so_rules | lvsadm -R || return 1
  lvsadm --start-daemon master --mcast-interface sync0 --syncid "$SO_SYNCID" --sync-key "$LVS_STATE/sync.key" || return 1
  lvsadm --start-daemon backup --mcast-interface sync0 --syncid "$SO_SYNCID" --sync-key "$LVS_STATE/sync.key" || return 1
  if [[ $SO_ANNOUNCE == static ]]; then
    # Stand-in for lvsd --announce-table: the route goes with the TUN device when lvsd dies.
    ip -n "$NS_D" route replace "$VIP/32" dev lvs0 table "$SO_TABLE" proto 252
  fi
}

# so_kill_lvsd I: SIGKILL of director I's lvsd.
so_kill_lvsd() {
  local pid=${SO_DPID[$1]}
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  SO_DPID[$1]=
}

# so_stop_lvsd I: SIGTERM of director I's lvsd (graceful), waits for its exit.
so_stop_lvsd() {
  so_use "$1"
  stop_lvsd
  SO_DPID[$1]=
}

# so_announced I: director I has the VIP in its announcement table.
so_announced() { [[ -n $(ip -n "${SO_DS[$1]}" route show table "$SO_TABLE" "$VIP/32" 2>/dev/null) ]]; }

# so_route: the router's routes to the VIP (BIRD's, and the controller's over the resilient
# group), one line.
so_route() { ip -n "$NS_RT" -o route show "$VIP/32" 2>/dev/null | tr -s ' \t' | paste -sd'|' | sed 's/|/ | /g'; }

# so_nexthops: the director front addresses the router forwards the VIP to, sorted, one line
# (from the multipath route or from the resilient group).
so_nexthops() {
  ip -n "$NS_RT" -j route show "$VIP/32" 2>/dev/null | python3 -c 'import json,sys
r=json.load(sys.stdin)
r=min(r, key=lambda e: e.get("metric", 0)) if r else {}   # the route the kernel uses
g=[n["gateway"] for n in r.get("nexthops",[]) if "gateway" in n] or ([r["gateway"]] if "gateway" in r else [])
print(" ".join(sorted(g)))'
}

# so_has_nexthop I / so_no_nexthop I: the router forwards (does not forward) to director I.
so_has_nexthop() { [[ " $(so_nexthops) " == *" $(so_front "$1") "* ]]; }
so_no_nexthop() { ! so_has_nexthop "$1"; }
# so_nexthop_count N: the router forwards to exactly N directors.
so_nexthop_count() { [[ $(wc -w <<<"$(so_nexthops)") == "$1" ]]; }

# so_director_of SRC SPORT DPORT: the director (index) the router sends that flow to, by
# `ip route get` (exact with hash policy 3).
so_director_of() {
  ip -n "$NS_RT" route get "$VIP" from "$1" iif eth0 ipproto tcp sport "$2" dport "$3" 2>/dev/null \
    | awk '{ for (k = 1; k < NF; k++) if ($k == "via") { split($(k + 1), a, "."); print a[4] - 10; exit } }'
}

# so_start_realservers: nginx (80, 8080), echo (9000, 9001) and lvs-realserver (VIP on lo,
# IPIP decapsulation) in every real server.
so_start_realservers() {
  local i
  run_http_servers
  for ((i = 1; i <= SO_NRS; i++)); do
    start_echo "${NS_RS[i - 1]}" 9000
    start_echo "${NS_RS[i - 1]}" 9001
    bg_in_ns "realserver-$i" "${NS_RS[i - 1]}" node "$LVS_ROOT/dist/src/cli/lvs-realserver.js" \
      --state "$LVS_STATE/realserver-$i.state.json" --vip "$VIP" --tunnel
    wait_for -t 10 grep -q '^ready' "$LVS_STATE/realserver-$i.log" \
      || die "lvs-realserver in rs$i: $(tail -n 5 "$LVS_STATE/realserver-$i.log")"
  done
}

# so_bring_up_director I: namespace, BIRD, lvsd; waits for the router to forward to it.
so_bring_up_director() {
  local i=$1
  [[ -n ${SO_DS[i]:-} ]] || so_add_director "$i"
  so_start_director_bird "$i"
  so_start_lvsd "$i" || die "lvsd on d$i did not start"
}

# so_flow_map OUT [N] [FLOWS_FILE]: the director the router sends each flow to, one "flow
# director" line per flow, by one `ip -batch` of `ip route get` (exact with hash policy 3).
# Flows: N synthetic ones (default 600: client address k % SO_CLIENTS, source port 20000 + k,
# port 9000), or the "src sport dport" lines of FLOWS_FILE.
so_flow_map() {
  local out=$1 n=${2:-600} flows=${3:-} k
  if [[ -z $flows ]]; then
    flows=$LVS_STATE/synthetic.flows
    for ((k = 0; k < n; k++)); do echo "$(so_client $((k % SO_CLIENTS))) $((20000 + k)) 9000"; done >"$flows"
  fi
  awk -v vip="$VIP" '{ printf "route get %s from %s iif eth0 ipproto tcp sport %s dport %s\n", vip, $1, $2, $3 }' "$flows" |
    ip -n "$NS_RT" -batch - 2>/dev/null |
    awk -v vip="$VIP" '$1 == vip { d = "-"; for (k = 1; k < NF; k++) if ($k == "via") { split($(k + 1), a, "."); d = a[4] - 10 } print d }' |
    paste -d' ' <(awk '{ print $1 ":" $2 ":" $3 }' "$flows") - >"$out"
}

# so_flow_moves BEFORE AFTER: "moved M of N: from the changed director X, between others Y"
# where a flow counts for "the changed director" when it left or joined one that is in only
# one of the two maps (the director that went or came).
so_flow_moves() {
  awk 'NR == FNR { b[$1] = $2; hb[$2] = 1; next } { a[$1] = $2; ha[$2] = 1 }
    END {
      for (f in b) { n++; if (b[f] != a[f]) { m++; if (!(b[f] in ha) || !(a[f] in hb)) x++; else y++ } }
      printf "moved %d of %d: from or to the changed director %d, between others %d\n", m, n, x, y
    }' "$1" "$2"
}

# so_group_balanced: in resilient mode, the VIP's group has its buckets spread evenly over its
# members (a joining member fills up from buckets idle for the idle timer); always true in ecmp.
so_group_balanced() {
  [[ $SO_ROUTER_MODE == resilient ]] || return 0
  local nhid
  nhid=$(ip -n "$NS_RT" -j route show "$VIP/32" | python3 -c 'import json,sys; print(" ".join(str(e["nhid"]) for e in json.load(sys.stdin) if "nhid" in e))')
  [[ -n $nhid ]] || return 1
  ip -n "$NS_RT" -j nexthop bucket show id "$nhid" | python3 -c 'import json,sys,collections
c=collections.Counter(b["bucket"]["nhid"] for b in json.load(sys.stdin))
sys.exit(0 if c and max(c.values()) - min(c.values()) <= 1 else 1)'
}

# so_sync_dropped I: datagrams director I's loss injection dropped so far.
so_sync_dropped() {
  ip netns exec "${SO_DS[$1]}" nft -j list table inet synclossy 2>/dev/null | python3 -c 'import json,sys
n=0
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("rule",{}).get("expr",[]):
        if "counter" in e: n+=e["counter"]["packets"]
print(n)'
}

# so_route_event lost|back I T0_MS: "N ms" from T0_MS (epoch) to the first change of the
# router's VIP route after T0_MS that drops director I (a VIP route line without "via" I's
# address, or its deletion) or brings it back (one with it); empty when none yet. The route is
# the one BIRD installs (main table with plain ECMP, table $SO_RT_TABLE with the resilient
# group); with the resilient group the time of the controller's next group change is added.
so_route_event() {
  python3 - "$1" "$(so_front "$2")" "$3" "$VIP" "$LVS_STATE/rt-monitor.log" "$SO_ROUTER_MODE" <<'EOF'
import datetime, re, sys
kind, front, t0, vip, path, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
route = None
for line in open(path):
    m = re.match(r"\[(\S+)\] (.*)", line)
    if not m:
        continue
    t = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp() * 1000
    text = m.group(2)
    if t < t0:
        continue
    if route is None:
        words = text.split()
        dst = words[1] if words[0] == "Deleted" else words[0]
        if dst not in (vip, vip + "/32") or "proto bird" not in text:
            continue
        if mode == "resilient" and " table " not in text:
            continue  # BIRD's fallback route in main; the group follows the table it feeds
        has = f"via {front} " in text + " "
        if (kind == "lost" and (text.startswith("Deleted") or not has)) or (kind == "back" and has and not text.startswith("Deleted")):
            route = t
            if "nhid" in text or "table 254" in text or " table " not in text:
                break
    elif " group " in text:
        print(f"{route - t0:.0f} ms (resilient group changed at {t - t0:.0f} ms)")
        sys.exit()
if route is not None:
    print(f"{route - t0:.0f} ms")
EOF
}

# so_forwarding_kind: "group" when the router forwards the VIP by a nexthop group, "multipath"
# by a plain multipath (or single-path) route, "none" without a route.
so_forwarding_kind() {
  ip -n "$NS_RT" -j route show "$VIP/32" 2>/dev/null | python3 -c 'import json,sys
r=json.load(sys.stdin)
print("none" if not r else "group" if "nhid" in min(r, key=lambda e: e.get("metric", 0)) else "multipath")'
}
