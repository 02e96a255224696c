/*
 * The vTPM protocol (2): SVSM_VTPM_QUERY and SVSM_VTPM_CMD over the TPM engine the build
 * linked (svsm/include/svsm/vtpm_engine.h), and the vTPM's attestation service (its
 * manifest is the EK's public area).
 *
 * Locking. The engine is one TPM shared by every vCPU. vtpm_lock serialises it and the
 * manifest's scratch buffer. A command is checked and copied in with no lock held, the
 * TPM runs under vtpm_lock, and the response is written back with no lock held: TPM work
 * never holds up another vCPU's core calls. Nothing runs under vtpm_lock that logs or
 * exits to the hypervisor (the console goes through GHCB IOIO), so it is never held
 * across a VMGEXIT. Each command has its own buffer (a page from the allocator), so vCPUs
 * share no scratch memory outside vtpm_lock.
 *
 * The EK cache (vtpm.ek*) has a leaf lock of its own, vtpm_ek_lock, held only to copy or
 * clear it: taken under vtpm_lock (the EK was made or TPM2_ChangeEPS succeeded) and under
 * the attestation registry's lock (the service's manifest callback copies the cached EK),
 * never around anything else. Lock order: vtpm_lock -> vtpm_ek_lock and registry ->
 * vtpm_ek_lock. The EK itself is made by the service's prepare hook, which the
 * attestation handler runs with no lock held (attest.h): slow TPM work never runs under
 * the registry's lock or the guest-request channel.
 */
#include <svsm/arch.h>
#include <svsm/attest.h>
#include <svsm/core.h>
#include <svsm/guestmem.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/spinlock.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>
#include <svsm/vtpm.h>
#include <svsm/vtpm_engine.h>

/* c476f1eb-0123-45a5-9641-b4e7dde5bfe3, first three groups little-endian (UEFI order). */
const u8 vtpm_service_guid[VTPM_SERVICE_GUID_SIZE] = SVSM_VTPM_SERVICE_GUID;

/* TPM 2.0 numbers the SVSM itself uses (TPM 2.0 Library, part 2). */
#define TPM_ST_NO_SESSIONS 0x8001u
#define TPM_ST_SESSIONS 0x8002u
#define TPM_CC_CREATE_PRIMARY 0x131u
#define TPM_CC_FLUSH_CONTEXT 0x165u
#define TPM_CC_CHANGE_EPS 0x124u
#define TPM_RH_ENDORSEMENT 0x4000000Bu
#define TPM_RS_PW 0x40000009u
#define TPM_ALG_RSA 0x0001u

/* Largest EK public area kept (an RSA-2048 TPMT_PUBLIC is 314 bytes). */
#define VTPM_EK_MAX 1024u

static SVSM_STATE struct spinlock vtpm_lock = SPINLOCK_INIT;
static SVSM_STATE struct spinlock vtpm_ek_lock = SPINLOCK_INIT;
static SVSM_STATE struct {
	bool present;  /* protocol 2 registered; set once at boot */
	bool ek_valid; /* ek[] holds the current EK's public area (vtpm_ek_lock) */
	u32 ek_len;    /* (vtpm_ek_lock) */
	u8 ek[VTPM_EK_MAX]; /* (vtpm_ek_lock) */
} vtpm;
/* CreatePrimary/FlushContext of the manifest (under vtpm_lock). */
static SVSM_SCRATCH u8 vtpm_scratch[VTPM_BUFFER_SIZE];

static int vtpm_service_prepare(const struct attest_service *s, u32 version);
static u32 vtpm_service_manifest(const struct attest_service *s, u32 version, u8 *buf, u32 size);

/* The vTPM in the attestation protocol's services manifest (registered when present). */
static const struct attest_service vtpm_attest_service = {
	.guid = SVSM_VTPM_SERVICE_GUID,
	.name = "vTPM",
	.max_manifest_version = VTPM_MANIFEST_VERSION,
	.prepare = vtpm_service_prepare,
	.manifest = vtpm_service_manifest,
};
_Static_assert(sizeof(vtpm_attest_service.guid) == VTPM_SERVICE_GUID_SIZE, "vTPM service GUID");

