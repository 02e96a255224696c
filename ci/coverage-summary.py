#!/usr/bin/env python3
"""Per-folder line and branch coverage from gcovr's JSON summary, and the goal check.

usage: ci/coverage-summary.py SUMMARY.json

Prints one row per folder (svsm/protocol, svsm/mm, emu, ...), the total of the core
outside svsm/arch/snp against the goal (lines >= 95 %, branches >= 85 %), and every core
file below either goal. Exit 0 whatever the figures: the goal is reported, not enforced.
"""
import json
import os
import sys

LINE_GOAL = 95.0
BRANCH_GOAL = 85.0


def pct(covered, total):
    return 100.0 * covered / total if total else 100.0


def fmt(covered, total):
    return f"{pct(covered, total):6.1f} % {covered:>6}/{total:<6}" if total else "     -              "


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        files = json.load(f)["files"]
    folders = {}
    core = [0, 0, 0, 0]
    below = []
    for f in files:
        name = os.path.normpath(f["filename"])
        counts = (f["line_covered"], f["line_total"], f["branch_covered"], f["branch_total"])
        acc = folders.setdefault(os.path.dirname(name), [0, 0, 0, 0])
        for i, c in enumerate(counts):
            acc[i] += c
        if name.startswith("svsm/") and not name.startswith("svsm/arch/snp/"):
            for i, c in enumerate(counts):
                core[i] += c
            lp, bp = pct(counts[0], counts[1]), pct(counts[2], counts[3])
            if lp < LINE_GOAL or bp < BRANCH_GOAL:
                below.append((name, counts))

    print(f"{'folder':<22} {'lines':<21} {'branches':<21}")
    for d in sorted(folders):
        c = folders[d]
        print(f"{d + '/':<22} {fmt(c[0], c[1])} {fmt(c[2], c[3])}")
    lp, bp = pct(core[0], core[1]), pct(core[2], core[3])
    met = lp >= LINE_GOAL and bp >= BRANCH_GOAL
    print(f"{'svsm/ (no arch/snp)':<22} {fmt(core[0], core[1])} {fmt(core[2], core[3])}"
          f"  goal {LINE_GOAL:.0f} % / {BRANCH_GOAL:.0f} %: {'met' if met else 'NOT met'}")
    if below:
        print(f"core files below the goal ({LINE_GOAL:.0f} % lines or {BRANCH_GOAL:.0f} % branches):")
        for name, c in sorted(below):
            print(f"  {name:<34} lines {pct(c[0], c[1]):5.1f} %  branches {pct(c[2], c[3]):5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
