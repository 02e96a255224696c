/* The fuzzing machine: snapshot/reset, the input header, SVSM calls with the oracles after each one. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/evp.h>

#include <svsm/core.h>
#include <svsm/ghcb.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/svsm_abi.h>

#include "dmap.h"
#include "fuzz_common.h"
#include "guest.h"
#include "machine.h"
#include "oracle.h"
#include "psp/psp.h"
#include "snapshot.h"

/* The linker's bounds of the core's state section (every writable core global). */
extern char __start_svsm_state[];
extern char __stop_svsm_state[];

#define FUZZ_RMP_BYTES RMP_TABLE_BYTES(FUZZ_MEM_PAGES) /* entries, then the in-use marks */
#define FUZZ_RMP_PAGES ((FUZZ_RMP_BYTES + 4095) / 4096)
#define FUZZ_MAX_CHANGED 4096

void (*fuzz_finding_hook)(const char *msg);

/* Everything the harness keeps between inputs; the tracked part lives in `ctl`. */
struct fuzz_ctl {
	/* Small and busy first: the guest driver and the flags share a page with the machine's head. */
	struct emu_guest g;
	struct oracle_state oracle;
	struct mm_stats base;      /* allocator usage after boot (drained) */
	u64 base_shared_owned;     /* SVSM pages that are shared (its GHCBs) after boot */
	bool booted;
	bool terminated;
	bool dead;                 /* setup failed or the machine was terminated: no more calls */
	bool svsm_taken;           /* the host took an SVSM page: its bookkeeping is unreadable */
	u64 allocs_after_setup;    /* mm_alloc_count() when the input's own operations began */
	struct fuzz_header hdr;
	unsigned spawned_count;    /* guests in spawned[] (header byte 2) */
	struct emu_machine m;
	/* Last: the guests at VMPL2/3, written only by the inputs that spawn them. */
	struct emu_guest spawned[2]; /* on APIC FUZZ_APIC_CHILD, then FUZZ_APIC_GRANDCHILD */
};

/* The views of guest memory in the snapshot's alias table. */
enum fuzz_view {
	FUZZ_VIEW_DMAP = 0,   /* the SVSM's direct map (m->svsm_map) */
	FUZZ_VIEW_SHARED = 1, /* the SVSM's C=0 mapping (m->shared_map) */
};

static struct {
	struct fuzz_machine_opts opts;
	struct fuzz_ctl *ctl;       /* tracked */
	u8 *mem;                    /* tracked: the machine's view of guest memory (a memfd) */
	u8 *svsm_map;               /* its aliases: the SVSM's direct map and C=0 mapping */
	u8 *shared_map;
	struct rmp_entry *rmp;      /* tracked */
	struct snapshot snap;
	bool started;
	/*
	 * Bits of byte 0 of an RMP entry that are the hypervisor's doing, not the SVSM's:
	 * page_2m (PSMASH) and in_use (VMRUN and #VMEXIT of VMSAs).
	 */
	u8 hv_bits_mask;
	/* Per-call shadow of pages that were already dirty when the call began. */
	u8 *shadow;
	u32 *shadow_epoch;
	u32 epoch;
	/* Guest pages with a pre-image in this call (shadow_epoch == epoch). */
	u32 *touched;
	size_t touched_count;
	/* RMP entries about to change in this call (the RMP's journal hook) and their old values. */
	u32 *rmp_epoch;
	struct rmp_entry *rmp_pre;
	u64 *rmp_touched;
	size_t rmp_touched_count;
	bool in_call;               /* between fuzz_pre_call and fuzz_post_call: the journal records */
	bool pre_images;            /* ...and a guest call's rejected-call check needs written pages' pre-images */
	bool after_boot;            /* fuzz_post_call checks a boot: the SVSM region too */
	u64 changed[FUZZ_MAX_CHANGED];
	size_t changed_count;
	bool changed_overflow;
	u64 pre_vmsa[SVSM_MAX_VCPUS];
	u32 pre_vmsa_count;
	u64 pre_caa[SVSM_MAX_VCPUS];
	u32 pre_caa_count;
	u32 pre_apic[SVSM_MAX_VCPUS];
	u8 pre_vmpl[SVSM_MAX_VCPUS];
	/* A guest call: the allocators' totals (caches drained) and the caller's GHCB before it. */
	struct mm_stats pre_mm;
	bool pre_mm_valid;
	/*
	 * The totals last read (a rejected call's check, the boot, the snapshot); still right
	 * until SVSM code runs again, which always begins with fuzz_pre_call (or allocates:
	 * last_mm_allocs is mm_alloc_count() then).
	 */
	struct mm_stats last_mm;
	bool last_mm_valid;
	u64 last_mm_allocs;
	bool pre_caller_ghcb;
	u32 pre_caller_apic;
	u32 pre_taken;             /* m->host_taken.count when the call began */
	u64 caller_svsm_page;      /* see fuzz_caller_svsm_page() */
	u8 *mem_at_snapshot;       /* FUZZ_CHECK_VIEWS=1: guest memory at snapshot time */
	char report[4096];
} fz;

static bool fuzz_in_mem(const u8 *p);
static bool fuzz_in_rmp(const u8 *p);
static bool fuzz_owned(u64 pfn);

/* --- findings and input ----------------------------------------------------------------- */

void fuzz_finding(const char *fmt, ...)
{
	char msg[4608];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (fuzz_finding_hook) {
		fuzz_finding_hook(msg);
	}
	fprintf(stderr, "fuzz finding (%s): %s\n", fuzz_target.name, msg);
	abort();
}

u8 fuzz_u8(struct fuzz_in *in)
{
	if (in->left == 0) {
		return 0;
	}
	in->left--;
	return *in->p++;
}

u16 fuzz_u16(struct fuzz_in *in)
{
	u16 lo = fuzz_u8(in);
	return (u16)(lo | (u16)fuzz_u8(in) << 8);
}

u32 fuzz_u32(struct fuzz_in *in)
{
	u32 lo = fuzz_u16(in);
	return lo | (u32)fuzz_u16(in) << 16;
}

u64 fuzz_u64(struct fuzz_in *in)
{
	u64 lo = fuzz_u32(in);
	return lo | (u64)fuzz_u32(in) << 32;
}

/* Where the hot pages are (FUZZ_SHOW_HOT=1 in bench mode): which writes every input makes. */
static void fuzz_show_hot(void)
{
	for (unsigned h = 0; h < fz.snap.hot_count; h++) {
		const u8 *p = fz.snap.hot[h];
		if (fuzz_in_mem(p)) {
			fprintf(stderr, "hot: guest page 0x%llx%s\n", (unsigned long long)(p - fz.mem),
				fuzz_owned((u64)(p - fz.mem) >> PAGE_SHIFT) ? " (the SVSM's)" : "");
		} else if (fuzz_in_rmp(p)) {
			fprintf(stderr, "hot: RMP entries of 0x%llx..\n",
				(unsigned long long)((size_t)(p - (const u8 *)fz.rmp) / sizeof(struct rmp_entry) * PAGE_SIZE));
		} else if (p >= (const u8 *)fz.ctl && p < (const u8 *)(fz.ctl + 1)) {
			fprintf(stderr, "hot: harness/machine struct +0x%zx\n", (size_t)(p - (const u8 *)fz.ctl));
		} else {
			fprintf(stderr, "hot: svsm_state +0x%zx\n", (size_t)((const char *)p - __start_svsm_state));
		}
	}
}

void fuzz_snapshot_report(FILE *out)
{
	const struct snap_stats *st = &fz.snap.stats;
	const char *show = getenv("FUZZ_SHOW_HOT");
	double n = fuzz_counters.inputs ? (double)fuzz_counters.inputs : 1.0;

	if (show && show[0] == '1') {
		fuzz_show_hot();
	}
	fprintf(out, "%s: %llu inputs, per input: %.2f calls, %.2f write faults, %.2f pages restored, %.2f hot pages changed\n",
		fuzz_target.name, (unsigned long long)fuzz_counters.inputs, (double)fuzz_counters.calls / n,
		(double)st->faults / n, (double)st->pages_restored / n, (double)st->hot_dirty / n);
	fprintf(out, "%s: %u hot pages now, %llu promotions, %llu demotions, at most %llu pages logged by one input\n",
		fuzz_target.name, fz.snap.hot_count, (unsigned long long)st->promoted, (unsigned long long)st->demoted,
		(unsigned long long)st->max_logged);
	fprintf(out, "%s: per input: %.2f pages logged by the model's write hook (no fault), %.2f faults through the "
		     "SVSM's views (%.2f writes to written pages reported), %.2f pages sealed, %.2f mprotect calls; "
		     "%llu pages taken by the host, %llu inputs ended by a take of an SVSM page\n",
		fuzz_target.name, (double)st->hook_logs / n, (double)st->alias_faults / n, (double)st->alias_writes / n,
		(double)st->seals / n, (double)st->protects / n, (unsigned long long)fuzz_counters.takes,
		(unsigned long long)fuzz_counters.svsm_taken);
}

struct emu_machine *fuzz_m(void)
{
	return &fz.ctl->m;
}

bool fuzz_dead(void)
{
	return fz.ctl->dead;
}

bool fuzz_core_readable(void)
{
	return fz.ctl->booted && !fz.ctl->terminated && !fz.ctl->svsm_taken;
}

u64 fuzz_caller_svsm_page(void)
{
	return fz.caller_svsm_page;
}

struct emu_guest *fuzz_g(void)
{
	return &fz.ctl->g;
}

/* The guest that runs vCPU @apic_id: among the guests with a vCPU of that APIC ID, the one at its VMPL now. */
struct emu_guest *fuzz_guest_of(u32 apic_id)
{
	struct fuzz_ctl *c = fz.ctl;
	struct emu_vcpu *v = emu_vcpu_find(&c->m, apic_id);
	struct emu_guest *first = NULL;

	for (unsigned i = 0; i <= c->spawned_count; i++) {
		struct emu_guest *g = i == 0 ? &c->g : &c->spawned[i - 1];
		if (!guest_vcpu(g, apic_id)) {
			continue;
		}
		if (v && v->vmpl == g->vmpl) {
			return g;
		}
		if (!first) {
			first = g;
		}
	}
	return first ? first : &c->g;
}

const struct fuzz_header *fuzz_header(void)
{
	return &fz.ctl->hdr;
}

/* --- host hooks of the machine ------------------------------------------------------------ */

static void fuzz_host_console(struct emu_machine *m, const char *buf, size_t len)
{
	static int echo = -1;

	if (echo < 0) {
		const char *e = getenv("FUZZ_CONSOLE");
		echo = e && e[0] == '1';
	}
	if (echo) {
		fwrite(buf, 1, len, stderr);
	}
}