static const struct svsm_protocol vtpm_protocol = {
	.id = SVSM_PROTOCOL_VTPM,
	.min_version = SVSM_VTPM_VERSION_MIN,
	.max_version = SVSM_VTPM_VERSION_MAX,
	.name = "vtpm",
	.handle = vtpm_protocol_handle,
};

/*
 * The TCG EK Credential Profile's default RSA-2048 template (L-1) as a marshalled
 * TPMT_PUBLIC: RSA, SHA-256 name; fixedTPM, fixedParent, sensitiveDataOrigin,
 * adminWithPolicy, restricted, decrypt; the PolicySecret(TPM_RH_ENDORSEMENT) digest;
 * AES-128-CFB, no scheme, 2048 bits, default exponent; a 256-byte zero unique.
 */
#define EK_TEMPLATE_SIZE 314u
#define EK_TEMPLATE_HEAD 58u
static const u8 ek_template_head[EK_TEMPLATE_HEAD] = {
	0x00, 0x01,             /* type: RSA */
	0x00, 0x0B,             /* nameAlg: SHA-256 */
	0x00, 0x03, 0x00, 0xB2, /* objectAttributes */
	0x00, 0x20,             /* authPolicy */
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24,
	0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA,
	0x00, 0x06, 0x00, 0x80, 0x00, 0x43, /* symmetric: AES, 128, CFB */
	0x00, 0x10,                         /* scheme: NULL */
	0x08, 0x00,                         /* keyBits: 2048 */
	0x00, 0x00, 0x00, 0x00,             /* exponent: default */
	0x01, 0x00,                         /* unique: 256 bytes (zeros follow) */
};
_Static_assert(EK_TEMPLATE_HEAD + 256 == EK_TEMPLATE_SIZE, "EK template L-1 is 314 bytes");

static u32 vtpm_get_le32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static void vtpm_put_le32(u8 *p, u32 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
	p[2] = (u8)(v >> 16);
	p[3] = (u8)(v >> 24);
}

static u32 vtpm_get_be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | (u32)p[3];
}

static u16 vtpm_get_be16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static u8 *vtpm_put_be16(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
	return p + 2;
}

static u8 *vtpm_put_be32(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 24);
	p[1] = (u8)(v >> 16);
	p[2] = (u8)(v >> 8);
	p[3] = (u8)v;
	return p + 4;
}

/* True for the platform-command numbers of the TPM simulator protocol. */
static bool vtpm_platform_known(u32 cmd)
{
	return (cmd >= VTPM_PLATFORM_SIGNAL_POWER_ON && cmd <= VTPM_PLATFORM_SIGNAL_RESTART) ||
	       cmd == VTPM_PLATFORM_SESSION_END || cmd == VTPM_PLATFORM_STOP ||
	       cmd == VTPM_PLATFORM_GET_COMMAND_RESPONSE_SIZES || cmd == VTPM_PLATFORM_ACT_GET_SIGNALED ||
	       cmd == VTPM_PLATFORM_TEST_FAILURE_MODE || cmd == VTPM_PLATFORM_SET_FW_HASH ||
	       cmd == VTPM_PLATFORM_SET_FW_SVN;
}

/* One TPM command on its way through the engine. */
struct vtpm_work {
	u8 *buf;
	u32 cmd_len;
	u32 rsp_len;
	enum vtpm_engine_result result;
};

/* A successful TPM2_ChangeEPS changes the EK: forget the cached one (under vtpm_lock). */
static void vtpm_note_command(u32 cc, const u8 *rsp, u32 rsp_len)
{
	if (cc == TPM_CC_CHANGE_EPS && rsp_len >= VTPM_TPM_HEADER_SIZE && vtpm_get_be32(rsp + 6) == 0) {
		spin_lock(&vtpm_ek_lock);
		vtpm.ek_valid = false;
		spin_unlock(&vtpm_ek_lock);
	}
}

/* Run one command in the engine, under vtpm_lock. */
static void vtpm_cmd_run(struct vtpm_work *w)
{
	u32 cc = w->cmd_len >= VTPM_TPM_HEADER_SIZE ? vtpm_get_be32(w->buf + 6) : 0;

	spin_lock(&vtpm_lock);
	w->result = vtpm_engine_execute(w->buf, w->cmd_len, VTPM_BUFFER_SIZE, &w->rsp_len);
	if (w->result == VTPM_ENGINE_OK) {
		vtpm_note_command(cc, w->buf, w->rsp_len);
	}
	spin_unlock(&vtpm_lock);
}

