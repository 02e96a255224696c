#!/usr/bin/env python3
"""Write the seed corpus and dictionary of the vtpm fuzz target (harness/fuzz/fuzz_vtpm.c).

    python3 harness/fuzz/gen_vtpm_corpus.py fixtures/fuzz

Every input starts from a manufactured TPM that has seen TPM2_Startup(CLEAR). The seeds
cover each operation of the target with good and bad arguments: the TPM commands of the
issue's streams (NV, PCR, keys, EvictControl), the manifest, QUERY, and raw buffers at
every limit (4087/4088 command bytes, localities, platform commands, across pages,
SVSM pages, calling area, outside memory). Files named regress-* or campaign-* are
never rewritten.
"""
import os
import struct
import sys

WINDOW = 0x800000
SVSM = 0x200000
CAA = 0x400000
MEM_END = 32 << 20
FIRST_CC = 0x11F


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def be16(v):
    return struct.pack(">H", v & 0xFFFF)


def be32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def header(flags=0):
    return bytes([flags, 0, 0, 0, 0, 0, 0, 0])


H_START = 8


def h_vcpus(n):
    return (n & 3) << 1


def raw_value(v):
    """fuzz_value: a raw u64."""
    return b"\x00" + struct.pack("<Q", v)


def op_raw(addr, data, vcpu=0):
    return bytes([0, vcpu]) + raw_value(addr) + u16(len(data)) + data


def request(cmd=8, locality=0, size=None, body=b""):
    """The vTPM buffer: u32 platform command, u8 locality, u32 size, TPM command (little-endian fields)."""
    return u32(cmd) + bytes([locality]) + u32(len(body) if size is None else size) + body


def op_cmd(cc, handles=(), params=b"", sessions=False, auth=b"", off=0, vcpu=0, pc=0, loc=0, skew=0, tag=None):
    out = bytes([7, vcpu]) + u16(off) + bytes([pc, loc, skew & 0xFF])
    tag_sel = (1 if sessions else 0) | (2 if tag is not None else 0)
    if 0 <= cc - FIRST_CC < 0x79 and (cc - FIRST_CC) != 0xFF:
        out += bytes([tag_sel, cc - FIRST_CC])
        cc_raw = b""
    else:
        out += bytes([tag_sel, 0xFF])
        cc_raw = u32(cc)
    out += u16(tag) if tag is not None else b""
    out += cc_raw
    out += bytes([len(handles)]) + b"".join(u32(h) for h in handles)
    if sessions:
        out += bytes([len(auth)]) + auth
    return out + bytes([len(params)]) + params


def op_query(call_id=0, vcpu=0):
    return bytes([14, vcpu, call_id])


def op_manifest(size=1024):
    return bytes([15]) + u16(size)


# Handles are read as little-endian u32 by the target and written big-endian into the command.
OWNER, ENDORSEMENT, PLATFORM, NULL = 0x40000001, 0x4000000B, 0x4000000C, 0x40000007
NV_A, NV_CTR = 0x01500016, 0x01500017
TRANSIENT, PERSIST = 0x80000000, 0x81000100


def nv_public(index, attrs, size):
    return be16(14) + be32(index) + be16(0x000B) + be32(attrs) + be16(0) + be16(size)


def ecc_template():
    return (be16(26) + be16(0x0023) + be16(0x000B) + be32(0x00030072) + be16(0) + be16(6) + be16(128) + be16(0x43)
            + be16(0x10) + be16(3) + be16(0x10) + be16(0) + be16(0))


