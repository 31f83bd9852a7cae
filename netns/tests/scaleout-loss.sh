#!/usr/bin/env bash
# netns/tests/scaleout.sh with 5 % of the sync datagrams lost (dropped at random by nftables on
# every director's sync link; this kernel has no tc netem): still 0 streams broken, because a
# flow that reaches a director before its entry does is picked up (sloppy_tcp=1) and scheduled
# by mh to the same real server, and lost sync messages are NACKed and resent. The CI form runs
# kill, restart and a rolling restart of the three directors; netns/bench-scaleout.sh runs
# every event.
set -euo pipefail
export SO_SYNC_LOSS=${SO_SYNC_LOSS:-5}
export SO_EVENTS=${SO_EVENTS:-kill restart rolling}
exec bash "$(dirname "$0")/scaleout.sh" "$@"
