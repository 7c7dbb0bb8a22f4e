#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages xnet needs, only those missing. One list for both README commands.
#   scripts/deps.sh build   -> what building xnet needs
#   scripts/deps.sh test    -> build + the real peers the tests start (prosody, ejabberd, coturn, avahi, slixmpp)
#   scripts/deps.sh bench   -> test + the reference tools the benchmarks compare against
set -euo pipefail

BUILD_PKGS=(cmake g++ make pkg-config
  libc-ares-dev libcli11-dev nlohmann-json3-dev catch2 libssl-dev libexpat1-dev
  libexpected-dev libasio-dev libtomlplusplus-dev
  libavahi-client-dev libavahi-compat-libdnssd-dev)
TEST_PKGS=(clang libclang-rt-14-dev openssl iproute2 util-linux procps
  prosody prosody-modules lua-unbound coturn nftables ejabberd
  avahi-daemon avahi-utils dbus dbus-daemon python3-slixmpp python3 python3-jsonschema
  dpkg-dev file binutils lintian zsh fish)
BENCH_PKGS=(iperf3 socat hyperfine time python3-zeroconf)

level=${1:-build}
pkgs=("${BUILD_PKGS[@]}")
case "$level" in
  build) ;;
  test) pkgs+=("${TEST_PKGS[@]}") ;;
  bench) pkgs+=("${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 64 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Packages that ship daemons (prosody, ejabberd, coturn, avahi-daemon) must not start them on install:
# an avahi-daemon in the host namespace would multicast on the real network. policy-rc.d
# exiting 101 forbids service starts; an existing one is restored afterwards.
POLICY=/usr/sbin/policy-rc.d
rc=0
"$POLICY" >/dev/null 2>&1 || rc=$?
if [ "$rc" -ne 101 ]; then
  if [ -e "$POLICY" ]; then
    $SUDO cp -p "$POLICY" "$POLICY.xnet-saved"
    trap '$SUDO mv -f "$POLICY.xnet-saved" "$POLICY"' EXIT
  else
    trap '$SUDO rm -f "$POLICY"' EXIT
  fi
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
fi

echo "xnet: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
