#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build xnet and run its main job, `xnet whoami` (what address does the server see for me?).
#   scripts/run.sh                      starts a local `xnet serve` on free loopback ports
#                                       (anonymous login, generated certificate), asks it, stops it
#   scripts/run.sh --jid you@example.org [whoami options...]
#                                       asks your own server instead
# Installs the build dependencies it needs (apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target xnet >/dev/null

if [ $# -gt 0 ]; then
  exec build/xnet whoami "$@"
fi

state=$(mktemp -d)
build/xnet serve --state-dir "$state" --domain localhost --listen 127.0.0.1 --port 0 --tls-port 0 \
  --port-file "$state/ports.json" >"$state/serve.out" 2>"$state/serve.log" &
serve_pid=$!
cleanup() {
  kill "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT

# Wait (bounded) for the server to write its ports.
for _ in $(seq 1 200); do
  [ -s "$state/ports.json" ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$state/serve.log" >&2; exit 1; }
  sleep 0.05
done
[ -s "$state/ports.json" ] || { echo "xnet serve did not start" >&2; cat "$state/serve.log" >&2; exit 1; }
port=$(grep -o '"c2s_port": *[0-9]*' "$state/ports.json" | grep -o '[0-9]*$')
cert=$(grep -o '"certificate": *"[^"]*"' "$state/ports.json" | sed 's/.*: *"\(.*\)"/\1/')

echo "# xnet serve on 127.0.0.1:$port; asking it with xnet whoami" >&2
build/xnet whoami --jid localhost --server "127.0.0.1:$port" --ca-file "$cert"
