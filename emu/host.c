/* The emulated machine in a Linux process: mmap'ed memory, calloc'ed RMP, FILE console, longjmp/exit. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

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
		.policy = EMU_DEFAULT_POLICY,
	};
}

static void host_console_write(struct emu_machine *m, const char *buf, size_t len)
{
	if (m->cfg.console) {
		fwrite(buf, 1, len, m->cfg.console);
	}
}

static void host_diag(struct emu_machine *m, const char *line)
{
	fputs(line, stderr);
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
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	m->cfg = *cfg;
	m->host = (struct emu_host){
		.console_write = host_console_write,
		.diag = host_diag,
		.terminate = host_terminate,
	};
	/* MAP_NORESERVE: guest memory is sparse, pages appear when first touched. */
	u8 *mem = mmap(NULL, cfg->mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	u64 pages = cfg->mem_size >> PAGE_SHIFT;
	struct rmp_entry *entries = calloc(pages, sizeof(*entries));
	if (mem == MAP_FAILED || !entries) {
		snprintf(err, err_size, "cannot reserve %llu MiB of guest memory", (unsigned long long)(cfg->mem_size >> 20));
		if (mem != MAP_FAILED) {
			munmap(mem, cfg->mem_size);
		}
		free(entries);
		free(m);
		return NULL;
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
	munmap(m->mem, m->cfg.mem_size);
	free(m->rmp.entries);
	emu_machine_detach(m);
	free(m);
}
