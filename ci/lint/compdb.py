#!/usr/bin/env python3
"""Turn the compile commands of a dry run (`make -n -B CC=clang ...`) into compile_commands.json.

usage: make -n -B CC=clang ROOT=build/lint all image | ci/lint/compdb.py DIRECTORY >compile_commands.json

Each C source is listed once, with the flags of its first compile (the hosted build before
the image build); dependency-file flags and -Werror are dropped (the linters decide what
fails). Sources outside svsm/, emu/ and harness/ are ignored.
"""
import json
import shlex
import sys

DROP = {"-MMD", "-MP", "-Werror"}


def main():
    directory = sys.argv[1]
    seen = {}
    for line in sys.stdin:
        try:
            argv = shlex.split(line)
        except ValueError:
            continue
        if not argv or argv[0] != "clang" or "-c" not in argv:
            continue
        i = argv.index("-c")
        if i + 1 >= len(argv):
            continue
        src = argv[i + 1]
        if not src.endswith(".c") or not src.startswith(("svsm/", "emu/", "harness/")) or src in seen:
            continue
        # "command", not "arguments": cppcheck drops the quotes of -DNAME="string" from arguments.
        seen[src] = {"directory": directory, "file": src, "command": shlex.join(a for a in argv if a not in DROP)}
    json.dump(list(seen.values()), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0 if seen else 1


if __name__ == "__main__":
    sys.exit(main())
