#!/usr/bin/env python3
"""Boot an SVSM image in QEMU (no SNP) and report its in-image tests like a cmocka suite.

usage: ci/test-qemu.py --kernel IMAGE.elf [--timeout S] [--junit FILE] [--log FILE]
                       [--evidence DIR] [--accel auto|kvm|tcg] [--smp N] [--run [--expect pass|no-snp]]
                       [--bench FILE.json]

The image prints TAP on its serial port (ok N - name / not ok N - name, '# ' diagnostics
before a failure) and leaves QEMU through isa-debug-exit: status 33 = pass, 35 = fail,
37 = the production image found no SEV-SNP (it runs only as an SNP guest's VMPL0 module).
KVM is used when it really works: the CPU has hardware virtualization (vmx/svm; a
software KVM such as kvm_pvm cannot run an unmodified kernel image) and the VM-creation
ioctl on /dev/kvm succeeds; otherwise TCG. A KVM run that QEMU aborts with "KVM internal
error" is repeated under TCG, and the output says so.
--run: show the serial output and succeed if QEMU exits with the expected status
(--expect pass: 33; --expect no-snp: 37, what build/svsm.elf must do without SNP).
--bench: time QEMU start -> last test result (median of 3) under TCG and, when usable,
KVM, and write them as a JSON list of {name, value, unit}.
Attestation: the in-image test attest_services_report prints its evidence ("# evidence NAME
OFFSET HEX" lines, "# evidence-end NAME LENGTH"); it is written to DIR (--evidence, default
build/test-logs/qemu-attest) and verified on the host with OpenSSL by
ci/image-attest-verify.py, reported as one more test, host_verifies_image_attestation.
--smp: the VM's CPUs (default 4): the test image starts every one and its smp suite runs
SVSM calls from all of them at once (docs/image.md).
"""
import argparse
import fcntl
import subprocess as sp
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import time
from xml.sax.saxutils import escape, quoteattr

EXIT_PASS = (0x10 << 1) | 1
EXIT_FAIL = (0x11 << 1) | 1
EXIT_NO_SNP = (0x12 << 1) | 1
EXPECT = {"pass": EXIT_PASS, "no-snp": EXIT_NO_SNP}
KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
RESULT = re.compile(r"^(not ok|ok) (\d+) - (\S+)(?: # (\d+) us)?")
PLAN = re.compile(r"^1\.\.(\d+)")
EVIDENCE = re.compile(r"^# evidence (\w+) (\d+) ([0-9a-f]+)$")
EVIDENCE_END = re.compile(r"^# evidence-end (\w+) (\d+)$")
EVIDENCE_TEST = "attest_services_report"
HERE = os.path.dirname(os.path.abspath(__file__))


