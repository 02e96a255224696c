#!/usr/bin/env python3
"""Merge benchmark fragments (JSON lists) into one bench.json and print them as a table.

usage: ci/bench-merge.py OUT.json FRAGMENT.json...
Each entry: {"name", "value", "unit"} and, where a reference was measured in the same
run, {"ratio_to", "ratio"}.
"""
import json
import sys


def main():
    out, frags = sys.argv[1], sys.argv[2:]
    entries = []
    for f in sorted(frags):
        with open(f) as fh:
            data = json.load(fh)
        if not isinstance(data, list):
            sys.exit(f"bench-merge: {f}: not a JSON list")
        for e in data:
            for k in ("name", "value", "unit"):
                if k not in e:
                    sys.exit(f"bench-merge: {f}: entry without '{k}': {e}")
            entries.append(e)
    with open(out, "w") as fh:
        json.dump(entries, fh, indent=2)
        fh.write("\n")
    w = max([len(e["name"]) for e in entries] + [4])
    print(f"{'name':<{w}}  {'value':>14}  {'unit':<8}  ratio")
    for e in entries:
        ratio = ""
        if "ratio" in e:
            ratio = f"{e['ratio']:.3f} x {e['ratio_to']}"
        print(f"{e['name']:<{w}}  {e['value']:>14.3f}  {e['unit']:<8}  {ratio}")
    print(f"bench: {len(entries)} entries written to {out}")


if __name__ == "__main__":
    main()
