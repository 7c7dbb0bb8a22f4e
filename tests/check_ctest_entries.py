#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that every ctest entry of a Catch2 test binary runs exactly one test case.

A ctest entry whose name filter matches no case used to print "No tests ran" and pass (issue 9:
names with ';' were split by catch_discover_tests). This lists the entries of a build tree
(`ctest --show-only=json-v1`), asks each Catch2 entry's own command which cases it selects
(`--list-test-names-only`), and fails when an entry selects no case or several, when a case of
a binary has no entry, when a name starts with '-', or when an entry lacks SKIP_RETURN_CODE.

usage: check_ctest_entries.py BUILD_DIR [CTEST] [SKIP_RETURN_CODE]
"""
import json
import os
import subprocess
import sys


def main() -> int:
    build = sys.argv[1]
    ctest = sys.argv[2] if len(sys.argv) > 2 else "ctest"
    skip_code = int(sys.argv[3]) if len(sys.argv) > 3 else 77
    out = subprocess.run([ctest, "--show-only=json-v1"], cwd=build, capture_output=True,
                         text=True, check=True, timeout=120).stdout
    tests = json.loads(out)["tests"]
    problems = []
    is_catch = {}
    matched = {}  # binary -> set of case names selected by some entry
    checked = 0
    for t in tests:
        name, cmd = t["name"], t.get("command") or []
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        if name.startswith("-"):
            problems.append(f"{name!r}: name starts with '-' (ctest passes it as an option)")
        if not cmd:
            problems.append(f"{name!r}: no command (the executable was not found)")
            continue
        exe = cmd[0]
        if exe not in is_catch:
            try:
                r = subprocess.run([exe, "--libidentify"], capture_output=True, text=True, timeout=30)
                is_catch[exe] = "framework:      Catch Test" in r.stdout or "Catch2 test executable" in r.stdout
            except OSError:
                is_catch[exe] = False
            if is_catch[exe]:
                r = subprocess.run([exe, "--list-test-names-only"], capture_output=True, text=True,
                                   timeout=60)
                matched.setdefault(exe, set())
                all_cases = {l for l in r.stdout.splitlines() if l}
                is_catch[exe] = all_cases
        if not is_catch[exe]:
            continue
        checked += 1
        if str(props.get("SKIP_RETURN_CODE")) != str(skip_code):
            problems.append(f"{name!r}: SKIP_RETURN_CODE is {props.get('SKIP_RETURN_CODE')}, want {skip_code}")
        r = subprocess.run(cmd + ["--list-test-names-only"], capture_output=True, text=True,
                           timeout=60, cwd=props.get("WORKING_DIRECTORY") or build)
        selected = [l for l in r.stdout.splitlines() if l]
        if len(selected) != 1:
            problems.append(f"{name!r}: its command selects {len(selected)} test cases "
                            f"({selected[:3]}), want exactly 1: {cmd[1:]}")
        matched[exe].update(selected)
    for exe, cases in is_catch.items():
        if not cases:
            continue
        for c in sorted(cases - matched.get(exe, set())):
            problems.append(f"{os.path.basename(exe)}: test case {c!r} has no ctest entry")
    for p in problems:
        print("FAIL:", p)
    ncatch = sum(1 for v in is_catch.values() if v)
    print(f"{len(tests)} ctest entries, {checked} from {ncatch} Catch2 binaries checked, "
          f"{len(problems)} problems")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
