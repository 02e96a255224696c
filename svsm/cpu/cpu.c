/*
 * The SVSM's per-CPU contexts (cpu.h): created on a CPU's first entry into the SVSM,
 * found again through the arch layer's per-CPU pointer, never freed while the machine
 * runs (the host may keep using a CPU's registered GHCB as long as the CPU exists).
 *
 * Concurrency: a context is touched only by its own CPU (CREATE_VCPU may register one
 * for another APIC ID ahead of time, cpu_prepare, but that CPU's first entry is the first
 * use). The registry of all contexts has a leaf lock; it is appended to and never
 * shrinks while the machine runs.
 */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/spinlock.h>
#include <svsm/string.h>

static SVSM_STATE struct {
	struct spinlock lock; /* a leaf: guards the slots and the count */
	struct svsm_cpu *slots[SVSM_MAX_VCPUS];
	u32 count;
} cpus;

/* Boot: no contexts yet (the boot CPU's is created right after, by cpu_this). */
void cpu_boot_init(void)
{
	memset(&cpus, 0, sizeof(cpus));
	arch_cpu_set_local(NULL);
}

struct svsm_cpu *cpu_peek(void)
{
	return arch_cpu_local();
}

/* The registered context of @apic_id, or NULL (lock held). */
static struct svsm_cpu *cpu_lookup(u32 apic_id)
{
	for (u32 i = 0; i < cpus.count; i++) {
		if (cpus.slots[i]->apic_id == apic_id) {
			return cpus.slots[i];
		}
	}
	return NULL;
}

/* A new context for @apic_id: its page and its scratch; NULL without memory. */
static struct svsm_cpu *cpu_new(u32 apic_id)
{
	struct svsm_cpu *c = page_alloc_zeroed(0);

	if (!c) {
		return NULL;
	}
	c->scratch = page_alloc(SVSM_CPU_SCRATCH_ORDER);
	if (!c->scratch) {
		page_free(c, 0);
		return NULL;
	}
	c->apic_id = apic_id;
	return c;
}

_Static_assert(sizeof(struct svsm_cpu) <= PAGE_SIZE, "a CPU context is one page");

static void cpu_free(struct svsm_cpu *c)
{
	page_free(c->scratch, SVSM_CPU_SCRATCH_ORDER);
	page_free(c, 0);
}

/* See cpu.h. */
struct svsm_cpu *cpu_prepare(u32 apic_id)
{
	spin_lock(&cpus.lock);
	struct svsm_cpu *c = cpu_lookup(apic_id);
	spin_unlock(&cpus.lock);
	if (c) {
		return c;
	}
	/* Allocated without the lock (a leaf); a context registered meanwhile wins. */
	struct svsm_cpu *fresh = cpu_new(apic_id);
	if (!fresh) {
		return NULL;
	}
	spin_lock(&cpus.lock);
	c = cpu_lookup(apic_id);
	if (!c && cpus.count < SVSM_MAX_VCPUS) {
		c = fresh;
		cpus.slots[cpus.count++] = fresh;
		fresh = NULL;
	}
	spin_unlock(&cpus.lock);
	if (fresh) {
		cpu_free(fresh);
	}
	return c;
}

struct svsm_cpu *cpu_this(void)
{
	struct svsm_cpu *c = arch_cpu_local();

	if (c) {
		return c;
	}
	c = cpu_prepare(arch_cpu_apic_id());
	if (c) {
		arch_cpu_set_local(c);
	}
	return c;
}

struct svsm_cpu *cpu_find_apic(u32 apic_id)
{
	spin_lock(&cpus.lock);
	struct svsm_cpu *c = cpu_lookup(apic_id);
	spin_unlock(&cpus.lock);
	return c;
}

u32 cpu_list(struct svsm_cpu **out, u32 max)
{
	u32 n = 0;

	spin_lock(&cpus.lock);
	for (u32 i = 0; i < cpus.count && n < max; i++) {
		out[n++] = cpus.slots[i];
	}
	spin_unlock(&cpus.lock);
	return n;
}

u64 cpu_context_pages(const struct svsm_cpu *c)
{
	return 1 + (1u << SVSM_CPU_SCRATCH_ORDER) + (c->ghcb_ready ? 1 : 0);
}

/* Undo cpu_ghcb_setup's page conversion: make the page private, validated and free it. */
static void cpu_ghcb_release_page(u64 gpa, void *page)
{
	/*
	 * Neither answer of the hypervisor is trusted: whether the page is private again is
	 * what PVALIDATE finds (a page it made private while answering "error" must not stay
	 * owned but unvalidated). Only a page validated here is reused.
	 */
	(void)ghcb_msr_psc(gpa, PSC_OP_PRIVATE);
	if (arch_pvalidate(gpa, PAGE_SIZE_4K, true) != RMP_SUCCESS) {
		/* The hypervisor kept the page: leak it rather than hand out a shared page. */
		log_warn("GHCB page %llx could not be made private again; not reused", (unsigned long long)gpa);
		return;
	}
	memset(page, 0, PAGE_SIZE);
	/* Back to the allocator, still the SVSM's: its pages never stop being owned (see below). */
	page_free(page, 0);
}

/*
 * Give @c a GHCB: take a page, rescind its validation, make it shared, map it and
 * register it with the hypervisor. On any failure everything is undone.
 */
int cpu_ghcb_setup(struct svsm_cpu *c)
{
	if (c->ghcb_ready) {
		return 0;
	}
	void *page = page_alloc_zeroed(0);
	if (!page) {
		return -1;
	}
	/*
	 * Every page of the allocator is already marked owned (the SVSM region, deposits):
	 * the GHCB page stays owned while shared and after it is freed. Clearing the mark
	 * would let the guest name a freed allocator page (REMAP_CA, PVALIDATE).
	 */
	u64 gpa = arch_virt_to_phys(page);
	if (arch_pvalidate(gpa, PAGE_SIZE_4K, false) != RMP_SUCCESS) {
		page_free(page, 0);
		return -1;
	}
	if (ghcb_msr_psc(gpa, PSC_OP_SHARED) != GHCB_CLIENT_OK) {
		/* The host's "no" proves nothing: it may have made the page shared anyway. */
		cpu_ghcb_release_page(gpa, page);
		return -1;
	}
	struct ghcb *g = arch_map_shared(gpa);
	if (!g || ghcb_msr_register(gpa) != GHCB_CLIENT_OK) {
		cpu_ghcb_release_page(gpa, page);
		return -1;
	}
	memset(g, 0, sizeof(*g));
	c->ghcb.ghcb = g;
	c->ghcb.gpa = gpa;
	c->ghcb_ready = true;
	return 0;
}

struct ghcb_page *cpu_ghcb(void)
{
	struct svsm_cpu *c = cpu_peek();

	return c && c->ghcb_ready ? &c->ghcb : NULL;
}