def kvm_usable():
    """True if the CPU has VMX/SVM and this process can create a VM through /dev/kvm."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = set()
            for line in fh:
                if line.startswith("flags"):
                    flags.update(line.split(":", 1)[1].split())
        if not flags & {"vmx", "svm"}:
            return False
    except OSError:
        return False
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if fcntl.ioctl(fd, KVM_GET_API_VERSION, 0) != 12:
            return False
        vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        os.close(vm)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


SMP = 4


def qemu_command(kernel, accel):
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        sys.exit("test-qemu: qemu-system-x86_64 not found (Debian package qemu-system-x86)")
    cpu = "host" if accel == "kvm" else "max"
    return [qemu, "-nodefaults", "-display", "none", "-no-reboot", "-m", "128M",
            "-accel", accel, "-cpu", cpu, "-smp", str(SMP), "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", kernel]


def run_qemu(kernel, accel, timeout, echo=False):
    """Run QEMU; returns (exit status or None on timeout, [(seconds, line)], wall seconds)."""
    cmd = qemu_command(kernel, accel)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    lines, buf, status = [], b"", None
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            proc.kill()
            proc.wait()
            break
        if not sel.select(timeout=min(left, 0.5)):
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            status = proc.wait()
            break
        now = time.monotonic() - start
        buf += chunk
        while b"\n" in buf:
            raw, buf = buf.split(b"\n", 1)
            text = raw.decode("utf-8", "replace").rstrip("\r")
            lines.append((now, text))
            if echo:
                print(text, flush=True)
    if buf:
        lines.append((time.monotonic() - start, buf.decode("utf-8", "replace")))
    if status is None and proc.poll() is not None:
        status = proc.returncode
    return status, lines, time.monotonic() - start


def parse_tap(lines):
    """Plan, results [(name, ok, seconds, diagnostics)], time of the last result, bail-out text."""
    plan, results, pending_diag, last, bail = None, [], [], None, None
    for t, line in lines:
        m = PLAN.match(line)
        if m and plan is None:
            plan = int(m.group(1))
            continue
        m = RESULT.match(line)
        if m:
            us = int(m.group(4)) if m.group(4) else 0
            results.append((m.group(3), m.group(1) == "ok", us / 1e6, pending_diag))
            pending_diag, last = [], t
        elif line.startswith("# ") and ":" in line and not line.startswith("# suite"):
            pending_diag.append(line[2:])
        elif line.startswith("Bail out!"):
            bail = line
        elif line.startswith("fatal:"):
            pending_diag.append(line)
    return plan, results, last, bail


def collect_evidence(lines):
    """{name: bytes} from the evidence lines, or (None, why) when they are incomplete."""
    parts, ends = {}, {}
    for _, line in lines:
        m = EVIDENCE.match(line)
        if m:
            parts.setdefault(m.group(1), {})[int(m.group(2))] = bytes.fromhex(m.group(3))
            continue
        m = EVIDENCE_END.match(line)
        if m:
            ends[m.group(1)] = int(m.group(2))
    out = {}
    for name in ("nonce", "manifest", "report", "certs"):
        if name not in ends:
            return None, f"no evidence-end line for {name}"
        data, off = b"", 0
        while off < ends[name]:
            chunk = parts.get(name, {}).get(off)
            if not chunk:
                return None, f"{name}: the line at offset {off} is missing"
            data += chunk
            off += len(chunk)
        if len(data) != ends[name]:
            return None, f"{name}: {len(data)} bytes, the image said {ends[name]}"
        out[name] = data
    return out, None


def verify_evidence(lines, evidence_dir):
    """Write the image's evidence to @evidence_dir and verify it on the host: (ok, [diagnostics])."""
    ev, why = collect_evidence(lines)
    if ev is None:
        return False, [f"the image's attestation evidence is incomplete: {why}"]
    os.makedirs(evidence_dir, exist_ok=True)
    for name, data in ev.items():
        with open(os.path.join(evidence_dir, f"{name}.bin"), "wb") as fh:
            fh.write(data)
    r = sp.run([sys.executable, os.path.join(HERE, "image-attest-verify.py"), evidence_dir],
               stdout=sp.PIPE, stderr=sp.STDOUT, text=True)
    diag = [l for l in r.stdout.splitlines() if l.strip()]
    return r.returncode == 0, diag


def write_junit(path, results, missing, wall, accel):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    failures = sum(1 for r in results if not r[1]) + len(missing)
    with open(path, "w") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
        fh.write(f'  <testsuite name="qemu-image-{accel}" tests="{len(results) + len(missing)}" '
                 f'failures="{failures}" errors="0" time="{wall:.3f}">\n')
        for name, ok, secs, diag in results:
            fh.write(f'    <testcase classname="image" name={quoteattr(name)} time="{secs:.6f}"')
            if ok:
                fh.write("/>\n")
            else:
                msg = diag[0] if diag else "failed"
                fh.write(f'>\n      <failure message={quoteattr(msg)}>{escape(chr(10).join(diag))}</failure>\n'
                         '    </testcase>\n')
        for name in missing:
            fh.write(f'    <testcase classname="image" name={quoteattr(name)} time="0">\n'
                     '      <failure message="no result: the image stopped or timed out"/>\n    </testcase>\n')
        fh.write("  </testsuite>\n</testsuites>\n")


def choose_accel(arg):
    if arg != "auto":
        return arg
    return "kvm" if kvm_usable() else "tcg"


def kvm_broke(lines):
    return any("KVM internal error" in l for _, l in lines)


