#!/usr/bin/env python3
"""Write the seed corpora and dictionaries of the attestation fuzz targets (attest, greq).

    python3 harness/fuzz/gen_attest_corpus.py fixtures/fuzz

The encodings are documented at the top of harness/fuzz/fuzz_attest.c and fuzz_greq.c and
in harness/fuzz/fuzz_common.h. Files named regress-* or campaign-* are never rewritten.
"""
import os
import struct
import sys

TEST_GUID = bytes([0x5A, 0x9C, 0x1E, 0x3F, 0x2D, 0x7B, 0x8E, 0x4C, 0x9A, 0x61, 0x0D, 0x5B, 0x2E, 0x7F, 0x4C, 0x13])
MANIFEST_GUID = bytes([0xBB, 0x9E, 0x84, 0x63, 0x92, 0x3D, 0x70, 0x46, 0xA1, 0xFF, 0x58, 0xF9, 0xC9, 0x4B, 0x87, 0xBB])
NONCE = bytes(range(64))


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def header(flags=0, unvalidated=0):
    return bytes([flags, unvalidated, 0, 0, 0, 0, 0, 0])


# fuzz_value: raw u64 (tag 0), small number (tag 1), symbol + delta (tag 2), page (tag 3).
def raw(v):
    return b"\x00" + u64(v)


def sym(i, d=0):
    return bytes([(i << 2) | 2, d & 0xFF])


SYM_CAA, SYM_SVSM, SYM_BSP_VMSA, SYM_SVSM_GHCB, SYM_MEMEND, SYM_UNVAL = 0, 4, 5, 6, 7, 11


# --- attest ---------------------------------------------------------------------------------
F_REQ, F_REPORT, F_MANIFEST, F_CERTS, F_NONCE, F_RSVD, F_GUID, F_SIZES = 1, 2, 4, 8, 16, 32, 64, 128
GOOD, PAGE, OFFSET, VALUE = 0, 1, 2, 3


def gpa_good():
    return bytes([GOOD])


def gpa_page(p):
    return bytes([PAGE]) + u16(p)


def gpa_off(o):
    return bytes([OFFSET]) + u16(o)


def gpa_value(v):
    return bytes([VALUE]) + v


def size_good():
    return bytes([0])


def size_u16(v):
    return bytes([1]) + u16(v)


def size_minus1():
    return bytes([2])


def size_u32(v):
    return bytes([3]) + u32(v)


def a_call(call=0, flags=0, req=b"", report=b"", manifest=b"", certs=b"", nonce_at=b"", rsvd=b"", guid=b"",
           sizes=b""):
    return (b"\x00" + bytes([flags, call]) + req + report + manifest + certs + nonce_at + rsvd + guid + sizes +
            NONCE)


def a_service(n):
    return b"\x01" + u16(n)


def a_revoke(buf, how):
    return b"\x02" + bytes([buf, how])


def attest_seeds():
    s = {}
    s["services"] = header() + a_call(0)
    s["single"] = header() + a_call(1)
    s["services-certs"] = header() + a_call(0, F_CERTS, certs=gpa_good())
    s["single-certs"] = header() + a_call(1, F_CERTS, certs=gpa_good())
    s["unknown-call"] = header() + a_call(0xF2)
    s["request-elsewhere"] = header() + a_call(0, F_REQ, req=sym(SYM_CAA, 0x40))
    s["request-misaligned"] = header() + a_call(0, F_REQ, req=raw(0x4000000 + 12))
    s["request-svsm"] = header() + a_call(0, F_REQ, req=sym(SYM_SVSM, 1))
    s["report-svsm-page"] = header() + a_call(0, F_REPORT, report=gpa_page(0x210))
    s["report-misaligned"] = header() + a_call(0, F_REPORT, report=gpa_off(8))
    s["report-vmsa"] = header() + a_call(0, F_REPORT, report=gpa_value(sym(SYM_BSP_VMSA)))
    s["report-beyond"] = header() + a_call(0, F_REPORT, report=gpa_value(sym(SYM_MEMEND)))
    s["report-ca"] = header() + a_call(0, F_REPORT, report=gpa_value(sym(SYM_CAA)))
    s["report-unvalidated"] = header() + a_call(0, F_REPORT, report=gpa_value(sym(SYM_UNVAL)))
    s["manifest-ghcb"] = header() + a_call(0, F_MANIFEST, manifest=gpa_value(sym(SYM_SVSM_GHCB)))
    s["certs-wrap"] = header() + a_call(0, F_CERTS | F_SIZES, certs=gpa_value(raw(0xFFFFFFFFFFFFF000)),
                                        sizes=size_good() + size_good() + size_good() + size_u16(0x2000))
    s["nonce-crosses"] = header() + a_call(0, F_NONCE, nonce_at=gpa_off(0xFE0))
    s["nonce-svsm"] = header() + a_call(0, F_NONCE, nonce_at=gpa_page(0x200))
    for i in range(6):
        s["reserved-%d" % i] = header() + a_call(1, F_RSVD, rsvd=bytes([i, 0x80]))
    s["guid-null"] = header() + a_call(1, F_GUID, guid=bytes([1]))
    s["guid-other"] = header() + a_call(1, F_GUID, guid=bytes([2, 5, 0x10]))
    s["version-1"] = header() + a_call(1, F_GUID, guid=bytes([4]) + u32(1))
    s["report-small"] = header() + a_call(0, F_SIZES, sizes=size_minus1() + size_good() + size_good())
    s["manifest-small"] = header() + a_call(0, F_SIZES, sizes=size_good() + size_u16(10) + size_good())
    s["certs-small"] = header() + a_call(0, F_CERTS | F_SIZES, certs=gpa_good(),
                                         sizes=size_good() + size_good() + size_good() + size_u16(0x1000))
    s["nonce-sizes"] = header() + b"".join(
        a_call(0, F_SIZES, sizes=size_good() + size_good() + size_u16(n)) for n in (0, 63, 65, 4096))
    s["sizes-huge"] = header() + a_call(0, F_CERTS | F_SIZES, certs=gpa_good(),
                                        sizes=size_u32(0xFFFFFFFF) + size_u32(0xFFFFFFFF) + size_good() +
                                        size_u32(0xFFFFFFFF))
    s["service-big"] = header() + a_service(6000) + a_call(0) + a_call(1)
    s["service-empty"] = header() + a_service(0) + a_call(1)
    s["revoke-report"] = header() + a_revoke(0, 1) + a_call(0)
    s["readonly-manifest"] = header() + a_revoke(1, 2) + a_call(0)
    s["noaccess-certs"] = header() + a_revoke(2, 0) + a_call(0, F_CERTS, certs=gpa_good())
    s["rmp-4k"] = header(flags=1) + a_call(0, F_CERTS, certs=gpa_good()) + a_call(1)
    s["unvalidated-window"] = header(unvalidated=0xFF) + a_call(0, F_REPORT, report=gpa_page(0x800))
    s["alloc-fail"] = header(flags=32) + a_call(0)
    return s


