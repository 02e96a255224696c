#!/usr/bin/env python3
"""Write the seed corpora and dictionaries of the machine fuzz targets (dispatch, core, hv).

    python3 harness/fuzz/gen_corpus.py fixtures/fuzz

The encodings are those documented at the top of harness/fuzz/fuzz_<target>.c and in
harness/fuzz/fuzz_common.h; every core call appears with valid and invalid arguments.
Files named regress-* are crash reproducers found by fuzzing, campaign-* the minimised
corpora of long campaigns (ci/fuzz-keep-corpus.sh); neither is ever rewritten.
"""
import os
import struct
import sys

WINDOW = 0x800000 >> 12          # first page of the header-validated window
UNVAL = 0x1800000 >> 12          # first page of the unvalidated upper 8 MiB
SVSM = 0x200000 >> 12            # first page of the SVSM region
OUTSIDE = (32 << 20 >> 12) + 10  # beyond guest memory


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def header(flags=0, unvalidated=0, deposit=0, fail=0, vmpl=0):
    """The common 8-byte header (fuzz_common.h); @unvalidated: window regions left unvalidated;
    @vmpl: guests at VMPL2/3 (one of the VMPL_* set-ups below, 0 = none)."""
    byte2 = (deposit & 31) | ((0x80 | (vmpl - 1) << 5) if vmpl else 0)
    return bytes([flags, unvalidated, byte2, fail, 0, 0, 0, 0])


H_4K, H_START, H_GHCB, H_FAIL, H_DEPOSIT = 1, 8, 16, 32, 64
# enum fuzz_vmpl_guests: VMPL2 on APIC 4; VMPL3 on APIC 4; VMPL2 (APIC 4) hosting VMPL3 (APIC 3);
# VMPL2 (APIC 4) and VMPL3 (APIC 3) both spawned by the VMPL1 guest.
VMPL_2, VMPL_3, VMPL_2_HOSTS_3, VMPL_2_AND_3 = 1, 2, 3, 4
APIC_CHILD, APIC_GRANDCHILD = 4, 3
# With an otherwise empty header, the guest driver's pool starts at 6 MiB: the VMPL2/3 guest on
# APIC 4 is lent the 48 pages from there (its calling area is the first), the VMPL1 guest then
# takes its VMSA and its own GHCB from the pool.
CHILD_CA = 0x600000 >> 12
CHILD_PAGE = CHILD_CA + 1


def h_vcpus(n):
    return (n & 3) << 1


# --- fuzz_value encodings ------------------------------------------------------------------
def raw(v):
    return b"\x00" + u64(v)


def small(n):
    return bytes([(n << 2) | 1])


def sym(i, d=0):
    return bytes([(i << 2) | 2, d & 0xFF])


def page(p, low=0):
    return bytes([(low << 2) | 3]) + u16(p)


SYM_CAA, SYM_CA_LIST, SYM_WINDOW, SYM_WINDOW2M, SYM_SVSM, SYM_BSP_VMSA, SYM_SVSM_GHCB = 0, 1, 2, 3, 4, 5, 6
SYM_MEMEND, SYM_POOL, SYM_VCPU1_VMSA, SYM_VCPU1_CA, SYM_UNVAL, SYM_GUEST_GHCB, SYM_ZERO = 7, 8, 9, 10, 11, 12, 13
# The spawned guests' (fuzz_symbol 16-19): the CA, the page after it and the VMSA of APIC 4's vCPU, APIC 3's CA.
SYM_CHILD_CA, SYM_CHILD_PAGE, SYM_CHILD_VMSA, SYM_GRANDCHILD_CA = 16, 17, 18, 19


def core_rax(call):
    return small(call) if call < 64 else raw(call)


# --- dispatch -------------------------------------------------------------------------------
def d_call(rax, rcx=small(0), rdx=small(0), r8=small(0), r9=small(0), vcpu=0):
    return b"\x00" + bytes([vcpu]) + rax + rcx + rdx + r8 + r9


def d_write(addr, data):
    return b"\x01" + addr + bytes([len(data) - 1]) + data


def d_list(addr, entries, next_=0):
    return b"\x02" + addr + bytes([len(entries), next_]) + b"".join(entries)


def d_vmsa(addr, vmpl=1, flags=1, off=0, poke=0):
    return b"\x03" + addr + bytes([vmpl, flags]) + u16(off) + u64(poke)


def d_pending(pending, rax, rcx=small(0), vcpu=0):
    return b"\x04" + bytes([vcpu, pending]) + rax + rcx