def seeds():
    s = {}
    h = header()
    s["getrandom"] = h + op_cmd(0x17B, params=be16(32))
    s["getrandom-then-query"] = h + op_cmd(0x17B, params=be16(8)) + op_query()
    s["selftest"] = h + op_cmd(0x143, params=b"\x01") + op_cmd(0x17C)
    s["pcr-read-extend"] = h + op_cmd(0x17E, params=be32(1) + be16(0x000B) + b"\x03\x00\x00\x01") + op_cmd(
        0x182, handles=[16], sessions=True, params=be32(1) + be16(0x000B) + b"\xa5" * 32)
    s["nv-define-write-read"] = h + op_cmd(
        0x12A, handles=[OWNER], sessions=True, params=be16(0) + nv_public(NV_A, 0x02060006, 8)) + op_cmd(
        0x137, handles=[NV_A, NV_A], sessions=True, params=be16(8) + b"abcdefgh" + be16(0)) + op_cmd(
        0x14E, handles=[NV_A, NV_A], sessions=True, params=be16(8) + be16(0))
    s["nv-counter"] = h + op_cmd(
        0x12A, handles=[OWNER], sessions=True, params=be16(0) + nv_public(NV_CTR, 0x02060016, 8)) + op_cmd(
        0x134, handles=[NV_CTR, NV_CTR], sessions=True) + op_cmd(0x134, handles=[NV_CTR, NV_CTR], sessions=True)
    s["nv-undefine"] = h + op_cmd(
        0x12A, handles=[OWNER], sessions=True, params=be16(0) + nv_public(NV_A, 0x02060006, 8)) + op_cmd(
        0x122, handles=[OWNER, NV_A], sessions=True)
    s["createprimary-evict-flush"] = h + op_cmd(
        0x131, handles=[OWNER], sessions=True, params=be16(4) + be16(0) + be16(0) + ecc_template() + be16(0) + be32(0)) + op_cmd(
        0x120, handles=[OWNER, TRANSIENT], sessions=True, params=be32(PERSIST)) + op_cmd(0x165, params=be32(TRANSIENT))
    s["getcap-handles"] = h + op_cmd(0x17A, params=be32(1) + be32(0x81000000) + be32(64))
    s["manifest"] = h + op_manifest() + op_cmd(0x17A, params=be32(1) + be32(0x80000000) + be32(64))
    s["manifest-small"] = h + op_manifest(100)
    s["manifest-313"] = h + op_manifest(313)
    s["changeeps-manifest"] = h + op_cmd(0x124, handles=[PLATFORM], sessions=True) + op_manifest()
    s["startup-again"] = h + op_cmd(0x144, params=be16(0))
    s["shutdown-state"] = h + op_cmd(0x145, params=be16(1)) + op_cmd(0x17B, params=be16(8))
    s["bad-password"] = h + op_cmd(0x12A, handles=[OWNER], sessions=True, auth=b"wrong", params=be16(0) + nv_public(NV_A, 0x02060006, 8))
    s["size-skew-short"] = h + op_cmd(0x17B, params=be16(8), skew=-5)
    s["size-skew-long"] = h + op_cmd(0x17B, params=be16(8), skew=100)
    s["unknown-cc"] = h + op_cmd(0x20000001, params=b"\x00" * 4)
    s["bad-tag"] = h + op_cmd(0x17B, params=be16(8), tag=0xC4)
    s["locality-1"] = h + op_cmd(0x17B, params=be16(8), loc=0xF1)
    s["platform-power-on"] = h + op_cmd(0x17B, params=be16(8), pc=0xF1)
    s["across-pages"] = h + op_cmd(0x17B, params=be16(32), off=0xFF7) + op_cmd(0x17B, params=be16(32), off=0xFFF)
    s["query-unknown-call"] = h + op_query(0) + op_query(200)
    getrandom = b"\x80\x01" + be32(12) + be32(0x17B) + be16(16)
    s["raw-getrandom"] = h + op_raw(WINDOW + 0x40, request(body=getrandom))
    s["raw-size-4087"] = h + op_raw(WINDOW, request(body=b"\x80\x01" + be32(4087) + be32(0x17B) + b"\x00" * 4077))
    s["raw-size-4088"] = h + op_raw(WINDOW, request(size=4088, body=getrandom))
    s["raw-size-huge"] = h + op_raw(WINDOW, request(size=0xFFFFFFFF, body=getrandom))
    s["raw-size-0"] = h + op_raw(WINDOW, request(size=0, body=b""))
    s["raw-platform-0"] = h + op_raw(WINDOW, request(cmd=0, body=getrandom))
    s["raw-platform-21"] = h + op_raw(WINDOW, request(cmd=21, body=getrandom))
    s["raw-locality-4"] = h + op_raw(WINDOW, request(locality=4, body=getrandom))
    s["raw-svsm-page"] = h + op_raw(SVSM, request(body=getrandom))
    s["raw-calling-area"] = h + op_raw(CAA, request(body=getrandom))
    s["raw-past-memory"] = h + op_raw(MEM_END - 0x100, request(body=getrandom))
    s["raw-unvalidated-next"] = header() + op_raw(0x1800000 - 0x800, request(body=getrandom))
    two = header(h_vcpus(1) | H_START)
    s["two-vcpus"] = two + op_cmd(0x17B, params=be16(8), vcpu=1) + op_cmd(0x17B, params=be16(8), vcpu=0) + op_query(vcpu=1)
    return s