/*
 * SVSM_VTPM_CMD. The whole 4096-byte buffer must be the caller's to read and write
 * before anything else happens: the response may fill it, and once the TPM has run the
 * command there is no way back.
 */
static u32 vtpm_cmd(struct svsm_call *c)
{
	u64 gpa = c->rcx;
	u8 hdr[VTPM_REQ_HDR_SIZE];

	u32 rc = guestmem_check(c->caller_vmpl, gpa, VTPM_BUFFER_SIZE, GUESTMEM_RW);
	if (rc != SVSM_SUCCESS) {
		return rc;
	}
	/* The SVSM writes calling-area headers itself at the end of every call. */
	if (vcpu_range_has_caa_header(gpa, VTPM_BUFFER_SIZE)) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	/* The whole buffer was checked for the caller just now: the copies in need no second check. */
	if (arch_guest_read(gpa, hdr, sizeof(hdr)) != 0) {
		return SVSM_ERR_INVALID_ADDRESS;
	}
	u32 platform_cmd = vtpm_get_le32(hdr + VTPM_REQ_CMD_OFFSET);
	if (!vtpm_platform_known(platform_cmd)) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	if (!(VTPM_SUPPORTED_COMMANDS & BIT(platform_cmd))) {
		return SVSM_ERR_UNSUPPORTED_CALL;
	}
	u8 locality = hdr[VTPM_REQ_LOCALITY_OFFSET];
	u32 size = vtpm_get_le32(hdr + VTPM_REQ_SIZE_OFFSET);
	if (locality != 0 || size > VTPM_MAX_COMMAND) {
		return SVSM_ERR_INVALID_PARAMETER;
	}
	u8 *buf = page_alloc(0);
	if (!buf) {
		return SVSM_RESULT_NEED_MEMORY | 1;
	}
	if (size > 0 && arch_guest_read(gpa + VTPM_REQ_HDR_SIZE, buf, size) != 0) {
		page_free(buf, 0);
		return SVSM_ERR_INVALID_ADDRESS;
	}

	struct vtpm_work w = {.buf = buf, .cmd_len = size};
	vtpm_cmd_run(&w);

	if (w.result != VTPM_ENGINE_OK || w.rsp_len < VTPM_TPM_HEADER_SIZE || w.rsp_len > VTPM_MAX_RESPONSE) {
		page_free(buf, 0);
		return SVSM_ERR_INVALID_REQUEST;
	}
	memmove(buf + VTPM_RSP_HDR_SIZE, buf, w.rsp_len);
	vtpm_put_le32(buf, w.rsp_len);
	/*
	 * The rights are checked again: the caller may have given the buffer away while the
	 * TPM ran. The command has run then, and its response is lost.
	 */
	rc = guestmem_write(c->caller_vmpl, gpa, buf, VTPM_RSP_HDR_SIZE + w.rsp_len);
	page_free(buf, 0);
	return rc;
}

/* See vtpm.h. */
u32 vtpm_protocol_handle(u32 call_id, struct svsm_call *call)
{
	switch (call_id) {
	case SVSM_VTPM_QUERY:
		call->rcx = VTPM_SUPPORTED_COMMANDS;
		call->rdx = 0;
		return SVSM_SUCCESS;
	case SVSM_VTPM_CMD:
		return vtpm_cmd(call);
	default:
		return SVSM_ERR_UNSUPPORTED_CALL;
	}
}

/* --- the EK and the service manifest (under vtpm_lock) -------------------------------- */

