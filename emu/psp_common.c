/* The PSP models' shared rules (psp_common.h). Freestanding: linked hosted and in the test image. */
#include <svsm/string.h>

#include "psp_common.h"

const char *psp_policy_problem(u64 policy, u32 fw_major, u32 fw_minor, u64 platform_info)
{
	if (!(policy & PSP_POLICY_RSVD_MBO)) {
		return "bit 17 must be set";
	}
	if (policy & PSP_POLICY_RSVD_MBZ) {
		return "bits 63:26 are reserved";
	}
	if (PSP_POLICY_ABI_MAJOR(policy) > fw_major ||
	    (PSP_POLICY_ABI_MAJOR(policy) == fw_major && PSP_POLICY_ABI_MINOR(policy) > fw_minor)) {
		return "the firmware's ABI is older than the policy's minimum";
	}
	if ((platform_info & 1) && !(policy & PSP_POLICY_SMT)) {
		return "SMT is enabled on the platform but the policy does not allow it";
	}
	if (policy & (PSP_POLICY_MEM_AES_256_XTS | PSP_POLICY_RAPL_DIS | PSP_POLICY_CIPHERTEXT_HIDING)) {
		return "AES-256-XTS, RAPL disable and ciphertext hiding are not available on the emulated platform";
	}
	return NULL;
}

bool psp_bytes_zero(const u8 *b, size_t n)
{
	u8 acc = 0;

	for (size_t i = 0; i < n; i++) {
		acc |= b[i];
	}
	return acc == 0;
}

/* CPUID page: count, 12 reserved bytes, then entries of 48 bytes (shared/spec section 2.7). */
struct psp_cpuid_entry {
	u32 eax_in, ecx_in;
	u64 xcr0_in, xss_in;
	u32 regs[4];
	u64 reserved;
};
_Static_assert(sizeof(struct psp_cpuid_entry) == 48, "CPUID entry");
#define PSP_CPUID_MAX_ENTRIES 64

u32 psp_cpuid_check(u8 *page)
{
	u32 count;
	bool bad = false;

	memcpy(&count, page, 4);
	if (count > PSP_CPUID_MAX_ENTRIES || !psp_bytes_zero(page + 4, 12)) {
		return SNP_STATUS_INVALID_PARAM;
	}
	for (u32 i = 0; i < count; i++) {
		struct psp_cpuid_entry e;
		memcpy(&e, page + 16 + i * sizeof(e), sizeof(e));
		for (unsigned r = 0; r < 4; r++) {
			u32 want = emu_hv_cpuid(e.eax_in, r);
			if (e.regs[r] != want) {
				e.regs[r] = want;
				bad = true;
			}
		}
		memcpy(page + 16 + i * sizeof(e), &e, sizeof(e));
	}
	return bad ? SNP_STATUS_INVALID_PARAM : SNP_STATUS_SUCCESS;
}

bool psp_msg_hdr_valid(const struct snp_msg_hdr *h)
{
	return h->algo == SNP_MSG_ALGO_AES_256_GCM && h->hdr_version == SNP_MSG_HDR_VERSION &&
	       h->hdr_size == SNP_MSG_HDR_SIZE && h->msg_vmpck < SNP_VMPCK_COUNT && h->msg_size <= SNP_MSG_MAX_PAYLOAD &&
	       h->msg_version == 1 && !h->rsvd2 && psp_bytes_zero(h->rsvd1, sizeof(h->rsvd1)) &&
	       psp_bytes_zero(h->rsvd3, sizeof(h->rsvd3)) && psp_bytes_zero(h->authtag + 16, sizeof(h->authtag) - 16);
}

bool psp_hv_pages_shared(struct emu_machine *m, u64 gpa, u64 pages)
{
	struct rmp_fault f;

	if (!IS_ALIGNED(gpa, PAGE_SIZE) || pages == 0 || pages > m->cfg.mem_size / PAGE_SIZE ||
	    gpa > m->cfg.mem_size - pages * PAGE_SIZE) {
		return false;
	}
	return rmp_check_access(&m->rmp, RMP_HYPERVISOR, false, gpa, pages * PAGE_SIZE, RMP_ACCESS_WRITE, &f);
}

void psp_hv_write(struct emu_machine *m, u64 gpa, const void *src, u64 len)
{
	emu_mem_will_write(m, gpa, len);
	memcpy(emu_mem(m, gpa), src, len);
}

void psp_hv_nae_error(struct ghcb *g, u64 reason)
{
	ghcb_set_sw_exit_info_1(g, GHCB_NAE_ERROR);
	ghcb_set_sw_exit_info_2(g, reason);
}

bool psp_hv_request_pages(struct emu_machine *m, struct ghcb *g, bool ext, u64 *req_gpa, u64 *resp_gpa)
{
	if (!ghcb_sw_exit_info_1_is_valid(g) || !ghcb_sw_exit_info_2_is_valid(g) ||
	    (ext && (!ghcb_rax_is_valid(g) || !ghcb_rbx_is_valid(g)))) {
		psp_hv_nae_error(g, GHCB_ERR_MISSING_INPUT);
		return false;
	}
	*req_gpa = ghcb_get_sw_exit_info_1(g);
	*resp_gpa = ghcb_get_sw_exit_info_2(g);
	if (!psp_hv_pages_shared(m, *req_gpa, 1) || !psp_hv_pages_shared(m, *resp_gpa, 1) || *req_gpa == *resp_gpa) {
		psp_hv_nae_error(g, GHCB_ERR_INVALID_INPUT);
		return false;
	}
	return true;
}