def dictionary():
    d = [("platform_send", u32(8)), ("platform_power_on", u32(1)), ("size_4087", u32(4087)), ("size_4088", u32(4088)),
         ("tag_no_sessions", b"\x80\x01"), ("tag_sessions", b"\x80\x02"),
         ("rh_owner", u32(OWNER)), ("rh_endorsement", u32(ENDORSEMENT)), ("rh_platform", u32(PLATFORM)),
         ("rs_pw", be32(0x40000009)), ("transient", u32(TRANSIENT)), ("persistent", u32(PERSIST)),
         ("nv_index", u32(NV_A)), ("alg_sha256", be16(0x000B)), ("alg_ecc", be16(0x0023)), ("alg_rsa", be16(0x0001)),
         ("op_manifest", op_manifest()), ("op_query", op_query())]
    names = {0x17B: "getrandom", 0x144: "startup", 0x145: "shutdown", 0x143: "selftest", 0x17A: "getcapability",
             0x17E: "pcr_read", 0x182: "pcr_extend", 0x12A: "nv_definespace", 0x122: "nv_undefinespace",
             0x137: "nv_write", 0x134: "nv_increment", 0x14E: "nv_read", 0x131: "createprimary", 0x153: "create",
             0x157: "load", 0x15D: "sign", 0x158: "quote", 0x15E: "unseal", 0x120: "evictcontrol",
             0x165: "flushcontext", 0x124: "changeeps", 0x126: "clear", 0x176: "startauthsession",
             0x17F: "policypcr", 0x162: "contextsave", 0x161: "contextload", 0x173: "readpublic"}
    for cc, name in sorted(names.items()):
        d.append((f"cc_{name}", be32(cc)))
        d.append((f"cc_sel_{name}", bytes([cc - FIRST_CC])))
    return d


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fixtures/fuzz"
    corpus = os.path.join(out, "vtpm")
    os.makedirs(corpus, exist_ok=True)
    for name in os.listdir(corpus):
        if not name.startswith(("regress-", "campaign-")):
            os.remove(os.path.join(corpus, name))
    for name, data in sorted(seeds().items()):
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(data)
    with open(os.path.join(out, "vtpm.dict"), "w") as f:
        f.write("# libFuzzer/AFL++ dictionary of the vtpm target (harness/fuzz/gen_vtpm_corpus.py)\n")
        for name, data in dictionary():
            f.write(name + '="' + "".join(f"\\x{b:02x}" for b in data) + '"\n')
    print(f"gen_vtpm_corpus: {len(seeds())} seeds in {corpus}, dictionary {out}/vtpm.dict")


if __name__ == "__main__":
    main()
