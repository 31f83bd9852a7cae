#!/usr/bin/env bash
# npm run bench:metrics: what a Prometheus scrape of lvsd every second costs (docs/METRICS.md,
# docs/BENCHMARKS.md). Run as root.
#
# 1. Throughput: netns/bench.sh with the phases lvsd (NAT) and lvsd-scrape (the same with
#    --metrics-listen and a scrape of /metrics every second) over BENCH_ROUNDS rounds (default
#    4; even rounds run the phases in reverse order). Per round the ratio of the two phases'
#    wrk keep-alive requests/s (both measured under the same machine load) and of lvsd's CPU
#    time per request (less sensitive to the machine's other load); the median ratios.
#    The same for lvsd-scrape-fast (up to 20 scrapes a second): k times the cost of the 1 s
#    scrapes in the same noise, k the ratio of the two phases' scrape counts, so (ratio - 1) / k
#    estimates what one scrape a second costs under load, in lvsd CPU per request and in
#    keep-alive throughput.
# 2. CPU per scrape: lvsd with the benchmark's services (2 services, 3 real servers) and with
#    100 services x 10 real servers; 1,000 (100) scrapes back to back; lvsd's CPU time (utime + stime,
#    /proc/PID/stat) per scrape, less what it spends idle over as long. At one scrape a second a
#    scrape of C ms takes C/1000 of the packet thread's time.
#
# Environment: BENCH_ROUNDS (default 4), BENCH_DURATION (default 5), as netns/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "bench-metrics: needs root (network namespaces)" >&2; exit 1; }
export BENCH_ROUNDS=${BENCH_ROUNDS:-4} BENCH_DURATION=${BENCH_DURATION:-5} BENCH_PHASES="lvsd lvsd-scrape lvsd-scrape-fast"
before=$(ls -d bench-results/raw-* 2>/dev/null | sort | tail -n 1 || true)
bash netns/bench.sh >/dev/null
raw=$(ls -d bench-results/raw-* | sort | tail -n 1)
[[ $raw != "$before" ]] || { echo "bench-metrics: netns/bench.sh left no results" >&2; exit 1; }

rps() { awk '/^Requests\/sec:/ { print $2 }' "$1/wrk-ka.out" 2>/dev/null; }
# cpu_per_1k DIR: lvsd's CPU ms per 1,000 keep-alive requests (its /proc stat around the wrk run).
cpu_per_1k() {
  local tck req t0 t1
  tck=$(sed -n 's/^clk_tck=//p' "$raw/meta.env")
  req=$(awk '/requests in/ { print $1 }' "$1/wrk-ka.out" 2>/dev/null)
  t0=$(awk '$1 == "proc" { print $15 + $16 }' "$1/wrk-ka.before" 2>/dev/null)
  t1=$(awk '$1 == "proc" { print $15 + $16 }' "$1/wrk-ka.after" 2>/dev/null)
  [[ -n $req && -n $t0 && -n $t1 ]] && awk -v r="$req" -v a="$t0" -v b="$t1" -v k="$tck" 'BEGIN { printf "%.3f", (b - a) * 1000 / k / r * 1000 }'
}
report=bench-results/metrics-$(basename "$raw" | sed 's/^raw-//').txt
{
  echo "date $(sed -n 's/^date=//p' "$raw/meta.env"); $(sed -n 's/^nproc=//p' "$raw/meta.env") CPUs, $(sed -n 's/^cpu_model=//p' "$raw/meta.env"); load at start $(sed -n 's/^loadavg_start=//p' "$raw/meta.env")"
  median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  for phase in lvsd-scrape lvsd-scrape-fast; do
    echo
    echo "$phase against lvsd, same rounds"
    echo "round  lvsd ka req/s  $phase ka req/s  ratio   lvsd CPU ms/1k req  with scrapes  ratio   scrapes"
    ratios=() cratios=() ks=()
    for ((r = 1; r <= BENCH_ROUNDS; r++)); do
      a=$(rps "$raw/lvsd/r$r") b=$(rps "$raw/$phase/r$r")
      n=$(wc -l <"$raw/$phase/r$r/scrapes" 2>/dev/null || echo 0)
      n1=$(wc -l <"$raw/lvsd-scrape/r$r/scrapes" 2>/dev/null || echo 0)
      ((n1 > 0)) && ks+=("$(awk -v a="$n" -v b="$n1" 'BEGIN { printf "%.2f", a / b }')")
      ca=$(cpu_per_1k "$raw/lvsd/r$r") cb=$(cpu_per_1k "$raw/$phase/r$r")
      cratio=failed
      if [[ -n $ca && -n $cb ]]; then
        cratio=$(awk -v a="$ca" -v b="$cb" 'BEGIN { printf "%.4f", b / a }')
        cratios+=("$cratio")
      fi
      if [[ -n $a && -n $b ]]; then
        ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", b / a }')
        ratios+=("$ratio")
      else
        ratio=failed
      fi
      printf '%-6s %-14s %-21s %-7s %-19s %-13s %-7s %s\n' "$r" "${a:-failed}" "${b:-failed}" "$ratio" "${ca:-failed}" "${cb:-failed}" "$cratio" "$n"
    done
    mr=$(median "${ratios[@]}") mc=$(median "${cratios[@]}")
    printf 'median ratio: keep-alive req/s %s, lvsd CPU per request %s\n' "$mr" "$mc"
    if [[ $phase == lvsd-scrape-fast ]]; then
      awk -v r="$mr" -v c="$mc" -v k="$(median "${ks[@]}")" 'BEGIN {
        t = (1 - r) / k * 100; u = (c - 1) / k * 100
        printf "one scrape a second, from %.1fx as many: %.2f%% of keep-alive throughput, %.2f%% of lvsd CPU per request (target < 1%%: %s)\n", k, t, u, (t < 1 && u < 1) ? "met" : "NOT met" }'
    fi
  done
} | tee "$report"

