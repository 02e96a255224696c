/*
 * The no-SNP platform of the test image: without SEV-SNP the image runs the SVSM core
 * on the same emulated machine as the userspace build (emu/: RMP and VMPL model, the
 * GHCB hypervisor, the guest driver, the oracle), compiled freestanding. Its guest
 * memory is a block of the image's own RAM, found in the PVH memory map. The arch
 * interface on that machine is arch_nosnp.c.
 */
#include <svsm/arch.h>
#include <svsm/ghcb.h>
#include <svsm/log.h>
#include <svsm/string.h>

#include "insn.h"
#include "machine.h"
#include "nosnp.h"
#include "snp.h"

#define NOSNP_MEM_MAX (64ull << 20)
#define NOSNP_MEM_MIN (32ull << 20)
#define NOSNP_MEM_LOW (16ull << 20) /* stay clear of the image and of low firmware data */
#define HVM_START_MAGIC 0x336ec578u
#define HVM_MEMMAP_RAM 1

/* PVH hvm_start_info (version 1) and its memory map entries. */
struct hvm_start_info {
	u32 magic;
	u32 version;
	u32 flags;
	u32 nr_modules;
	u64 modlist_paddr;
	u64 cmdline_paddr;
	u64 rsdp_paddr;
	u64 memmap_paddr;
	u32 memmap_entries;
	u32 reserved;
};

struct hvm_memmap_entry {
	u64 addr;
	u64 size;
	u32 type;
	u32 reserved;
};

static struct emu_machine nosnp_machine;
static struct rmp_entry nosnp_rmp[RMP_TABLE_BYTES(NOSNP_MEM_MAX >> PAGE_SHIFT) / sizeof(struct rmp_entry) + 1];
static u8 *nosnp_ram;
static u64 nosnp_ram_size;
/* The PVH start info's memory map and RSDP, kept by nosnp_init. */
static const struct hvm_memmap_entry *nosnp_memmap;
static u32 nosnp_memmap_count;
static u64 nosnp_rsdp;
/* The CPU that armed m->term_jmp: only there can a termination jump back. */
static u32 nosnp_term_cpu;

/* See nosnp.h: the largest RAM range above the image and NOSNP_MEM_LOW, up to NOSNP_MEM_MAX. */
int nosnp_init(u32 pvh_info)
{
	const struct hvm_start_info *si = (const struct hvm_start_info *)(u64)pvh_info;

	if (!si || si->magic != HVM_START_MAGIC || si->version < 1 || !si->memmap_paddr) {
		serial_printf("no-snp: no PVH start info with a memory map\n");
		return -1;
	}
	const struct hvm_memmap_entry *e = (const struct hvm_memmap_entry *)si->memmap_paddr;
	nosnp_memmap = e;
	nosnp_memmap_count = si->memmap_entries;
	nosnp_rsdp = si->rsdp_paddr;
	u64 low = ALIGN_UP(MAX((u64)__image_end, NOSNP_MEM_LOW), PAGE_2M_SIZE);
	for (u32 i = 0; i < si->memmap_entries; i++) {
		if (e[i].type != HVM_MEMMAP_RAM) {
			continue;
		}
		u64 start = ALIGN_UP(MAX(e[i].addr, low), PAGE_2M_SIZE);
		u64 end = ALIGN_DOWN(MIN(e[i].addr + e[i].size, PAGING_DIRECT_MAP_LIMIT), PAGE_2M_SIZE);
		if (end > start && end - start > nosnp_ram_size) {
			nosnp_ram = (u8 *)start;
			nosnp_ram_size = MIN(end - start, NOSNP_MEM_MAX);
		}
	}
	if (nosnp_ram_size < NOSNP_MEM_MIN) {
		serial_printf("no-snp: need %llu MiB of RAM above %llu MiB for the emulated machine\n",
			      (unsigned long long)(NOSNP_MEM_MIN >> 20), (unsigned long long)(low >> 20));
		return -1;
	}
	return 0;
}

u64 nosnp_pvh_rsdp(void)
{
	return nosnp_rsdp;
}

bool nosnp_pvh_is_ram(u64 addr, u64 len)
{
	for (u32 i = 0; i < nosnp_memmap_count; i++) {
		const struct hvm_memmap_entry *e = &nosnp_memmap[i];
		if (e->type == HVM_MEMMAP_RAM && addr >= e->addr && addr + len >= addr && addr + len <= e->addr + e->size) {
			return true;
		}
	}
	return false;
}

/* 32 MiB machine: SVSM region 2-6 MiB, calling area at 8 MiB, the guest's pool above. */
void nosnp_config_default(struct emu_config *cfg)
{
	*cfg = (struct emu_config){
		.mem_size = NOSNP_MEM_MIN,
		.svsm_base = 2ull << 20,
		.svsm_size = 4ull << 20,
		.caa_gpa = 8ull << 20,
		.rmp_2m = true,
		.console = NULL,
		.deterministic = false,
		.seed = 1,
		.guest_vmpl = EMU_GUEST_VMPL,
		.legacy_hole = true,
	};
}

