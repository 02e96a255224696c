/*
 * The SVSM attestation protocol (protocol 1, SVSM spec 58019 chapter 7): its call ids and
 * request layouts, the services manifest, the registry of attestable services, and the
 * protocol's set-up at boot. Numbers: shared/spec/snp-svsm-reference.md section 1.7;
 * behaviour and choices: docs/attestation.md.
 */
#ifndef SVSM_ATTEST_H
#define SVSM_ATTEST_H

#include <svsm/core.h>
#include <svsm/types.h>

#define SVSM_ATTEST_SERVICES 0u
#define SVSM_ATTEST_SINGLE_SERVICE 1u
#define SVSM_ATTEST_VERSION_MIN 1u
#define SVSM_ATTEST_VERSION_MAX 1u

/* The only nonce size accepted (what Linux always sends; COCONUT's rule). */
#define SVSM_ATTEST_NONCE_SIZE 64u

/* Request of SVSM_ATTEST_SERVICES (table 11); RCX holds its GPA. */
struct svsm_attest_req {
	u64 report_gpa;
	u32 report_size;
	u32 rsvd1;
	u64 nonce_gpa;
	u16 nonce_size;
	u8 rsvd2[6];
	u64 manifest_gpa;
	u32 manifest_size;
	u32 rsvd3;
	u64 certs_gpa;
	u32 certs_size;
	u32 rsvd4;
} SVSM_PACKED;
_Static_assert(sizeof(struct svsm_attest_req) == 0x40, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, report_size) == 0x08, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, rsvd1) == 0x0C, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, nonce_gpa) == 0x10, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, nonce_size) == 0x18, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, rsvd2) == 0x1A, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, manifest_gpa) == 0x20, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, manifest_size) == 0x28, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, rsvd3) == 0x2C, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, certs_gpa) == 0x30, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, certs_size) == 0x38, "attest request");
_Static_assert(offsetof(struct svsm_attest_req, rsvd4) == 0x3C, "attest request");

/* Request of SVSM_ATTEST_SINGLE_SERVICE (table 13): the above plus the service. */
struct svsm_attest_single_req {
	struct svsm_attest_req base;
	u8 guid[16];
	u32 manifest_version;
	u32 rsvd5;
} SVSM_PACKED;
_Static_assert(sizeof(struct svsm_attest_single_req) == 0x58, "single-service request");
_Static_assert(offsetof(struct svsm_attest_single_req, guid) == 0x40, "single-service request");
_Static_assert(offsetof(struct svsm_attest_single_req, manifest_version) == 0x50, "single-service request");
_Static_assert(offsetof(struct svsm_attest_single_req, rsvd5) == 0x54, "single-service request");

/* Services manifest (table 12): header, one entry per service, then the services' data. */
struct svsm_manifest_hdr {
	u8 guid[16];
	u32 size;  /* the whole manifest */
	u32 count; /* entries */
} SVSM_PACKED;
_Static_assert(sizeof(struct svsm_manifest_hdr) == 24, "manifest header");

struct svsm_manifest_entry {
	u8 guid[16];
	u32 offset; /* of the service's data, from the start of the manifest */
	u32 size;
} SVSM_PACKED;
_Static_assert(sizeof(struct svsm_manifest_entry) == 24, "manifest entry");

/* GUIDs in UEFI byte order. */
#define SVSM_MANIFEST_GUID {0xbb, 0x9e, 0x84, 0x63, 0x92, 0x3d, 0x70, 0x46, 0xa1, 0xff, 0x58, 0xf9, 0xc9, 0x4b, 0x87, 0xbb}
#define SVSM_VTPM_SERVICE_GUID {0xeb, 0xf1, 0x76, 0xc4, 0x23, 0x01, 0xa5, 0x45, 0x96, 0x41, 0xb4, 0xe7, 0xdd, 0xe5, 0xbf, 0xe3}

/* Largest manifest the SVSM builds (SERVICES or SINGLE); larger is INVALID_REQUEST. */
#define SVSM_ATTEST_MANIFEST_MAX 0x4000u
#define SVSM_ATTEST_MAX_SERVICES 8u