def d_ap_start(apic, vmsa, caa):
    return b"\x05" + bytes([apic]) + vmsa + caa


def d_ap_stop(apic):
    return b"\x06" + bytes([apic])


def dispatch_seeds():
    s = {}
    v = header()
    ca_list = sym(SYM_CA_LIST)
    for call in range(8):
        s[f"call-{call}-zero-args"] = v + d_call(core_rax(call))
    s["query-core-v1"] = v + d_call(small(6), raw(1 << 32 | 1))
    s["query-unknown"] = v + d_call(small(6), raw(7 << 32 | 1))
    s["unknown-protocol"] = v + d_call(raw(5 << 32 | 1))
    s["unknown-call"] = v + d_call(small(8))
    s["huge-rax"] = v + d_call(raw(0xFFFFFFFFFFFFFFFF), raw(0xFFFFFFFFFFFFFFFF), raw(1 << 63), raw(1 << 40), raw(7))
    s["remap-window"] = v + d_call(small(0), page(WINDOW + 3)) + d_call(small(6), raw(1 << 32 | 1))
    s["remap-misaligned"] = v + d_call(small(0), raw((WINDOW << 12) + 8))
    s["remap-svsm"] = v + d_call(small(0), sym(SYM_SVSM))
    s["remap-wrap"] = v + d_call(small(0), sym(15))
    s["pvalidate-ca-list"] = v + d_list(ca_list, [page(UNVAL, 1)]) + d_call(small(1), ca_list)
    s["pvalidate-2m"] = v + d_list(ca_list, [page(UNVAL, 1 | 1 << 0)]) + d_call(small(1), ca_list)
    s["pvalidate-misaligned-list"] = v + d_call(small(1), sym(SYM_CA_LIST, 1 << 1 | 0) + b"")
    s["pvalidate-in-svsm"] = v + d_call(small(1), sym(SYM_SVSM))
    s["pvalidate-many"] = v + d_list(ca_list, [page(UNVAL + i, 1) for i in range(40)]) + d_call(small(1), ca_list)
    s["pvalidate-incomplete-once"] = (
        v + d_list(ca_list, [page(UNVAL + i * 512, 1 | 1 << 0) for i in range(2)]) + d_call(small(1), ca_list, vcpu=0x80)
    )
    s["create-vcpu"] = (
        v + d_vmsa(page(WINDOW + 1)) + d_call(small(2), page(WINDOW + 1), page(WINDOW + 2), small(1))
        + d_ap_start(1, page(WINDOW + 1), page(WINDOW + 2)) + d_call(small(6), raw(1 << 32 | 1), vcpu=1)
    )
    s["create-vcpu-bad-vmsa"] = (
        v + d_vmsa(page(WINDOW + 1), vmpl=0, flags=0) + d_call(small(2), page(WINDOW + 1), page(WINDOW + 2), small(1))
    )
    s["create-vcpu-apic-upper"] = v + d_call(small(2), page(WINDOW + 1), page(WINDOW + 2), raw(1 << 32))
    s["create-then-delete"] = (
        v + d_vmsa(page(WINDOW + 1)) + d_call(small(2), page(WINDOW + 1), page(WINDOW + 2), small(1))
        + d_call(small(3), page(WINDOW + 1))
    )
    s["delete-startup"] = v + d_call(small(3), sym(SYM_BSP_VMSA))
    s["deposit-two"] = v + d_list(ca_list, [page(WINDOW + 10), page(WINDOW + 11)]) + d_call(small(4), ca_list)
    s["deposit-then-withdraw"] = (
        v + d_list(ca_list, [page(WINDOW + 10)]) + d_call(small(4), ca_list) + d_call(small(5), page(WINDOW + 20))
    )
    s["withdraw-end-of-page"] = v + d_call(small(5), raw((WINDOW << 12) + 0xFF8))
    s["vtom-query"] = v + d_call(small(7), small(1))
    s["vtom-configure"] = v + d_call(small(7), raw(0x20))
    s["pending-0"] = v + d_pending(0, small(6), raw(1 << 32 | 1))
    s["pending-2"] = v + d_pending(2, small(6))
    s["pending-ff"] = v + d_pending(0xFF, small(1), ca_list)
    s["write-ca-then-call"] = v + d_write(sym(SYM_CAA), b"\x01\x00\x00\x00") + d_call(small(6), raw(1 << 32 | 1))
    s["ap-stop-unknown"] = v + d_ap_stop(2)
    s["header-vcpus-started"] = header(h_vcpus(3) | H_START | H_GHCB, 0x80) + d_call(small(6), raw(1 << 32 | 1), vcpu=3)
    s["header-4k-deposit"] = header(H_4K | H_DEPOSIT, 0xF0, 8) + d_call(small(5), page(WINDOW + 100))
    s["header-fail-alloc"] = header(h_vcpus(1) | H_START | H_FAIL, 0, 0, 1) + d_call(small(6), raw(1 << 32 | 1), vcpu=1)
    # Callers at VMPL2 and 3, each with the rights its parent lent it (RMPQUERY on every page).
    q = d_call(small(6), raw(1 << 32 | 1), vcpu=APIC_CHILD)
    s["vmpl2-query"] = header(vmpl=VMPL_2) + q
    s["vmpl3-query"] = header(vmpl=VMPL_3) + q
    s["vmpl2-hosts-3-query"] = header(vmpl=VMPL_2_HOSTS_3) + q + d_call(small(6), raw(1 << 32 | 1), vcpu=APIC_GRANDCHILD)
    s["vmpl2-and-3-query"] = header(h_vcpus(2) | H_START, vmpl=VMPL_2_AND_3) + q + d_call(
        small(6), raw(1 << 32 | 1), vcpu=APIC_GRANDCHILD) + d_call(small(6), raw(1 << 32 | 1), vcpu=1)
    child_list = sym(SYM_CHILD_CA, 2)  # its calling area's buffer (+8 bytes)
    for name, vmpl in (("vmpl2", VMPL_2), ("vmpl3", VMPL_3)):
        hv = header(vmpl=vmpl)
        s[f"{name}-pvalidate-rescind-own"] = hv + d_list(child_list, [page(CHILD_PAGE, 0)]) + d_call(
            small(1), child_list, vcpu=APIC_CHILD)
        s[f"{name}-pvalidate-vmpl1-page"] = hv + d_list(child_list, [page(WINDOW + 3, 0)]) + d_call(
            small(1), child_list, vcpu=APIC_CHILD)
        s[f"{name}-pvalidate-list-vmpl1-only"] = hv + d_list(ca_list, [page(CHILD_PAGE, 0)]) + d_call(
            small(1), ca_list, vcpu=APIC_CHILD)
        s[f"{name}-remap-own-page"] = hv + d_call(small(0), page(CHILD_PAGE + 1), vcpu=APIC_CHILD) + q
        s[f"{name}-remap-vmpl1-page"] = hv + d_call(small(0), page(WINDOW + 3), vcpu=APIC_CHILD)
        s[f"{name}-create-vcpu-vmpl3"] = hv + d_vmsa(page(CHILD_PAGE + 2), vmpl=3) + d_call(
            small(2), page(CHILD_PAGE + 2), page(CHILD_PAGE + 3), small(5), vcpu=APIC_CHILD)
        s[f"{name}-create-vcpu-own-vmpl-or-higher"] = hv + d_vmsa(page(CHILD_PAGE + 2), vmpl=1) + d_call(
            small(2), page(CHILD_PAGE + 2), page(CHILD_PAGE + 3), small(5), vcpu=APIC_CHILD)
        s[f"{name}-deposit-own-page"] = hv + d_list(child_list, [page(CHILD_PAGE + 4)]) + d_call(
            small(4), child_list, vcpu=APIC_CHILD)
        s[f"{name}-withdraw"] = hv + d_call(small(5), page(CHILD_PAGE + 5), vcpu=APIC_CHILD)
        s[f"{name}-delete-vmpl1-vcpu"] = header(h_vcpus(1), vmpl=vmpl) + d_call(
            small(3), sym(SYM_VCPU1_VMSA), vcpu=APIC_CHILD)
        s[f"{name}-delete-own-vmsa"] = hv + d_call(small(3), sym(SYM_CHILD_VMSA), vcpu=APIC_CHILD)
        s[f"{name}-pending-2"] = hv + d_pending(2, small(6), vcpu=APIC_CHILD)
    s["vmpl1-delete-vmpl2-vcpu"] = header(vmpl=VMPL_2) + d_call(small(3), sym(SYM_CHILD_VMSA))
    s["vmpl3-pvalidate-vmpl2-page"] = header(vmpl=VMPL_2_HOSTS_3) + d_list(sym(SYM_GRANDCHILD_CA, 2), [
        page(CHILD_PAGE, 0)]) + d_call(small(1), sym(SYM_GRANDCHILD_CA, 2), vcpu=APIC_GRANDCHILD)
    return s