static void fuzz_host_diag(struct emu_machine *m, const char *line)
{
}

static SVSM_NORETURN void fuzz_host_terminate(struct emu_machine *m)
{
	if (m->term_jmp) {
		longjmp(*(jmp_buf *)m->term_jmp, 1);
	}
	fuzz_finding("machine terminated outside a catcher (set %u code %u%s%s)", m->term_set, m->term_code,
		     m->term_detail[0] ? ": " : "", m->term_detail);
}

/*
 * The machine's RMP changed for pages [@pfn, @pfn + @count): the SVSM's views follow it,
 * through the snapshot, which also write-protects clean pages in them (see emu/snapshot.h).
 */
static void fuzz_host_protect(struct emu_machine *m, u64 pfn, u64 count)
{
	if (pfn < FUZZ_MEM_PAGES) {
		snapshot_alias_update(&fz.snap, fz.mem + (pfn << PAGE_SHIFT), MIN(count, FUZZ_MEM_PAGES - pfn));
	}
}

/* The rule of each view: the direct map reaches assigned and validated pages, the C=0 mapping shared ones. */
static int fuzz_view_access(void *ctx, unsigned view, size_t page)
{
	const struct emu_machine *m = &fz.ctl->m;

	if (page >= m->rmp.page_count) {
		return SNAP_NONE; /* before emu_machine_init: nothing yet */
	}
	if (view == FUZZ_VIEW_DMAP) {
		return dmap_page_accessible(m, page) ? SNAP_RW : SNAP_NONE;
	}
	return dmap_page_shared(m, page) ? SNAP_RW : SNAP_NONE;
}

/* An access through a view that the RMP forbids: the fault hardware raises, the machine terminates. */
static void fuzz_view_fault(void *ctx, unsigned view, size_t offset, bool write)
{
	struct emu_machine *m = &fz.ctl->m;

	if (view == FUZZ_VIEW_DMAP) {
		emu_svsm_map_fault(m, offset, write);
	}
	emu_svsm_shared_fault(m, offset, write);
}

/*
 * Bugs the machine saw (a double fetch, a grant of unzeroed memory, an access to the MMIO
 * hole) since the oracle last looked: after a termination too, where the rest of the
 * invariant oracle has nothing sound to look at.
 */
static void fuzz_machine_findings(const char *when)
{
	const struct emu_machine *m = &fz.ctl->m;
	const struct oracle_state *o = &fz.ctl->oracle;

	/* The baselines are taken before every boot (fuzz_boot): a boot's findings count too. */
	if (m->findings.count != o->findings_seen) {
		fuzz_finding("%s: %llu finding(s) of the machine; the first: %s", when,
			     (unsigned long long)(m->findings.count - o->findings_seen), m->findings.first);
	}
	if (m->stats.ungranted_nonzero != o->ungranted_nonzero_seen) {
		fuzz_finding("%s: %llu page(s) granted to the guest without being zeroed first", when,
			     (unsigned long long)(m->stats.ungranted_nonzero - o->ungranted_nonzero_seen));
	}
	if (m->stats.mmio_stalls != o->mmio_stalls_seen) {
		fuzz_finding("%s: %llu instruction(s) or access(es) of the SVSM on the MMIO/ROM hole", when,
			     (unsigned long long)(m->stats.mmio_stalls - o->mmio_stalls_seen));
	}
}

bool fuzz_catch_terminate(void (*fn)(void *ctx), void *ctx)
{
	struct emu_machine *m = &fz.ctl->m;
	jmp_buf jb;
	void *volatile saved = m->term_jmp;

	if (setjmp(jb) != 0) {
		/*
		 * A fault in the SVSM's views ends in a longjmp out of the SIGSEGV handler; the
		 * engine's handler in front of ours (libFuzzer's) runs with SIGSEGV blocked, which
		 * longjmp does not undo: the next fault would kill the process.
		 */
		sigset_t segv;
		sigemptyset(&segv);
		sigaddset(&segv, SIGSEGV);
		sigprocmask(SIG_UNBLOCK, &segv, NULL);
		m->term_jmp = saved;
		emu_vcpu_set_current(NULL);
		fz.ctl->terminated = true;
		fz.ctl->dead = true;
		fz.in_call = false;
		fz.pre_images = false;
		fuzz_counters.terminations++;
		fuzz_machine_findings("before the machine was terminated");
		if (m->term_set == TERM_SET_SVSM && m->term_code == TERM_SVSM_PANIC) {
			fuzz_finding("the SVSM panicked");
		}
		if (!fz.opts.termination_ok) {
			fuzz_finding("the machine was terminated (set %u code %u%s%s) on guest input", m->term_set,
				     m->term_code, m->term_detail[0] ? ": " : "", m->term_detail);
		}
		return true;
	}
	m->term_jmp = &jb;
	fn(ctx);
	m->term_jmp = saved;
	return false;
}

/* --- checking the views (self-tests, FUZZ_CHECK_VIEWS=1) ------------------------------------ */

/* The protections /proc/self/maps gives the pages of [@base, @base + FUZZ_MEM_SIZE), into @prot. */
static bool fuzz_views_read_maps(const u8 *base, u8 *prot)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	if (!f) {
		return false;
	}
	memset(prot, 0xFF, FUZZ_MEM_PAGES);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3) {
			continue;
		}
		u64 b = (u64)(uintptr_t)base;
		u64 from = MAX((u64)lo, b), to = MIN((u64)hi, b + FUZZ_MEM_SIZE);
		int p = (perms[0] == 'r' ? SNAP_R : 0) | (perms[1] == 'w' ? SNAP_RW & ~SNAP_R : 0);
		for (u64 a = from; a < to; a += PAGE_SIZE) {
			prot[(a - b) >> PAGE_SHIFT] = (u8)p;
		}
	}
	fclose(f);
	return true;
}

bool fuzz_views_check(char *why, size_t why_size)
{
	static u8 kernel[FUZZ_MEM_PAGES];
	static const char *const names[] = {"direct map", "C=0 mapping"};
	const u8 *bases[] = {fz.svsm_map, fz.shared_map};

	for (unsigned a = 0; a < 2; a++) {
		const u8 *cache = fz.snap.aliases[a].prot;
		if (!fuzz_views_read_maps(bases[a], kernel)) {
			snprintf(why, why_size, "cannot read /proc/self/maps");
			return false;
		}
		for (u64 i = 0; i < FUZZ_MEM_PAGES; i++) {
			int st = snapshot_page_state(&fz.snap, fz.mem + i * PAGE_SIZE);
			int max = fuzz_view_access(NULL, a, i) & (st == SNAP_CLEAN ? SNAP_R : SNAP_RW);
			if (kernel[i] != cache[i]) {
				snprintf(why, why_size, "%s page 0x%llx: the kernel says %d, the snapshot %d", names[a],
					 (unsigned long long)(i << PAGE_SHIFT), kernel[i], cache[i]);
				return false;
			}
			if (cache[i] & ~max) {
				snprintf(why, why_size, "%s page 0x%llx allows %d, its rule and state at most %d", names[a],
					 (unsigned long long)(i << PAGE_SHIFT), cache[i], max);
				return false;
			}
			if ((cache[i] & ~SNAP_R) && !snapshot_alias_writable(&fz.snap, fz.mem + i * PAGE_SIZE)) {
				snprintf(why, why_size, "%s page 0x%llx is writable but not listed as written", names[a],
					 (unsigned long long)(i << PAGE_SHIFT));
				return false;
			}
		}
	}
	return true;
}

/* FUZZ_CHECK_VIEWS=1: fuzz_views_check at every reset and after every call (slow). */
static void fuzz_views_debug(const char *when)
{
	static int on = -1;
	char why[200];

	if (on < 0) {
		const char *e = getenv("FUZZ_CHECK_VIEWS");
		on = e && e[0] == '1';
	}
	if (on && fz.snap.taken && !fuzz_views_check(why, sizeof(why))) {
		fuzz_finding("the SVSM's views %s: %s", when, why);
	}
	/* After a reset, all of guest memory is back: no write went unannounced. */
	if (on && fz.mem_at_snapshot && !strcmp(when, "after the reset")) {
		for (u64 i = 0; i < FUZZ_MEM_PAGES; i++) {
			if (!snapshot_page_equal(fz.mem + i * PAGE_SIZE, fz.mem_at_snapshot + i * PAGE_SIZE)) {
				fuzz_finding("guest page 0x%llx is not as in the snapshot after the reset",
					     (unsigned long long)(i << PAGE_SHIFT));
			}
		}
	}
}

/* --- symbols and value encodings -------------------------------------------------------- */

/* The spawned guests' symbols (16-19; see fuzz_common.h). */
static u64 fuzz_symbol_spawned(unsigned index)
{
	struct fuzz_ctl *c = fz.ctl;
	u32 apic = index == 19 ? FUZZ_APIC_GRANDCHILD : FUZZ_APIC_CHILD;
	struct guest_vcpu *gv = guest_vcpu(fuzz_guest_of(apic), apic);

	switch (index) {
	case 16:
	case 19:
		return gv ? gv->caa_gpa : FUZZ_POOL_START + 3 * PAGE_SIZE;
	case 17:
		/* The page after the child's calling area: the next of the pages it was lent. */
		return gv && c->spawned_count ? gv->caa_gpa + PAGE_SIZE : FUZZ_POOL_START + 4 * PAGE_SIZE;
	default:
		return gv && gv->vmsa_gpa ? gv->vmsa_gpa : FUZZ_POOL_START + 5 * PAGE_SIZE;
	}
}

u64 fuzz_symbol(unsigned index)
{
	struct fuzz_ctl *c = fz.ctl;
	struct guest_vcpu *gv1 = guest_vcpu(&c->g, 1);
	/* Decoding goes on after the host took an SVSM page, whose contents nobody may read. */
	struct svsm_vcpu *bsp = fuzz_core_readable() ? vcpu_find_apic(0) : NULL;

	if (index >= 16 && index < FUZZ_SYMBOL_COUNT) {
		return fuzz_symbol_spawned(index);
	}
	switch (index % 16) {
	case 0:
		return FUZZ_CAA;
	case 1:
		return FUZZ_CAA + offsetof(struct svsm_ca, buffer);
	case 2:
		return FUZZ_WINDOW;
	case 3:
		return FUZZ_WINDOW + PAGE_2M_SIZE;
	case 4:
		return FUZZ_SVSM_BASE;
	case 5:
		return bsp ? bsp->guest_vmsa_gpa : 0;
	case 6:
		return cpu_find_apic(0) ? cpu_find_apic(0)->ghcb.gpa : 0;
	case 7:
		return FUZZ_MEM_SIZE;
	case 8:
		return FUZZ_POOL_START;
	case 9:
		return gv1 ? gv1->vmsa_gpa : FUZZ_POOL_START + PAGE_SIZE;
	case 10:
		return gv1 ? gv1->caa_gpa : FUZZ_POOL_START + 2 * PAGE_SIZE;
	case 11:
		return FUZZ_WINDOW + FUZZ_WINDOW_REGIONS * PAGE_2M_SIZE;
	case 12:
		return c->g.vcpus[0].ghcb_gpa;
	case 13:
		return 0;
	case 14:
		return FUZZ_SVSM_BASE + FUZZ_SVSM_SIZE - PAGE_SIZE;
	default:
		return ~0ull & ~PAGE_MASK;
	}
}