/* TPM2_CreatePrimary(TPM_RH_ENDORSEMENT, empty password, template L-1) into @b; its size. */
static u32 vtpm_build_create_ek(u8 *b)
{
	u8 *p = b;

	p = vtpm_put_be16(p, TPM_ST_SESSIONS);
	p += 4; /* size, below */
	p = vtpm_put_be32(p, TPM_CC_CREATE_PRIMARY);
	p = vtpm_put_be32(p, TPM_RH_ENDORSEMENT);
	p = vtpm_put_be32(p, 9); /* authorization area: one password session */
	p = vtpm_put_be32(p, TPM_RS_PW);
	p = vtpm_put_be16(p, 0); /* nonce */
	*p++ = 0x01;             /* continueSession */
	p = vtpm_put_be16(p, 0); /* empty password */
	p = vtpm_put_be16(p, 4); /* inSensitive: empty userAuth and data */
	p = vtpm_put_be16(p, 0);
	p = vtpm_put_be16(p, 0);
	p = vtpm_put_be16(p, EK_TEMPLATE_SIZE);
	memcpy(p, ek_template_head, EK_TEMPLATE_HEAD);
	p += EK_TEMPLATE_HEAD;
	memset(p, 0, EK_TEMPLATE_SIZE - EK_TEMPLATE_HEAD);
	p += EK_TEMPLATE_SIZE - EK_TEMPLATE_HEAD;
	p = vtpm_put_be16(p, 0); /* outsideInfo */
	p = vtpm_put_be32(p, 0); /* creationPCR: no selection */
	u32 len = (u32)(p - b);
	vtpm_put_be32(b + 2, len);
	return len;
}

/* Run the command in vtpm_scratch; the TPM response code, or ~0 if there is no valid response. */
static u32 vtpm_run_own(u32 cmd_len, u32 *rsp_len)
{
	if (vtpm_engine_execute(vtpm_scratch, cmd_len, sizeof(vtpm_scratch), rsp_len) != VTPM_ENGINE_OK ||
	    *rsp_len < VTPM_TPM_HEADER_SIZE || *rsp_len > sizeof(vtpm_scratch) ||
	    vtpm_get_be32(vtpm_scratch + 2) != *rsp_len) {
		return ~0u;
	}
	return vtpm_get_be32(vtpm_scratch + 6);
}

/* Create the EK, keep its public area, flush it (under vtpm_lock). */
static int vtpm_ek_create(void)
{
	u32 rsp_len = 0;

	if (vtpm_run_own(vtpm_build_create_ek(vtpm_scratch), &rsp_len) != 0) {
		return VTPM_MANIFEST_TPM_ERROR;
	}
	/* tag, size, rc, objectHandle, parameterSize, then outPublic (u16 size, TPMT_PUBLIC). */
	if (rsp_len < 20 || vtpm_get_be16(vtpm_scratch) != TPM_ST_SESSIONS) {
		return VTPM_MANIFEST_TPM_ERROR;
	}
	u32 handle = vtpm_get_be32(vtpm_scratch + 10);
	u32 pub_len = vtpm_get_be16(vtpm_scratch + 18);
	int result = VTPM_MANIFEST_OK;
	spin_lock(&vtpm_ek_lock);
	if (pub_len < 2 || pub_len > VTPM_EK_MAX || 20 + pub_len > rsp_len ||
	    vtpm_get_be16(vtpm_scratch + 20) != TPM_ALG_RSA) {
		result = VTPM_MANIFEST_TPM_ERROR;
	} else {
		memcpy(vtpm.ek, vtpm_scratch + 20, pub_len);
		vtpm.ek_len = pub_len;
	}
	vtpm.ek_valid = false;
	spin_unlock(&vtpm_ek_lock);

	u8 *p = vtpm_put_be16(vtpm_scratch, TPM_ST_NO_SESSIONS);
	p = vtpm_put_be32(p, 14);
	p = vtpm_put_be32(p, TPM_CC_FLUSH_CONTEXT);
	vtpm_put_be32(p, handle);
	if (vtpm_run_own(14, &rsp_len) != 0) {
		result = VTPM_MANIFEST_TPM_ERROR;
	}
	if (result == VTPM_MANIFEST_OK) {
		spin_lock(&vtpm_ek_lock);
		vtpm.ek_valid = true;
		spin_unlock(&vtpm_ek_lock);
	}
	return result;
}

/* Make the EK unless it is known (runs the TPM: no lock but vtpm_lock may be held). */
static int vtpm_ek_ensure(void)
{
	if (!vtpm.present) {
		return VTPM_MANIFEST_NO_TPM;
	}
	spin_lock(&vtpm_lock);
	spin_lock(&vtpm_ek_lock);
	bool known = vtpm.ek_valid;
	spin_unlock(&vtpm_ek_lock);
	int result = known ? VTPM_MANIFEST_OK : vtpm_ek_create();
	spin_unlock(&vtpm_lock);
	return result;
}