DISPATCH_DICT = [
    ("core_query", b"\x19"), ("sym_ca_list", b"\x06\x00"), ("sym_window", b"\x0a\x00"),
    ("sym_svsm", b"\x12\x00"), ("sym_bsp_vmsa", b"\x16\x00"), ("proto_core_v1", raw(1 << 32 | 1)),
    ("page_window", page(WINDOW)), ("page_unval", page(UNVAL, 1)), ("page_svsm", page(SVSM)),
    ("vtom_query", b"\x05"), ("rax_attest", raw(1 << 32)), ("pending_two", b"\x04\x00\x02"),
    ("header_vmpl2", b"\x80"), ("header_vmpl2_hosts_3", b"\xc0"), ("vcpu_child", b"\x04"),
    ("sym_child_ca", sym(SYM_CHILD_CA)), ("sym_child_page", sym(SYM_CHILD_PAGE)),
    ("sym_child_vmsa", sym(SYM_CHILD_VMSA)), ("page_child", page(CHILD_PAGE)),
]


# --- core -------------------------------------------------------------------------------------
def pg(p):
    return u16(p)


def c_remap(p, vcpu=0):
    return b"\x00" + bytes([vcpu]) + pg(p)


def c_pval(entries, where=0, list_page=0, next_=0, vcpu=0):
    return b"\x01" + bytes([vcpu, where]) + pg(list_page) + bytes([len(entries), next_]) + b"".join(
        pg(p) + bytes([f]) for p, f in entries)