u64 fuzz_value(struct fuzz_in *in)
{
	u8 tag = fuzz_u8(in);

	switch (tag & 3) {
	case 0:
		return fuzz_u64(in);
	case 1:
		return tag >> 2;
	case 2: {
		u8 d = fuzz_u8(in);
		u64 base = fuzz_symbol(tag >> 2);
		if (d & 1) {
			return base + (u64)(s64)((int8_t)d >> 1) * PAGE_SIZE;
		}
		return base + (u64)(d >> 1) * 8;
	}
	default:
		return ((u64)(fuzz_u16(in) % (FUZZ_MEM_PAGES + 64)) << PAGE_SHIFT) | (tag >> 2);
	}
}

u64 fuzz_page(struct fuzz_in *in)
{
	u16 v = fuzz_u16(in);

	if (v >= 0xF000) {
		return fuzz_symbol(v & 0xFF) & ~PAGE_MASK;
	}
	return (u64)(v % (FUZZ_MEM_PAGES + 64)) << PAGE_SHIFT;
}

/* --- the machine ---------------------------------------------------------------------------- */

/* Drain the allocator caches and read its usage, as VMPL0 on the startup vCPU. */
static void fuzz_mm_usage(struct mm_stats *out)
{
	struct emu_vcpu *v = &fz.ctl->m.vcpus[0];
	u8 vmpl = v->vmpl;

	v->vmpl = 0;
	emu_vcpu_set_current(v);
	mm_drain();
	mm_get_stats(out);
	v->vmpl = vmpl;
	emu_vcpu_set_current(NULL);
	/*
	 * The SVSM keeps a context per CPU it served (cpu.h) for as long as the CPU exists: not
	 * a leak. Its GHCB page is counted with the shared pages (fuzz_shared_owned).
	 */
	static struct svsm_cpu *cpus[SVSM_MAX_VCPUS];
	for (u32 i = 0, n = cpu_list(cpus, SVSM_MAX_VCPUS); i < n; i++) {
		out->page.in_use -= (cpu_context_pages(cpus[i]) - (cpus[i]->ghcb_ready ? 1 : 0)) << PAGE_SHIFT;
	}
}

/* The allocators' totals are @st now (caches drained); see fz.last_mm. */
static void fuzz_mm_remember(const struct mm_stats *st)
{
	fz.last_mm = *st;
	fz.last_mm_valid = true;
	fz.last_mm_allocs = mm_alloc_count();
}

/* SVSM pages that are shared with the hypervisor (GHCBs, or pages it refused to take back). */
static u64 fuzz_shared_owned(void)
{
	const struct emu_machine *m = &fz.ctl->m;
	u64 n = 0;

	for (u64 pfn = 0; pfn < m->rmp.page_count; pfn++) {
		if (!m->rmp.entries[pfn].assigned && fuzz_owned(pfn)) {
			n++;
		}
	}
	return n;
}

struct fuzz_boot_ctx {
	int rc;
	char err[160];
};

static void fuzz_boot_fn(void *p)
{
	struct fuzz_boot_ctx *b = p;

	b->rc = emu_machine_boot(&fz.ctl->m, b->err, sizeof(b->err));
}

static bool fuzz_apply_header(void);
static void fuzz_prepare_memory(void);
static void fuzz_rmp_journal(void *ctx, u64 pfn, u64 count);
static void fuzz_shadow_written(void *ctx, u8 *page);
static void fuzz_model_write(void *ctx, u64 gpa, u64 len);
struct fuzz_call_ctx;
static void fuzz_pre_call(struct fuzz_call_ctx *cc);
static void fuzz_post_call(const struct fuzz_call_ctx *cc, bool completed, u32 result);
static void fuzz_validate_region(unsigned region, bool validated);

/* After svsm_boot: attach the guest driver, quiet the log, take the usage baseline. */
static int fuzz_after_boot(void)
{
	struct fuzz_ctl *c = fz.ctl;

	if (guest_init(&c->g, &c->m) != 0) {
		return -1;
	}
	c->g.pool_end = FUZZ_POOL_END;
	c->g.pool_validated_end = FUZZ_POOL_END; /* see fuzz_prepare_memory */
	c->booted = true;
	fuzz_mm_usage(&c->base);
	fuzz_mm_remember(&c->base);
	c->base_shared_owned = fuzz_shared_owned();
	return 0;
}

int fuzz_boot(void)
{
	struct fuzz_boot_ctx b = {0};

	if (fz.ctl->booted) {
		return 0;
	}
	/*
	 * Booting per input (the snapshot is from before boot): the invariant oracle looks at
	 * what this boot changed (RMP entries, ownership bits) and the whole SVSM region; the
	 * pages it did not touch are as launched, which the full check at initialisation saw.
	 */
	bool incremental = fz.snap.taken && fz.started;
	if (incremental) {
		fuzz_pre_call(NULL);
	}
	/* What the machine counts from here on (findings, unzeroed grants) is the boot's doing. */
	oracle_init(&fz.ctl->oracle, &fz.ctl->m);
	if (fuzz_catch_terminate(fuzz_boot_fn, &b)) {
		return 1;
	}
	if (b.rc != 0) {
		if (!fz.opts.termination_ok) {
			fprintf(stderr, "fuzz: %s\n", b.err);
		}
		fz.ctl->dead = true;
		return b.rc < 0 ? b.rc : -1;
	}
	if (fuzz_after_boot() != 0) {
		fz.ctl->dead = true;
		return -2;
	}
	if (incremental) {
		fz.after_boot = true;
		fuzz_post_call(NULL, false, 0);
		fz.after_boot = false;
	} else {
		fz.in_call = false;
		fz.pre_images = false;
		unsigned bad = oracle_check(&fz.ctl->oracle, &fz.ctl->m, fz.report, sizeof(fz.report));
		if (bad) {
			fuzz_finding("invariant oracle after boot: %s", fz.report);
		}
	}
	if (!fuzz_apply_header()) {
		fz.ctl->dead = true;
		return -3;
	}
	return 0;
}

/* Map @len bytes of zeroed memory, page aligned. */
static void *fuzz_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		return NULL;
	}
	/* 4 KiB pages: write protection splits huge pages anyway. */
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/*
 * Guest memory as on every hosted machine (emu/dmap.h): one memfd mapped as the machine's
 * view, the SVSM's direct map and its C=0 mapping. The snapshot tracks the machine's view
 * and knows the other two as its aliases.
 */
static int fuzz_map_guest_memory(void)
{
	if (dmap_create(FUZZ_MEM_SIZE, &fz.mem, &fz.svsm_map, &fz.shared_map) != 0) {
		return -1;
	}
	madvise(fz.mem, FUZZ_MEM_SIZE, MADV_NOHUGEPAGE);
	madvise(fz.svsm_map, FUZZ_MEM_SIZE, MADV_NOHUGEPAGE);
	madvise(fz.shared_map, FUZZ_MEM_SIZE, MADV_NOHUGEPAGE);
	return 0;
}

int fuzz_machine_init(const struct fuzz_machine_opts *opts)
{
	size_t ctl_len = ALIGN_UP(sizeof(struct fuzz_ctl), PAGE_SIZE);
	char err[160];

	fz.opts = *opts;
	fz.ctl = fuzz_map(ctl_len);
	fz.rmp = fuzz_map(FUZZ_RMP_PAGES * PAGE_SIZE);
	fz.shadow = fuzz_map((size_t)FUZZ_MEM_PAGES * PAGE_SIZE);
	fz.shadow_epoch = calloc(FUZZ_MEM_PAGES, sizeof(u32));
	fz.rmp_epoch = calloc(FUZZ_MEM_PAGES, sizeof(u32));
	fz.rmp_pre = calloc(FUZZ_MEM_PAGES, sizeof(struct rmp_entry));
	fz.rmp_touched = calloc(FUZZ_MEM_PAGES, sizeof(u64));
	fz.touched = calloc(FUZZ_MEM_PAGES, sizeof(u32));
	if (!fz.ctl || fuzz_map_guest_memory() != 0 || !fz.rmp || !fz.shadow || !fz.shadow_epoch || !fz.rmp_epoch ||
	    !fz.rmp_pre || !fz.rmp_touched || !fz.touched) {
		fprintf(stderr, "fuzz: out of memory\n");
		return -1;
	}
	struct rmp_entry probe = {0};
	probe.page_2m = 1;
	memcpy(&fz.hv_bits_mask, &probe, 1);

	struct fuzz_ctl *c = fz.ctl;
	emu_config_default(&c->m.cfg);
	c->m.cfg.mem_size = FUZZ_MEM_SIZE;
	c->m.cfg.svsm_base = FUZZ_SVSM_BASE;
	c->m.cfg.svsm_size = FUZZ_SVSM_SIZE;
	c->m.cfg.caa_gpa = FUZZ_CAA;
	c->m.cfg.rmp_2m = true;
	c->m.cfg.console = NULL;
	c->m.cfg.deterministic = true;
	c->m.cfg.seed = 1;
	c->m.host = (struct emu_host){
		.console_write = fuzz_host_console,
		.diag = fuzz_host_diag,
		.terminate = fuzz_host_terminate,
		.protect = fuzz_host_protect,
	};
	c->m.svsm_map = fz.svsm_map;
	c->m.shared_map = fz.shared_map;
	if (opts->psp) {
		psp_attach(opts->psp, &c->m.cfg);
	}
	if (!emu_config_check(&c->m.cfg, err, sizeof(err))) {
		fprintf(stderr, "fuzz: %s\n", err);
		return -1;
	}
	if (emu_machine_current()) {
		fprintf(stderr, "fuzz: a machine already exists\n");
		return -1;
	}
	/*
	 * Everything the snapshot tracks, and the SVSM's two views as aliases of guest memory,
	 * before the machine exists: from its first RMP change on, the views follow the RMP
	 * (fuzz_host_protect), and an access the RMP forbids is the fault hardware raises.
	 */
	snapshot_init(&fz.snap);
	fz.snap.write_hook = fuzz_shadow_written;
	snapshot_alias_hooks(&fz.snap, fuzz_view_access, fuzz_view_fault, NULL);
	/*
	 * The machine's view is never write-protected: the model announces each of its writes
	 * (write_hook, fuzz_model_write), and nothing else writes it. FUZZ_CHECK_VIEWS=1
	 * checks after every reset that this held (fuzz_views_debug).
	 */
	if (snapshot_track(&fz.snap, fz.ctl, ctl_len) != 0 || snapshot_track_announced(&fz.snap, fz.mem, FUZZ_MEM_SIZE) != 0 ||
	    snapshot_track(&fz.snap, fz.rmp, FUZZ_RMP_PAGES * PAGE_SIZE) != 0 ||
	    snapshot_track(&fz.snap, __start_svsm_state, (size_t)(__stop_svsm_state - __start_svsm_state)) != 0 ||
	    (opts->psp && snapshot_track(&fz.snap, opts->psp->st, ALIGN_UP(sizeof(*opts->psp->st), PAGE_SIZE)) != 0) ||
	    snapshot_alias(&fz.snap, fz.mem, fz.svsm_map) != FUZZ_VIEW_DMAP ||
	    snapshot_alias(&fz.snap, fz.mem, fz.shared_map) != FUZZ_VIEW_SHARED) {
		perror("fuzz: snapshot");
		return -1;
	}
	emu_machine_init(&c->m, fz.mem, fz.rmp);
	fuzz_prepare_memory();
	c->m.rmp.journal = fuzz_rmp_journal;
	c->m.write_hook = fuzz_model_write;
	/* Console bytes are one IOIO exit each: only errors reach the console while fuzzing. */
	log_set_level(LOG_ERROR);
	if (!opts->boot_per_input) {
		int rc = fuzz_boot();
		if (rc != 0) {
			fprintf(stderr, "fuzz: the SVSM did not boot (%d%s)\n", rc,
				fz.ctl->terminated ? ", terminated" : "");
			return -1;
		}
		/* fuzz_boot applied an empty header; the snapshot is the plain booted machine. */
		if (opts->after_boot && opts->after_boot() != 0) {
			fprintf(stderr, "fuzz: the target's set-up after boot failed\n");
			return -1;
		}
	}
	if (snapshot_take(&fz.snap) != 0) {
		perror("fuzz: snapshot");
		return -1;
	}
	const char *check = getenv("FUZZ_CHECK_VIEWS");
	if (check && check[0] == '1') {
		fz.mem_at_snapshot = malloc(FUZZ_MEM_SIZE);
		if (!fz.mem_at_snapshot) {
			return -1;
		}
		memcpy(fz.mem_at_snapshot, fz.mem, FUZZ_MEM_SIZE);
	}
	if (opts->boot_per_input) {
		/* Inputs may make boot fail; an honest hypervisor must not (or every input is moot). */
		int rc = fuzz_boot();
		snapshot_restore(&fz.snap);
		if (rc != 0) {
			fprintf(stderr, "fuzz: the SVSM did not boot on an honest machine (%d)\n", rc);
			return -1;
		}
	}
	return 0;
}

