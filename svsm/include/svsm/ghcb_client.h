/*
 * The GHCB client shared by every run of the core: the MSR protocol and the GHCB page
 * exits the SVSM issues (page state change, AP creation, run VMPL, IOIO, termination).
 * On hardware the real hypervisor answers; in emu/ the emulated one does. Every answer
 * from the hypervisor is checked: a wrong or partial answer is an error, never trusted.
 */
#ifndef SVSM_GHCB_CLIENT_H
#define SVSM_GHCB_CLIENT_H

#include <svsm/ghcb.h>
#include <svsm/types.h>

/* Errors returned by the client (negative); 0 is success. */
enum ghcb_client_error {
	GHCB_CLIENT_OK = 0,
	GHCB_CLIENT_BAD_RESPONSE = -1, /* wrong response code, data or echo */
	GHCB_CLIENT_HV_ERROR = -2,     /* the hypervisor reported an error */
	GHCB_CLIENT_NO_PROGRESS = -3,  /* page state change stalled or went backwards */
	GHCB_CLIENT_INVALID = -4,      /* bad argument from the caller */
	GHCB_CLIENT_EXCEPTION = -5,    /* the hypervisor asked to inject an exception */
};

/* One VMGEXIT with @request in the GHCB MSR; returns the MSR's value afterwards. */
u64 ghcb_msr_exchange(u64 request);

/* SEV information: supported GHCB protocol range and C-bit position. */
int ghcb_msr_sev_info(u16 *min, u16 *max, u8 *cbit);
/* CPUID through the MSR protocol; @reg 0-3 = EAX..EDX. */
int ghcb_msr_cpuid(u32 fn, unsigned reg, u32 *value);
/* Register the GHCB page at @gpa for this vCPU. */
int ghcb_msr_register(u64 gpa);
/* Page state change of one 4 KiB page (PSC_OP_PRIVATE / PSC_OP_SHARED). */
int ghcb_msr_psc(u64 gpa, unsigned op);
/* Ask the hypervisor to run @vmpl on this vCPU. */
int ghcb_msr_run_vmpl(u8 vmpl);
/* Hypervisor feature bitmap. */
int ghcb_msr_hv_features(u64 *features);
/* Request termination; returns only if the hypervisor ignored it. */
SVSM_NORETURN void ghcb_msr_terminate(u8 reason_set, u8 reason_code);

/* A registered GHCB page of this vCPU: its mapping and GPA. */
struct ghcb_page {
	struct ghcb *ghcb;
	u64 gpa;
};

/*
 * Issue the NAE @exit_code with @info1/@info2 (plus any fields the caller already set
 * after ghcb_invalidate()). Returns 0 on SW_EXITINFO1 = 0, GHCB_CLIENT_EXCEPTION or
 * GHCB_CLIENT_HV_ERROR otherwise; *@hv_reason gets SW_EXITINFO2 when non-NULL.
 */
int ghcb_nae(struct ghcb_page *g, u64 exit_code, u64 info1, u64 info2, u64 *hv_reason);

/*
 * Page state change for @count 4 KiB pages starting at @gpa through the GHCB page
 * (chunked to the shared buffer's capacity). The hypervisor may progress partially;
 * the client re-issues until done and fails if progress stops or goes backwards.
 */
int ghcb_psc(struct ghcb_page *g, u64 gpa, u64 count, unsigned op);

/* SNP AP creation: @op SVM_AP_CREATE/DESTROY for the VMSA at @vmsa_gpa. */
int ghcb_ap_create(struct ghcb_page *g, unsigned op, u8 vmpl, u32 apic_id, u64 vmsa_gpa, u64 sev_features);
/* Run @vmpl on this vCPU (GHCB form). */
int ghcb_run_vmpl(struct ghcb_page *g, u8 vmpl);
/* OUT of @len bytes to @port, one 8-bit IOIO exit per byte (the serial console). */
int ghcb_ioio_write(struct ghcb_page *g, u16 port, const char *data, size_t len);
/* Hypervisor features through the GHCB page. */
int ghcb_hv_features(struct ghcb_page *g, u64 *features);

#endif
