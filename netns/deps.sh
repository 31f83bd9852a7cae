#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine with Node 20 (run as root):
# system packages for the testbed and the benchmark peers, then the npm dependencies,
# the native addon and the TypeScript build. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(iproute2 iputils-ping socat curl nftables tcpdump wrk iperf3 haproxy nginx-light libpcap-dev python3-scapy procps psmisc gcc keepalived)
PKGS+=(systemd man-db)   # systemd-analyze verify of contrib/systemd, man -w of the installed pages
# promtool check metrics (netns/tests/metrics.sh); headless Chromium for the live page's browser test
PKGS+=(prometheus chromium)
# BGP daemons reading lvsd's --announce-table routes (docs/SCALEOUT.md, netns/tests/announce.sh),
# and the router and directors of the scale-out testbed (netns/scaleout.sh)
PKGS+=(bird2 frr)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing packages ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules || package.json -nt node_modules/.package-lock.json ]]; then
  npm install --no-audit --no-fund   # runs "prepare": native addon and TypeScript build
else
  addon=native/build/Release/lvs_native.node
  if [[ ! -f $addon || -n $(find native -maxdepth 1 -newer "$addon" \( -name '*.cc' -o -name '*.h' -o -name binding.gyp \)) ]]; then
    npm run --silent build:native >/dev/null
  fi
  npm run --silent build
  npm run --silent build:man >/dev/null
fi
