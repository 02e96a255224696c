/*
 * GHCB wire format (AMD pub. 56421 v2): the page layout with accessors that keep the
 * valid bitmap right, the MSR protocol encodings, the NAE exit codes and the page
 * state change buffer. Shared by the core's GHCB client and the emulated hypervisor.
 * Numbers: shared/spec/snp-svsm-reference.md section 2.
 */
#ifndef SVSM_GHCB_H
#define SVSM_GHCB_H

#include <svsm/string.h>
#include <svsm/types.h>

#define GHCB_MSR 0xC0010130u
#define SEV_STATUS_MSR 0xC0010131u

#define GHCB_PROTOCOL_MIN 1
#define GHCB_PROTOCOL_MAX 2
#define GHCB_USAGE_STANDARD 0

/* Save-area offsets; the valid-bitmap bit of a field is its offset / 8. */
#define GHCB_OFF_CPL 0x0CB
#define GHCB_OFF_RIP 0x178
#define GHCB_OFF_RAX 0x1F8
#define GHCB_OFF_RCX 0x308
#define GHCB_OFF_RDX 0x310
#define GHCB_OFF_RBX 0x318
#define GHCB_OFF_R8 0x340
#define GHCB_OFF_SW_EXITCODE 0x390
#define GHCB_OFF_SW_EXITINFO1 0x398
#define GHCB_OFF_SW_EXITINFO2 0x3A0
#define GHCB_OFF_SW_SCRATCH 0x3A8
#define GHCB_OFF_XCR0 0x3E8
#define GHCB_SAVE_AREA_SIZE 0x3F0
#define GHCB_SHARED_BUFFER_OFFSET 0x800
#define GHCB_SHARED_BUFFER_SIZE 0x7F0

struct ghcb {
	u8 save[GHCB_SAVE_AREA_SIZE];
	u64 valid_bitmap[2];
	u64 x87_state_gpa;
	u8 reserved1[0x3F8];
	u8 shared_buffer[GHCB_SHARED_BUFFER_SIZE];
	u8 reserved2[10];
	u16 protocol_version;
	u32 usage;
};
_Static_assert(sizeof(struct ghcb) == 4096, "GHCB is one page");
_Static_assert(offsetof(struct ghcb, valid_bitmap) == 0x3F0, "GHCB valid bitmap");
_Static_assert(offsetof(struct ghcb, shared_buffer) == 0x800, "GHCB shared buffer");
_Static_assert(offsetof(struct ghcb, protocol_version) == 0xFFA, "GHCB version");
_Static_assert(offsetof(struct ghcb, usage) == 0xFFC, "GHCB usage");

static inline void ghcb_mark_valid(struct ghcb *g, unsigned off)
{
	unsigned bit = off / 8;

	g->valid_bitmap[bit / 64] |= (u64)1 << (bit % 64);
}

static inline bool ghcb_offset_valid(const struct ghcb *g, unsigned off)
{
	unsigned bit = off / 8;

	return (g->valid_bitmap[bit / 64] >> (bit % 64)) & 1;
}

/* Start a new request: clear the exit code and the valid bitmap (as Linux does). */
static inline void ghcb_invalidate(struct ghcb *g)
{
	memset(g->save + GHCB_OFF_SW_EXITCODE, 0, 8);
	g->valid_bitmap[0] = 0;
	g->valid_bitmap[1] = 0;
}

/* ghcb_set_X / ghcb_get_X / ghcb_X_is_valid for each qword field. */
#define GHCB_DEFINE_FIELD(name, off)                                            \
	static inline void ghcb_set_##name(struct ghcb *g, u64 v)               \
	{                                                                       \
		memcpy(g->save + (off), &v, sizeof(v));                        \
		ghcb_mark_valid(g, (off));                                      \
	}                                                                       \
	static inline u64 ghcb_get_##name(const struct ghcb *g)                 \
	{                                                                       \
		u64 v;                                                          \
		memcpy(&v, g->save + (off), sizeof(v));                        \
		return v;                                                       \
	}                                                                       \
	static inline bool ghcb_##name##_is_valid(const struct ghcb *g)         \
	{                                                                       \
		return ghcb_offset_valid(g, (off));                             \
	}

