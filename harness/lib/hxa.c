/* Attestation harness helpers (see hxa.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <svsm/svsm_abi.h>

#include "hxa.h"

struct hxa *hxa_boot(const struct hxa_opts *o)
{
	char keys[4096], err[256];
	struct emu_config cfg;
	struct hxa *a = calloc(1, sizeof(*a));

	if (!a) {
		return NULL;
	}
	snprintf(keys, sizeof(keys), "%s/attestation/keys", o && o->fixtures ? o->fixtures : "fixtures");
	struct psp_config pc = {.keys_dir = keys, .deterministic = true, .seed = 5, .no_certs = o && o->no_certs,
				.extra_cert_bytes = o ? o->extra_cert_bytes : 0, .memo_signatures = o ? o->memo_signatures : 0};
	a->p = psp_create(&pc, err, sizeof(err));
	if (!a->p) {
		fprintf(stderr, "hxa_boot: %s\n", err);
		free(a);
		return NULL;
	}
	emu_config_default(&cfg);
	const char *verbose = getenv("HX_CONSOLE");
	cfg.console = verbose && verbose[0] == '1' ? stderr : NULL;
	psp_attach(a->p, &cfg);
	a->h = hx_boot(&cfg);
	if (!a->h || (!(o && o->no_test_service) && attest_test_service_register(a->h->m, NULL, 0) != 0)) {
		fprintf(stderr, "hxa_boot: the machine did not boot\n");
		hxa_shutdown(a);
		return NULL;
	}
	return a;
}

void hxa_shutdown(struct hxa *a)
{
	if (!a) {
		return;
	}
	hx_shutdown(a->h);
	psp_destroy(a->p);
	free(a);
}

void hxa_prepare(struct hxa *a, bool certs)
{
	struct guest_vcpu *gv = guest_vcpu(&a->h->g, 0);

	a->req_gpa = gv->caa_gpa + offsetof(struct svsm_ca, buffer);
	a->nonce_gpa = a->req_gpa + sizeof(struct svsm_attest_single_req);
	a->report_gpa = hx_page(a->h);
	a->manifest_gpa = hx_page(a->h);
	a->certs_gpa = hx_pages(a->h, SNP_CERTS_MAX_SIZE / PAGE_SIZE);
	for (unsigned i = 0; i < sizeof(a->nonce); i++) {
		a->nonce[i] = (u8)(0xA0 + i);
	}
	memset(&a->req, 0, sizeof(a->req));
	a->req.base.report_gpa = a->report_gpa;
	a->req.base.report_size = PAGE_SIZE;
	a->req.base.nonce_gpa = a->nonce_gpa;
	a->req.base.nonce_size = SVSM_ATTEST_NONCE_SIZE;
	a->req.base.manifest_gpa = a->manifest_gpa;
	a->req.base.manifest_size = PAGE_SIZE;
	a->req.base.certs_gpa = certs ? a->certs_gpa : 0;
	a->req.base.certs_size = certs ? SNP_CERTS_MAX_SIZE : 0;
	static const u8 guid[16] = ATTEST_TEST_SERVICE_GUID;
	memcpy(a->req.guid, guid, sizeof(guid));
}

int hxa_write_req(struct hxa *a, bool single)
{
	if (guest_write(&a->h->g, a->nonce_gpa, a->nonce, sizeof(a->nonce)) != 0) {
		return -1;
	}
	return guest_write(&a->h->g, a->req_gpa, &a->req, single ? sizeof(a->req) : sizeof(a->req.base));
}

u64 hxa_call(struct hxa *a, u32 call, struct guest_regs *out)
{
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_ATTEST, call), .rcx = a->req_gpa, .rdx = ~0ull, .r8 = ~0ull};
	u64 rc = hx_call_vcpu(a->h, 0, &r);

	if (out) {
		*out = r;
	}
	return rc;
}

void hxa_report_data(const u8 *nonce, size_t nlen, const u8 *manifest, size_t mlen, u8 out[64])
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned int n = 0;

	if (!m || EVP_DigestInit_ex(m, EVP_sha512(), NULL) != 1 || EVP_DigestUpdate(m, nonce, nlen) != 1 ||
	    EVP_DigestUpdate(m, manifest, mlen) != 1 || EVP_DigestFinal_ex(m, out, &n) != 1) {
		abort();
	}
	EVP_MD_CTX_free(m);
}

void hxa_greq_info(struct hxa *a, struct greq_info *out)
{
	hx_as_svsm_begin(a->h);
	greq_get_info(out);
	hx_as_svsm_end(a->h);
}

bool hxa_vmpck0_wiped(struct hxa *a)
{
	static const u8 zero[SNP_VMPCK_SIZE];

	return !memcmp(emu_mem(a->h->m, a->h->m->cfg.secrets_gpa) + SNP_SECRETS_VMPCK_OFFSET(0), zero, sizeof(zero));
}
