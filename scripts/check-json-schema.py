#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Validate the JSON documents xnet wrote during a test run against schema/xnet-<verb>.schema.json.

xnet appends every document it writes to stdout under --json to $XNET_TEST_JSON_DIR/xnet-<pid>.jsonl
as {"command": "xnet lan browse", "line": "<stdout line>"} (a test-only hook, see src/cmd/common.cpp).
This script parses each line (it must be JSON), picks the schema of the command's verb, narrows it
to $defs/<subcommand> when the schema has one, and validates. Exit 0 when all are valid, 1 on any
invalid document, 77 (ctest skip) when there is nothing to check or python3-jsonschema is missing
(1 under CI=true).

Usage: scripts/check-json-schema.py SCHEMA_DIR CAPTURE_DIR [--clear]
"""
import glob
import json
import os
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # RefResolver: deprecated in jsonschema >= 4.18, still works

SKIP = 77


def skip(msg):
    print("check-json-schema: " + msg)
    sys.exit(1 if os.environ.get("CI") == "true" else SKIP)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    schema_dir, capture_dir = sys.argv[1], sys.argv[2]
    if "--clear" in sys.argv[3:]:
        for f in glob.glob(os.path.join(capture_dir, "xnet-*.jsonl")):
            os.unlink(f)
        os.makedirs(capture_dir, exist_ok=True)
        return 0
    try:
        import jsonschema
        from jsonschema import Draft202012Validator
    except ImportError:
        skip("python3-jsonschema is not installed (scripts/deps.sh test)")

    schemas = {}
    for path in glob.glob(os.path.join(schema_dir, "xnet-*.schema.json")):
        with open(path) as f:
            s = json.load(f)
        Draft202012Validator.check_schema(s)
        schemas[s["$id"]] = s
    resolver_store = dict(schemas)

    def validator_for(command):
        words = command.split()
        if len(words) < 2:  # "xnet" itself: only usage errors reach JSON
            common = schemas["urn:xnet:schema:common:1"]
            target = {"$ref": "urn:xnet:schema:common:1#/$defs/error_document"}
            return Draft202012Validator(target, resolver=jsonschema.RefResolver("", common, store=resolver_store)), None
        sid = f"urn:xnet:schema:xnet-{words[1]}:1"
        root = schemas.get(sid)
        if root is None:
            return None, sid
        target = root
        for w in words[2:]:
            if w in root.get("$defs", {}):
                target = {"anyOf": [{"$ref": sid + "#/$defs/" + w},
                                                         {"$ref": "urn:xnet:schema:common:1#/$defs/error_document"}]}
                break
        resolver = jsonschema.RefResolver(sid, root, store=resolver_store)  # refs in schema/ are absolute
        return Draft202012Validator(target, resolver=resolver), sid

    files = sorted(glob.glob(os.path.join(capture_dir, "xnet-*.jsonl")))
    total, bad, per_command = 0, 0, {}
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, raw in enumerate(f, 1):
                rec = json.loads(raw)
                command, line = rec["command"], rec["line"]
                total += 1
                per_command[command] = per_command.get(command, 0) + 1
                try:
                    doc = json.loads(line)
                except ValueError as e:
                    bad += 1
                    print(f"{path}:{n}: {command}: stdout line is not JSON ({e}): {line[:200]}")
                    continue
                v, sid = validator_for(command)
                if v is None:
                    bad += 1
                    print(f"{path}:{n}: {command}: no schema {sid}")
                    continue
                errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
                if errors:
                    bad += 1
                    best = jsonschema.exceptions.best_match(errors)
                    print(f"{path}:{n}: {command}: {best.message} at {list(best.absolute_path)}: {line[:300]}")
    if total == 0:
        skip(f"no JSON documents captured in {capture_dir} (run the cli and integration tests first)")
    for c in sorted(per_command):
        print(f"  {per_command[c]:5d}  {c}")
    print(f"check-json-schema: {total - bad}/{total} documents valid against {len(schemas)} schemas")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
