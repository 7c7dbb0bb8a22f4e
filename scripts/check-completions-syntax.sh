#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The generated completions must at least parse in their shells (bash -n, zsh -n, fish
# --no-execute), and the fish one must load and complete: sourced in a fish without user
# config, `xnet whoami --` offers whoami's own options and not another verb's.
# zsh and fish are in the test set (scripts/deps.sh): without one, this fails under CI=true and
# skips (77) elsewhere.
# Usage: scripts/check-completions-syntax.sh COMPLETIONS_DIR
set -u
dir=${1:?usage: $0 COMPLETIONS_DIR}
rc=0
missing=0
check() {  # shell file: 1 when the shell is not installed
  local shell=$1 file=$2
  if ! command -v "$shell" >/dev/null 2>&1; then
    echo "$shell: not installed, $file not checked"
    missing=1
    return 1
  fi
  local flag=-n
  [ "$shell" = fish ] && flag=--no-execute
  if "$shell" "$flag" "$file"; then
    echo "$shell $flag $file: ok"
  else
    echo "$shell $flag $file: syntax error"
    rc=1
  fi
  return 0
}
check bash "$dir/xnet.bash" || rc=1
check zsh "$dir/_xnet"
if check fish "$dir/xnet.fish"; then
  offered=$(fish --no-config -c "source '$dir/xnet.fish'; complete -C'xnet whoami --'" 2>&1 | cut -f1)
  lacking=()
  for want in --no-stun --ns --jid --json; do
    grep -qx -- "$want" <<<"$offered" || lacking+=("$want")
  done
  if [ ${#lacking[@]} -gt 0 ]; then
    echo "fish: 'xnet whoami --' does not offer ${lacking[*]}; got: $(echo $offered)"
    rc=1
  fi
  if grep -qx -- --probe <<<"$offered"; then
    echo "fish: 'xnet whoami --' offers stun-list's --probe"
    rc=1
  fi
  [ $rc -eq 0 ] && echo "fish: xnet.fish loads; 'xnet whoami --' offers whoami's options"
fi
if [ $missing -eq 1 ]; then
  [ "${CI:-}" = true ] && exit 1
  [ $rc -eq 0 ] && exit 77
fi
exit $rc