GHCB_DEFINE_FIELD(rax, GHCB_OFF_RAX)
GHCB_DEFINE_FIELD(rbx, GHCB_OFF_RBX)
GHCB_DEFINE_FIELD(rcx, GHCB_OFF_RCX)
GHCB_DEFINE_FIELD(rdx, GHCB_OFF_RDX)
GHCB_DEFINE_FIELD(r8, GHCB_OFF_R8)
GHCB_DEFINE_FIELD(sw_exit_code, GHCB_OFF_SW_EXITCODE)
GHCB_DEFINE_FIELD(sw_exit_info_1, GHCB_OFF_SW_EXITINFO1)
GHCB_DEFINE_FIELD(sw_exit_info_2, GHCB_OFF_SW_EXITINFO2)
GHCB_DEFINE_FIELD(sw_scratch, GHCB_OFF_SW_SCRATCH)
GHCB_DEFINE_FIELD(xcr0, GHCB_OFF_XCR0)

/* MSR protocol: GHCBInfo in bits 11:0, GHCBData in bits 63:12. */
#define GHCB_MSR_INFO_MASK 0xFFFull
#define GHCB_MSR_INFO(v) ((v) & GHCB_MSR_INFO_MASK)
#define GHCB_MSR_DATA(v) ((v) >> 12)

#define GHCB_MSR_SEV_INFO_RESP 0x001
#define GHCB_MSR_SEV_INFO_REQ 0x002
#define GHCB_MSR_CPUID_REQ 0x004
#define GHCB_MSR_CPUID_RESP 0x005
#define GHCB_MSR_AP_RESET_HOLD_REQ 0x006
#define GHCB_MSR_AP_RESET_HOLD_RESP 0x007
#define GHCB_MSR_PREF_GPA_REQ 0x010
#define GHCB_MSR_PREF_GPA_RESP 0x011
#define GHCB_MSR_REG_GPA_REQ 0x012
#define GHCB_MSR_REG_GPA_RESP 0x013
#define GHCB_MSR_PSC_REQ 0x014
#define GHCB_MSR_PSC_RESP 0x015
#define GHCB_MSR_RUN_VMPL_REQ 0x016
#define GHCB_MSR_RUN_VMPL_RESP 0x017
#define GHCB_MSR_HV_FEATURES_REQ 0x080
#define GHCB_MSR_HV_FEATURES_RESP 0x081
#define GHCB_MSR_TERM_REQ 0x100

/* SEV info response: 63:48 max protocol, 47:32 min protocol, 31:24 C-bit position. */
#define GHCB_MSR_SEV_INFO(max, min, cbit)                                        \
	(((u64)(max) << 48) | ((u64)(min) << 32) | ((u64)(cbit) << 24) | GHCB_MSR_SEV_INFO_RESP)
#define GHCB_MSR_SEV_INFO_MAX(v) ((u16)((v) >> 48))
#define GHCB_MSR_SEV_INFO_MIN(v) ((u16)((v) >> 32))
#define GHCB_MSR_SEV_INFO_CBIT(v) ((u8)((v) >> 24))

/* CPUID request: 63:32 function, 31:30 register (0 EAX .. 3 EDX). */
#define GHCB_MSR_CPUID(fn, reg) (((u64)(fn) << 32) | ((u64)(reg) << 30) | GHCB_MSR_CPUID_REQ)

/* GHCB registration: GFN in 63:12 of request and (echoed) response. */
#define GHCB_MSR_REG_GPA(gfn) (((u64)(gfn) << 12) | GHCB_MSR_REG_GPA_REQ)

/* Page state change: 51:12 GFN, 55:52 operation; response 63:32 error. */
#define GHCB_MSR_PSC(gfn, op) ((((u64)(op) & 0xF) << 52) | (((u64)(gfn) & 0xFFFFFFFFFFull) << 12) | GHCB_MSR_PSC_REQ)
#define GHCB_MSR_PSC_GFN(v) (((v) >> 12) & 0xFFFFFFFFFFull)
#define GHCB_MSR_PSC_OP(v) (((v) >> 52) & 0xF)

/* Run VMPL: 39:32 target VMPL; response 63:32 error (0 = OK). */
#define GHCB_MSR_RUN_VMPL(vmpl) (((u64)((vmpl) & 0xFF) << 32) | GHCB_MSR_RUN_VMPL_REQ)
#define GHCB_MSR_RUN_VMPL_TARGET(v) ((u8)((v) >> 32))

/* Responses carrying an error in 63:32. */
#define GHCB_MSR_RESP_ERROR(v) ((u32)((v) >> 32))