/* Psmash every 2 MiB entry of the window, as the hypervisor would for a 4 KiB-backed guest. */
static void fuzz_rmp_4k(void)
{
	struct emu_machine *m = &fz.ctl->m;

	for (u64 gpa = FUZZ_WINDOW; gpa < FUZZ_MEM_SIZE; gpa += PAGE_2M_SIZE) {
		const struct rmp_entry *e = rmp_entry(&m->rmp, gpa);
		if (e && e->page_2m) {
			rmp_psmash(&m->rmp, gpa);
		}
	}
}

/*
 * A window region as the guest left it earlier through PVALIDATE (validated, VMPL1 RW,
 * zero) or as launched (not validated, VMPL0 only).
 */
static void fuzz_validate_region(unsigned region, bool validated)
{
	struct emu_machine *m = &fz.ctl->m;
	u64 first = (FUZZ_WINDOW >> PAGE_SHIFT) + (u64)region * PAGES_PER_2M;

	for (u64 pfn = first; pfn < first + PAGES_PER_2M; pfn++) {
		struct rmp_entry *e = &m->rmp.entries[pfn];
		e->validated = validated;
		e->perms[EMU_GUEST_VMPL] = validated ? VMPL_PERM_ALL : 0;
	}
	/*
	 * Written behind the RMP's back: the SVSM's views follow by hand. Only the direct map's
	 * rule changed (validated or not; assigned either way): no access hook per page.
	 */
	snapshot_alias_limit(&fz.snap, FUZZ_VIEW_DMAP, fz.mem + (first << PAGE_SHIFT), PAGES_PER_2M,
			     validated ? SNAP_RW : SNAP_NONE);
}

/*
 * Before boot and the snapshot, guest memory as the guest will have left it: the window
 * regions validated and guest RW (the header may undo that per input), and the guest
 * driver's pool with 4 KiB RMP entries, validated, guest RW and zero, so that setting up
 * vCPUs and deposits costs no PVALIDATE calls per input (and nothing per boot in `hv`).
 */
static void fuzz_prepare_memory(void)
{
	struct emu_machine *m = &fz.ctl->m;

	for (u64 gpa = FUZZ_POOL_START; gpa < FUZZ_POOL_END; gpa += PAGE_SIZE) {
		const struct rmp_entry *e = rmp_entry(&m->rmp, gpa);
		if (e && e->page_2m) {
			rmp_psmash(&m->rmp, ALIGN_DOWN(gpa, PAGE_2M_SIZE));
		}
		struct rmp_entry *w = &m->rmp.entries[gpa >> PAGE_SHIFT];
		w->validated = 1;
		w->perms[EMU_GUEST_VMPL] = VMPL_PERM_ALL;
	}
	emu_machine_protect(m, FUZZ_POOL_START >> PAGE_SHIFT, (FUZZ_POOL_END - FUZZ_POOL_START) >> PAGE_SHIFT);
	for (unsigned r = 0; r < FUZZ_WINDOW_REGIONS; r++) {
		fuzz_validate_region(r, true);
	}
}

/* Spawn guest @i of the header's set at @vmpl from @parent with @pages of its memory. */
static bool fuzz_spawn(struct emu_guest *parent, unsigned i, u8 vmpl, u64 pages)
{
	struct fuzz_ctl *c = fz.ctl;
	u32 apic = i == 0 ? FUZZ_APIC_CHILD : FUZZ_APIC_GRANDCHILD;

	if (guest_spawn(parent, &c->spawned[i], vmpl, apic, pages) != SVSM_SUCCESS) {
		return false;
	}
	c->spawned_count = i + 1;
	return true;
}

/* The guests at VMPL2/3 the header asks for, each on its own vCPU with memory lent by its parent. */
static bool fuzz_spawn_guests(enum fuzz_vmpl_guests which)
{
	struct fuzz_ctl *c = fz.ctl;
	struct emu_guest *g = &c->g;

	switch (which) {
	case FUZZ_VMPL_NONE:
		return true;
	case FUZZ_VMPL_2:
		return fuzz_spawn(g, 0, 2, FUZZ_CHILD_PAGES);
	case FUZZ_VMPL_3:
		return fuzz_spawn(g, 0, 3, FUZZ_CHILD_PAGES);
	case FUZZ_VMPL_2_HOSTS_3:
		return fuzz_spawn(g, 0, 2, FUZZ_CHILD_PAGES) && fuzz_spawn(&c->spawned[0], 1, 3, FUZZ_GRANDCHILD_PAGES);
	default:
		return fuzz_spawn(g, 0, 2, FUZZ_CHILD_PAGES) && fuzz_spawn(g, 1, 3, FUZZ_GRANDCHILD_PAGES);
	}
}

/* The header's calls (made by the guests, as an honest set-up would). */
static bool fuzz_apply_header_calls(void)
{
	struct fuzz_ctl *c = fz.ctl;
	const struct fuzz_header *h = &c->hdr;
	struct emu_guest *g = &c->g;

	if (h->guest_ghcb && guest_ghcb_setup(g, 0) != 0) {
		return false;
	}
	for (unsigned k = 1; k <= h->extra_vcpus; k++) {
		u64 vmsa, caa;
		if (guest_prepare_vcpu(g, &vmsa, &caa) != 0 ||
		    guest_svsm(g, SVSM_PROTOCOL_CORE, SVSM_CORE_CREATE_VCPU, vmsa, caa, k, NULL) != SVSM_SUCCESS) {
			return false;
		}
		if (h->start_vcpus && guest_start_vcpu(g, k, vmsa, caa) != 0) {
			return false;
		}
	}
	if (h->deposit && (h->deposit_pages & 31)) {
		unsigned n = h->deposit_pages & 31;
		u64 gpa = guest_alloc_pages(g, n);
		u64 list = FUZZ_CAA + offsetof(struct svsm_ca, buffer);
		struct svsm_list_hdr lh = {.entries = (u16)n, .next = 0};
		if (!gpa || guest_write(g, list, &lh, sizeof(lh)) != 0) {
			return false;
		}
		for (unsigned i = 0; i < n; i++) {
			u64 e = gpa + (u64)i * PAGE_SIZE;
			if (guest_write(g, list + sizeof(lh) + 8ull * i, &e, 8) != 0) {
				return false;
			}
		}
		if (guest_svsm(g, SVSM_PROTOCOL_CORE, SVSM_CORE_DEPOSIT_MEM, list, 0, 0, NULL) != SVSM_SUCCESS) {
			return false;
		}
	}
	return fuzz_spawn_guests(h->vmpl_guests);
}

struct fuzz_setup_ctx {
	bool ok;
};

static void fuzz_setup_fn(void *p)
{
	((struct fuzz_setup_ctx *)p)->ok = fuzz_apply_header_calls();
}

/*
 * Set the machine up as the header says. When that makes SVSM calls, they are checked
 * together: the invariant oracle and the machine's findings over what the set-up changed
 * (each call's result is the guest driver's to check: an honest set-up must succeed).
 */
static bool fuzz_apply_header(void)
{
	struct fuzz_ctl *c = fz.ctl;
	const struct fuzz_header *h = &c->hdr;
	bool calls = h->guest_ghcb || h->extra_vcpus || (h->deposit && (h->deposit_pages & 31)) ||
		     h->vmpl_guests != FUZZ_VMPL_NONE;
	struct fuzz_setup_ctx sc = {true};

	/* Guest memory as the guest left it earlier (the RMP set by hand: no oracle looks at it). */
	if (h->rmp_4k) {
		fuzz_rmp_4k();
	}
	for (unsigned r = 0; r < FUZZ_WINDOW_REGIONS; r++) {
		if (h->unvalidated_regions & (1u << r)) {
			fuzz_validate_region(r, false);
		}
	}
	if (calls) {
		fuzz_pre_call(NULL);
		if (fuzz_catch_terminate(fuzz_setup_fn, &sc)) {
			return false;
		}
		fuzz_post_call(NULL, false, 0);
	}
	if (h->fail_alloc) {
		mm_fail_nth(h->fail_nth ? h->fail_nth : 1);
	}
	c->allocs_after_setup = mm_alloc_count();
	return sc.ok && !c->dead;
}

