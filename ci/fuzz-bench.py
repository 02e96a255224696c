#!/usr/bin/env python3
"""Measure executions per second of every fuzz target and write them as benchmark JSON.

    ci/fuzz-bench.py --seconds S --out build/bench/fuzz.json --fuzz-dir DIR --replay-dir DIR TARGET...

For each target three numbers: the libFuzzer build with ASan + UBSan (what `make fuzz`
runs), the same without sanitizers (coverage and every oracle of the harness, as a
campaign on many cores would run most instances), both mutating from the committed
seeds, and the replay build without sanitizers looping over the committed seeds (the
cost of the harness itself, file reads included). The dispatcher's goal is 100 000
exec/s on one core; the ratio of each libFuzzer rate to it is printed.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile


def libfuzzer_rate(binary, target, seconds):
    with tempfile.TemporaryDirectory() as corpus:
        args = [binary, f"-max_total_time={seconds}", "-print_final_stats=1", corpus, f"fixtures/fuzz/{target}"]
        p = subprocess.run(args, capture_output=True, text=True, timeout=seconds * 4 + 120)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit(f"fuzz-bench: {target} crashed")
    m = re.search(r"stat::average_exec_per_sec:\s+(\d+)", p.stderr)
    return int(m.group(1)) if m else 0


def replay_rate(binary, target, seconds):
    p = subprocess.run([binary, "--bench", str(seconds), f"fixtures/fuzz/{target}"], capture_output=True, text=True,
                       timeout=seconds * 4 + 120)
    m = re.search(r"([0-9.]+) exec/s", p.stdout)
    return float(m.group(1)) if m else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fuzz-dir", required=True)
    ap.add_argument("--plain-dir", required=True)
    ap.add_argument("--replay-dir", required=True)
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()
    out = []
    goal = 100000
    for t in a.targets:
        lf = libfuzzer_rate(f"{a.fuzz_dir}/fuzz_{t}", t, a.seconds)
        pl = libfuzzer_rate(f"{a.plain_dir}/fuzz_{t}", t, a.seconds)
        rp = replay_rate(f"{a.replay_dir}/fuzz_{t}_replay", t, max(2, a.seconds // 2))
        out.append({"name": f"fuzz {t}: libFuzzer+ASan+UBSan", "value": lf, "unit": "exec/s"})
        out.append({"name": f"fuzz {t}: libFuzzer, no sanitizer", "value": pl, "unit": "exec/s",
                    "ratio_to_100k_goal": round(pl / goal, 3)})
        out.append({"name": f"fuzz {t}: replay of seeds, no sanitizer", "value": round(rp), "unit": "exec/s"})
        print(f"fuzz-bench: {t}: libFuzzer+ASan+UBSan {lf} exec/s ({lf / goal:.2f} of 100k), "
              f"libFuzzer {pl} exec/s ({pl / goal:.2f} of 100k), replay {rp:.0f} exec/s")
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