C_FROM_CHILD = 16  # create: the call comes from APIC 4


def c_create(vmsa, caa, apic=1, vmpl=1, flags=0):
    return b"\x02" + pg(vmsa) + pg(caa) + u32(apic) + bytes([vmpl, flags])


def c_delete(sel, p=None):
    return b"\x03" + bytes([sel]) + (pg(p) if p is not None else b"")


def c_deposit(entries, where=0, list_page=0, next_=0):
    return b"\x04" + bytes([where]) + pg(list_page) + bytes([len(entries), next_]) + b"".join(
        pg(p) + bytes([f]) for p, f in entries)


def c_withdraw(p, off=0, child=False):
    return b"\x05" + pg(p) + u16(off | (0x8000 if child else 0))


def c_query(rcx):
    return b"\x06" + u64(rcx)


def c_vtom(rcx):
    return b"\x07" + u64(rcx)


def c_call(vcpu):
    return b"\x08" + bytes([vcpu])


def c_ap_destroy(vcpu):
    return b"\x09" + bytes([vcpu])


V, INV, VAL, IGN, SZ2M = 1, 0, 4, 8, 1
SYMPAGE = lambda i: 0xF000 | i  # noqa: E731  fuzz_page symbol


def core_seeds():
    s = {}
    h1 = header()
    h3 = header()
    s["remap-ok"] = h1 + c_remap(WINDOW + 5) + c_query(1 << 32 | 1)
    s["remap-same"] = h1 + c_remap(SYMPAGE(SYM_CAA))
    s["remap-svsm"] = h1 + c_remap(SVSM + 1)
    s["remap-outside"] = h1 + c_remap(OUTSIDE)
    s["remap-unvalidated"] = h1 + c_remap(UNVAL)
    s["remap-to-vmsa"] = h1 + c_remap(SYMPAGE(SYM_BSP_VMSA))
    s["pval-validate-4k"] = h1 + c_pval([(UNVAL, VAL)])
    s["pval-validate-2m"] = h1 + c_pval([(UNVAL, VAL | SZ2M)])
    s["pval-2m-on-4k-rmp"] = header(H_4K) + c_pval([(UNVAL, VAL | SZ2M)])
    s["pval-invalidate"] = h1 + c_pval([(WINDOW + 3, INV)])
    s["pval-unchanged"] = h1 + c_pval([(WINDOW + 3, VAL)])
    s["pval-unchanged-ignore"] = h1 + c_pval([(WINDOW + 3, VAL | IGN)])
    s["pval-incomplete"] = h1 + c_pval([(UNVAL + 512 * i, VAL | SZ2M) for i in range(2)] + [(UNVAL + 3 * 512, VAL)])
    s["pval-resume-next"] = h1 + c_pval([(UNVAL, VAL), (UNVAL + 1, VAL), (UNVAL + 2, VAL)], next_=1)
    s["pval-misaligned-list"] = h1 + c_pval([(UNVAL, VAL)], where=3, list_page=WINDOW)
    s["pval-zero-entries"] = h1 + c_pval([])
    s["pval-next-out-of-range"] = h1 + c_pval([(UNVAL, VAL)], next_=1)
    s["pval-crosses-page"] = h1 + c_pval([(UNVAL + i, VAL) for i in range(40)], where=250, list_page=WINDOW)
    s["pval-bad-size"] = h1 + c_pval([(UNVAL, VAL | 3)])
    s["pval-reserved"] = h1 + c_pval([(UNVAL, VAL | 0x10)])
    s["pval-2m-misaligned"] = h1 + c_pval([(UNVAL + 1, VAL | SZ2M)])
    s["pval-svsm-page"] = h1 + c_pval([(SVSM + 3, VAL)])
    s["pval-svsm-2m"] = h1 + c_pval([(SVSM, INV | SZ2M)])
    s["pval-list-in-svsm"] = h1 + c_pval([(UNVAL, VAL)], where=1, list_page=SVSM + 5)
    s["pval-outside"] = h1 + c_pval([(OUTSIDE, VAL)])
    s["pval-vmsa-page"] = h1 + c_pval([(SYMPAGE(SYM_BSP_VMSA), INV)])
    s["pval-own-ca"] = h1 + c_pval([(SYMPAGE(SYM_CAA), INV)]) + c_query(1 << 32 | 1)
    s["pval-bad-later-entry"] = h1 + c_pval([(UNVAL, VAL), (UNVAL + 1, VAL | 3)])
    s["pval-max-entries"] = h3 + c_pval([(UNVAL + i, VAL) for i in range(255)])
    s["create-ok-and-call"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 1, 1, 8) + c_call(1)
    s["create-misaligned-apic"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 0x80000005)
    s["create-vmsa-is-caa"] = h1 + c_create(WINDOW + 1, WINDOW + 1)
    s["create-svsm-pages"] = h1 + c_create(SVSM + 2, WINDOW + 2)
    s["create-on-active-ca"] = h1 + c_create(WINDOW + 1, SYMPAGE(SYM_CAA))
    s["create-vmpl0"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 1, 0)
    s["create-vmpl4"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 1, 4)
    s["create-svme-clear"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 1, 1, 1)
    s["create-features"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 1, 1, 2)
    s["create-duplicate-apic"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 0)
    s["create-unvalidated"] = h1 + c_create(UNVAL, WINDOW + 2)
    s["create-outside"] = h1 + c_create(OUTSIDE, WINDOW + 2)
    s["create-no-image"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 1, 1, 4)
    s["delete-stopped"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 1, 1, 8) + c_ap_destroy(1) + c_delete(1)
    s["delete-running"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 1, 1, 8) + c_delete(1)
    s["delete-own"] = h1 + c_create(WINDOW + 1, WINDOW + 2, 1, 1, 8) + c_call(1) + c_delete(0x41)
    s["delete-unknown"] = h1 + c_delete(0x80, WINDOW + 7)
    s["delete-startup"] = h1 + c_delete(0x80, SYMPAGE(SYM_BSP_VMSA))
    s["delete-not-started"] = h1 + c_create(WINDOW + 1, WINDOW + 2) + c_delete(0x80, WINDOW + 1)
    s["create-delete-cycle"] = h1 + (c_create(WINDOW + 1, WINDOW + 2) + c_delete(0x80, WINDOW + 1)) * 4
    s["deposit-4k"] = h1 + c_deposit([(WINDOW + 10, 0), (WINDOW + 11, 0)])
    s["deposit-2m"] = h3 + c_deposit([(WINDOW + 512, 1)])
    s["deposit-svsm"] = h1 + c_deposit([(SVSM + 4, 0)])
    s["deposit-ca"] = h1 + c_deposit([(SYMPAGE(SYM_CAA), 0)])
    s["deposit-list-page"] = h1 + c_deposit([(WINDOW + 9, 0)], where=1, list_page=WINDOW + 9)
    s["deposit-duplicate"] = h1 + c_deposit([(WINDOW + 10, 0), (WINDOW + 10, 0)])
    s["deposit-reserved"] = h1 + c_deposit([(WINDOW + 10, 4)])
    s["deposit-size3"] = h1 + c_deposit([(WINDOW + 10, 3)])
    s["deposit-unvalidated"] = h1 + c_deposit([(UNVAL, 0)])
    s["deposit-zero"] = h1 + c_deposit([])
    s["deposit-misaligned-list"] = h1 + c_deposit([(WINDOW + 10, 0)], where=5, list_page=WINDOW)
    s["deposit-then-create"] = header(H_FAIL, 0, 0, 1) + c_deposit([(WINDOW + 10, 0)]) + c_create(WINDOW + 1, WINDOW + 2)
    s["withdraw-after-deposit"] = h1 + c_deposit([(WINDOW + 10, 0), (WINDOW + 11, 0)]) + c_withdraw(WINDOW + 20)
    s["withdraw-nothing"] = h1 + c_withdraw(WINDOW + 20)
    s["withdraw-capacity"] = header(H_DEPOSIT, 0, 20) + c_withdraw(WINDOW + 20, 0xFE0)
    s["withdraw-bad-buffer"] = h1 + c_withdraw(WINDOW + 20, 0xFF8) + c_withdraw(SVSM + 3) + c_withdraw(UNVAL)
    s["withdraw-misaligned"] = h1 + c_withdraw(WINDOW + 20, 3)
    s["query-core"] = h1 + c_query(1 << 32 | 1) + c_query(0) + c_query(2 << 32 | 1) + c_query(1 << 32 | 2)
    s["vtom"] = h1 + c_vtom(1) + c_vtom(3) + c_vtom(0) + c_vtom(0x20)
    s["header-everything"] = header(h_vcpus(3) | H_START | H_GHCB | H_DEPOSIT | H_4K, 0xC0, 12) + c_call(2) + c_call(3)
    for n in range(1, 6):
        s[f"fail-nth-{n}-create"] = header(H_FAIL, 0, 0, n) + c_create(WINDOW + 1, WINDOW + 2, 1, 1, 8) + c_call(1)
    # Callers at VMPL2/3 (header byte 2): their own pages, their parent's, the SVSM's.
    for name, vmpl in (("vmpl2", VMPL_2), ("vmpl3", VMPL_3)):
        hv = header(vmpl=vmpl)
        s[f"{name}-call"] = hv + c_call(APIC_CHILD)
        s[f"{name}-pval-own"] = hv + c_pval([(CHILD_PAGE, INV), (CHILD_PAGE, VAL)], vcpu=APIC_CHILD)
        s[f"{name}-pval-parent-page"] = hv + c_pval([(WINDOW + 3, INV)], vcpu=APIC_CHILD)
        s[f"{name}-pval-2m"] = hv + c_pval([(UNVAL, VAL | SZ2M)], vcpu=APIC_CHILD)
        s[f"{name}-pval-list-in-parent-ca"] = hv + c_pval([(CHILD_PAGE, INV)], where=1, list_page=SYMPAGE(SYM_CAA),
                                                         vcpu=APIC_CHILD)
        s[f"{name}-remap-own"] = hv + c_remap(CHILD_PAGE + 1, vcpu=APIC_CHILD) + c_call(APIC_CHILD)
        s[f"{name}-remap-parent"] = hv + c_remap(WINDOW + 5, vcpu=APIC_CHILD)
        s[f"{name}-create-vmpl3"] = hv + c_create(CHILD_PAGE + 2, CHILD_PAGE + 3, 5, 3, C_FROM_CHILD)
        s[f"{name}-create-vmpl1"] = hv + c_create(CHILD_PAGE + 2, CHILD_PAGE + 3, 5, 1, C_FROM_CHILD)
        s[f"{name}-create-parent-pages"] = hv + c_create(WINDOW + 1, WINDOW + 2, 5, 3, C_FROM_CHILD)
        s[f"{name}-withdraw"] = header(H_DEPOSIT, 0, 4, vmpl=vmpl) + c_withdraw(CHILD_PAGE + 4, child=True)
        s[f"{name}-delete-own"] = hv + c_call(APIC_CHILD) + c_delete(0x40 | APIC_CHILD)
        s[f"{name}-delete-by-parent"] = hv + c_delete(APIC_CHILD)
    s["vmpl2-hosts-3"] = header(vmpl=VMPL_2_HOSTS_3) + c_call(APIC_GRANDCHILD) + c_pval(
        [(CHILD_PAGE + 20, INV)], vcpu=APIC_GRANDCHILD) + c_delete(0x40 | APIC_GRANDCHILD)
    s["vmpl2-and-3"] = header(h_vcpus(2) | H_START, vmpl=VMPL_2_AND_3) + c_call(APIC_GRANDCHILD) + c_call(
        APIC_CHILD) + c_call(1) + c_remap(CHILD_PAGE + 1, vcpu=APIC_GRANDCHILD)
    return s