# --- CPU per scrape -------------------------------------------------------------------------
source netns/lib.sh
topo_nat 2
start_lvsd --metrics-listen 127.0.0.1:9101 || die "lvsd did not start"
TCK=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$TCK" '{ print ($14 + $15) * 1000 / t }' "/proc/$LVSD_PID/stat"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# per_scrape N LABEL: lvsd CPU ms per scrape over N scrapes, less its idle CPU over as long.
per_scrape() {
  local n=$1 c0 c1 t0 t1 i0 i1 bytes
  shift
  bytes=$(in_ns "$NS_D" curl -sf http://127.0.0.1:9101/metrics | wc -c)
  c0=$(cpu_ms) t0=$(now_ms)
  in_ns "$NS_D" curl -sf "http://127.0.0.1:9101/metrics?i=[1-$n]" >/dev/null
  c1=$(cpu_ms) t1=$(now_ms)
  i0=$(cpu_ms)
  sleep "$(awk -v ms=$((t1 - t0)) 'BEGIN { print ms / 1000 }')"
  i1=$(cpu_ms)
  awk -v l="$1" -v n="$n" -v b="$bytes" -v s="$c0" -v e="$c1" -v is="$i0" -v ie="$i1" -v w=$((t1 - t0)) 'BEGIN {
    c = ((e - s) - (ie - is)) / n
    printf "%-40s %8d bytes  %7.3f ms CPU per scrape  (%.2f%% of one CPU at 1 scrape/s; %d scrapes in %d ms)\n", l, b, c, c / 10, n, w }'
}
lvsadm -A -t "$VIP:80" -s rr
lvsadm -a -t "$VIP:80" -r "$(rip 1):80" -m
lvsadm -a -t "$VIP:80" -r "$(rip 2):80" -m
lvsadm -A -t "$VIP:5201" -s rr
lvsadm -a -t "$VIP:5201" -r "$(rip 1):5201" -m
per_scrape 1000 "2 services, 3 real servers (the bench's)" | tee -a "$report"
# Ten restores of ten services each (every service adds a policy rule: one restore of all
# would outlast lvsadm's answer timeout).
for ((k = 0; k < 10; k++)); do
  for ((s = k * 10; s < k * 10 + 10; s++)); do
    echo "-A -t 198.18.101.1:$((1000 + s)) -s wlc"
    for ((d = 0; d < 10; d++)); do echo "-a -t 198.18.101.1:$((1000 + s)) -r 198.19.1.$((d + 1)):80 -m"; done
  done | lvsadm -R
done
per_scrape 100 "102 services, 1,003 real servers" | tee -a "$report"
echo "report: $report"
