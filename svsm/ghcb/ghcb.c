/* The GHCB client: MSR protocol and GHCB page exits, with every hypervisor answer checked. */
#include <svsm/arch.h>
#include <svsm/ghcb_client.h>
#include <svsm/string.h>

/* Write @request to the GHCB MSR, VMGEXIT, and return what the hypervisor left there. */
u64 ghcb_msr_exchange(u64 request)
{
	arch_ghcb_msr_write(request);
	arch_vmgexit();
	return arch_ghcb_msr_read();
}

/* Run one MSR-protocol request, restoring the previous MSR value (a registered GHCB GPA). */
static u64 ghcb_msr_request(u64 request)
{
	u64 saved = arch_ghcb_msr_read();
	u64 resp = ghcb_msr_exchange(request);

	arch_ghcb_msr_write(saved);
	return resp;
}

/* Query the GHCB protocol range and C-bit position. */
int ghcb_msr_sev_info(u16 *min, u16 *max, u8 *cbit)
{
	u64 resp = ghcb_msr_request(GHCB_MSR_SEV_INFO_REQ);

	if (GHCB_MSR_INFO(resp) != GHCB_MSR_SEV_INFO_RESP) {
		return GHCB_CLIENT_BAD_RESPONSE;
	}
	*min = GHCB_MSR_SEV_INFO_MIN(resp);
	*max = GHCB_MSR_SEV_INFO_MAX(resp);
	*cbit = GHCB_MSR_SEV_INFO_CBIT(resp);
	if (*min > *max) {
		return GHCB_CLIENT_BAD_RESPONSE;
	}
	return GHCB_CLIENT_OK;
}

/* CPUID via the MSR protocol (no sub-leaf). */
int ghcb_msr_cpuid(u32 fn, unsigned reg, u32 *value)
{
	if (reg > 3) {
		return GHCB_CLIENT_INVALID;
	}
	u64 resp = ghcb_msr_request(GHCB_MSR_CPUID(fn, reg));
	if (GHCB_MSR_INFO(resp) != GHCB_MSR_CPUID_RESP) {
		return GHCB_CLIENT_BAD_RESPONSE;
	}
	*value = (u32)(resp >> 32);
	return GHCB_CLIENT_OK;
}

/* Register @gpa as this vCPU's GHCB; the response must echo the GFN. */
int ghcb_msr_register(u64 gpa)
{
	if (!IS_ALIGNED(gpa, PAGE_SIZE)) {
		return GHCB_CLIENT_INVALID;
	}
	u64 resp = ghcb_msr_exchange(GHCB_MSR_REG_GPA(gpa >> PAGE_SHIFT));
	if (GHCB_MSR_INFO(resp) != GHCB_MSR_REG_GPA_RESP || GHCB_MSR_DATA(resp) != gpa >> PAGE_SHIFT) {
		return GHCB_CLIENT_BAD_RESPONSE;
	}
	/* From now on the MSR holds the GHCB GPA, as the page protocol expects. */
	arch_ghcb_msr_write(gpa);
	return GHCB_CLIENT_OK;
}

/* Make one 4 KiB page private or shared through the MSR protocol. */
int ghcb_msr_psc(u64 gpa, unsigned op)
{
	if (!IS_ALIGNED(gpa, PAGE_SIZE) || (op != PSC_OP_PRIVATE && op != PSC_OP_SHARED)) {
		return GHCB_CLIENT_INVALID;
	}
	u64 resp = ghcb_msr_request(GHCB_MSR_PSC(gpa >> PAGE_SHIFT, op));
	if (GHCB_MSR_INFO(resp) != GHCB_MSR_PSC_RESP) {
		return GHCB_CLIENT_BAD_RESPONSE;
	}
	if (GHCB_MSR_RESP_ERROR(resp) != 0) {
		return GHCB_CLIENT_HV_ERROR;
	}
	return GHCB_CLIENT_OK;
}

