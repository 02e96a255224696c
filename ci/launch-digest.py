#!/usr/bin/env python3
"""Recompute the SNP launch digest from a launch log (svsm-emu measure --launch-log), with
Python's hashlib only: an implementation independent of the emulator's.

    ci/launch-digest.py LOG.json      prints the digest; exit 1 if the log's own differs

PAGE_INFO (0x70 bytes): the digest so far (48), CONTENTS (48), LENGTH u16 = 0x70, PAGE_TYPE,
IMI_PAGE = 0, a reserved byte, VMPL1/2/3 permissions, GPA u64, little-endian
(shared/spec/snp-svsm-reference.md section 4.6). The digest starts as 48 zero bytes and
becomes SHA-384(PAGE_INFO) at every page.
"""
import hashlib
import json
import struct
import sys


def digest(log):
    ld = bytes(48)
    for page in log["pages"]:
        contents = bytes.fromhex(page["contents"])
        perms = page["vmpl_perms"]
        info = ld + contents + struct.pack("<HBBBBBBQ", 0x70, page["page_type"], 0, 0,
                                           perms[0], perms[1], perms[2], int(page["gpa"], 16))
        assert len(info) == 0x70
        ld = hashlib.sha384(info).digest()
    return ld.hex()


def main():
    with open(sys.argv[1]) as f:
        log = json.load(f)
    d = digest(log)
    print(d)
    if d != log["measurement"]:
        print("launch-digest: the log's measurement %s differs" % log["measurement"], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
