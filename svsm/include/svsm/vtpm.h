/*
 * The vTPM protocol (2) of the SVSM spec (AMD pub. 58019 rev 1.00, tables 15-17): call
 * ids, the request/response buffer, the platform commands, and the vTPM's service
 * manifest for attestation. Numbers and their confidence are in
 * shared/spec/snp-svsm-reference.md sections 1.7-1.8; docs/vtpm.md says how they are used.
 */
#ifndef SVSM_VTPM_H
#define SVSM_VTPM_H

#include <svsm/types.h>

struct svsm_call;

#define SVSM_VTPM_VERSION_MIN 1u
#define SVSM_VTPM_VERSION_MAX 1u

/* Call ids of protocol 2. */
#define SVSM_VTPM_QUERY 0u
#define SVSM_VTPM_CMD 1u

/*
 * Platform commands, numbered as the TPM simulator's (TpmTcpProtocol.h). The SVSM knows
 * them all and supports SEND_COMMAND only; QUERY reports the supported ones as a bitmap.
 */
#define VTPM_PLATFORM_SIGNAL_POWER_ON 1u
#define VTPM_PLATFORM_SIGNAL_POWER_OFF 2u
#define VTPM_PLATFORM_SIGNAL_PHYS_PRES_ON 3u
#define VTPM_PLATFORM_SIGNAL_PHYS_PRES_OFF 4u
#define VTPM_PLATFORM_SIGNAL_HASH_START 5u
#define VTPM_PLATFORM_SIGNAL_HASH_DATA 6u
#define VTPM_PLATFORM_SIGNAL_HASH_END 7u
#define VTPM_PLATFORM_SEND_COMMAND 8u
#define VTPM_PLATFORM_SIGNAL_CANCEL_ON 9u
#define VTPM_PLATFORM_SIGNAL_CANCEL_OFF 10u
#define VTPM_PLATFORM_SIGNAL_NV_ON 11u
#define VTPM_PLATFORM_SIGNAL_NV_OFF 12u
#define VTPM_PLATFORM_SIGNAL_KEY_CACHE_ON 13u
#define VTPM_PLATFORM_SIGNAL_KEY_CACHE_OFF 14u
#define VTPM_PLATFORM_REMOTE_HANDSHAKE 15u
#define VTPM_PLATFORM_SET_ALTERNATIVE_RESULT 16u
#define VTPM_PLATFORM_SIGNAL_RESET 17u
#define VTPM_PLATFORM_SIGNAL_RESTART 18u
#define VTPM_PLATFORM_SESSION_END 20u
#define VTPM_PLATFORM_STOP 21u
#define VTPM_PLATFORM_GET_COMMAND_RESPONSE_SIZES 25u
#define VTPM_PLATFORM_ACT_GET_SIGNALED 26u
#define VTPM_PLATFORM_TEST_FAILURE_MODE 30u
#define VTPM_PLATFORM_SET_FW_HASH 35u
#define VTPM_PLATFORM_SET_FW_SVN 36u

/* QUERY's RCX: the platform commands SVSM_VTPM_CMD carries out. */
#define VTPM_SUPPORTED_COMMANDS BIT(VTPM_PLATFORM_SEND_COMMAND)

/*
 * The request/response buffer: 4096 bytes at the GPA in RCX, any alignment (it may span
 * two pages). Fields are little-endian and unaligned; the TPM command and response
 * inside are TPM (big-endian) byte streams.
 *   request  +0 u32 platform command, +4 u8 locality, +5 u32 command size, +9 command
 *   response +0 u32 response size, +4 response
 */
#define VTPM_BUFFER_SIZE 4096u
#define VTPM_REQ_CMD_OFFSET 0u
#define VTPM_REQ_LOCALITY_OFFSET 4u
#define VTPM_REQ_SIZE_OFFSET 5u
#define VTPM_REQ_HDR_SIZE 9u
#define VTPM_RSP_HDR_SIZE 4u
#define VTPM_MAX_COMMAND (VTPM_BUFFER_SIZE - VTPM_REQ_HDR_SIZE)  /* 4087 */
#define VTPM_MAX_RESPONSE (VTPM_BUFFER_SIZE - VTPM_RSP_HDR_SIZE) /* 4092 */

/* A TPM 2.0 response starts with tag (2), size (4) and response code (4). */
#define VTPM_TPM_HEADER_SIZE 10u

/* The vTPM service of the attestation protocol: c476f1eb-0123-45a5-9641-b4e7dde5bfe3. */
#define VTPM_SERVICE_GUID_SIZE 16u
#define VTPM_SERVICE_GUID_STR "c476f1eb-0123-45a5-9641-b4e7dde5bfe3"
extern const u8 vtpm_service_guid[VTPM_SERVICE_GUID_SIZE];
#define VTPM_MANIFEST_VERSION 0u

/*
 * Boot: start the TPM engine the build linked (svsm/include/svsm/vtpm_engine.h) and
 * register protocol 2 if there is one. Without an engine (the SNP image links the
 * "absent" one) protocol 2 is not registered: QUERY_PROTOCOL does not list it and its
 * calls answer UNSUPPORTED_PROTOCOL.
 */
void vtpm_init(void);

/* True when protocol 2 is served (an engine started at boot). */
bool vtpm_present(void);

/* Results of vtpm_manifest(). */
enum vtpm_manifest_result {
	VTPM_MANIFEST_OK = 0,
	VTPM_MANIFEST_TOO_SMALL = -1, /* @size < *len; nothing copied */
	VTPM_MANIFEST_NO_TPM = -2,    /* no engine: the service does not exist */
	VTPM_MANIFEST_TPM_ERROR = -3, /* the TPM refused (e.g. no TPM2_Startup yet) or the engine failed */
};

/*
 * The vTPM service manifest, version 0: the marshalled TPMT_PUBLIC (no size prefix) of
 * the endorsement key created from the TCG default RSA-2048 EK template (EK Credential
 * Profile template L-1) in the endorsement hierarchy. The EK is created the first time
 * the manifest is asked for and flushed right after; its public area is kept and given
 * out again until the endorsement seed changes (TPM2_ChangeEPS) or the SVSM reboots.
 * *@len is always set to the manifest's size when it is known. Runs the TPM engine:
 * it takes the vTPM lock (call it holding no other lock). When the vTPM is present it is
 * also registered as an attestation service (attest.h) with this manifest: its prepare
 * hook makes the EK, its manifest callback copies the cached one.
 */
int vtpm_manifest(u8 *buf, u32 size, u32 *len);

/*
 * Deferred engine work (the debounced state write). The platform calls it when it is
 * idle; @final = true when the SVSM is about to stop (everything is written). Returns 0,
 * or -1 if the engine could not write its state. Takes the vTPM lock (call it holding
 * no other lock).
 */
int vtpm_idle(bool final);

/* A fresh boot or a terminated request: the vTPM lock is free. */
void vtpm_lock_reset(void);

/* The protocol handler (registered by vtpm_init). */
u32 vtpm_protocol_handle(u32 call_id, struct svsm_call *call);

#endif
