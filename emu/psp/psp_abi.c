/*
 * Compile-time agreement between the core's wire formats (svsm/include/svsm/snp_guest.h,
 * ghcb.h, which cannot include libc or kernel headers) and what Debian's Linux UAPI headers
 * (linux-libc-dev: linux/sev-guest.h, linux/psp-sev.h, asm/svm.h) define for the same
 * things. The emulator itself uses the UAPI definitions where they exist.
 */
#include <stddef.h>

#include <asm/svm.h>
#include <linux/psp-sev.h>
#include <linux/sev-guest.h>

/* Capture the UAPI's exit codes before the core's header defines its own names. */
enum {
	UAPI_GUEST_REQUEST = SVM_VMGEXIT_GUEST_REQUEST,
	UAPI_EXT_GUEST_REQUEST = SVM_VMGEXIT_EXT_GUEST_REQUEST,
	UAPI_AP_CREATION = SVM_VMGEXIT_AP_CREATION,
	UAPI_PSC = SVM_VMGEXIT_PSC,
	UAPI_HV_FEATURES = SVM_VMGEXIT_HV_FEATURES,
	UAPI_TERM_REQUEST = SVM_VMGEXIT_TERM_REQUEST,
	UAPI_EXIT_RDTSC = SVM_EXIT_RDTSC,
};
#undef SVM_VMGEXIT_GUEST_REQUEST
#undef SVM_VMGEXIT_EXT_GUEST_REQUEST
#undef SVM_VMGEXIT_AP_CREATION
#undef SVM_VMGEXIT_PSC
#undef SVM_VMGEXIT_HV_FEATURES
#undef SVM_VMGEXIT_TERM_REQUEST
#undef SVM_EXIT_RDTSC
#undef SVM_EXIT_CPUID
#undef SVM_EXIT_IOIO
#undef SVM_EXIT_MSR
#undef SVM_VMGEXIT_UNSUPPORTED_EVENT

#include <svsm/ghcb.h>
#include <svsm/snp_guest.h>

_Static_assert(UAPI_GUEST_REQUEST == SVM_VMGEXIT_GUEST_REQUEST, "guest request exit code");
_Static_assert(UAPI_EXT_GUEST_REQUEST == SVM_VMGEXIT_EXT_GUEST_REQUEST, "extended guest request exit code");
_Static_assert(UAPI_AP_CREATION == SVM_VMGEXIT_AP_CREATION, "AP creation exit code");
_Static_assert(UAPI_PSC == SVM_VMGEXIT_PSC, "page state change exit code");
_Static_assert(UAPI_HV_FEATURES == SVM_VMGEXIT_HV_FEATURES, "hypervisor features exit code");
_Static_assert(UAPI_TERM_REQUEST == SVM_VMGEXIT_TERM_REQUEST, "termination exit code");
_Static_assert(UAPI_EXIT_RDTSC == SVM_EXIT_RDTSC, "RDTSC exit code");

/* SW_EXITINFO2 of the guest-request exits. */
_Static_assert(SNP_GUEST_VMM_ERR_SHIFT == SNP_GREQ_VMM_SHIFT, "VMM error position");
_Static_assert(SNP_GUEST_VMM_ERR_INVALID_LEN == SNP_GREQ_VMM_INVALID_LEN, "VMM INVALID_LEN");
_Static_assert(SNP_GUEST_VMM_ERR_BUSY == SNP_GREQ_VMM_BUSY, "VMM BUSY");

/* MSG_REPORT_REQ and MSG_KEY_REQ payloads (the UAPI keeps KEY_SEL inside rsvd). */
_Static_assert(sizeof(struct snp_report_req) == sizeof(struct snp_msg_report_req), "MSG_REPORT_REQ size");
_Static_assert(offsetof(struct snp_report_req, user_data) == offsetof(struct snp_msg_report_req, report_data),
	       "REPORT_DATA");
_Static_assert(offsetof(struct snp_report_req, vmpl) == offsetof(struct snp_msg_report_req, vmpl), "VMPL");
_Static_assert(offsetof(struct snp_report_req, rsvd) == offsetof(struct snp_msg_report_req, key_sel), "KEY_SEL");
_Static_assert(sizeof(struct snp_derived_key_req) == sizeof(struct snp_msg_key_req), "MSG_KEY_REQ size");
_Static_assert(offsetof(struct snp_derived_key_req, guest_field_select) ==
		       offsetof(struct snp_msg_key_req, guest_field_select),
	       "GUEST_FIELD_SELECT");
_Static_assert(offsetof(struct snp_derived_key_req, vmpl) == offsetof(struct snp_msg_key_req, vmpl), "VMPL");
_Static_assert(offsetof(struct snp_derived_key_req, guest_svn) == offsetof(struct snp_msg_key_req, guest_svn),
	       "GUEST_SVN");
_Static_assert(offsetof(struct snp_derived_key_req, tcb_version) == offsetof(struct snp_msg_key_req, tcb_version),
	       "TCB_VERSION");
_Static_assert(sizeof(struct snp_derived_key_resp) == sizeof(struct snp_msg_key_rsp), "MSG_KEY_RSP size");
/* The UAPI's report response buffer holds the 0x4C0-byte MSG_REPORT_RSP. */
_Static_assert(sizeof(struct snp_report_resp) >= sizeof(struct snp_msg_report_rsp), "MSG_REPORT_RSP fits");

/* Firmware status codes. */
_Static_assert(SEV_RET_SUCCESS == SNP_STATUS_SUCCESS, "SUCCESS");
_Static_assert(SEV_RET_INVALID_GUEST_STATE == SNP_STATUS_INVALID_GUEST_STATE, "INVALID_GUEST_STATE");
_Static_assert(SEV_RET_INVALID_LEN == SNP_STATUS_INVALID_LEN, "INVALID_LEN");
_Static_assert(SEV_RET_POLICY_FAILURE == SNP_STATUS_POLICY_FAILURE, "POLICY_FAILURE");
_Static_assert(SEV_RET_INVALID_ADDRESS == SNP_STATUS_INVALID_ADDRESS, "INVALID_ADDRESS");
_Static_assert(SEV_RET_BAD_SIGNATURE == SNP_STATUS_BAD_SIGNATURE, "BAD_SIGNATURE");
_Static_assert(SEV_RET_INVALID_COMMAND == SNP_STATUS_INVALID_COMMAND, "INVALID_COMMAND");
_Static_assert(SEV_RET_UNSUPPORTED == SNP_STATUS_UNSUPPORTED, "UNSUPPORTED");
_Static_assert(SEV_RET_INVALID_PARAM == SNP_STATUS_INVALID_PARAM, "INVALID_PARAM");

/* This file only holds checks; one symbol keeps the object non-empty. */
const int psp_abi_checked = 1;
