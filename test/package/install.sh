#!/usr/bin/env bash
# Installs the package as the README says, into temporary prefixes, and checks what an
# administrator gets: the five commands on PATH, their man pages, units that systemd accepts.
#   1. a fresh clone of HEAD, the README's checkout install line (with --prefix DIR);
#   2. the tarball `npm pack` makes of that clone, installed with `npm install -g --prefix`
#      (prepare does not run there: the addon is compiled by the install script).
# Prints PASS/FAIL lines; exits non-zero on the first failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/lvsd-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

pass() { printf 'PASS: %s\n' "$1"; }
fail() { printf 'FAIL: %s\n' "$1"; exit 1; }
check() {
  local desc=$1
  shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}

git clone -q "$ROOT" "$T/clone"
VERSION=$(node -p 'require(process.argv[1]).version' "$T/clone/package.json")
# The install line: the first command of the README's "Installing it" block.
LINE=$(awk '/^## Installing it/{f=1} f&&/^```sh/{getline; print; exit}' "$T/clone/README.md" | sed 's/ *#.*//')
[[ $LINE == *"npm install -g ."* ]] || fail "README install line not found (got '$LINE')"
echo "README: $LINE"

commands_ok() {
  local p=$1 c out
  for c in lvsd lvsadm lvs-realserver lvs-dlm lvs-lock; do
    [[ $(PATH=$p/bin:/usr/bin:/bin command -v "$c") == "$p/bin/$c" ]] || { echo "$c not in $p/bin" >&2; return 1; }
    out=$(PATH=$p/bin:/usr/bin:/bin "$c" --version)
    case $c in
      lvsadm) [[ $out == "lvsadm v$VERSION (ipvsadm-compatible, IPVS v1.2.1)" ]] ;;
      *) [[ $out == "$c $VERSION" ]] ;;
    esac || { echo "$c --version: '$out'" >&2; return 1; }
  done
}
man_ok() {
  local p=$1 page
  for page in lvsd.8 lvsadm.8 lvs-realserver.8 lvs-dlm.8 lvs-lock.1; do
    [[ $(MANPATH=$p/share/man man -w "${page%.*}") -ef "$p/share/man/man${page##*.}/$page" ]] || { echo "man -w ${page%.*}" >&2; return 1; }
  done
  MANPATH=$p/share/man MANWIDTH=80 man lvsadm 2>/dev/null | grep -q "ipvsadm's command line for lvsd"
}
addon_ok() {
  local lib=$1/lib/node_modules/lvsd
  node -e 'const n = require(process.argv[1] + "/dist/src/phy/native.js").loadNative();
    if (typeof n.notifySend !== "function" || typeof n.open !== "function") process.exit(1)' "$lib"
}
units_ok() {
  local p=$1 d=$T/units-$(basename "$1") f
  mkdir -p "$d"
  for f in "$ROOT"/contrib/systemd/*.service; do sed "s#=/usr/bin/#=$p/bin/#" "$f" >"$d/$(basename "$f")"; done
  grep -q "ExecStart=$p/bin/lvsd " "$d/lvsd.service"
  # verify exits 0 on warnings (an unknown key, say): any output is a failure too.
  local out
  out=$(MANPATH=$p/share/man systemd-analyze verify "$d"/*.service 2>&1) || { echo "$out" >&2; return 1; }
  [[ -z $out ]] || { echo "systemd-analyze verify: $out" >&2; return 1; }
}

# 1. the checkout install, from a fresh clone
(cd "$T/clone" && eval "${LINE/ -g / -g --prefix $T/p1 }") >"$T/install1.log" 2>&1 || { tail -n 30 "$T/install1.log"; fail "checkout install: $LINE"; }
check "checkout install: lvsd, lvsadm, lvs-realserver, lvs-dlm, lvs-lock on PATH, --version $VERSION" commands_ok "$T/p1"
check "checkout install: MANPATH=DIR/share/man man -w finds all five pages; man lvsadm renders" man_ok "$T/p1"
check "checkout install: the native addon (with notifySend) loads" addon_ok "$T/p1"
check "contrib/systemd units pass systemd-analyze verify (ExecStart in the prefix, man pages found)" units_ok "$T/p1"

# 2. the packed tarball
(cd "$T/clone" && npm pack --ignore-scripts --pack-destination "$T" >/dev/null 2>&1) || fail "npm pack"
TGZ=$T/lvsd-$VERSION.tgz
check "the tarball ships the built JavaScript, the man pages and the addon's sources, not a build" bash -c "
  tar tzf '$TGZ' >'$T/list' &&
  grep -qx package/dist/src/cli/lvsd.js '$T/list' && grep -qx package/docs/man/lvsadm.8 '$T/list' &&
  grep -qx package/native/notify.cc '$T/list' && grep -qx package/contrib/systemd/lvsd.service '$T/list' &&
  ! grep -q 'native/build\|dist/test' '$T/list'"
npm install -g --prefix "$T/p2" "$TGZ" >"$T/install2.log" 2>&1 || { tail -n 30 "$T/install2.log"; fail "tarball install"; }
check "tarball install: the five commands on PATH, --version $VERSION" commands_ok "$T/p2"
check "tarball install: man pages" man_ok "$T/p2"
check "tarball install: the addon was compiled from source by the install script" addon_ok "$T/p2"