/* Ask the hypervisor to run @vmpl (MSR form). */
int ghcb_msr_run_vmpl(u8 vmpl)
{
	u64 resp = ghcb_msr_request(GHCB_MSR_RUN_VMPL(vmpl));

	if (GHCB_MSR_INFO(resp) != GHCB_MSR_RUN_VMPL_RESP) {
		return GHCB_CLIENT_BAD_RESPONSE;
	}
	if (GHCB_MSR_RESP_ERROR(resp) != 0) {
		return GHCB_CLIENT_HV_ERROR;
	}
	return GHCB_CLIENT_OK;
}

/* Hypervisor feature bitmap (MSR form). */
int ghcb_msr_hv_features(u64 *features)
{
	u64 resp = ghcb_msr_request(GHCB_MSR_HV_FEATURES_REQ);

	if (GHCB_MSR_INFO(resp) != GHCB_MSR_HV_FEATURES_RESP) {
		return GHCB_CLIENT_BAD_RESPONSE;
	}
	*features = GHCB_MSR_DATA(resp);
	return GHCB_CLIENT_OK;
}

/* Ask to be terminated; if the hypervisor returns anyway, stop through the arch layer. */
void ghcb_msr_terminate(u8 reason_set, u8 reason_code)
{
	ghcb_msr_exchange(GHCB_MSR_TERM(reason_set, reason_code));
	arch_terminate(reason_set, reason_code);
}

/* Issue a NAE through the GHCB page and decode SW_EXITINFO1. */
int ghcb_nae(struct ghcb_page *g, u64 exit_code, u64 info1, u64 info2, u64 *hv_reason)
{
	struct ghcb *gh = g->ghcb;

	gh->protocol_version = GHCB_PROTOCOL_MAX;
	gh->usage = GHCB_USAGE_STANDARD;
	ghcb_set_sw_exit_code(gh, exit_code);
	ghcb_set_sw_exit_info_1(gh, info1);
	ghcb_set_sw_exit_info_2(gh, info2);
	arch_ghcb_msr_write(g->gpa);
	arch_vmgexit();

	/* Read the result once; the page is shared and the hypervisor could change it. */
	u64 result = __atomic_load_n((u64 *)(gh->save + GHCB_OFF_SW_EXITINFO1), __ATOMIC_ACQUIRE);
	u64 reason = __atomic_load_n((u64 *)(gh->save + GHCB_OFF_SW_EXITINFO2), __ATOMIC_ACQUIRE);
	if (hv_reason) {
		*hv_reason = reason;
	}
	switch ((u32)result) {
	case GHCB_NAE_OK:
		return GHCB_CLIENT_OK;
	case GHCB_NAE_EXCEPTION:
		return GHCB_CLIENT_EXCEPTION;
	default:
		return GHCB_CLIENT_HV_ERROR;
	}
}

/* Page state change of up to PSC_MAX_ENTRIES pages, re-issued until the hypervisor is done. */
static int ghcb_psc_chunk(struct ghcb_page *g, u64 gpa, u16 count, unsigned op)
{
	struct ghcb *gh = g->ghcb;
	struct psc_hdr hdr = {.cur_entry = 0, .end_entry = (u16)(count - 1), .reserved = 0};
	u64 entries[PSC_MAX_ENTRIES];

	for (u16 i = 0; i < count; i++) {
		entries[i] = PSC_ENTRY((gpa >> PAGE_SHIFT) + i, op, false);
	}
	/* Bounded: every round must advance cur_entry, so at most count + 1 rounds. */
	for (unsigned round = 0; round <= count; round++) {
		memcpy(gh->shared_buffer, &hdr, sizeof(hdr));
		memcpy(gh->shared_buffer + sizeof(hdr), entries, sizeof(u64) * count);
		ghcb_invalidate(gh);
		ghcb_set_sw_scratch(gh, g->gpa + GHCB_SHARED_BUFFER_OFFSET);
		u64 reason = 0;
		int rc = ghcb_nae(g, SVM_VMGEXIT_PSC, 0, 0, &reason);
		if (rc != GHCB_CLIENT_OK || reason != 0) {
			return GHCB_CLIENT_HV_ERROR;
		}
		struct psc_hdr out;
		memcpy(&out, gh->shared_buffer, sizeof(out));
		if (out.end_entry != hdr.end_entry || out.cur_entry < hdr.cur_entry ||
		    out.cur_entry > hdr.end_entry + 1) {
			return GHCB_CLIENT_BAD_RESPONSE;
		}
		if (out.cur_entry > hdr.end_entry) {
			return GHCB_CLIENT_OK;
		}
		if (out.cur_entry == hdr.cur_entry) {
			return GHCB_CLIENT_NO_PROGRESS;
		}
		hdr.cur_entry = out.cur_entry;
	}
	return GHCB_CLIENT_NO_PROGRESS;
}