bool fuzz_begin(struct fuzz_in *in)
{
	if (fz.started) {
		snapshot_restore(&fz.snap);
	}
	if (fz.ctl->booted) {
		fuzz_mm_remember(&fz.ctl->base); /* back at the snapshot, whose caches were drained */
	}
	fuzz_views_debug("after the reset");
	fz.started = true;
	fz.in_call = false;
	fz.pre_images = false;
	emu_vcpu_set_current(NULL);
	fuzz_counters.inputs++;

	struct fuzz_ctl *c = fz.ctl;
	u8 raw[FUZZ_HEADER_SIZE];
	for (unsigned i = 0; i < FUZZ_HEADER_SIZE; i++) {
		raw[i] = fuzz_u8(in);
	}
	c->hdr = (struct fuzz_header){
		.rmp_4k = raw[0] & 1,
		.extra_vcpus = (raw[0] >> 1) & 3,
		.start_vcpus = (raw[0] >> 3) & 1,
		.guest_ghcb = (raw[0] >> 4) & 1,
		.fail_alloc = (raw[0] >> 5) & 1,
		.deposit = (raw[0] >> 6) & 1,
		.unvalidated_regions = raw[1],
		.deposit_pages = raw[2],
		.vmpl_guests = (raw[2] & 0x80) ? (enum fuzz_vmpl_guests)(1 + ((raw[2] >> 5) & 3)) : FUZZ_VMPL_NONE,
		.fail_nth = raw[3],
		.extra = {raw[4], raw[5], raw[6], raw[7]},
	};
	if (c->hdr.vmpl_guests >= FUZZ_VMPL_2_HOSTS_3 && c->hdr.extra_vcpus > 2) {
		c->hdr.extra_vcpus = 2; /* APIC FUZZ_APIC_GRANDCHILD is the VMPL3 guest's */
	}
	c->terminated = false;
	c->dead = false;
	if (!c->booted) {
		return true; /* boot_per_input: the target boots, which applies the header */
	}
	if (!fuzz_apply_header()) {
		if (!fz.opts.termination_ok) {
			fuzz_finding("the input header's setup failed on an honest machine");
		}
		c->dead = true;
		return false;
	}
	return true;
}

/* --- per-call oracles --------------------------------------------------------------------- */

static bool fuzz_in_mem(const u8 *p)
{
	return p >= fz.mem && p < fz.mem + FUZZ_MEM_SIZE;
}

static bool fuzz_in_rmp(const u8 *p)
{
	return p >= (const u8 *)fz.rmp && p < (const u8 *)fz.rmp + FUZZ_RMP_PAGES * PAGE_SIZE;
}

/*
 * The ownership map and VMSA marks read straight from guest memory and the RMP: the
 * oracles must not call into the (coverage-instrumented) core for their bookkeeping,
 * which would cost comparison tracing and feed the fuzzer features of its own making.
 */
static bool fuzz_owned(u64 pfn)
{
	const u8 *map = fz.mem + FUZZ_SVSM_BASE;

	return pfn < FUZZ_MEM_PAGES && ((map[pfn / 8] >> (pfn % 8)) & 1);
}

static bool fuzz_is_vmsa_now(u64 pfn)
{
	return pfn < FUZZ_MEM_PAGES && fz.ctl->m.rmp.entries[pfn].vmsa;
}

/* Shadow index of a page of guest memory; -1 for other tracked pages (the RMP has its journal). */
static long fuzz_shadow_index(const u8 *page)
{
	if (fuzz_in_mem(page)) {
		return (long)((size_t)(page - fz.mem) >> PAGE_SHIFT);
	}
	return -1;
}

static bool fuzz_is(const u64 *set, u32 n, u64 page)
{
	for (u32 i = 0; i < n; i++) {
		if (set[i] == page) {
			return true;
		}
	}
	return false;
}

/* Keep guest page @i as it was when the current call began (once per call). */
static void fuzz_shadow_take(u64 i)
{
	if (fz.shadow_epoch[i] == fz.epoch) {
		return;
	}
	snapshot_page_copy(fz.shadow + (size_t)i * PAGE_SIZE, fz.mem + (size_t)i * PAGE_SIZE);
	fz.shadow_epoch[i] = fz.epoch;
	fz.touched[fz.touched_count++] = (u32)i;
}

/*
 * The snapshot's write hook: a page is about to be written for the first time since the
 * restore, by anyone, the core's direct map included. During a call, keep its content.
 */
static void fuzz_shadow_written(void *ctx, u8 *page)
{
	long i = fuzz_shadow_index(page);

	if (i >= 0 && fz.pre_images) {
		fuzz_shadow_take((u64)i);
	}
}

/*
 * The machine's write hook: the model (for the SVSM, the guest or the hypervisor) is about
 * to write guest memory. The snapshot logs the pages without a fault; during a call, keep
 * their content.
 */
static void fuzz_model_write(void *ctx, u64 gpa, u64 len)
{
	if (len == 0 || gpa >= FUZZ_MEM_SIZE) {
		return;
	}
	u64 n = MIN(len, FUZZ_MEM_SIZE - gpa);
	snapshot_prepare_write(&fz.snap, fz.mem + gpa, n);
	if (!fz.pre_images) {
		return;
	}
	for (u64 p = gpa >> PAGE_SHIFT; p <= (gpa + n - 1) >> PAGE_SHIFT; p++) {
		fuzz_shadow_take(p);
	}
}

/*
 * Content of guest @page when the current call began: its shadow if the call wrote it
 * (through the model, or through the SVSM's views: a first write since the restore or
 * since the call began sealed the page), else the page itself if no view can have written
 * it since (clean, or no view of the SVSM's may write it without a fault); NULL only for
 * the pages the call did not seal, the SVSM's own and the VMSAs, which the checks exempt.
 */
static const u8 *fuzz_pre(const u8 *page)
{
	long i = fuzz_shadow_index(page);

	if (i >= 0 && fz.shadow_epoch[i] == fz.epoch) {
		return fz.shadow + (size_t)i * PAGE_SIZE;
	}
	if (snapshot_page_state(&fz.snap, page) == SNAP_CLEAN || !snapshot_alias_writable(&fz.snap, page)) {
		return page; /* not written since the call began */
	}
	return NULL;
}

/* The RMP is about to change entries [pfn, pfn + count): keep their values from before the call. */
static void fuzz_rmp_journal(void *ctx, u64 pfn, u64 count)
{
	if (!fz.in_call) {
		return; /* the input's set-up: no oracle looks at it */
	}
	for (u64 p = pfn; p < pfn + count && p < FUZZ_MEM_PAGES; p++) {
		if (fz.rmp_epoch[p] != fz.epoch) {
			fz.rmp_epoch[p] = fz.epoch;
			fz.rmp_pre[p] = fz.rmp[p];
			fz.rmp_touched[fz.rmp_touched_count++] = p;
		}
	}
}

/* What a call is about, noted before it runs. */
struct fuzz_call_ctx {
	u32 apic;
	u64 rax, rcx;
	bool list_call;          /* PVALIDATE or DEPOSIT_MEM of the core protocol */
	u16 list_entries, list_next;
	u64 list_raw[(PAGE_SIZE - 8) / 8];
};

/*
 * Which pages the SVSM's views wrote that a guest call seals (snapshot_seal): those that
 * are neither the SVSM's nor a VMSA. They are read-only in the SVSM's views until the
 * call writes them there, which the write hook sees first (fuzz_shadow_written keeps the
 * pre-image). The SVSM's own pages and the VMSAs, which it writes at every call, stay
 * writable: the checks exempt them.
 */
static bool fuzz_seal_filter(void *ctx, u8 *page)
{
	if (!fuzz_in_mem(page)) {
		return false;
	}
	u64 gpa = (u64)(page - fz.mem);
	return !fuzz_owned(gpa >> PAGE_SHIFT) && !fuzz_is(fz.pre_vmsa, fz.pre_vmsa_count, gpa);
}

static void fuzz_pre_call(struct fuzz_call_ctx *cc)
{
	static struct svsm_vcpu *list[SVSM_MAX_VCPUS];

	bool last_mm_valid = fz.last_mm_valid && cc && mm_alloc_count() == fz.last_mm_allocs;
	fz.last_mm_valid = false;
	fz.epoch++;
	if (fz.epoch == 0) {
		memset(fz.shadow_epoch, 0, FUZZ_MEM_PAGES * sizeof(u32));
		memset(fz.rmp_epoch, 0, FUZZ_MEM_PAGES * sizeof(u32));
		fz.epoch = 1;
	}
	fz.rmp_touched_count = 0;
	fz.touched_count = 0;
	fz.pre_taken = fz.ctl->m.host_taken.count;
	fz.pre_mm_valid = false;
	if (cc) {
		/*
		 * A guest call: the rejected-call check compares the allocators' totals (caches
		 * drained). Those the previous call's check read are still right if no SVSM code
		 * ran since (everything that enters the SVSM begins with this function).
		 */
		if (last_mm_valid) {
			fz.pre_mm = fz.last_mm;
		} else {
			fuzz_mm_usage(&fz.pre_mm);
		}
		fz.pre_mm_valid = true;
		/* The caller's CPU context gets its GHCB on its first entry (cpu.h). */
		const struct svsm_cpu *sc = cpu_find_apic(cc->apic);
		fz.pre_caller_ghcb = sc && sc->ghcb_ready;
	}
	/*
	 * The ownership map as it was: the oracles diff its bits. Other pre-images only for a
	 * guest call (the rejected-call check); boots, set-ups and direct uses of the core
	 * (e.g. a page state change of 600 pages, each scrambled by the host) need none.
	 */
	fz.in_call = true;
	fz.pre_images = cc != NULL;
	fuzz_shadow_take(FUZZ_SVSM_BASE >> PAGE_SHIFT);
	u32 n = fz.ctl->booted ? vcpu_list(list, SVSM_MAX_VCPUS) : 0;
	fz.pre_vmsa_count = n;
	fz.pre_caa_count = n;
	for (u32 i = 0; i < n; i++) {
		fz.pre_vmsa[i] = list[i]->guest_vmsa_gpa;
		fz.pre_caa[i] = list[i]->caa_gpa;
		fz.pre_apic[i] = list[i]->apic_id;
		fz.pre_vmpl[i] = list[i]->guest_vmpl;
	}
	if (!cc) {
		return; /* no rejected-call check: no pre-images needed but the ownership map's */
	}
	snapshot_seal(&fz.snap, fuzz_seal_filter, NULL);
	u32 call = SVSM_CALL_ID(cc->rax);
	cc->list_call = SVSM_CALL_PROTOCOL(cc->rax) == SVSM_PROTOCOL_CORE &&
			(call == SVSM_CORE_PVALIDATE || call == SVSM_CORE_DEPOSIT_MEM);
	cc->list_entries = 0;
	cc->list_next = 0;
	if (cc->list_call && IS_ALIGNED(cc->rcx, 8) && cc->rcx < FUZZ_MEM_SIZE - 8) {
		struct svsm_list_hdr h;
		memcpy(&h, fz.mem + cc->rcx, sizeof(h));
		u64 room = (PAGE_SIZE - (cc->rcx & PAGE_MASK) - sizeof(h)) / 8;
		cc->list_entries = (u16)MIN((u64)h.entries, room);
		cc->list_next = h.next;
		memcpy(cc->list_raw, fz.mem + cc->rcx + sizeof(h), 8ull * cc->list_entries);
	}
}

