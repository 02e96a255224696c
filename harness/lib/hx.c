/* Shared harness helpers (see hx.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmap.h"
#include "hx.h"

struct hx *hx_boot(const struct emu_config *cfg)
{
	struct emu_config c;
	char err[256];

	if (cfg) {
		c = *cfg;
	} else {
		emu_config_default(&c);
		const char *verbose = getenv("HX_CONSOLE");
		c.console = verbose && verbose[0] == '1' ? stderr : NULL;
		/* The other behaviour the architecture allows: RMPADJUST works on unvalidated pages. */
		const char *adjust = getenv("HX_RMPADJUST_UNVALIDATED");
		c.rmpadjust_unvalidated = adjust && adjust[0] == '1';
	}
	/* Cache-line aligned: its per-vCPU parts are laid out a line each (calloc gives 16 bytes). */
	struct hx *h = aligned_alloc(64, ALIGN_UP(sizeof(*h), 64));
	if (h) {
		memset(h, 0, sizeof(*h));
	}
	if (!h) {
		return NULL;
	}
	h->m = emu_machine_create(&c, err, sizeof(err));
	if (!h->m) {
		fprintf(stderr, "hx_boot: %s\n", err);
		free(h);
		return NULL;
	}
	if (guest_init(&h->g, h->m) != 0) {
		fprintf(stderr, "hx_boot: no guest memory left for the driver\n");
		emu_machine_destroy(h->m);
		free(h);
		return NULL;
	}
	h->oracle_each_call = true;
	oracle_init(&h->oracle, h->m);
	if (callcheck_init(&h->cc, h->m) != 0) {
		fprintf(stderr, "hx_boot: out of memory for the rejected-call check\n");
		emu_machine_destroy(h->m);
		free(h);
		return NULL;
	}
	return h;
}

void hx_shutdown(struct hx *h)
{
	if (!h) {
		return;
	}
	callcheck_free(&h->cc);
	emu_machine_destroy(h->m);
	free(h);
}

unsigned hx_oracle(struct hx *h)
{
	size_t used = strlen(h->report);
	unsigned n = oracle_check(&h->oracle, h->m, h->report + used, sizeof(h->report) - used);

	h->violations += n;
	return n;
}

u64 hx_call_guest(struct hx *h, struct emu_guest *g, u32 apic_id, struct guest_regs *r)
{
	dmap_handler_install();
	if (h->oracle_each_call) {
		callcheck_begin(&h->cc, g, apic_id, r);
	}
	h->last_status = guest_call(g, apic_id, r);
	if (h->oracle_each_call) {
		unsigned bad = callcheck_end(&h->cc, h->last_status, (u32)r->rax);
		if (bad) {
			size_t used = strlen(h->report);
			snprintf(h->report + used, sizeof(h->report) - used, "%s", h->cc.report);
			h->cc.report[0] = '\0';
			h->violations += bad;
		}
		hx_oracle(h);
	}
	return h->last_status == GUEST_OK ? (u32)r->rax : ~0ull;
}

u64 hx_call_vcpu(struct hx *h, u32 apic_id, struct guest_regs *r)
{
	return hx_call_guest(h, &h->g, apic_id, r);
}

u64 hx_core_as(struct hx *h, struct emu_guest *g, u32 call, u64 rcx, u64 rdx, u64 r8, struct guest_regs *out)
{
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, call), .rcx = rcx, .rdx = rdx, .r8 = r8};
	u64 rc = hx_call_guest(h, g, g->vcpus[0].apic_id, &r);

	if (out) {
		*out = r;
	}
	return rc;
}

u64 hx_call(struct hx *h, u32 protocol, u32 call, u64 rcx, u64 rdx, u64 r8, struct guest_regs *out)
{
	struct guest_regs r = {.rax = SVSM_CALL(protocol, call), .rcx = rcx, .rdx = rdx, .r8 = r8};
	u64 rc = hx_call_vcpu(h, 0, &r);

	if (out) {
		*out = r;
	}
	return rc;
}

u64 hx_pages(struct hx *h, u64 count)
{
	return guest_alloc_pages(&h->g, count);
}

u64 hx_page(struct hx *h)
{
	return hx_pages(h, 1);
}

int hx_write_list(struct hx *h, u64 gpa, const u64 *entries, u16 count, u16 next)
{
	struct svsm_list_hdr hdr = {.entries = count, .next = next};

	if (guest_write(&h->g, gpa, &hdr, sizeof(hdr)) != 0) {
		return -1;
	}
	return guest_write(&h->g, gpa + sizeof(hdr), entries, 8ull * count);
}

u16 hx_list_next(struct hx *h, u64 gpa)
{
	struct svsm_list_hdr hdr = {0};

	guest_read(&h->g, gpa, &hdr, sizeof(hdr));
	return hdr.next;
}

void hx_as_svsm_begin(struct hx *h)
{
	dmap_handler_install();
	emu_startup_vcpu_enter_svsm(h->m);
}

void hx_as_svsm_end(struct hx *h)
{
	emu_startup_vcpu_leave_svsm(h->m);
}

const struct rmp_entry *hx_rmp(struct hx *h, u64 gpa)
{
	return rmp_entry(&h->m->rmp, gpa);
}

/* FNV-1a over bytes. */
static u64 hx_fnv(u64 hash, const void *p, u64 len)
{
	const u8 *b = p;

	for (u64 i = 0; i < len; i++) {
		hash ^= b[i];
		hash *= 0x100000001b3ull;
	}
	return hash;
}

u64 hx_hash_mem(struct hx *h, u64 gpa, u64 len)
{
	return hx_fnv(0xcbf29ce484222325ull, emu_mem(h->m, gpa), len);
}

u64 hx_hash_rmp(struct hx *h)
{
	return hx_fnv(0xcbf29ce484222325ull, h->m->rmp.entries, h->m->rmp.page_count * sizeof(struct rmp_entry));
}
