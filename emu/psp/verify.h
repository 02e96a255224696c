/*
 * The relying party's check of an SVSM attestation (hosted, OpenSSL 3): the certificate
 * chain ARK -> ASK -> VCEK, the report's signature, the VCEK's binding to the report (hwID
 * = CHIP_ID, SPLs = REPORTED_TCB), REPORT_DATA = SHA-512(nonce || manifest), the VMPL and
 * optionally the MEASUREMENT. The checks run in that order and the first failure is named.
 * docs/attestation.md shows the same checks with the openssl command line.
 */
#ifndef EMU_PSP_VERIFY_H
#define EMU_PSP_VERIFY_H

#include <stdio.h>

#include <svsm/snp_guest.h>

struct x509_st;

enum verify_check {
	VERIFY_OK = 0,
	VERIFY_FORMAT,       /* report size, VERSION, SIGNATURE_ALGO, SIGNING_KEY */
	VERIFY_CHAIN,        /* ARK self-signed, ASK by ARK, VCEK by ASK (RSASSA-PSS), VCEK is P-384 */
	VERIFY_SIGNATURE,    /* ECDSA P-384/SHA-384 over 0x000-0x29F, r and s little-endian */
	VERIFY_VCEK_BINDING, /* CHIP_ID = the VCEK's hwID, REPORTED_TCB = its SPLs */
	VERIFY_REPORT_DATA,  /* REPORT_DATA = SHA-512(nonce || manifest) */
	VERIFY_VMPL,         /* the VMPL the report was asked for (the SVSM asks for 0) */
	VERIFY_MEASUREMENT,  /* the expected launch measurement, when given */
	VERIFY_CHECK_COUNT,
};

struct verify_input {
	const u8 *report;
	size_t report_len;
	const u8 *nonce;
	size_t nonce_len;
	const u8 *manifest;
	size_t manifest_len;
	struct x509_st *ark, *ask, *vcek;
	u32 vmpl;
	bool check_measurement;
	u8 measurement[SNP_MEASUREMENT_SIZE];
};

struct verify_result {
	enum verify_check failed;
	char detail[256];
};

/* Run every check in order; 0 if all pass, else -1 with the first failure in *@out. */
int verify_report(const struct verify_input *in, struct verify_result *out);
/* "format", "chain", "signature", "vcek_binding", "report_data", "vmpl", "measurement". */
const char *verify_check_name(enum verify_check c);

/* A PEM certificate from @path, or NULL. */
struct x509_st *verify_load_cert(const char *path);
/*
 * The ARK, ASK and VCEK certificates out of a certificate table (the extended guest
 * request's: GUID, offset, length entries up to a zero entry, DER data). 0 or -1.
 */
int verify_certs_from_table(const u8 *table, size_t len, struct x509_st **ark, struct x509_st **ask,
			    struct x509_st **vcek);

/* The report's fields, as text or as one JSON object. */
void verify_print_report(FILE *f, const struct snp_attestation_report *r, bool json);

#endif
