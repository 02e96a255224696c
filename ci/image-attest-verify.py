#!/usr/bin/env python3
"""Verify on the host, with OpenSSL, the attestation the test image took in QEMU.

usage: ci/image-attest-verify.py DIR [--ark PEM]

DIR holds what ci/test-qemu.py collected from the image's serial output: report.bin,
nonce.bin, manifest.bin and certs.bin (the certificate table the SVSM returned from the
hypervisor: GUID, offset, length entries up to a zero entry, DER certificates). This
script takes the ARK, ASK and VCEK out of the table (ark.pem, ask.pem, vcek.pem), checks
that the ARK is the pinned one (default: the committed test ARK), recomputes REPORT_DATA =
SHA-512(nonce || manifest) with hashlib, and runs ci/attest-openssl-verify.sh (the openssl
command line alone: chain, ECDSA P-384 signature, REPORT_DATA, VMPL 0). Exit 0 if all pass.
"""
import argparse
import hashlib
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GUIDS = {
    bytes.fromhex("a406b4c003a8524997433fb6014cd0ae"): "ark",
    bytes.fromhex("79b3b74aacbbe44fa02f05aef327c782"): "ask",
    bytes.fromhex("8d75da6364e66445adc5f4b93be8accd"): "vcek",
}
REPORT_SIZE = 0x4A0


def fail(msg):
    print(f"image-attest-verify: FAILED: {msg}")
    sys.exit(1)


def read(d, name):
    try:
        with open(os.path.join(d, name), "rb") as fh:
            return fh.read()
    except OSError as e:
        fail(f"{name}: {e}")


def split_table(table):
    """{'ark': der, 'ask': der, 'vcek': der} from a certificate table."""
    certs, off = {}, 0
    while True:
        if off + 24 > len(table):
            fail("the certificate table has no terminating entry")
        guid, c_off, c_len = struct.unpack_from("<16sII", table, off)
        if guid == bytes(16) and c_off == 0 and c_len == 0:
            break
        if c_off + c_len > len(table):
            fail(f"certificate entry {off // 24} points outside the table")
        name = GUIDS.get(guid)
        if name:
            certs[name] = table[c_off:c_off + c_len]
        off += 24
    for name in ("ark", "ask", "vcek"):
        if name not in certs:
            fail(f"no {name.upper()} in the certificate table")
    return certs


def to_pem(d, name, der):
    path = os.path.join(d, f"{name}.pem")
    subprocess.run(["openssl", "x509", "-inform", "DER", "-out", path], input=der, check=True)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--ark", default=os.path.join(HERE, "..", "fixtures", "attestation", "keys", "ark.pem"))
    args = ap.parse_args()
    d = args.dir

    report, nonce, manifest = read(d, "report.bin"), read(d, "nonce.bin"), read(d, "manifest.bin")
    if len(report) != REPORT_SIZE:
        fail(f"report.bin has {len(report)} bytes, not {REPORT_SIZE}")
    certs = split_table(read(d, "certs.bin"))
    for name, der in certs.items():
        to_pem(d, name, der)
    pinned = subprocess.run(["openssl", "x509", "-in", args.ark, "-outform", "DER"], capture_output=True, check=True).stdout
    if pinned != certs["ark"]:
        fail(f"the ARK in the table is not the pinned one ({args.ark})")
    print("image-attest-verify: ARK = the pinned test ARK")
    want = hashlib.sha512(nonce + manifest).digest()
    if report[0x50:0x90] != want:
        fail("REPORT_DATA != SHA-512(nonce || manifest) (hashlib)")
    print("image-attest-verify: REPORT_DATA = SHA-512(nonce || manifest) (hashlib)")
    r = subprocess.run([os.path.join(HERE, "attest-openssl-verify.sh"), d], capture_output=True, text=True)
    for line in (r.stdout + r.stderr).splitlines():
        print(f"  | {line}")
    if r.returncode != 0:
        fail("ci/attest-openssl-verify.sh refused the evidence")
    print("image-attest-verify: OK (chain, ECDSA P-384 signature, REPORT_DATA, VMPL 0 with openssl)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