CORE_DICT = [
    ("window", pg(WINDOW)), ("unval", pg(UNVAL)), ("svsm", pg(SVSM)), ("sym_ca", pg(SYMPAGE(SYM_CAA))),
    ("sym_vmsa", pg(SYMPAGE(SYM_BSP_VMSA))), ("query_v1", u64(1 << 32 | 1)), ("validate_2m", b"\x05"),
    ("header_vmpl2", b"\x80"), ("header_vmpl3", b"\xa0"), ("vcpu_child", b"\x04"), ("page_child", pg(CHILD_PAGE)),
    ("sym_child_ca", pg(SYMPAGE(SYM_CHILD_CA))), ("sym_child_vmsa", pg(SYMPAGE(SYM_CHILD_VMSA))),
    ("withdraw_child", u16(0x8000)),
]


# --- hv -----------------------------------------------------------------------------------------
HONEST = b"\x00"
HOSTILE = b"\xff"
# A host opportunity's decision: a take (>= 0xF0; bit 0 shared, else reassigned), then the
# target byte of fuzz_hv_take_target (and, for some targets, more bytes).
TAKE_SHARED, TAKE_REASSIGN = b"\xf1", b"\xf0"
(T_CALLER_VMSA, T_CALLER_CA, T_SVSM_GHCB, T_SVSM_VCPU, T_RCX, T_RDX, T_R8, T_LIST_ENTRY, T_SVSM_MAP, T_SVSM_PAGE,
 T_ANY, T_GUEST_GHCB, T_VCPU_VMSA, T_VCPU_CA, T_BSP_VMSA, T_WINDOW) = range(16)