static void fuzz_note_changed(u64 pfn)
{
	if (fz.changed_count > 0 && fz.changed[fz.changed_count - 1] == pfn) {
		return;
	}
	if (fz.changed_count < FUZZ_MAX_CHANGED) {
		fz.changed[fz.changed_count++] = pfn;
	} else {
		fz.changed_overflow = true;
	}
}

/* RMP entries a call changed beyond PSMASH and VMSA in-use marks (the "rejected call" check). */
struct fuzz_rmp_diff_ctx {
	u64 strict[FUZZ_MAX_CHANGED];
	size_t strict_count;
};

/* The first byte at or after @from where two pages differ; PAGE_SIZE if none (a word at a time). */
static size_t fuzz_next_diff(const u8 *a, const u8 *b, size_t from)
{
	while (from < PAGE_SIZE && (from & 7)) {
		if (a[from] != b[from]) {
			return from;
		}
		from++;
	}
	for (; from < PAGE_SIZE; from += 8) {
		u64 x, y;
		memcpy(&x, a + from, 8);
		memcpy(&y, b + from, 8);
		if (x != y) {
			return from + (size_t)__builtin_ctzll(x ^ y) / 8;
		}
	}
	return PAGE_SIZE;
}

/* Ownership bits a call changed: diff of the map page against its pre-call copy. */
static void fuzz_diff_map(void)
{
	/* The ownership map (one page at the start of the SVSM region): bit n is page n. */
	_Static_assert(FUZZ_MEM_PAGES / 8 <= PAGE_SIZE, "the ownership map fits one page");
	const u8 *page = fz.mem + FUZZ_SVSM_BASE;
	const u8 *pre = fuzz_pre(page);
	if (!pre || snapshot_page_equal(page, pre)) {
		return;
	}
	for (size_t i = fuzz_next_diff(page, pre, 0); i < PAGE_SIZE; i = fuzz_next_diff(page, pre, i + 1)) {
		u8 x = page[i] ^ pre[i];
		for (unsigned b = 0; x && b < 8; b++, x >>= 1) {
			if (x & 1) {
				fuzz_note_changed(i * 8 + b);
			}
		}
	}
}

/* Pages the call may have changed although it failed: entries [old next, new next) of its list. */
struct fuzz_allowed {
	const struct fuzz_call_ctx *cc;
	u16 from, to;
};

static bool fuzz_allowed_page(const struct fuzz_allowed *a, u64 pfn)
{
	if (!a->cc) {
		return false;
	}
	for (u16 i = a->from; i < a->to && i < a->cc->list_entries; i++) {
		u64 e = a->cc->list_raw[i];
		u64 first = e >> PAGE_SHIFT;
		u64 count = (e & 3) == PAGE_SIZE_2M ? PAGES_PER_2M : 1;
		if (pfn >= first && pfn < first + count) {
			return true;
		}
	}
	return false;
}

/* The page was the SVSM's before the call (pre-call copy of the map) or is now. */
static bool fuzz_owned_now_or_before(u64 pfn)
{
	if (pfn >= FUZZ_MEM_PAGES) {
		return false;
	}
	if (fuzz_owned(pfn)) {
		return true;
	}
	const u8 *map = fuzz_pre(fz.mem + FUZZ_SVSM_BASE + (pfn / 8 / PAGE_SIZE) * PAGE_SIZE);
	return map && ((map[(pfn / 8) % PAGE_SIZE] >> (pfn % 8)) & 1);
}

/* Guest memory of a rejected call: unchanged but for the CA header bytes and the list's next. */
static void fuzz_check_unchanged_mem(const struct fuzz_allowed *a, u8 *page)
{
	u64 gpa = (u64)(page - fz.mem);
	u64 pfn = gpa >> PAGE_SHIFT;
	const u8 *pre = fuzz_pre(page);
	if (!pre) {
		return; /* written earlier in the input, not through the model in this call (see fuzz_pre) */
	}
	if (pre == page || fuzz_owned_now_or_before(pfn) || fuzz_is(fz.pre_vmsa, fz.pre_vmsa_count, gpa) ||
	    fuzz_is_vmsa_now(pfn) || emu_host_took(&fz.ctl->m, pfn) || fuzz_allowed_page(a, pfn) ||
	    snapshot_page_equal(page, pre)) {
		return;
	}
	for (size_t i = fuzz_next_diff(page, pre, 0); i < PAGE_SIZE; i = fuzz_next_diff(page, pre, i + 1)) {
		u64 at = gpa + i;
		bool ca_hdr = i < 2 && (fuzz_is(fz.pre_caa, fz.pre_caa_count, gpa) || vcpu_page_is_caa(gpa));
		bool next = a->cc && a->cc->list_call && at >= a->cc->rcx + 2 && at < a->cc->rcx + 4;
		if (!ca_hdr && !next) {
			fuzz_finding("rejected call (rax in 0x%llx rcx 0x%llx) changed guest memory at 0x%llx (%02x -> %02x)",
				     (unsigned long long)(a->cc ? a->cc->rax : 0), (unsigned long long)(a->cc ? a->cc->rcx : 0),
				     (unsigned long long)at, pre[i], page[i]);
		}
	}
}

/* The page was the SVSM's when the call began (pre-call copy of the ownership map) or lies in its region. */
static bool fuzz_svsm_page_before(u64 pfn)
{
	const u8 *map = fuzz_pre(fz.mem + FUZZ_SVSM_BASE);

	if (pfn >= FUZZ_SVSM_BASE >> PAGE_SHIFT && pfn < (FUZZ_SVSM_BASE + FUZZ_SVSM_SIZE) >> PAGE_SHIFT) {
		return true;
	}
	return pfn < FUZZ_MEM_PAGES && (!map || ((map[pfn / 8] >> (pfn % 8)) & 1));
}

/*
 * Did the host take a page of the SVSM's own during the call (hv)? Then what the SVSM
 * keeps there (its ownership map, vCPU table, allocator) is the host's garbage: the SVSM
 * must fault at its next use of it, which is a fail-safe end, but nobody else can read
 * its bookkeeping any more, the oracles included. A page the SVSM got during the call
 * (a deposit, its GHCB) counts too: a page taken after it was deposited is one of the
 * allocator's free pages.
 */
static bool fuzz_svsm_page_taken(void)
{
	const struct emu_machine *m = &fz.ctl->m;

	fuzz_counters.takes += m->host_taken.count - fz.pre_taken;
	if (m->host_taken.overflow) {
		return true;
	}
	/* The SVSM region first: if its ownership map was taken, the map reads as garbage. */
	for (u32 i = fz.pre_taken; i < m->host_taken.count; i++) {
		u64 pfn = m->host_taken.pfn[i];
		if (pfn >= FUZZ_SVSM_BASE >> PAGE_SHIFT && pfn < (FUZZ_SVSM_BASE + FUZZ_SVSM_SIZE) >> PAGE_SHIFT) {
			return true;
		}
	}
	for (u32 i = fz.pre_taken; i < m->host_taken.count; i++) {
		if (fuzz_svsm_page_before(m->host_taken.pfn[i]) || fuzz_owned(m->host_taken.pfn[i])) {
			return true;
		}
	}
	return false;
}

/*
 * The vCPU table after a rejected call: the same vCPUs (APIC ID, VMSA, calling area,
 * VMPL) as before it.
 */
static void fuzz_check_vcpu_table(const struct fuzz_call_ctx *cc, u32 result)
{
	static struct svsm_vcpu *list[SVSM_MAX_VCPUS];
	u32 n = vcpu_list(list, SVSM_MAX_VCPUS);
	bool same = n == fz.pre_vmsa_count;

	for (u32 i = 0; same && i < n; i++) {
		bool found = false;
		for (u32 j = 0; j < fz.pre_vmsa_count && !found; j++) {
			found = fz.pre_apic[j] == list[i]->apic_id && fz.pre_vmsa[j] == list[i]->guest_vmsa_gpa &&
				fz.pre_caa[j] == list[i]->caa_gpa && fz.pre_vmpl[j] == list[i]->guest_vmpl;
		}
		same = found;
	}
	if (!same) {
		fuzz_finding("call rax 0x%llx rcx 0x%llx returned 0x%x but changed the vCPU table (%u -> %u vCPUs)",
			     (unsigned long long)cc->rax, (unsigned long long)cc->rcx, result, fz.pre_vmsa_count, n);
	}
}

/*
 * The allocators' totals after a rejected call (caches drained): as before it, but for a
 * GHCB the SVSM set up on the caller's first entry (its own page) and SVSM pages the
 * hypervisor would not take back from it (shared now, leaked on purpose by vcpu.c).
 */
static void fuzz_check_totals(const struct fuzz_call_ctx *cc, u32 result)
{
	struct mm_stats now;

	if (!fz.pre_mm_valid) {
		return;
	}
	fuzz_mm_usage(&now);
	fuzz_mm_remember(&now);
	const struct svsm_cpu *sc = cpu_find_apic(cc->apic);
	u64 allowed = (!fz.pre_caller_ghcb && sc && sc->ghcb_ready) ? 1 : 0;
	for (size_t i = 0; i < fz.rmp_touched_count; i++) {
		u64 p = fz.rmp_touched[i];
		if (fz.rmp_pre[p].assigned && !fz.rmp[p].assigned && fuzz_owned_now_or_before(p)) {
			allowed++;
		}
	}
	const struct mm_stats *pre = &fz.pre_mm;
	u64 grew = now.page.in_use - pre->page.in_use;
	if (now.slab.in_use != pre->slab.in_use || now.heap.in_use != pre->heap.in_use ||
	    now.page.in_use < pre->page.in_use || grew % PAGE_SIZE || grew / PAGE_SIZE > allowed) {
		fuzz_finding("call rax 0x%llx rcx 0x%llx returned 0x%x but the allocators went from page %llu slab %llu heap "
			     "%llu to %llu %llu %llu bytes in use (%llu pages of the SVSM's own allowed)",
			     (unsigned long long)cc->rax, (unsigned long long)cc->rcx, result,
			     (unsigned long long)pre->page.in_use, (unsigned long long)pre->slab.in_use,
			     (unsigned long long)pre->heap.in_use, (unsigned long long)now.page.in_use,
			     (unsigned long long)now.slab.in_use, (unsigned long long)now.heap.in_use,
			     (unsigned long long)allowed);
	}
}

