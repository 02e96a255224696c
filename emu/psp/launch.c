/*
 * The launch digest of the emulated PSP: SNP_LAUNCH_START sets it to zero, every 4 KiB
 * page of SNP_LAUNCH_UPDATE replaces it with SHA-384 of the 112-byte PAGE_INFO record that
 * starts with the old digest, SNP_LAUNCH_FINISH freezes it as MEASUREMENT
 * (shared/spec/snp-svsm-reference.md section 4.6). Also the guest policy check and the
 * launch log that lets another tool recompute the digest.
 */
#include <stdlib.h>
#include <string.h>

#include <linux/psp-sev.h>
#include <openssl/evp.h>

#include "psp.h"
#include "psp_common.h"

const char *psp_policy_check(u64 policy)
{
	return psp_policy_problem(policy, PSP_FW_MAJOR, PSP_FW_MINOR, PSP_PLATFORM_INFO);
}

void psp_launch_init(struct psp_launch *l, bool keep_log)
{
	memset(l, 0, sizeof(*l));
	l->keep_log = keep_log;
}

void psp_launch_free(struct psp_launch *l)
{
	free(l->log);
	l->log = NULL;
	l->log_len = l->log_cap = 0;
}

u32 psp_launch_start(struct psp_launch *l, u64 policy)
{
	if (l->state != PSP_LAUNCH_IDLE) {
		return SEV_RET_INVALID_GUEST_STATE;
	}
	if (psp_policy_check(policy)) {
		return SEV_RET_POLICY_FAILURE;
	}
	l->policy = policy;
	memset(l->ld, 0, sizeof(l->ld));
	l->state = PSP_LAUNCH_STARTED;
	return SEV_RET_SUCCESS;
}

static void psp_sha384(const void *data, size_t len, u8 out[PSP_LAUNCH_DIGEST_SIZE])
{
	unsigned int n = 0;

	if (!EVP_Digest(data, len, out, &n, EVP_sha384(), NULL) || n != PSP_LAUNCH_DIGEST_SIZE) {
		/* OpenSSL without SHA-384 cannot run this emulator at all. */
		abort();
	}
}

u32 psp_launch_measure(struct psp_launch *l, const struct emu_launch_page *p)
{
	struct psp_page_info info;

	if (l->state != PSP_LAUNCH_STARTED) {
		return SEV_RET_INVALID_GUEST_STATE;
	}
	if (p->type < EMU_PAGE_NORMAL || p->type > EMU_PAGE_CPUID || !IS_ALIGNED(p->gpa, PAGE_SIZE) ||
	    p->gpa >= (1ull << 52)) {
		return SEV_RET_INVALID_PARAM;
	}
	memset(&info, 0, sizeof(info));
	memcpy(info.digest_cur, l->ld, sizeof(l->ld));
	if (p->type == EMU_PAGE_NORMAL || p->type == EMU_PAGE_VMSA) {
		if (!p->contents) {
			return SEV_RET_INVALID_PARAM;
		}
		psp_sha384(p->contents, PAGE_SIZE, info.contents);
	}
	info.length = sizeof(info);
	info.page_type = p->type;
	info.imi_page = 0;
	info.vmpl1_perms = p->perms[0];
	info.vmpl2_perms = p->perms[1];
	info.vmpl3_perms = p->perms[2];
	info.gpa = p->gpa;
	psp_sha384(&info, sizeof(info), l->ld);
	l->pages++;
	if (l->keep_log) {
		if (l->log_len == l->log_cap) {
			size_t cap = l->log_cap ? 2 * l->log_cap : 1024;
			struct psp_launch_entry *n = realloc(l->log, cap * sizeof(*n));
			if (!n) {
				return SEV_RET_RESOURCE_LIMIT;
			}
			l->log = n;
			l->log_cap = cap;
		}
		struct psp_launch_entry *e = &l->log[l->log_len++];
		e->gpa = p->gpa;
		e->type = p->type;
		memcpy(e->perms, p->perms, sizeof(e->perms));
		memcpy(e->contents, info.contents, sizeof(e->contents));
	}
	return SEV_RET_SUCCESS;
}

u32 psp_launch_finish(struct psp_launch *l)
{
	if (l->state != PSP_LAUNCH_STARTED) {
		return SEV_RET_INVALID_GUEST_STATE;
	}
	l->state = PSP_LAUNCH_FINISHED;
	return SEV_RET_SUCCESS;
}

static const char *const psp_page_type_names[] = {
	[EMU_PAGE_NORMAL] = "NORMAL", [EMU_PAGE_VMSA] = "VMSA",       [EMU_PAGE_ZERO] = "ZERO",
	[EMU_PAGE_UNMEASURED] = "UNMEASURED", [EMU_PAGE_SECRETS] = "SECRETS", [EMU_PAGE_CPUID] = "CPUID",
};

static void psp_hex(FILE *f, const u8 *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%02x", p[i]);
	}
}

int psp_launch_write_log(const struct psp_launch *l, FILE *f)
{
	fprintf(f, "{\n  \"format\": \"svsm-emu-launch-log/1\",\n  \"policy\": \"0x%llx\",\n  \"pages\": [\n",
		(unsigned long long)l->policy);
	for (size_t i = 0; i < l->log_len; i++) {
		const struct psp_launch_entry *e = &l->log[i];
		fprintf(f, "    {\"gpa\": \"0x%llx\", \"type\": \"%s\", \"page_type\": %u, \"vmpl_perms\": [%u, %u, %u], \"contents\": \"",
			(unsigned long long)e->gpa, psp_page_type_names[e->type], e->type, e->perms[0], e->perms[1],
			e->perms[2]);
		psp_hex(f, e->contents, sizeof(e->contents));
		fprintf(f, "\"}%s\n", i + 1 < l->log_len ? "," : "");
	}
	fprintf(f, "  ],\n  \"measurement\": \"");
	psp_hex(f, l->ld, sizeof(l->ld));
	fprintf(f, "\"\n}\n");
	return ferror(f) ? -1 : 0;
}