/*
 * Copy the cached EK into @buf if it fits; its length, or ATTEST_MANIFEST_UNAVAILABLE when
 * there is none (never made, or forgotten by TPM2_ChangeEPS since).
 */
static u32 vtpm_ek_copy(u8 *buf, u32 size)
{
	u32 len = ATTEST_MANIFEST_UNAVAILABLE;

	spin_lock(&vtpm_ek_lock);
	if (vtpm.ek_valid) {
		len = vtpm.ek_len;
		if (buf && len <= size) {
			memcpy(buf, vtpm.ek, len);
		}
	}
	spin_unlock(&vtpm_ek_lock);
	return len;
}

/* See vtpm.h. */
int vtpm_manifest(u8 *buf, u32 size, u32 *len)
{
	int result = vtpm_ek_ensure();
	if (result != VTPM_MANIFEST_OK) {
		return result;
	}
	u32 n = vtpm_ek_copy(buf, size);
	if (n == ATTEST_MANIFEST_UNAVAILABLE) {
		/* TPM2_ChangeEPS from another vCPU in between: the EK asked for is gone. */
		return VTPM_MANIFEST_TPM_ERROR;
	}
	*len = n;
	return n <= size && buf ? VTPM_MANIFEST_OK : VTPM_MANIFEST_TOO_SMALL;
}

/*
 * The attestation service. prepare: make the EK (the TPM's work, with no lock of the
 * attestation protocol or the core held; attest.h). It fails while the TPM cannot create
 * it: before the guest's TPM2_Startup, or when the guest set an endorsement password,
 * disabled the endorsement hierarchy or filled the object slots. The call then answers
 * INVALID_REQUEST, for SERVICES as for SINGLE_SERVICE: the SVSM never hands out a manifest
 * that leaves out, or empties, the entry of a service that exists (docs/vtpm.md).
 */
static int vtpm_service_prepare(const struct attest_service *s, u32 version)
{
	(void)s;
	(void)version; /* only version 0 exists (max_manifest_version) */
	return vtpm_ek_ensure() == VTPM_MANIFEST_OK ? 0 : -1;
}

/* manifest: the cached EK's TPMT_PUBLIC, copied under the leaf lock only. */
static u32 vtpm_service_manifest(const struct attest_service *s, u32 version, u8 *buf, u32 size)
{
	(void)s;
	(void)version;
	return vtpm_ek_copy(buf, size);
}

/* --- boot and idle ---------------------------------------------------------------------- */

/* See vtpm.h. */
bool vtpm_present(void)
{
	return vtpm.present;
}

/* See vtpm.h. */
void vtpm_lock_reset(void)
{
	vtpm_lock = (struct spinlock)SPINLOCK_INIT;
	vtpm_ek_lock = (struct spinlock)SPINLOCK_INIT;
}

/* See vtpm.h. */
void vtpm_init(void)
{
	vtpm_lock_reset();
	memset(&vtpm, 0, sizeof(vtpm));

	enum vtpm_engine_result r = vtpm_engine_start();
	if (r == VTPM_ENGINE_ABSENT) {
		log_info("vTPM: this build has no TPM engine; protocol 2 is not offered");
		return;
	}
	if (r != VTPM_ENGINE_OK) {
		log_error("vTPM: the TPM engine did not start; protocol 2 is not offered");
		return;
	}
	if (protocol_register(&vtpm_protocol) != 0) {
		log_error("vTPM: cannot register protocol 2");
		return;
	}
	vtpm.present = true;
	/* The boot reset the registry (svsm_boot): nothing of an earlier boot is left in it. */
	if (attest_service_register(&vtpm_attest_service) != 0) {
		log_error("vTPM: cannot register the vTPM service for attestation");
	}
	log_info("vTPM: protocol 2 ready (TPM 2.0, waiting for TPM2_Startup from the guest)");
}

/* See vtpm.h. */
int vtpm_idle(bool final)
{
	if (!vtpm.present) {
		return 0;
	}
	spin_lock(&vtpm_lock);
	enum vtpm_engine_result r = vtpm_engine_idle(final);
	spin_unlock(&vtpm_lock);
	return r == VTPM_ENGINE_OK ? 0 : -1;
}