def cmd_test(args):
    accel = choose_accel(args.accel)
    status, lines, wall = run_qemu(args.kernel, accel, args.timeout)
    if accel == "kvm" and args.accel == "auto" and kvm_broke(lines):
        print("test-qemu: KVM could not run the image (KVM internal error); repeating under TCG")
        accel = "tcg"
        status, lines, wall = run_qemu(args.kernel, accel, args.timeout)
    if args.log:
        os.makedirs(os.path.dirname(args.log) or ".", exist_ok=True)
        with open(args.log, "w") as fh:
            fh.write("\n".join(f"[{t:8.3f}] {l}" for t, l in lines) + "\n")
    plan, results, last, bail = parse_tap(lines)
    missing = []
    if plan is not None and plan > len(results):
        missing = [f"test_{i + 1}_not_reported" for i in range(len(results), plan)]
    if plan is None:
        missing = ["image_did_not_start_tests"]
    image_failed = [r[0] for r in results if not r[1]] + missing
    # The image's attestation, verified here with OpenSSL (a host-side test of its own).
    if any(r[0] == EVIDENCE_TEST for r in results):
        ok, diag = verify_evidence(lines, args.evidence)
        results.append(("host_verifies_image_attestation", ok, 0.0, diag if not ok else []))
        if ok:
            print(f"test-qemu: the image's attestation verified on the host ({args.evidence}):")
            for d in diag:
                print(f"  {d}")
    total = len(results) + len(missing)
    print(f"[==========] qemu-image: running {plan if plan is not None else '?'} in-image test(s) "
          f"({accel}, {os.path.basename(args.kernel)}).")
    for name, ok, secs, diag in results:
        print(f"[ RUN      ] {name}")
        for d in diag:
            print(f"  {d}")
        print(f"[       OK ] {name}" if ok else f"[  FAILED  ] {name}")
    failed = [r[0] for r in results if not r[1]] + missing
    print(f"[==========] {total} test(s) run.")
    print(f"[  PASSED  ] {total - len(failed)} test(s).")
    verdict_ok = not failed and status == EXIT_PASS and bail is None
    if failed:
        print(f"[  FAILED  ] {len(failed)} test(s), listed below:")
        for name in failed:
            print(f"[  FAILED  ] {name}")
    if bail:
        print(f"test-qemu: {bail}")
    if status not in (EXIT_PASS, EXIT_FAIL):
        why = "timed out" if status is None else f"exited with status {status} (crash or triple fault)"
        print(f"test-qemu: QEMU {why}; last lines:")
        for _, l in lines[-10:]:
            print(f"  | {l}")
    elif (status == EXIT_PASS) != (not image_failed):
        print(f"test-qemu: the image's exit code ({status}) disagrees with its results")
        verdict_ok = False
    last_txt = f"{last:.3f} s" if last is not None else "never"
    print(f"test-qemu: accel {accel}, QEMU start to last result {last_txt}, QEMU exit after {wall:.3f} s")
    if args.junit:
        write_junit(args.junit, results, missing, wall, accel)
        print(f"test-qemu: JUnit XML in {args.junit}")
    return 0 if verdict_ok else 1


def cmd_run(args):
    accel = choose_accel(args.accel)
    want = EXPECT[args.expect]
    print(f"run-image: {os.path.basename(args.kernel)} under {accel}, expecting exit status {want} ({args.expect})")
    status, _, wall = run_qemu(args.kernel, accel, args.timeout, echo=True)
    ok = status == want
    print(f"run-image: QEMU exit status {status} after {wall:.3f} s ({'as expected' if ok else 'FAIL'})")
    return 0 if ok else 1


def cmd_bench(args):
    accels = ["tcg"] + (["kvm"] if kvm_usable() else [])
    entries = []
    for accel in accels:
        samples, count = [], 0
        for _ in range(3):
            status, lines, wall = run_qemu(args.kernel, accel, args.timeout)
            plan, results, last, _ = parse_tap(lines)
            if status != EXIT_PASS or last is None:
                sys.exit(f"bench-image: the test image failed under {accel} (status {status})")
            samples.append((last, wall))
            count = len(results)
        samples.sort()
        last, wall = samples[len(samples) // 2]
        entries.append({"name": f"image_qemu_start_to_last_result_{accel}", "value": round(last, 4), "unit": "s"})
        entries.append({"name": f"image_qemu_total_{accel}", "value": round(wall, 4), "unit": "s"})
        entries.append({"name": f"image_in_image_tests_{accel}", "value": count, "unit": "tests"})
        print(f"bench-image: {accel}: QEMU start to last of {count} results {last:.3f} s (median of 3), "
              f"QEMU exit {wall:.3f} s")
    os.makedirs(os.path.dirname(args.bench) or ".", exist_ok=True)
    with open(args.bench, "w") as fh:
        json.dump(entries, fh, indent=2)
        fh.write("\n")
    if not any(a == "kvm" for a in accels):
        print("bench-image: /dev/kvm is not usable here; TCG only")
    return 0


def main():
    global SMP
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--junit")
    ap.add_argument("--log")
    ap.add_argument("--evidence", default=os.path.join("build", "test-logs", "qemu-attest"))
    ap.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto")
    ap.add_argument("--run", action="store_true")
    ap.add_argument("--expect", choices=sorted(EXPECT), default="pass")
    ap.add_argument("--bench")
    ap.add_argument("--smp", type=int, default=SMP)
    args = ap.parse_args()
    SMP = args.smp
    if args.bench:
        return cmd_bench(args)
    if args.run:
        return cmd_run(args)
    return cmd_test(args)


if __name__ == "__main__":
    sys.exit(main())