def take(target, op=TAKE_SHARED, extra=b""):
    return op + bytes([target]) + extra


def hv_call(call, rcx, vcpu=0):
    """hv operation 0: a core call from a guest vCPU (the hypervisor's decisions follow in the stream)."""
    return b"\x00" + bytes([vcpu, call]) + rcx


def hv_seeds():
    s = {}
    h1 = header()
    s["boot-honest"] = h1 + b"\x01" + HONEST * 64
    for i in range(12):
        # Boot with the i-th hypervisor answer hostile (the answers before it honest).
        s[f"boot-hostile-{i:02d}"] = h1 + b"\x01" + HONEST * i + bytes([0xC0 + (i % 8)]) + HONEST * 8
    s["boot-garbage-sev-info"] = h1 + b"\x01" + b"\xc2" + u64(0x12345678_00000001)
    s["call-run-vmpl-refused"] = h1 + b"\x00" + b"\x00\x00\x06" + small(1) + b"\xc1"
    s["new-vcpu-honest"] = h1 + b"\x00" + b"\x01\x01" + HONEST * 64
    s["new-vcpu-psc-refused"] = h1 + b"\x00" + b"\x01\x01" + HONEST * 6 + b"\xc0" * 8
    s["new-vcpu-register-echo"] = h1 + b"\x00" + b"\x01\x01" + HONEST * 8 + b"\xc5" * 4
    s["self-delete"] = h1 + b"\x00" + b"\x01\x01" + HONEST * 40 + b"\x02\x01" + b"\xc1"
    s["console"] = h1 + b"\x00" + b"\x03" + u16(7) + b"\xc0" + HONEST * 4
    s["psc-shared"] = h1 + b"\x00" + b"\x04" + u16(5) + u16(300) + b"\x01" + HONEST * 8
    s["psc-partial"] = h1 + b"\x00" + b"\x04" + u16(5) + u16(300) + b"\x01" + b"\xc3" + HONEST * 8
    s["psc-backwards"] = h1 + b"\x00" + b"\x04" + u16(5) + u16(20) + b"\x00" + HONEST * 2 + b"\xc0"
    s["psc-error"] = h1 + b"\x00" + b"\x04" + u16(5) + u16(20) + b"\x00" + HONEST * 3 + b"\xc1"
    for k in range(6):
        s[f"msr-{k}"] = h1 + b"\x00" + b"\x05" + bytes([k]) + u64(0x8000001F | 1 << 32) + b"\xc2" + u64(0xFFF)
    s["ghcb-features"] = h1 + b"\x00" + b"\x06\x01\x00" + b"\xc0\xc1"
    s["ghcb-run-vmpl"] = h1 + b"\x00" + b"\x06\x00\x01" + b"\xc2" + u64(3)
    # The host takes a page in the middle of a call: the first decision is run-VMPL's, the
    # next ones the host opportunities of the request (each guest copy, RMP instruction and
    # VMGEXIT of the SVSM).
    targets = {
        "caller-vmsa": take(T_CALLER_VMSA), "caller-ca": take(T_CALLER_CA), "svsm-ghcb": take(T_SVSM_GHCB),
        "svsm-vcpu": take(T_SVSM_VCPU), "rcx-page": take(T_RCX), "svsm-map": take(T_SVSM_MAP),
        "svsm-page": take(T_SVSM_PAGE, extra=u16(300)), "any-window": take(T_ANY, extra=u16(WINDOW + 3)),
        "bsp-vmsa": take(T_BSP_VMSA), "window": take(T_WINDOW, extra=u16(7)),
    }
    query = hv_call(6, raw(1 << 32 | 1))
    for name, t in targets.items():
        for at in (0, 2):
            for op_name, op in (("shared", TAKE_SHARED), ("reassign", TAKE_REASSIGN)):
                s[f"take-{name}-{op_name}-at-{at}"] = (h1 + b"\x00" + query + HONEST + HONEST * at +
                                                     op + t[1:] + HONEST * 16 + query + HONEST * 16)
    # PVALIDATE of a list in the calling area and CREATE_VCPU: the list page, the entry's page, the new VMSA and CA.
    s["take-list-page-pvalidate"] = h1 + b"\x00" + hv_call(1, sym(SYM_CA_LIST)) + HONEST * 2 + take(T_RCX) + HONEST * 16
    s["take-list-entry-pvalidate"] = h1 + b"\x00" + hv_call(1, sym(SYM_CA_LIST)) + HONEST * 3 + take(
        T_LIST_ENTRY) + HONEST * 16
    s["take-guest-ghcb-new-vcpu"] = h1 + b"\x00" + b"\x01\x01" + HONEST * 10 + take(T_GUEST_GHCB) + HONEST * 40
    s["take-svsm-ghcb-new-vcpu"] = h1 + b"\x00" + b"\x01\x01" + HONEST * 24 + take(T_SVSM_GHCB, TAKE_REASSIGN) + HONEST * 40
    s["take-vcpu-vmsa"] = header(h_vcpus(1) | H_START) + b"\x00" + hv_call(6, raw(1 << 32 | 1), 1) + HONEST + take(
        T_VCPU_VMSA, extra=b"\x01") + HONEST * 16 + hv_call(6, raw(1 << 32 | 1), 1) + HONEST * 16
    s["take-vcpu-ca"] = header(h_vcpus(1) | H_START) + b"\x00" + hv_call(6, raw(1 << 32 | 1), 1) + HONEST + take(
        T_VCPU_CA, extra=b"\x01") + HONEST * 16
    s["take-caller-vmsa-vmpl2"] = header(vmpl=VMPL_2) + b"\x00" + hv_call(6, raw(1 << 32 | 1), APIC_CHILD) + HONEST + take(
        T_CALLER_VMSA) + HONEST * 16
    s["take-two-pages"] = h1 + b"\x00" + query + HONEST + take(T_ANY, extra=u16(WINDOW)) + take(
        T_ANY, TAKE_REASSIGN, u16(WINDOW + 1)) + HONEST * 16 + query + HONEST * 16
    s["vmpl2-hosts-3-hostile"] = header(vmpl=VMPL_2_HOSTS_3) + b"\x00" + hv_call(6, raw(1 << 32 | 1), APIC_GRANDCHILD) + \
        b"\xc1" + HONEST * 16
    return s