/* Page state change of @count 4 KiB pages at @gpa through the GHCB page. */
int ghcb_psc(struct ghcb_page *g, u64 gpa, u64 count, unsigned op)
{
	if (!IS_ALIGNED(gpa, PAGE_SIZE) || count == 0 || (op != PSC_OP_PRIVATE && op != PSC_OP_SHARED)) {
		return GHCB_CLIENT_INVALID;
	}
	while (count > 0) {
		u16 n = (u16)MIN(count, (u64)PSC_MAX_ENTRIES);
		int rc = ghcb_psc_chunk(g, gpa, n, op);
		if (rc != GHCB_CLIENT_OK) {
			return rc;
		}
		gpa += (u64)n << PAGE_SHIFT;
		count -= n;
	}
	return GHCB_CLIENT_OK;
}

/* Create or destroy a vCPU context at @vmpl with the VMSA at @vmsa_gpa. */
int ghcb_ap_create(struct ghcb_page *g, unsigned op, u8 vmpl, u32 apic_id, u64 vmsa_gpa, u64 sev_features)
{
	if (op > SVM_AP_DESTROY || vmpl > 3 || !IS_ALIGNED(vmsa_gpa, PAGE_SIZE)) {
		return GHCB_CLIENT_INVALID;
	}
	ghcb_invalidate(g->ghcb);
	if (op != SVM_AP_DESTROY) {
		ghcb_set_rax(g->ghcb, sev_features);
	}
	return ghcb_nae(g, SVM_VMGEXIT_AP_CREATION, SVM_AP_EXITINFO1(op, vmpl, apic_id), vmsa_gpa, NULL);
}

/* Run @vmpl on this vCPU through the GHCB page. */
int ghcb_run_vmpl(struct ghcb_page *g, u8 vmpl)
{
	if (vmpl > 3) {
		return GHCB_CLIENT_INVALID;
	}
	ghcb_invalidate(g->ghcb);
	return ghcb_nae(g, SVM_VMGEXIT_SNP_RUN_VMPL, vmpl, 0, NULL);
}

/* Write @len bytes to I/O port @port, one 8-bit OUT exit per byte. */
int ghcb_ioio_write(struct ghcb_page *g, u16 port, const char *data, size_t len)
{
	u64 info1 = ((u64)port << IOIO_PORT_SHIFT) | IOIO_DATA_8 | IOIO_ADDR_16;

	for (size_t i = 0; i < len; i++) {
		ghcb_invalidate(g->ghcb);
		ghcb_set_rax(g->ghcb, (u8)data[i]);
		int rc = ghcb_nae(g, SVM_EXIT_IOIO, info1, 0, NULL);
		if (rc != GHCB_CLIENT_OK) {
			return rc;
		}
	}
	return GHCB_CLIENT_OK;
}

/* Hypervisor features through the GHCB page (returned in SW_EXITINFO2). */
int ghcb_hv_features(struct ghcb_page *g, u64 *features)
{
	ghcb_invalidate(g->ghcb);
	int rc = ghcb_nae(g, SVM_VMGEXIT_HV_FEATURES, 0, 0, NULL);
	if (rc != GHCB_CLIENT_OK) {
		return rc;
	}
	*features = ghcb_get_sw_exit_info_2(g->ghcb);
	return GHCB_CLIENT_OK;
}
