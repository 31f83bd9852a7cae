#!/usr/bin/env bash
# Jepsen-style safety test of lvs-dlm: pauses, kills and a failover, checked on a fenced register.
#
#                         ns hub (bridge br0)
#      ┌──────────┬──────────┬─────┴────┬──────────┬──────────┐
#    pri        sby        reg        c1         c2         c3
#  lvs-dlm    lvs-dlm    register   client     client     client
#  .7.1:7400  .7.2:7400  .7.3:7500  .7.11      .7.12      .7.13     (198.18.7.0/24)
#  (primary)  (--standby-of pri)
#
# usage: netns/dlm-jepsen.sh [--fencing on|off] [--ops N] [--min-seconds S] [--max-seconds S]
#                            [--expect safe|violations] [--clients N] [--keep DIR]
# Needs root and a build (dist/). Prints the checker's JSON summary as the last line; exit 0
# when the result matches --expect. Namespaces carry a per-run tag and are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

FENCING=on OPS=10000 MIN=14 MAX=60 EXPECT=safe NCLIENTS=3 KEEP=
while (($#)); do
  case "$1" in
    --fencing) FENCING=$2; shift 2 ;;
    --ops) OPS=$2; shift 2 ;;
    --min-seconds) MIN=$2; shift 2 ;;
    --max-seconds) MAX=$2; shift 2 ;;
    --expect) EXPECT=$2; shift 2 ;;
    --clients) NCLIENTS=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 64 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "dlm-jepsen: needs root" >&2; exit 2; }
[[ -f dist/src/dlm/testing/jepsen.js ]] || { echo "dlm-jepsen: build first (npx tsc -p tsconfig.json)" >&2; exit 2; }

TAG="dlmj$$$(printf '%04x' $((RANDOM)))"
HUB="$TAG-hub"
NODES=(pri sby reg)
for ((i = 1; i <= NCLIENTS; i++)); do NODES+=("c$i"); done
declare -A ADDR=([pri]=198.18.7.1 [sby]=198.18.7.2 [reg]=198.18.7.3)
for ((i = 1; i <= NCLIENTS; i++)); do ADDR[c$i]=198.18.7.$((10 + i)); done
OUT=$(mktemp -d /tmp/dlm-jepsen.XXXXXX)

cleanup() {
  local rc=$?
  # Processes in the namespaces are children of the orchestrator, which stops them; anything
  # left (orchestrator killed) is found by namespace and killed by PID.
  for n in "${NODES[@]}"; do
    if ip netns list | grep -qw "$TAG-$n"; then
      for pid in $(ip netns pids "$TAG-$n" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$TAG-$n" 2>/dev/null || true
    fi
  done
  ip netns del "$HUB" 2>/dev/null || true
  if [[ -n $KEEP ]]; then mkdir -p "$KEEP" && cp -r "$OUT"/. "$KEEP"/; fi
  rm -rf "$OUT"
  exit $rc
}
trap cleanup EXIT

ip netns add "$HUB"
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link set br0 up
ip -n "$HUB" link set lo up
i=0
for n in "${NODES[@]}"; do
  ns="$TAG-$n"
  ip netns add "$ns"
  ip link add "v$i$TAG" netns "$HUB" type veth peer name eth0 netns "$ns"
  ip -n "$HUB" link set "v$i$TAG" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "${ADDR[$n]}/24" dev eth0
  ip -n "$ns" link set eth0 up
  i=$((i + 1))
done
# Readiness: every link is up (the orchestrator then polls each service: register listening,
# primary listening, standby synchronised over the bridge).
for n in "${NODES[@]}"; do
  for _ in $(seq 50); do ip -n "$TAG-$n" link show eth0 | grep -q LOWER_UP && break; sleep 0.1; done
done

head -c 32 /dev/urandom | base64 >"$OUT/secret"
chmod 600 "$OUT/secret"
CLIENT_NS=$(for ((i = 1; i <= NCLIENTS; i++)); do printf '%s-c%d,' "$TAG" "$i"; done)
node dist/src/dlm/testing/jepsen.js --out "$OUT" \
  --ns-primary "$TAG-pri" --ns-standby "$TAG-sby" --ns-register "$TAG-reg" --ns-clients "${CLIENT_NS%,}" \
  --primary "${ADDR[pri]}:7400" --standby "${ADDR[sby]}:7400" --register "${ADDR[reg]}:7500" \
  --fencing "$FENCING" --ops "$OPS" --min-seconds "$MIN" --max-seconds "$MAX" --expect "$EXPECT"
