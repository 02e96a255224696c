/* The emulated machine in a Linux process: mmap'ed memory, calloc'ed RMP, FILE console, longjmp/exit. */
#include <dlfcn.h>
#include <sched.h>
#include <setjmp.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "dmap.h"
#include "machine.h"

/* Defaults for a machine that boots the SVSM and serves a VMPL1 guest. */
void emu_config_default(struct emu_config *cfg)
{
	*cfg = (struct emu_config){
		.mem_size = (u64)EMU_DEFAULT_MEM_MIB << 20,
		.svsm_base = EMU_DEFAULT_SVSM_BASE,
		.svsm_size = EMU_DEFAULT_SVSM_SIZE,
		.caa_gpa = EMU_DEFAULT_CAA,
		.rmp_2m = true,
		.console = stderr,
		.deterministic = false,
		.seed = 1,
		.guest_vmpl = EMU_GUEST_VMPL,
		.legacy_hole = true,
		.policy = EMU_DEFAULT_POLICY,
	};
}

static void host_console_write(struct emu_machine *m, const char *buf, size_t len)
{
	if (m->cfg.console) {
		fwrite(buf, 1, len, m->cfg.console);
	}
}

/* A vCPU thread that waits for another yields its host CPU (see struct emu_host). */
static void host_relax(struct emu_machine *m)
{
	(void)m;
	sched_yield();
}

static void host_diag(struct emu_machine *m, const char *line)
{
	fputs(line, stderr);
}

/*
 * Name a code address for a finding report: function and file:line from addr2line when
 * it is installed (binutils), else the nearest exported symbol, else the raw address.
 * Only runs when a finding is reported.
 */
static void host_symbolize(const void *pc, char *buf, size_t size)
{
	Dl_info info;

	if (!dladdr(pc, &info) || !info.dli_fname) {
		snprintf(buf, size, "%p", pc);
		return;
	}
	unsigned long off = (unsigned long)((const char *)pc - (const char *)info.dli_fbase);
	char cmd[512];
	/* The return address is the instruction after the call: look one byte back. */
	/* -i: the innermost (inlined) function first, which is where the copy was asked for. */
	snprintf(cmd, sizeof(cmd), "addr2line -f -i -s -e '%s' 0x%lx 2>/dev/null", info.dli_fname, off - 1);
	FILE *p = strchr(info.dli_fname, '\'') ? NULL : popen(cmd, "r");
	char fn[128] = "", line[256] = "";
	if (p) {
		/* Innermost first; the guest-memory helpers are not the interesting site. */
		char f2[128], l2[256];
		while (fgets(f2, sizeof(f2), p) && fgets(l2, sizeof(l2), p)) {
			if (!fn[0] || !strncmp(fn, "guestmem_", 9)) {
				snprintf(fn, sizeof(fn), "%s", f2);
				snprintf(line, sizeof(line), "%s", l2);
			}
		}
		pclose(p);
	}
	fn[strcspn(fn, "\n")] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (fn[0] && fn[0] != '?') {
		snprintf(buf, size, "%s (%s)", fn, line);
	} else if (info.dli_sname) {
		snprintf(buf, size, "%s+0x%lx", info.dli_sname,
			 (unsigned long)((const char *)pc - (const char *)info.dli_saddr));
	} else {
		snprintf(buf, size, "%p", pc);
	}
}

/* Termination longjmps to the test's (or the boot's) jump buffer, else ends the process. */
static SVSM_NORETURN void host_terminate(struct emu_machine *m)
{
	if (m->term_jmp) {
		longjmp(*(jmp_buf *)m->term_jmp, 1);
	}
	fprintf(stderr, "svsm-emu: machine terminated (reason set %u, code %u)\n", m->term_set, m->term_code);
	exit(3);
}

/* Build, launch and boot a machine; see machine.h. */
struct emu_machine *emu_machine_create(const struct emu_config *cfg, char *err, size_t err_size)
{
	struct emu_machine *m;
	jmp_buf boot_jmp;

	if (!emu_config_check(cfg, err, err_size)) {
		return NULL;
	}
	if (emu_machine_current()) {
		snprintf(err, err_size, "a machine already exists in this process");
		return NULL;
	}
	/* Cache-line aligned: its per-vCPU parts are laid out a line each (calloc gives 16 bytes). */
	m = aligned_alloc(64, ALIGN_UP(sizeof(*m), 64));
	if (m) {
		memset(m, 0, sizeof(*m));
	}
	if (!m) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	m->cfg = *cfg;
	m->host = (struct emu_host){
		.console_write = host_console_write,
		.diag = host_diag,
		.terminate = host_terminate,
		.symbolize = host_symbolize,
		.protect = dmap_protect,
		.relax = host_relax,
	};
	/*
	 * Guest memory is sparse (pages appear when first touched) and mapped twice: for the
	 * machine, and as the SVSM's direct map, which follows the RMP (emu/dmap.h).
	 */
	u8 *mem = NULL, *svsm_map = NULL, *shared_map = NULL;
	u64 pages = cfg->mem_size >> PAGE_SHIFT;
	struct rmp_entry *entries = calloc(1, RMP_TABLE_BYTES(pages));
	if (dmap_create(cfg->mem_size, &mem, &svsm_map, &shared_map) != 0 || !entries || dmap_handler_install() != 0) {
		snprintf(err, err_size, "cannot reserve %llu MiB of guest memory", (unsigned long long)(cfg->mem_size >> 20));
		dmap_destroy(cfg->mem_size, mem, svsm_map, shared_map);
		free(entries);
		free(m);
		return NULL;
	}
	if (cfg->unchecked_direct_map) {
		m->host.protect = NULL;
		dmap_destroy(cfg->mem_size, NULL, svsm_map, shared_map);
	} else {
		m->svsm_map = svsm_map;
		m->shared_map = shared_map;
	}
	emu_machine_init(m, mem, entries);

	void *saved = m->term_jmp;
	m->term_jmp = &boot_jmp;
	if (setjmp(boot_jmp) != 0) {
		snprintf(err, err_size, "the SVSM terminated during boot (reason set %u, code %u)", m->term_set,
			 m->term_code);
		m->term_jmp = saved;
		emu_machine_destroy(m);
		return NULL;
	}
	int rc = emu_machine_boot(m, err, err_size);
	m->term_jmp = saved;
	if (rc != 0) {
		emu_machine_destroy(m);
		return NULL;
	}
	return m;
}

/* Free everything the machine holds. */
void emu_machine_destroy(struct emu_machine *m)
{
	if (!m) {
		return;
	}
	dmap_destroy(m->cfg.mem_size, m->mem, m->svsm_map, m->shared_map);
	free(m->rmp.entries);
	emu_machine_detach(m);
	free(m);
}
