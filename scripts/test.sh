#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build xnet and pass every test: unit tests (also under ASan+UBSan), CLI and docs checks,
# integration tests against real peers on loopback (Prosody, coturn, avahi in a private
# network namespace, slixmpp), and a short fuzzing run. Installs what it needs (apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh test
JOBS=${JOBS:-$(nproc)}

echo "== build (RelWithDebInfo)" >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer" >&2
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DXNET_SANITIZE=ON -DXNET_UNIT_ONLY=ON >/dev/null
cmake --build build-asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j"$JOBS"

if [ -x scripts/fuzz.sh ]; then
  echo "== fuzz targets (short run)" >&2
  scripts/fuzz.sh
fi

echo "== all tests" >&2
ctest --test-dir build --output-on-failure
