/*
 * SNP guest messages and what they carry (AMD pub. 56860, GHCB pub. 56421): the message
 * header, the report and derived-key requests and responses, the ATTESTATION_REPORT, the
 * certificate table of the extended guest request, and the secrets page. Every offset is
 * pinned below; the numbers and their confidence are in shared/spec/snp-svsm-reference.md
 * section 4. emu/psp/psp_abi.c checks these layouts against Debian's Linux UAPI headers
 * (linux/sev-guest.h, linux/psp-sev.h, asm/svm.h) where those define the same thing.
 */
#ifndef SVSM_SNP_GUEST_H
#define SVSM_SNP_GUEST_H

#include <svsm/types.h>

/* --- the message page ------------------------------------------------------------------ */

#define SNP_MSG_PAGE_SIZE 4096u
#define SNP_MSG_HDR_SIZE 0x60u
#define SNP_MSG_MAX_PAYLOAD (SNP_MSG_PAGE_SIZE - SNP_MSG_HDR_SIZE)
#define SNP_MSG_ALGO_AES_256_GCM 1u
#define SNP_MSG_HDR_VERSION 1u
/* The AAD is the header from ALGO to its end; the tag is the first 16 bytes of AUTHTAG. */
#define SNP_MSG_AAD_OFFSET 0x30u
#define SNP_MSG_AAD_SIZE (SNP_MSG_HDR_SIZE - SNP_MSG_AAD_OFFSET)

/* Message types; a response is its request's type + 1. */
#define SNP_MSG_TYPE_INVALID 0u
#define SNP_MSG_CPUID_REQ 1u
#define SNP_MSG_KEY_REQ 3u
#define SNP_MSG_KEY_RSP 4u
#define SNP_MSG_REPORT_REQ 5u
#define SNP_MSG_REPORT_RSP 6u
#define SNP_MSG_TSC_INFO_REQ 17u

#define SNP_VMPCK_COUNT 4u
#define SNP_VMPCK_SIZE 32u

struct snp_msg_hdr {
	u8 authtag[32];
	u64 msg_seqno;
	u8 rsvd1[8];
	u8 algo;
	u8 hdr_version;
	u16 hdr_size;
	u8 msg_type;
	u8 msg_version;
	u16 msg_size;
	u32 rsvd2;
	u8 msg_vmpck;
	u8 rsvd3[35];
} SVSM_PACKED;
_Static_assert(sizeof(struct snp_msg_hdr) == SNP_MSG_HDR_SIZE, "message header");
_Static_assert(offsetof(struct snp_msg_hdr, msg_seqno) == 0x20, "message header");
_Static_assert(offsetof(struct snp_msg_hdr, algo) == 0x30, "message header");
_Static_assert(offsetof(struct snp_msg_hdr, hdr_version) == 0x31, "message header");
_Static_assert(offsetof(struct snp_msg_hdr, hdr_size) == 0x32, "message header");
_Static_assert(offsetof(struct snp_msg_hdr, msg_type) == 0x34, "message header");
_Static_assert(offsetof(struct snp_msg_hdr, msg_version) == 0x35, "message header");
_Static_assert(offsetof(struct snp_msg_hdr, msg_size) == 0x36, "message header");
_Static_assert(offsetof(struct snp_msg_hdr, msg_vmpck) == 0x3C, "message header");

/* Firmware status codes (as in psp-sev.h's SEV_RET_*). */
#define SNP_STATUS_SUCCESS 0x00u
#define SNP_STATUS_INVALID_GUEST_STATE 0x02u
#define SNP_STATUS_INVALID_LEN 0x04u
#define SNP_STATUS_POLICY_FAILURE 0x07u
#define SNP_STATUS_INVALID_ADDRESS 0x09u
#define SNP_STATUS_BAD_SIGNATURE 0x0Au
#define SNP_STATUS_INVALID_COMMAND 0x11u
#define SNP_STATUS_UNSUPPORTED 0x15u
#define SNP_STATUS_INVALID_PARAM 0x16u
#define SNP_STATUS_INVALID_KEY 0x27u

/* The guest-request exits' SW_EXITINFO2: VMM error << 32 | firmware error. */
#define SNP_GREQ_VMM_SHIFT 32
#define SNP_GREQ_VMM_INVALID_LEN 1u
#define SNP_GREQ_VMM_BUSY 2u
#define SNP_GREQ_FW_ERR(exitinfo2) ((u32)(exitinfo2))
#define SNP_GREQ_VMM_ERR(exitinfo2) ((u32)((exitinfo2) >> SNP_GREQ_VMM_SHIFT))

/* --- MSG_REPORT_REQ / MSG_REPORT_RSP ---------------------------------------------------- */

#define SNP_REPORT_DATA_SIZE 64u
#define SNP_REPORT_MSG_VERSION 1u

