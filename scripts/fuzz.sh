#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build every fuzz/fuzz_<name>.cpp with clang + libFuzzer + ASan/UBSan into build-fuzz and run
# each one briefly, starting from fuzz/corpus/<name>/ when it exists. Exits non-zero on a crash.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [NAME...]      (default 20 s, all targets)
# Environment: XNET_FUZZ_BUILD (build dir, default build-fuzz), XNET_FUZZ_JOBS (default 2).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${XNET_FUZZ_BUILD:-$root/build-fuzz}
jobs=${XNET_FUZZ_JOBS:-2}
seconds=${1:-20}
shift || true

if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ not found (scripts/deps.sh test installs it)" >&2
  exit 69
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$root"/fuzz/fuzz_*.cpp; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .cpp)
    names+=("${n#fuzz_}")
  done
fi
if [ ${#names[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz targets in fuzz/" >&2
  exit 0
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DXNET_FUZZ=ON -DXNET_UNIT_ONLY=ON -DXNET_BUILD_TESTS=OFF >/dev/null
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

status=0
for n in "${names[@]}"; do
  work="$build/corpus/$n"
  artifacts="$build/artifacts/$n"
  mkdir -p "$work" "$artifacts"
  seeds=()
  [ -d "$root/fuzz/corpus/$n" ] && seeds+=("$root/fuzz/corpus/$n")
  echo "fuzz.sh: fuzz_$n for ${seconds}s" >&2
  # The first corpus directory receives new inputs; the checked-in seeds stay read-only.
  if "$build/fuzz/fuzz_$n" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$work" "${seeds[@]}" 2>"$build/fuzz_$n.log"; then
    grep -E '^stat::number_of_executed_units' "$build/fuzz_$n.log" | sed "s/^/fuzz_$n: /" >&2 || true
  else
    echo "fuzz.sh: fuzz_$n FAILED (log: $build/fuzz_$n.log, inputs: $artifacts/)" >&2
    tail -n 30 "$build/fuzz_$n.log" >&2
    status=1
  fi
done
exit $status