/* What a service's manifest callback returns when it has no data to give right now. */
#define ATTEST_MANIFEST_UNAVAILABLE 0xFFFFFFFFu

/*
 * An attestable service.
 *
 * @prepare (optional) does the slow work the service's manifest needs (the vTPM creates
 * its endorsement key in the TPM). The attestation handler runs it before it builds the
 * manifest, with no lock held: not the registry's, not the guest-request
 * channel, so other vCPUs' calls go on while it runs. It is run for every service of an
 * SVSM_ATTEST_SERVICES call (version 0) and for the named service of an
 * SVSM_ATTEST_SINGLE_SERVICE call (the requested version, already checked). Returns 0, or
 * -1 when the manifest cannot be given now: the call then answers INVALID_REQUEST.
 *
 * @manifest writes the service's manifest data of @version into @buf (@size bytes
 * available) and returns its length; a length above @size means "this many bytes are
 * needed" and nothing was written; ATTEST_MANIFEST_UNAVAILABLE means the data is not there
 * (what @prepare made was lost again meanwhile): the call answers INVALID_REQUEST. It runs
 * under the registry's lock: it may only copy what @prepare left (taking at most a leaf
 * lock of its own), never VMGEXIT or run long work, and must return the same bytes for two
 * calls in a row.
 *
 * A registered service is kept by pointer and may be called after it was unregistered
 * (a call that started before): its storage must stay valid, as static storage does.
 */
struct attest_service {
	u8 guid[16];
	const char *name;
	u32 max_manifest_version; /* SINGLE_SERVICE accepts versions 0..max */
	int (*prepare)(const struct attest_service *s, u32 version);
	u32 (*manifest)(const struct attest_service *s, u32 version, u8 *buf, u32 size);
	void *ctx;
};

/*
 * Add @s (kept by pointer) to the registry. Returns 0, or -1 if the pointer or its
 * function is NULL, its GUID is null or already registered, or the registry is full.
 */
int attest_service_register(const struct attest_service *s);
/* Remove the service with @guid; 0, or -1 if there is none. */
int attest_service_unregister(const u8 guid[16]);
/* Forget every service (a fresh boot). */
void attest_services_reset(void);

/*
 * Run the @prepare hooks a manifest will need (@guid NULL: every service's, for
 * SVSM_ATTEST_SERVICES; else that service's for @version), with no lock held while they
 * run: call it holding no lock and without the guest-request channel. Returns
 * SVSM_SUCCESS, UNSUPPORTED_PROTOCOL (no such service), INVALID_PARAMETER (version above
 * the service's) or INVALID_REQUEST (a hook failed: the manifest cannot be given now).
 */
u32 attest_services_prepare(const u8 *guid, u32 version);

/*
 * Build the manifest of SVSM_ATTEST_SERVICES (@guid NULL: the GUID table of every
 * service) or of SVSM_ATTEST_SINGLE_SERVICE (@guid: that service's own data of @version)
 * into @buf (@cap bytes), under the registry's lock. Returns SVSM_SUCCESS with *@size set,
 * or the SVSM error of the call: UNSUPPORTED_PROTOCOL (no such service), INVALID_PARAMETER
 * (version above the service's), INVALID_REQUEST (larger than @cap, or a service's data
 * is unavailable: attest_services_prepare did not run or its result was lost).
 */
u32 attest_manifest_build(const u8 *guid, u32 version, u8 *buf, u32 cap, u32 *size);

/*
 * Set up attestation at boot: the guest-request channel to the PSP with VMPCK0 from the
 * secrets page at @secrets_gpa (an SVSM-owned page), and the protocol's registration.
 * Returns 0, or -1 (then the protocol is not offered; QUERY_PROTOCOL says so).
 */
int attest_protocol_init(u64 secrets_gpa);

/* The protocol's handler (protocol_dispatch calls it through the protocol table). */
u32 attest_protocol_handle(u32 call_id, struct svsm_call *call);

#endif
