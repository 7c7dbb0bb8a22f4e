#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The generated completions must at least parse in their shells: bash -n, zsh -n, and fish -n
# where fish is installed (it is not in scripts/deps.sh: it pulls in a browser and more).
# zsh is in the test set: without it this fails under CI=true and skips (77) elsewhere.
# Usage: scripts/check-completions-syntax.sh COMPLETIONS_DIR
set -u
dir=${1:?usage: $0 COMPLETIONS_DIR}
rc=0
check() {  # shell file
  local shell=$1 file=$2
  if ! command -v "$shell" >/dev/null 2>&1; then
    echo "$shell: not installed, $file not checked"
    return 1
  fi
  if "$shell" -n "$file"; then
    echo "$shell -n $file: ok"
  else
    echo "$shell -n $file: syntax error"
    rc=1
  fi
  return 0
}
check bash "$dir/xnet.bash" || rc=1
if ! check zsh "$dir/_xnet"; then
  [ "${CI:-}" = true ] && exit 1
  [ $rc -eq 0 ] && exit 77
fi
check fish "$dir/xnet.fish" || true
exit $rc
