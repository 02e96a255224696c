/*
 * What the two models of the AMD Secure Processor share: the hosted one (emu/psp/, with
 * OpenSSL) and the freestanding one in the test image (emu/minipsp/). Firmware rules that
 * do not depend on the crypto library: the PAGE_INFO record of the launch digest, the guest
 * policy, the CPUID page check, the guest-message header check; and the hypervisor's side
 * of the guest-request exits (which guest pages it may write). Freestanding.
 */
#ifndef EMU_PSP_COMMON_H
#define EMU_PSP_COMMON_H

#include <svsm/ghcb.h>
#include <svsm/snp_guest.h>
#include <svsm/types.h>

#include "machine.h"

/* PAGE_INFO, the record hashed at every SNP_LAUNCH_UPDATE (shared/spec section 4.6). */
struct psp_page_info {
	u8 digest_cur[SNP_MEASUREMENT_SIZE];
	u8 contents[SNP_MEASUREMENT_SIZE];
	u16 length;
	u8 page_type;
	u8 imi_page;
	u8 reserved;
	u8 vmpl1_perms;
	u8 vmpl2_perms;
	u8 vmpl3_perms;
	u64 gpa;
} SVSM_PACKED;
_Static_assert(sizeof(struct psp_page_info) == 0x70, "PAGE_INFO");
_Static_assert(offsetof(struct psp_page_info, length) == 0x60, "PAGE_INFO");
_Static_assert(offsetof(struct psp_page_info, page_type) == 0x62, "PAGE_INFO");
_Static_assert(offsetof(struct psp_page_info, vmpl1_perms) == 0x65, "PAGE_INFO");
_Static_assert(offsetof(struct psp_page_info, gpa) == 0x68, "PAGE_INFO");

/* Guest policy bits (shared/spec section 4.6, "Guest POLICY"). */
#define PSP_POLICY_ABI_MINOR(p) ((u32)((p) & 0xFF))
#define PSP_POLICY_ABI_MAJOR(p) ((u32)(((p) >> 8) & 0xFF))
#define PSP_POLICY_SMT BIT(16)
#define PSP_POLICY_RSVD_MBO BIT(17)
#define PSP_POLICY_MEM_AES_256_XTS BIT(22)
#define PSP_POLICY_RAPL_DIS BIT(23)
#define PSP_POLICY_CIPHERTEXT_HIDING BIT(24)
#define PSP_POLICY_RSVD_MBZ (~0ull << 26)

/*
 * Why SNP_LAUNCH_START refuses @policy on firmware @fw_major.@fw_minor with
 * @platform_info (bit 0: SMT enabled), or NULL when it accepts it.
 */
const char *psp_policy_problem(u64 policy, u32 fw_major, u32 fw_minor, u64 platform_info);

/*
 * The hypervisor's CPUID page against what the platform reports: SNP_STATUS_SUCCESS, or
 * SNP_STATUS_INVALID_PARAM with every wrong register corrected in place, as the firmware
 * does (emulator choice: every register must match; the platform knows all leaves).
 */
u32 psp_cpuid_check(u8 *page);

/* Are all @n bytes zero (no early exit)? */
bool psp_bytes_zero(const u8 *b, size_t n);

/*
 * A guest message header the firmware takes (the sequence number aside): AES-256-GCM,
 * header version and size, a VMPCK index, a payload that fits, message version 1, and
 * every reserved field zero (emulator choice: anything else is INVALID_PARAM).
 */
bool psp_msg_hdr_valid(const struct snp_msg_hdr *h);

/* @pages shared guest pages at @gpa that the hypervisor may write. */
bool psp_hv_pages_shared(struct emu_machine *m, u64 gpa, u64 pages);
/* The hypervisor writes @len bytes at @gpa (a page it checked with psp_hv_pages_shared). */
void psp_hv_write(struct emu_machine *m, u64 gpa, const void *src, u64 len);
/* The exit fails with a GHCB error (SW_EXITINFO1 = 1, SW_EXITINFO2 = @reason). */
void psp_hv_nae_error(struct ghcb *g, u64 reason);
/*
 * The operands of a guest-request exit (@ext: the extended one) as the hypervisor checks
 * them: the registers it needs are valid, the request and response pages are two distinct
 * shared pages. True with both addresses; false after answering with the GHCB error.
 */
bool psp_hv_request_pages(struct emu_machine *m, struct ghcb *g, bool ext, u64 *req_gpa, u64 *resp_gpa);

#endif