struct snp_msg_report_req {
	u8 report_data[SNP_REPORT_DATA_SIZE];
	u32 vmpl;
	u32 key_sel; /* bits 1:0: 0 VLEK if installed else VCEK, 1 VCEK, 2 VLEK; 31:2 reserved */
	u8 rsvd[24];
} SVSM_PACKED;
_Static_assert(sizeof(struct snp_msg_report_req) == 0x60, "MSG_REPORT_REQ");
_Static_assert(offsetof(struct snp_msg_report_req, vmpl) == 0x40, "MSG_REPORT_REQ");
_Static_assert(offsetof(struct snp_msg_report_req, key_sel) == 0x44, "MSG_REPORT_REQ");

/* --- ATTESTATION_REPORT (0x4A0 bytes) ----------------------------------------------------- */

#define SNP_REPORT_SIZE 0x4A0u
#define SNP_REPORT_SIGNED_SIZE 0x2A0u
#define SNP_REPORT_SIG_ALGO_ECDSA_P384_SHA384 1u
#define SNP_REPORT_SIG_COMPONENT_SIZE 72u
#define SNP_MEASUREMENT_SIZE 48u
#define SNP_HOST_DATA_SIZE 32u
#define SNP_CHIP_ID_SIZE 64u
/* KEY_INFO (0x048): bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY. */
#define SNP_KEY_INFO_AUTHOR_KEY_EN BIT(0)
#define SNP_KEY_INFO_MASK_CHIP_KEY BIT(1)
#define SNP_KEY_INFO_SIGNING_KEY(v) (((v) >> 2) & 7)
#define SNP_SIGNING_KEY_VCEK 0u
#define SNP_SIGNING_KEY_VLEK 1u
#define SNP_SIGNING_KEY_NONE 7u

struct snp_attestation_report {
	u32 version;
	u32 guest_svn;
	u64 policy;
	u8 family_id[16];
	u8 image_id[16];
	u32 vmpl;
	u32 signature_algo;
	u64 current_tcb;
	u64 platform_info;
	u32 key_info;
	u32 rsvd1;
	u8 report_data[SNP_REPORT_DATA_SIZE];
	u8 measurement[SNP_MEASUREMENT_SIZE];
	u8 host_data[SNP_HOST_DATA_SIZE];
	u8 id_key_digest[48];
	u8 author_key_digest[48];
	u8 report_id[32];
	u8 report_id_ma[32];
	u64 reported_tcb;
	u8 cpuid_fam_id;
	u8 cpuid_mod_id;
	u8 cpuid_step;
	u8 rsvd2[21];
	u8 chip_id[SNP_CHIP_ID_SIZE];
	u64 committed_tcb;
	u8 current_build;
	u8 current_minor;
	u8 current_major;
	u8 rsvd3;
	u8 committed_build;
	u8 committed_minor;
	u8 committed_major;
	u8 rsvd4;
	u64 launch_tcb;
	u64 launch_mit_vector;
	u64 current_mit_vector;
	u8 rsvd5[152];
	/* Signature over bytes 0x000-0x29F: ECDSA P-384 r and s, little-endian, zero-padded. */
	u8 sig_r[SNP_REPORT_SIG_COMPONENT_SIZE];
	u8 sig_s[SNP_REPORT_SIG_COMPONENT_SIZE];
	u8 sig_rsvd[368];
} SVSM_PACKED;
_Static_assert(sizeof(struct snp_attestation_report) == SNP_REPORT_SIZE, "ATTESTATION_REPORT");
_Static_assert(offsetof(struct snp_attestation_report, guest_svn) == 0x004, "report");
_Static_assert(offsetof(struct snp_attestation_report, policy) == 0x008, "report");
_Static_assert(offsetof(struct snp_attestation_report, family_id) == 0x010, "report");
_Static_assert(offsetof(struct snp_attestation_report, image_id) == 0x020, "report");
_Static_assert(offsetof(struct snp_attestation_report, vmpl) == 0x030, "report");
_Static_assert(offsetof(struct snp_attestation_report, signature_algo) == 0x034, "report");
_Static_assert(offsetof(struct snp_attestation_report, current_tcb) == 0x038, "report");
_Static_assert(offsetof(struct snp_attestation_report, platform_info) == 0x040, "report");
_Static_assert(offsetof(struct snp_attestation_report, key_info) == 0x048, "report");
_Static_assert(offsetof(struct snp_attestation_report, report_data) == 0x050, "report");
_Static_assert(offsetof(struct snp_attestation_report, measurement) == 0x090, "report");
_Static_assert(offsetof(struct snp_attestation_report, host_data) == 0x0C0, "report");
_Static_assert(offsetof(struct snp_attestation_report, id_key_digest) == 0x0E0, "report");
_Static_assert(offsetof(struct snp_attestation_report, author_key_digest) == 0x110, "report");
_Static_assert(offsetof(struct snp_attestation_report, report_id) == 0x140, "report");
_Static_assert(offsetof(struct snp_attestation_report, report_id_ma) == 0x160, "report");
_Static_assert(offsetof(struct snp_attestation_report, reported_tcb) == 0x180, "report");
_Static_assert(offsetof(struct snp_attestation_report, cpuid_fam_id) == 0x188, "report");
_Static_assert(offsetof(struct snp_attestation_report, cpuid_mod_id) == 0x189, "report");
_Static_assert(offsetof(struct snp_attestation_report, cpuid_step) == 0x18A, "report");
_Static_assert(offsetof(struct snp_attestation_report, chip_id) == 0x1A0, "report");
_Static_assert(offsetof(struct snp_attestation_report, committed_tcb) == 0x1E0, "report");
_Static_assert(offsetof(struct snp_attestation_report, current_build) == 0x1E8, "report");
_Static_assert(offsetof(struct snp_attestation_report, committed_build) == 0x1EC, "report");
_Static_assert(offsetof(struct snp_attestation_report, launch_tcb) == 0x1F0, "report");
_Static_assert(offsetof(struct snp_attestation_report, launch_mit_vector) == 0x1F8, "report");
_Static_assert(offsetof(struct snp_attestation_report, current_mit_vector) == 0x200, "report");
_Static_assert(offsetof(struct snp_attestation_report, sig_r) == 0x2A0, "report");
_Static_assert(offsetof(struct snp_attestation_report, sig_s) == 0x2E8, "report");
_Static_assert(offsetof(struct snp_attestation_report, sig_rsvd) == 0x330, "report");