ATTEST_DICT = [
    ("op_call", b"\x00"), ("op_service", b"\x01"), ("op_revoke", b"\x02"),
    ("report_size", u32(0x4A0)), ("report_size_m1", u32(0x49F)), ("page", u32(0x1000)),
    ("certs_max", u32(0x4000)), ("nonce_size", u16(64)), ("test_guid", TEST_GUID),
    ("manifest_guid", MANIFEST_GUID), ("all_ones", b"\xff\xff\xff\xff"),
]


# --- greq -----------------------------------------------------------------------------------
def g_attest(flags, decisions=b""):
    return b"\x00" + bytes([flags]) + decisions


def g_psp(kind, value):
    return b"\x01" + bytes([kind, value])


def g_key(select, vmpl=0, root=0):
    return b"\x02" + u64(select) + bytes([vmpl, root])


HONEST = b"\x00"
LIE = b"\xff"


def greq_seeds():
    s = {}
    for flags in range(4):
        s["honest-%d" % flags] = header() + g_attest(flags, HONEST * 16) + g_attest(flags, HONEST * 16)
    # A lie at each of the first decision points of a plain and an extended request.
    for flags in (0, 1):
        for pos in range(9):
            s["lie-%d-at-%d" % (flags, pos)] = (header() + g_attest(flags, HONEST * pos + LIE + b"\x13\x00\x41" +
                                                                    HONEST * 12) + g_attest(flags, HONEST * 16))
    s["busy-forever"] = header() + g_attest(0, b"\xc0" * 40)
    s["after-wipe"] = header() + g_attest(0, LIE * 6) + g_attest(0, HONEST * 8) + g_key(8)
    s["psp-seq-ahead"] = header() + g_psp(0, 0) + g_attest(0, HONEST * 8)
    s["psp-seq-behind"] = header() + g_attest(0, HONEST * 8) + g_psp(1, 0) + g_attest(1, HONEST * 8)
    s["psp-vmpck"] = header() + g_psp(2, 0x40) + g_attest(0, HONEST * 8)
    s["psp-other-vmpck"] = header() + g_psp(2, 0x41) + g_attest(0, HONEST * 8)
    s["keys"] = header() + g_key(0) + g_key(8, 1) + g_key(0x3F, 3, 1) + g_key(0x40) + g_key(0, 4) + g_key(0, 0, 2)
    s["key-then-attest"] = header() + g_key(8) + g_attest(3, HONEST * 16)
    return s


GREQ_DICT = [
    ("op_attest", b"\x00"), ("op_psp", b"\x01"), ("op_key", b"\x02"), ("honest", HONEST), ("lie", LIE),
    ("lie_c0", b"\xc0"), ("vmm_busy", u64(2 << 32)), ("vmm_invalid_len", u64(1 << 32)),
    ("fw_invalid_param", u64(0x16)), ("tamper_hdr", b"\x34\x00\x01"), ("tamper_tag", b"\x00\x00\x01"),
]


def write_target(root, name, seeds, dictionary):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith(("regress-", "campaign-")):
            os.remove(os.path.join(d, f))
    for key, data in sorted(seeds.items()):
        with open(os.path.join(d, key), "wb") as f:
            f.write(data)
    with open(os.path.join(root, name + ".dict"), "w") as f:
        f.write(f"# libFuzzer/AFL++ dictionary of the {name} target (harness/fuzz/gen_attest_corpus.py)\n")
        for key, val in dictionary:
            f.write('%s="%s"\n' % (key, "".join("\\x%02x" % b for b in val)))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "fixtures/fuzz"
    write_target(root, "attest", attest_seeds(), ATTEST_DICT)
    write_target(root, "greq", greq_seeds(), GREQ_DICT)


if __name__ == "__main__":
    main()