/* After a call (or direct core code): the oracles. @cc and @result describe a guest call. */
static void fuzz_post_call(const struct fuzz_call_ctx *cc, bool completed, u32 result)
{
	static struct fuzz_rmp_diff_ctx d;

	fz.in_call = false;
	fz.pre_images = false;
	fuzz_views_debug("after a call");
	if (fuzz_svsm_page_taken()) {
		fuzz_machine_findings("after the host took a page of the SVSM's");
		fuzz_counters.svsm_taken++;
		fz.ctl->svsm_taken = true;
		fz.ctl->dead = true;
		return;
	}
	fz.changed_count = 0;
	fz.changed_overflow = false;
	d.strict_count = 0;
	/* RMP entries: those the journal saw about to change, compared with their old values. */
	for (size_t i = 0; i < fz.rmp_touched_count; i++) {
		u64 p = fz.rmp_touched[i];
		const u8 *now = (const u8 *)&fz.rmp[p];
		const u8 *pre = (const u8 *)&fz.rmp_pre[p];
		if (memcmp(now, pre, sizeof(struct rmp_entry)) == 0) {
			continue;
		}
		fuzz_note_changed(p);
		bool hv_only = ((now[0] ^ pre[0]) & ~fz.hv_bits_mask) == 0 &&
			       memcmp(now + 1, pre + 1, sizeof(struct rmp_entry) - 1) == 0;
		if (!hv_only && d.strict_count < FUZZ_MAX_CHANGED) {
			d.strict[d.strict_count++] = p;
		}
	}
	fuzz_diff_map();
	for (u32 i = 0; i < fz.pre_vmsa_count; i++) {
		fuzz_note_changed(fz.pre_vmsa[i] >> PAGE_SHIFT);
	}
	if (fz.after_boot) {
		for (u64 p = FUZZ_SVSM_BASE >> PAGE_SHIFT; p < (FUZZ_SVSM_BASE + FUZZ_SVSM_SIZE) >> PAGE_SHIFT; p++) {
			fuzz_note_changed(p);
		}
	}
	unsigned bad;
	if (fz.changed_overflow) {
		bad = oracle_check(&fz.ctl->oracle, &fz.ctl->m, fz.report, sizeof(fz.report));
	} else {
		bad = oracle_check_pages(&fz.ctl->oracle, &fz.ctl->m, fz.changed, fz.changed_count, fz.report,
					 sizeof(fz.report));
	}
	if (bad) {
		if (fz.after_boot) {
			fuzz_finding("invariant oracle after boot: %s", fz.report);
		}
		fuzz_finding("invariant oracle after call rax 0x%llx: %s", cc ? (unsigned long long)cc->rax : 0ull,
			     fz.report);
	}
	if (!cc || !completed) {
		return;
	}
	u32 proto = SVSM_CALL_PROTOCOL(cc->rax);
	u32 call = SVSM_CALL_ID(cc->rax);
	/* Queries and calls to no protocol at all must never change anything, whatever they answer. */
	bool read_only = !protocol_find(proto) || (proto == SVSM_PROTOCOL_CORE && call >= SVSM_CORE_QUERY_PROTOCOL);
	bool rejected = (result >= SVSM_ERR_INCOMPLETE && result != SVSM_ERR_INCOMPLETE) ||
			(result & 0xC0000000u) == SVSM_RESULT_NEED_MEMORY;
	if (cc->list_call && result != SVSM_SUCCESS) {
		rejected = true;
	}
	if (!rejected && !read_only) {
		return;
	}
	struct fuzz_allowed a = {.cc = cc, .from = 0, .to = 0};
	if (cc->list_call && result != SVSM_SUCCESS) {
		/* The 'next' rule: entries before the new next may have been done, none after. */
		struct svsm_list_hdr h;
		a.from = cc->list_next;
		a.to = cc->list_entries;
		struct rmp_fault f;
		if (rmp_check_access(&fz.ctl->m.rmp, 0, true, cc->rcx, sizeof(h), RMP_ACCESS_READ, &f)) {
			memcpy(&h, fz.mem + cc->rcx, sizeof(h));
			if (h.next >= a.from && h.next <= cc->list_entries) {
				a.to = h.next;
			}
		}
	}
	for (size_t i = 0; i < d.strict_count; i++) {
		/* The SVSM's own pages (e.g. a GHCB set up on a vCPU's first entry) are its business; takes the host's. */
		if (!fuzz_allowed_page(&a, d.strict[i]) && !fuzz_owned_now_or_before(d.strict[i]) &&
		    !emu_host_took(&fz.ctl->m, d.strict[i])) {
			fuzz_finding("call rax 0x%llx rcx 0x%llx returned 0x%x but changed the RMP entry of 0x%llx",
				     (unsigned long long)cc->rax, (unsigned long long)cc->rcx, result,
				     (unsigned long long)(d.strict[i] << PAGE_SHIFT));
		}
	}
	for (size_t i = 0; i < fz.touched_count; i++) {
		fuzz_check_unchanged_mem(&a, fz.mem + (size_t)fz.touched[i] * PAGE_SIZE);
	}
	fuzz_check_vcpu_table(cc, result);
	fuzz_check_totals(cc, result);
	fuzz_counters.rejected_checked++;
}

struct fuzz_call_args {
	struct emu_guest *g;
	u32 apic;
	struct guest_regs *r;
	bool once;
	int status;
};

static void fuzz_call_fn(void *p)
{
	struct fuzz_call_args *a = p;

	a->status = a->once ? guest_call_once(a->g, a->apic, a->r) : guest_call(a->g, a->apic, a->r);
}

/* FUZZ_TRACE=1: one line per call on stderr (for reading a reproducer). */
static void fuzz_trace(const char *what, u32 apic, u64 rax, u64 rcx, u64 rdx, u64 r8, int status, u64 result)
{
	static int on = -1;

	if (on < 0) {
		const char *e = getenv("FUZZ_TRACE");
		on = e && e[0] == '1';
	}
	if (on) {
		fprintf(stderr, "%s vcpu %u rax %llx rcx %llx rdx %llx r8 %llx -> status %d rax %llx\n", what, apic,
			(unsigned long long)rax, (unsigned long long)rcx, (unsigned long long)rdx, (unsigned long long)r8,
			status, (unsigned long long)result);
	}
}

/* The calling vCPU's guest context as a call began, to judge whether the call may end it. */
struct fuzz_caller {
	struct emu_vcpu *ev;
	u8 vmpl;          /* its guest's VMPL */
	bool alive;
	/*
	 * The machine's "running VMSA deleted" mark of the vCPU was already set: it stays set
	 * when another guest context is started on the same APIC ID later (a VMPL1 guest can
	 * start an AP on the APIC ID whose VMPL2 context deleted its own VMSA).
	 */
	bool destroyed_before;
	u64 running_vmsa; /* the VMSA its guest context runs on */
	u64 svsm_vmsa;    /* the VMSA the SVSM has registered for its APIC ID (0: none) */
};

static void fuzz_caller_note(struct fuzz_caller *c, u32 apic_id, u8 vmpl)
{
	struct svsm_vcpu *sv = fz.ctl->booted ? vcpu_find_apic(apic_id) : NULL;
	const u8 *p = (const u8 *)sv;

	fz.caller_svsm_page = p >= fz.svsm_map && p < fz.svsm_map + FUZZ_MEM_SIZE
				      ? ALIGN_DOWN((u64)(p - fz.svsm_map), PAGE_SIZE)
				      : 0;
	c->ev = emu_vcpu_find(&fz.ctl->m, apic_id);
	c->vmpl = vmpl;
	c->alive = c->ev && c->ev->vmsa_valid[vmpl];
	c->destroyed_before = c->ev && c->ev->destroyed_while_running;
	c->running_vmsa = c->alive ? c->ev->vmsa_gpa[vmpl] : 0;
	c->svsm_vmsa = sv ? sv->guest_vmsa_gpa : 0;
}

/*
 * Whether the call ended its own vCPU's guest context. Only DELETE_VCPU of that vCPU's
 * VMSA may (the SVSM then has the AP destroyed and never returns); anything else ending
 * it is a finding.
 */
static bool fuzz_caller_ended(const struct fuzz_caller *c, u64 rax, u64 rcx)
{
	if (!c->alive) {
		return false;
	}
	bool destroyed = c->ev->destroyed_while_running && !c->destroyed_before;
	if (!destroyed && c->ev->vmsa_valid[c->vmpl]) {
		return false;
	}
	/* A hostile hypervisor (the hv target) may end any vCPU's context itself. */
	if (!fz.opts.termination_ok &&
	    (rax != SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_DELETE_VCPU) || rcx == 0 ||
	     (rcx != c->running_vmsa && rcx != c->svsm_vmsa))) {
		fuzz_finding("call rax 0x%llx rcx 0x%llx ended the calling vCPU (APIC %u), which only DELETE_VCPU of its "
			     "own VMSA may do", (unsigned long long)rax, (unsigned long long)rcx, c->ev->apic_id);
	}
	return true;
}

int fuzz_call(u32 apic_id, struct guest_regs *r, bool once)
{
	struct fuzz_caller caller;
	static struct fuzz_call_ctx cc;
	struct fuzz_call_args a = {.apic = apic_id, .r = r, .once = once, .status = GUEST_NO_VCPU};

	if (fz.ctl->dead) {
		return GUEST_NO_VCPU;
	}
	a.g = fuzz_guest_of(apic_id);
	cc.apic = apic_id;
	cc.rax = r->rax;
	cc.rcx = r->rcx;
	const struct guest_regs in = *r;
	fuzz_caller_note(&caller, apic_id, a.g->vmpl);
	fuzz_pre_call(&cc);
	fuzz_counters.calls++;
	if (fuzz_catch_terminate(fuzz_call_fn, &a)) {
		return GUEST_NO_VCPU;
	}
	fuzz_trace("call", apic_id, in.rax, in.rcx, in.rdx, in.r8, a.status, r->rax);
	fuzz_caller_ended(&caller, in.rax, in.rcx);
	fuzz_post_call(&cc, a.status == GUEST_OK, (u32)r->rax);
	/* Like Linux, the guest uses the new calling area once REMAP_CA succeeded. */
	if (a.status == GUEST_OK && cc.rax == SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_REMAP_CA) &&
	    (u32)r->rax == SVSM_SUCCESS && !fz.ctl->dead) {
		struct guest_vcpu *gv = guest_vcpu(a.g, apic_id);
		if (gv) {
			gv->caa_gpa = cc.rcx;
		}
	}
	return a.status;
}

