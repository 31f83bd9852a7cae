#!/usr/bin/env bash
# Builds or removes the NAT testbed (see topo_nat in lib.sh for the diagram) for interactive
# use. Run as root.
#
#   topology.sh up N [--http]   client, director and N real servers; --http also starts nginx
#                               in every real server. Prints the names as shell assignments.
#   topology.sh down TAG        kills what runs in the namespaces *-TAG and deletes them.
#   topology.sh list            the namespaces that look like testbed ones (c-, d-, rN- prefix).
#
# Example:  eval "$(netns/topology.sh up 2 --http)"; ip netns exec "$NS_C" curl "$(echo $RIPS)"
set -euo pipefail

usage() { echo "usage: $0 up N [--http] | down TAG | list" >&2; exit 2; }

cmd=${1:-}
case $cmd in
up)
  n=${2:-}
  [[ $n =~ ^[0-9]+$ ]] || usage
  http=0
  [[ ${3:-} == --http ]] && http=1
  source "$(dirname "$0")/lib.sh"
  topo_nat "$n"
  ((http)) && run_http_servers
  lvs_keep
  printf 'LVS_TAG=%s\nNS_C=%s\nNS_D=%s\nNS_RS=(%s)\nRIPS=(%s)\nVIP=%s\nCIP=%s\nDIP=%s\n' \
    "$LVS_TAG" "$NS_C" "$NS_D" "${NS_RS[*]}" "${RIPS[*]}" "$VIP" "$CIP" "$DIP"
  echo "# remove with: $0 down $LVS_TAG"
  ;;
down)
  tag=${2:-}
  [[ $tag =~ ^[A-Za-z0-9]+$ ]] || usage
  export LVS_TAG=$tag
  source "$(dirname "$0")/lib.sh"
  mapfile -t found < <(lvs_namespaces)
  if ((${#found[@]} == 0)); then
    log "no namespaces with tag $tag"
  else
    log "deleting ${found[*]}"
  fi
  cleanup
  ;;
list)
  ip netns list | awk '$1 ~ /^(c|d|r[0-9]+)-[A-Za-z0-9]+$/ { print $1 }'
  ;;
*) usage ;;
esac