HV_DICT = [("hostile", b"\xc0"), ("hostile_raw", b"\xc2"), ("honest", b"\x00"), ("mode_boot", b"\x01"),
           ("take_shared", TAKE_SHARED), ("take_reassign", TAKE_REASSIGN), ("take_caller_vmsa", take(T_CALLER_VMSA)),
           ("take_svsm_map", take(T_SVSM_MAP)), ("take_svsm_vcpu", take(T_SVSM_VCPU)), ("take_rcx", take(T_RCX)),
           ("take_list_entry", take(T_LIST_ENTRY)), ("take_svsm_ghcb", take(T_SVSM_GHCB, TAKE_REASSIGN)),
           ("header_vmpl2", b"\x80")]


def write_target(root, name, seeds, dictionary):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith(("regress-", "campaign-")):
            os.remove(os.path.join(d, f))
    for k, v in seeds.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write(v)
    with open(os.path.join(root, name + ".dict"), "w") as f:
        f.write(f"# libFuzzer/AFL++ dictionary of the {name} target (harness/fuzz/gen_corpus.py)\n")
        for key, val in dictionary:
            f.write(f'{key}="' + "".join(f"\\x{b:02x}" for b in val) + '"\n')


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "fixtures/fuzz"
    write_target(root, "dispatch", dispatch_seeds(), DISPATCH_DICT)
    write_target(root, "core", core_seeds(), CORE_DICT)
    write_target(root, "hv", hv_seeds(), HV_DICT)


if __name__ == "__main__":
    main()