/* Termination: 15:12 reason set, 23:16 reason code. */
#define GHCB_MSR_TERM(set, code) ((((u64)(set) & 0xF) << 12) | (((u64)(code) & 0xFF) << 16) | GHCB_MSR_TERM_REQ)
#define GHCB_MSR_TERM_SET(v) ((u8)(((v) >> 12) & 0xF))
#define GHCB_MSR_TERM_CODE(v) ((u8)(((v) >> 16) & 0xFF))

/* Hypervisor features (response bits 63:12). */
#define GHCB_HV_FT_SNP BIT(0)
#define GHCB_HV_FT_SNP_AP_CREATION BIT(1)
#define GHCB_HV_FT_SNP_MULTI_VMPL BIT(5)

/* NAE exit codes (SW_EXITCODE). */
#define SVM_EXIT_RDTSC 0x06Eull
#define SVM_EXIT_CPUID 0x072ull
#define SVM_EXIT_IOIO 0x07Bull
#define SVM_EXIT_MSR 0x07Cull
#define SVM_VMGEXIT_PSC 0x80000010ull
#define SVM_VMGEXIT_GUEST_REQUEST 0x80000011ull
#define SVM_VMGEXIT_EXT_GUEST_REQUEST 0x80000012ull
#define SVM_VMGEXIT_AP_CREATION 0x80000013ull
#define SVM_VMGEXIT_SNP_RUN_VMPL 0x80000018ull
#define SVM_VMGEXIT_HV_FEATURES 0x8000FFFDull
#define SVM_VMGEXIT_TERM_REQUEST 0x8000FFFEull
#define SVM_VMGEXIT_UNSUPPORTED 0x8000FFFFull

/* AP creation sub-ops in SW_EXITINFO1 bits 15:0; VMPL at 16; APIC ID at 63:32. */
#define SVM_AP_CREATE_ON_INIT 0
#define SVM_AP_CREATE 1
#define SVM_AP_DESTROY 2
#define SVM_AP_EXITINFO1(op, vmpl, apic) (((u64)(apic) << 32) | ((u64)((vmpl) & 0xF) << 16) | (op))

/* IOIO exit info 1. */
#define IOIO_TYPE_IN BIT(0)
#define IOIO_DATA_8 BIT(4)
#define IOIO_DATA_16 BIT(5)
#define IOIO_DATA_32 BIT(6)
#define IOIO_ADDR_16 BIT(7)
#define IOIO_PORT_SHIFT 16

/* NAE result in SW_EXITINFO1[31:0]; reason in SW_EXITINFO2 when it is 2. */
#define GHCB_NAE_OK 0
#define GHCB_NAE_EXCEPTION 1
#define GHCB_NAE_ERROR 2
#define GHCB_ERR_NOT_REGISTERED 1
#define GHCB_ERR_INVALID_USAGE 2
#define GHCB_ERR_INVALID_SCRATCH_AREA 3
#define GHCB_ERR_MISSING_INPUT 4
#define GHCB_ERR_INVALID_INPUT 5
#define GHCB_ERR_INVALID_EVENT 6

/* Page state change buffer, in the GHCB shared buffer. */
#define PSC_OP_PRIVATE 1
#define PSC_OP_SHARED 2
#define PSC_OP_PSMASH 3
#define PSC_OP_UNSMASH 4

struct psc_hdr {
	u16 cur_entry;
	u16 end_entry;
	u32 reserved;
};
_Static_assert(sizeof(struct psc_hdr) == 8, "PSC header");

#define PSC_ENTRY_CUR_PAGE(e) ((e) & 0xFFFull)
#define PSC_ENTRY_GFN(e) (((e) >> 12) & 0xFFFFFFFFFFull)
#define PSC_ENTRY_OP(e) (((e) >> 52) & 0xF)
#define PSC_ENTRY_2M BIT(56)
#define PSC_ENTRY_RESERVED_MASK (0x7Full << 57)
#define PSC_ENTRY(gfn, op, huge)                                                 \
	((((u64)(gfn) & 0xFFFFFFFFFFull) << 12) | (((u64)(op) & 0xF) << 52) | ((huge) ? PSC_ENTRY_2M : 0))
#define PSC_MAX_ENTRIES 253

/* Termination reason sets/codes the core uses. */
#define TERM_SET_GENERAL 0
#define TERM_GENERAL_REQUEST 0
#define TERM_GHCB_PROTOCOL 1
#define TERM_SET_SVSM 3
#define TERM_SVSM_PANIC 0
#define TERM_SVSM_BOOT 1
#define TERM_SVSM_HEAP 2
/* An exception the SVSM cannot handle in its own code: #VC page-not-validated, #NPF. */
#define TERM_SVSM_FAULT 3

#endif
