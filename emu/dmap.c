/* The SVSM's direct map as a second, RMP-checked view of guest memory (see dmap.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "dmap.h"

int dmap_create(u64 size, u8 **mem, u8 **svsm_map, u8 **shared_map)
{
	int fd = memfd_create("svsm-emu-guest-memory", MFD_CLOEXEC);

	if (fd < 0) {
		return -1;
	}
	if (ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		return -1;
	}
	void *a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	void *b = a == MAP_FAILED ? MAP_FAILED : mmap(NULL, size, PROT_NONE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	void *c = b == MAP_FAILED ? MAP_FAILED : mmap(NULL, size, PROT_NONE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	int saved = errno;
	close(fd);
	if (c == MAP_FAILED) {
		if (b != MAP_FAILED) {
			munmap(b, size);
		}
		if (a != MAP_FAILED) {
			munmap(a, size);
		}
		errno = saved;
		return -1;
	}
	*mem = a;
	*svsm_map = b;
	*shared_map = c;
	return 0;
}

void dmap_destroy(u64 size, u8 *mem, u8 *svsm_map, u8 *shared_map)
{
	if (mem) {
		munmap(mem, size);
	}
	if (svsm_map) {
		munmap(svsm_map, size);
	}
	if (shared_map) {
		munmap(shared_map, size);
	}
}

bool dmap_page_shared(const struct emu_machine *m, u64 pfn)
{
	return pfn < m->rmp.page_count && !rmp_read_pfn(&m->rmp, pfn).assigned;
}

bool dmap_page_accessible(const struct emu_machine *m, u64 pfn)
{
	if (pfn >= m->rmp.page_count) {
		return false;
	}
	struct rmp_entry e = rmp_read_pfn(&m->rmp, pfn);
	return e.assigned && e.validated;
}

/* One mprotect per run of pages of @view with the same access, as @ok says. */
static void dmap_protect_view(struct emu_machine *m, u8 *view, u64 pfn, u64 end,
			      bool (*ok_fn)(const struct emu_machine *, u64), int ok_prot)
{
	while (pfn < end) {
		bool ok = ok_fn(m, pfn);
		u64 run = pfn + 1;
		while (run < end && ok_fn(m, run) == ok) {
			run++;
		}
		if (mprotect(view + (pfn << PAGE_SHIFT), (run - pfn) << PAGE_SHIFT, ok ? ok_prot : PROT_NONE) != 0) {
			perror("svsm-emu: mprotect of the SVSM's view of memory");
		}
		pfn = run;
	}
}

void dmap_protect(struct emu_machine *m, u64 pfn, u64 count)
{
	u64 end = MIN(pfn + count, m->rmp.page_count);

	/* While writes are traced, accessible pages are read-only until their first write. */
	dmap_protect_view(m, m->svsm_map, pfn, end, dmap_page_accessible,
			  m->svsm_write_hook ? PROT_READ : PROT_READ | PROT_WRITE);
	if (m->shared_map) {
		dmap_protect_view(m, m->shared_map, pfn, end, dmap_page_shared, PROT_READ | PROT_WRITE);
	}
}

static struct sigaction dmap_prev;

/* x86-64 Linux: bit 1 of the page-fault error code says "write". */
static bool dmap_fault_is_write(const void *uctx)
{
#if defined(__x86_64__)
	const ucontext_t *uc = uctx;
	return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
	(void)uctx;
	return false;
#endif
}

static void dmap_handler(int sig, siginfo_t *info, void *uctx)
{
	struct emu_machine *m = emu_machine_current();
	const u8 *addr = info->si_addr;

	if (m && m->svsm_map && addr >= m->svsm_map && addr < m->svsm_map + m->cfg.mem_size) {
		u64 gpa = (u64)(addr - m->svsm_map);
		if (dmap_page_accessible(m, gpa >> PAGE_SHIFT)) {
			if (m->svsm_write_hook && dmap_fault_is_write(uctx)) {
				/* A traced write: the observer sees the page unchanged, then it may be written. */
				u64 page = ALIGN_DOWN(gpa, PAGE_SIZE);
				m->svsm_write_hook(m->svsm_write_ctx, page);
				mprotect(m->svsm_map + page, PAGE_SIZE, PROT_READ | PROT_WRITE);
				return;
			}
			/* The mapping lagged behind the RMP (another view's handler owns it): retry. */
			emu_machine_protect(m, gpa >> PAGE_SHIFT, 1);
			return;
		}
		emu_svsm_map_fault(m, gpa, dmap_fault_is_write(uctx));
	}
	if (m && m->shared_map && addr >= m->shared_map && addr < m->shared_map + m->cfg.mem_size) {
		u64 gpa = (u64)(addr - m->shared_map);
		if (dmap_page_shared(m, gpa >> PAGE_SHIFT)) {
			emu_machine_protect(m, gpa >> PAGE_SHIFT, 1);
			return;
		}
		emu_svsm_shared_fault(m, gpa, dmap_fault_is_write(uctx));
	}
	if (dmap_prev.sa_flags & SA_SIGINFO) {
		if (dmap_prev.sa_sigaction) {
			dmap_prev.sa_sigaction(sig, info, uctx);
			return;
		}
	} else if (dmap_prev.sa_handler != SIG_DFL && dmap_prev.sa_handler != SIG_IGN) {
		dmap_prev.sa_handler(sig);
		return;
	}
	signal(SIGSEGV, SIG_DFL);
}

int dmap_handler_install(void)
{
	struct sigaction cur;

	/* Test frameworks (cmocka) put their own handler in for each test: check, don't assume. */
	if (sigaction(SIGSEGV, NULL, &cur) != 0) {
		return -1;
	}
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == dmap_handler) {
		return 0;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = dmap_handler;
	/* NODEFER: termination longjmps out of the handler and SIGSEGV must stay deliverable. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &dmap_prev) != 0) {
		return -1;
	}
	return 0;
}