struct fuzz_entry_args {
	struct emu_vcpu *v;
	u8 vmpl;         /* the caller's */
	bool resp_error; /* the run-VMPL request failed: the guest never resumed from the SVSM */
};

static void fuzz_entry_fn(void *p)
{
	struct fuzz_entry_args *a = p;
	struct emu_vcpu *prev = emu_vcpu_current();
	u64 saved = a->v->ghcb_msr[a->vmpl];

	a->v->ghcb_msr[a->vmpl] = GHCB_MSR_RUN_VMPL(0);
	emu_vcpu_set_current(a->v);
	emu_hv_vmgexit(&fz.ctl->m, a->v);
	emu_vcpu_set_current(prev);
	u64 resp = a->v->ghcb_msr[a->v->vmpl];
	a->resp_error = GHCB_MSR_INFO(resp) != GHCB_MSR_RUN_VMPL_RESP || GHCB_MSR_RESP_ERROR(resp) != 0;
	a->v->ghcb_msr[a->vmpl] = saved;
}

int fuzz_entry(u32 apic_id, u8 pending, struct guest_regs *r)
{
	static struct fuzz_call_ctx cc;
	if (fz.ctl->dead) {
		return GUEST_NO_VCPU;
	}
	struct emu_guest *g = fuzz_guest_of(apic_id);
	struct guest_vcpu *gv = guest_vcpu(g, apic_id);
	struct emu_vcpu *v = emu_vcpu_find(&fz.ctl->m, apic_id);

	if (!gv || !v || v->vmpl != g->vmpl || !v->vmsa_valid[g->vmpl]) {
		return GUEST_NO_VCPU;
	}
	if (guest_write(g, gv->caa_gpa, &pending, 1) != 0) {
		return GUEST_FAULT;
	}
	const struct guest_regs in = *r;
	v->rax = r->rax;
	v->rcx = r->rcx;
	v->rdx = r->rdx;
	v->r8 = r->r8;
	v->r9 = r->r9;
	cc.apic = apic_id;
	cc.rax = r->rax;
	cc.rcx = r->rcx;
	struct fuzz_caller caller;
	fuzz_caller_note(&caller, apic_id, g->vmpl);
	fuzz_pre_call(&cc);
	fuzz_counters.calls++;
	struct fuzz_entry_args a = {v, g->vmpl, false};
	if (fuzz_catch_terminate(fuzz_entry_fn, &a)) {
		return GUEST_NO_VCPU;
	}
	fuzz_trace("entry", apic_id, in.rax, in.rcx, pending, 0, a.resp_error ? GUEST_HV_ERROR : 0, v->rax);
	if (pending != 1 && ((v->destroyed_while_running && !caller.destroyed_before) || !v->vmsa_valid[g->vmpl])) {
		fuzz_finding("an entry with call_pending %u destroyed the vCPU", pending);
	}
	/* call_pending 1 is a real call: it may be the vCPU deleting its own VMSA. */
	if (fuzz_caller_ended(&caller, in.rax, in.rcx)) {
		fuzz_post_call(&cc, false, 0);
		return GUEST_NO_VCPU;
	}
	*r = (struct guest_regs){v->rax, v->rcx, v->rdx, v->r8, v->r9};
	/*
	 * The spec's answers: 0 is no call at all, anything but 1 is INVALID_FORMAT. Only
	 * when the guest wrote the CA the SVSM reads for this vCPU: a guest may start an AP
	 * with a calling area other than the one it gave CREATE_VCPU, and then the SVSM
	 * rightly looks at its own; likewise when the guest started the APIC ID with
	 * another VMSA than the one CREATE_VCPU registered for it, or the switch failed.
	 */
	struct svsm_vcpu *sv = vcpu_find_apic(apic_id);
	if (!sv || sv->caa_gpa != gv->caa_gpa || sv->guest_vmsa_gpa != v->vmsa_gpa[g->vmpl] || a.resp_error) {
		fuzz_post_call(&cc, false, 0);
		return GUEST_OK;
	}
	if (pending == 0 && (r->rax != in.rax || r->rcx != in.rcx)) {
		fuzz_finding("a spurious entry (call_pending 0) changed the guest's registers");
	}
	if (pending > 1 && (u32)r->rax != SVSM_ERR_INVALID_FORMAT) {
		fuzz_finding("call_pending %u answered 0x%x, not INVALID_FORMAT", pending, (u32)r->rax);
	}
	fuzz_post_call(&cc, true, pending == 1 ? (u32)r->rax : SVSM_ERR_INVALID_FORMAT);
	u8 old = 0;
	if (fz.ctl->dead || emu_mem_xchg8(&fz.ctl->m, g->vmpl, gv->caa_gpa, 0, &old) != 0) {
		return GUEST_FAULT;
	}
	return pending != 0 && old != 0 ? GUEST_NOT_RUN : GUEST_OK;
}

void fuzz_svsm_begin(void)
{
	struct emu_vcpu *v = &fz.ctl->m.vcpus[0];

	fuzz_pre_call(NULL);
	v->vmpl = 0;
	emu_vcpu_set_current(v);
}

void fuzz_svsm_end(void)
{
	struct emu_vcpu *v = &fz.ctl->m.vcpus[0];

	v->vmpl = EMU_GUEST_VMPL;
	emu_vcpu_set_current(NULL);
	fuzz_post_call(NULL, false, 0);
}

void fuzz_guest_op(void (*fn)(void *ctx), void *ctx)
{
	if (fz.ctl->dead) {
		return;
	}
	fuzz_pre_call(NULL);
	if (fuzz_catch_terminate(fn, ctx)) {
		return;
	}
	fuzz_post_call(NULL, false, 0);
}

/* --- end of an input: undo and leak check ----------------------------------------------- */

/* Undo the input's vCPUs and compare the allocators with the snapshot's (see fuzz_end). */
static void fuzz_end_fn(void *ctx)
{
	static struct svsm_vcpu *list[SVSM_MAX_VCPUS];
	struct fuzz_ctl *c = fz.ctl;
	struct emu_guest *g = &c->g;

	u32 n = vcpu_list(list, SVSM_MAX_VCPUS);
	u64 vmsas[SVSM_MAX_VCPUS];
	u32 apics[SVSM_MAX_VCPUS];
	u8 vmpls[SVSM_MAX_VCPUS];
	u32 k = 0;
	/* Last created first: a guest that hosts another stops it before it is stopped itself. */
	for (u32 i = n; i-- > 0;) {
		if (!list[i]->startup) {
			vmsas[k] = list[i]->guest_vmsa_gpa;
			vmpls[k] = list[i]->guest_vmpl;
			apics[k++] = list[i]->apic_id;
		}
	}
	for (u32 i = 0; i < k; i++) {
		struct emu_vcpu *ev = emu_vcpu_find(&c->m, apics[i]);
		struct emu_guest *owner = fuzz_guest_of(apics[i]);
		bool running = ev && vmpls[i] < RMP_VMPL_COUNT && ev->vmsa_valid[vmpls[i]] &&
			       ev->vmsa_gpa[vmpls[i]] == vmsas[i] && guest_vcpu(owner, apics[i]);
		/* The VMPL1 guest stops its own APs; a spawned guest's vCPU is stopped by its parent. */
		int stopped = !running ? 0
			      : owner->parent ? guest_ap_destroy_child(owner->parent, owner, apics[i])
					      : guest_ap_destroy(owner, apics[i]);
		if (stopped != 0) {
			fuzz_counters.leak_skipped++;
			return;
		}
		struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, SVSM_CORE_DELETE_VCPU), .rcx = vmsas[i]};
		if (guest_call(g, 0, &r) != GUEST_OK || (u32)r.rax != SVSM_SUCCESS) {
			fuzz_counters.leak_skipped++;
			return;
		}
	}
	struct mm_stats now;
	fuzz_mm_usage(&now);
	if (now.slab.in_use != c->base.slab.in_use || now.heap.in_use != c->base.heap.in_use ||
	    now.page.in_use != c->base.page.in_use) {
		/* Pages the hypervisor would not take back are leaked on purpose (see vcpu.c). */
		u64 kept = fuzz_shared_owned() - c->base_shared_owned;
		if (now.slab.in_use != c->base.slab.in_use || now.heap.in_use != c->base.heap.in_use ||
		    now.page.in_use != c->base.page.in_use + kept * PAGE_SIZE) {
			fuzz_finding("leak: page %llu/%llu slab %llu/%llu heap %llu/%llu (bytes in use now/at boot)",
				     (unsigned long long)now.page.in_use, (unsigned long long)c->base.page.in_use,
				     (unsigned long long)now.slab.in_use, (unsigned long long)c->base.slab.in_use,
				     (unsigned long long)now.heap.in_use, (unsigned long long)c->base.heap.in_use);
		}
	}
	fuzz_counters.leak_checked++;
}

void fuzz_end(void)
{
	struct fuzz_ctl *c = fz.ctl;

	/* A terminated machine runs nothing; after a take of an SVSM page its bookkeeping is garbage. */
	if (!c->booted || c->terminated || c->svsm_taken) {
		return;
	}
	/* Without a single allocation attempt since the setup, nothing can have leaked. */
	if (mm_alloc_count() == c->allocs_after_setup) {
		fuzz_counters.leak_checked++;
		return;
	}
	/* The hypervisor turns honest for the clean-up; the allocation failure is disarmed. */
	c->m.hostile = (struct emu_hostile){0};
	mm_fail_nth(0);
	/* The clean-up is SVSM calls too: a termination on the way is judged like any other. */
	fuzz_catch_terminate(fuzz_end_fn, NULL);
}

void fuzz_report_data(const void *nonce, size_t nonce_len, const void *manifest, size_t manifest_len, u8 out[64])
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	unsigned int n = 0;

	if (!m || !EVP_DigestInit_ex(m, EVP_sha512(), NULL) || !EVP_DigestUpdate(m, nonce, nonce_len) ||
	    !EVP_DigestUpdate(m, manifest, manifest_len) || !EVP_DigestFinal_ex(m, out, &n)) {
		fuzz_finding("OpenSSL failed");
	}
	EVP_MD_CTX_free(m);
}