struct snp_msg_report_rsp {
	u32 status;
	u32 report_size;
	u8 rsvd[24];
	struct snp_attestation_report report;
} SVSM_PACKED;
_Static_assert(sizeof(struct snp_msg_report_rsp) == 0x4C0, "MSG_REPORT_RSP");
_Static_assert(offsetof(struct snp_msg_report_rsp, report) == 0x20, "MSG_REPORT_RSP");

/* --- MSG_KEY_REQ / MSG_KEY_RSP ------------------------------------------------------------- */

#define SNP_KEY_MSG_VERSION 1u
#define SNP_DERIVED_KEY_SIZE 32u
/* ROOT_KEY_SELECT bit 0: 0 = the chip's VCEK root, 1 = the VM root key (VMRK). */
#define SNP_KEY_ROOT_VMRK BIT(0)
/* GUEST_FIELD_SELECT bits: what of the guest is mixed into the key. */
#define SNP_KEY_FIELD_POLICY BIT(0)
#define SNP_KEY_FIELD_IMAGE_ID BIT(1)
#define SNP_KEY_FIELD_FAMILY_ID BIT(2)
#define SNP_KEY_FIELD_MEASUREMENT BIT(3)
#define SNP_KEY_FIELD_GUEST_SVN BIT(4)
#define SNP_KEY_FIELD_TCB_VERSION BIT(5)
#define SNP_KEY_FIELD_MASK 0x3Full

struct snp_msg_key_req {
	u32 root_key_select;
	u32 rsvd;
	u64 guest_field_select;
	u32 vmpl;
	u32 guest_svn;
	u64 tcb_version;
} SVSM_PACKED;
_Static_assert(sizeof(struct snp_msg_key_req) == 0x20, "MSG_KEY_REQ");
_Static_assert(offsetof(struct snp_msg_key_req, guest_field_select) == 0x08, "MSG_KEY_REQ");
_Static_assert(offsetof(struct snp_msg_key_req, vmpl) == 0x10, "MSG_KEY_REQ");
_Static_assert(offsetof(struct snp_msg_key_req, tcb_version) == 0x18, "MSG_KEY_REQ");

struct snp_msg_key_rsp {
	u32 status;
	u8 rsvd[28];
	u8 key[SNP_DERIVED_KEY_SIZE];
} SVSM_PACKED;
_Static_assert(sizeof(struct snp_msg_key_rsp) == 0x40, "MSG_KEY_RSP");

/* --- certificate table (extended guest request) --------------------------------------------- */

struct snp_cert_entry {
	u8 guid[16];
	u32 offset; /* from the start of the table */
	u32 length;
} SVSM_PACKED;
_Static_assert(sizeof(struct snp_cert_entry) == 24, "certificate table entry");

/* GUIDs in their UEFI byte order (first three groups little-endian). */
#define SNP_GUID_ARK {0xa4, 0x06, 0xb4, 0xc0, 0x03, 0xa8, 0x52, 0x49, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae}
#define SNP_GUID_ASK {0x79, 0xb3, 0xb7, 0x4a, 0xac, 0xbb, 0xe4, 0x4f, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82}
#define SNP_GUID_VCEK {0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd}

/* The SVSM (like Linux) never takes more certificate data than this. */
#define SNP_CERTS_MAX_SIZE 0x4000u

/* --- secrets page (one 4 KiB page written by the PSP at launch) ----------------------------- */

#define SNP_SECRETS_VERSION_OFFSET 0x000
#define SNP_SECRETS_IMIEN_OFFSET 0x004
#define SNP_SECRETS_FMS_OFFSET 0x008
#define SNP_SECRETS_GOSVW_OFFSET 0x010
#define SNP_SECRETS_VMPCK_OFFSET(n) (0x020 + 0x20 * (n))
#define SNP_SECRETS_OS_AREA_OFFSET 0x0A0
#define SNP_SECRETS_VMSA_TWEAK_OFFSET 0x100
#define SNP_SECRETS_SVSM_OFFSET 0x140
#define SNP_SECRETS_TSC_FACTOR_OFFSET 0x160

#endif
