#!/usr/bin/env bash
# Runs every test: unit tests (no privileges) and the network-namespace end-to-end tests
# (root and /dev/net/tun; skipped without them, except under CI=true where that fails).
set -euo pipefail
cd "$(dirname "$0")/.."
bash netns/deps.sh

mapfile -t unit < <(find dist/test -name '*.test.js' -not -path 'dist/test/netns/*' -not -path 'dist/test/package/*' | sort)
# Installing the package builds native code: alone, after the unit tests, so it cannot slow them.
mapfile -t pkg < <(find dist/test/package -name '*.test.js' 2>/dev/null | sort)
mapfile -t e2e < <(find dist/test/netns -name '*.test.js' 2>/dev/null | sort)
echo "== unit tests (${#unit[@]} files)"
node --test --test-concurrency=2 "${unit[@]}"
if ((${#pkg[@]})); then
  echo "== package tests (${#pkg[@]} files)"
  node --test --test-concurrency=1 "${pkg[@]}"
fi
if ((${#e2e[@]})); then
  echo "== end-to-end tests (${#e2e[@]} files)"
  node --test --test-concurrency=1 "${e2e[@]}"
fi