static void nosnp_host_console(struct emu_machine *m, const char *buf, size_t len)
{
	serial_write(buf, len);
}

static void nosnp_host_diag(struct emu_machine *m, const char *line)
{
	serial_write(line, strlen(line));
}

/*
 * Termination goes back to whoever armed term_jmp (a test, the boot) if that was this
 * CPU (a jump buffer lives on its CPU's stack), else ends the run.
 */
static SVSM_NORETURN void nosnp_host_terminate(struct emu_machine *m)
{
	if (m->term_jmp && percpu_cpu_index() == nosnp_term_cpu) {
		jump_long(m->term_jmp, 1);
	}
	serial_printf("no-snp: machine terminated (reason set %u, code %u)\n", m->term_set, m->term_code);
	boot_exit(BOOT_EXIT_FAIL);
}

/*
 * Zero @len bytes (a multiple of 64): every test boots a fresh machine, so this is the
 * hottest loop of the test image. Plain unrolled stores beat REP STOSQ under TCG (which
 * runs a string instruction one iteration at a time) and are as fast under KVM.
 */
static void nosnp_zero(void *p, u64 len)
{
	u64 *q = p;

	for (u64 i = 0; i < len / 8; i += 8) {
		q[i] = 0;
		q[i + 1] = 0;
		q[i + 2] = 0;
		q[i + 3] = 0;
		q[i + 4] = 0;
		q[i + 5] = 0;
		q[i + 6] = 0;
		q[i + 7] = 0;
	}
}

struct emu_machine *nosnp_machine_boot(const struct emu_config *cfg, char *err, size_t err_size)
{
	struct emu_machine *m = &nosnp_machine;
	struct jump_buf boot_jump;

	if (!emu_config_check(cfg, err, err_size)) {
		return NULL;
	}
	if (cfg->mem_size > nosnp_ram_size) {
		svsm_snprintf(err, err_size, "%llu MiB of guest memory requested, %llu MiB available",
			      (unsigned long long)(cfg->mem_size >> 20), (unsigned long long)(nosnp_ram_size >> 20));
		return NULL;
	}
	emu_machine_detach(m);
	memset(m, 0, sizeof(*m));
	memset(nosnp_rmp, 0, sizeof(nosnp_rmp));
	nosnp_zero(nosnp_ram, cfg->mem_size);
	m->cfg = *cfg;
	m->host = (struct emu_host){
		.console_write = nosnp_host_console,
		.diag = nosnp_host_diag,
		.terminate = nosnp_host_terminate,
	};
	emu_machine_init(m, nosnp_ram, nosnp_rmp);
	nosnp_term_cpu = percpu_cpu_index();
	m->term_jmp = &boot_jump;
	if (jump_set(&boot_jump) != 0) {
		svsm_snprintf(err, err_size, "the SVSM terminated during boot (reason set %u, code %u)", m->term_set,
			      m->term_code);
		m->term_jmp = NULL;
		emu_machine_detach(m);
		return NULL;
	}
	int rc = emu_machine_boot(m, err, err_size);
	m->term_jmp = NULL;
	if (rc != 0) {
		emu_machine_detach(m);
		return NULL;
	}
	return m;
}

/*
 * See nosnp.h. @fn must not be inside the core's request handler when it terminates (the
 * core lock would stay held); tests call the termination paths directly.
 */
bool nosnp_catch_termination(struct emu_machine *m, void (*fn)(void *), void *arg)
{
	struct jump_buf jb;
	void *saved = m->term_jmp;
	u32 saved_cpu = nosnp_term_cpu;

	nosnp_term_cpu = percpu_cpu_index();
	m->term_jmp = &jb;
	if (jump_set(&jb) != 0) {
		m->term_jmp = saved;
		nosnp_term_cpu = saved_cpu;
		return true;
	}
	fn(arg);
	m->term_jmp = saved;
	nosnp_term_cpu = saved_cpu;
	return false;
}

/*
 * See snp.h: the test image's platform. The emulated machine is the only platform it
 * has, so under SNP it refuses to run (nothing can be printed there before a GHCB).
 */
void platform_main(u32 entry, u32 pvh_info, u64 sev_status)
{
	if (boot_snp_active()) {
		boot_fatal(TERM_SVSM_BOOT);
	}
	paging_init(0);
	clock_init();
	if (nosnp_init(pvh_info) != 0) {
		boot_exit(BOOT_EXIT_FAIL);
	}
	/* The other CPUs start now and sleep until a test gives them work (emu/nosnp/smp.c). */
	nosnp_smp_start();
	image_run();
}
