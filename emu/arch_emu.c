/*
 * The arch interface served by the emulated machine: what the CPU and the hypervisor do
 * for the SVSM core on hardware, done here by the models in rmp.c and hv.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <svsm/arch.h>

#include "machine.h"

/* The machine and vCPU the calling thread runs on; the core only runs inside one. */
static struct emu_machine *arch_machine(void)
{
	struct emu_machine *m = emu_machine_current();

	if (!m) {
		fprintf(stderr, "svsm-emu: SVSM core code ran without a machine\n");
		abort();
	}
	return m;
}

static struct emu_vcpu *arch_vcpu(void)
{
	struct emu_vcpu *v = emu_vcpu_current();

	if (!v) {
		fprintf(stderr, "svsm-emu: SVSM core code ran outside a vCPU\n");
		abort();
	}
	return v;
}

u32 arch_pvalidate(u64 gpa, enum page_size size, bool validate)
{
	struct emu_machine *m = arch_machine();

	return rmp_pvalidate(&m->rmp, arch_vcpu()->vmpl, gpa, size, validate);
}

/* True if every byte of the (validated) range is zero. */
static bool arch_range_zero(struct emu_machine *m, u64 gpa, u64 len)
{
	const u8 *p = emu_mem(m, gpa);

	for (u64 i = 0; i < len; i++) {
		if (p[i]) {
			return false;
		}
	}
	return true;
}

u32 arch_rmpadjust(u64 gpa, enum page_size size, u8 target_vmpl, u8 perms, bool vmsa)
{
	struct emu_machine *m = arch_machine();
	u64 len = size == PAGE_SIZE_2M ? PAGE_2M_SIZE : PAGE_SIZE;
	bool newly_granted = false;

	/* Oracle input: a page that goes from no access to some access must be zero. */
	const struct rmp_entry *e = rmp_entry(&m->rmp, gpa);
	if (e && perms && target_vmpl < RMP_VMPL_COUNT && e->perms[target_vmpl] == 0 && e->validated &&
	    gpa + len <= m->cfg.mem_size) {
		newly_granted = true;
	}
	bool zero = newly_granted && arch_range_zero(m, gpa, len);
	u32 rc = rmp_rmpadjust(&m->rmp, arch_vcpu()->vmpl, gpa, size, target_vmpl, perms, vmsa);
	if (rc == RMP_SUCCESS && newly_granted && !zero && !vmsa) {
		m->stats.ungranted_nonzero++;
	}
	return rc;
}

u64 arch_ghcb_msr_read(void)
{
	struct emu_vcpu *v = arch_vcpu();

	return v->ghcb_msr[v->vmpl];
}

void arch_ghcb_msr_write(u64 value)
{
	struct emu_vcpu *v = arch_vcpu();

	v->ghcb_msr[v->vmpl] = value;
}

void arch_vmgexit(void)
{
	emu_hv_vmgexit(arch_machine(), arch_vcpu());
}

int arch_guest_read(u64 gpa, void *dst, size_t len)
{
	struct emu_vcpu *v = arch_vcpu();

	v->svsm_guest_reads++;
	return emu_mem_read(arch_machine(), v->vmpl, gpa, dst, len, NULL);
}

int arch_guest_write(u64 gpa, const void *src, size_t len)
{
	struct emu_vcpu *v = arch_vcpu();

	v->svsm_guest_writes++;
	return emu_mem_write(arch_machine(), v->vmpl, gpa, src, len, NULL);
}

void *arch_phys_to_virt(u64 gpa)
{
	struct emu_machine *m = arch_machine();

	if (gpa >= m->cfg.mem_size) {
		return NULL;
	}
	return emu_mem(m, gpa);
}

u64 arch_virt_to_phys(const void *va)
{
	struct emu_machine *m = arch_machine();

	return (u64)((const u8 *)va - m->mem);
}

void *arch_map_shared(u64 gpa)
{
	struct emu_machine *m = arch_machine();
	const struct rmp_entry *e = rmp_entry(&m->rmp, gpa);

	if (!IS_ALIGNED(gpa, PAGE_SIZE) || !e || e->assigned) {
		return NULL;
	}
	return emu_mem(m, gpa);
}

u32 arch_cpu_apic_id(void)
{
	return arch_vcpu()->apic_id;
}

void arch_console_write(const char *buf, size_t len)
{
	struct emu_machine *m = emu_machine_current();
	FILE *out = m ? m->cfg.console : stderr;

	if (out) {
		fwrite(buf, 1, len, out);
	}
}

u64 arch_clock_ns(void)
{
	struct emu_machine *m = emu_machine_current();

	if (m && m->cfg.deterministic) {
		return __atomic_add_fetch(&m->clock_ns, 1000, __ATOMIC_RELAXED);
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

int arch_random(void *buf, size_t len)
{
	struct emu_machine *m = emu_machine_current();
	u8 *p = buf;

	if (m && m->cfg.deterministic) {
		/* xorshift64*: reproducible runs for fuzzing. */
		for (size_t i = 0; i < len; i++) {
			m->rng_state ^= m->rng_state >> 12;
			m->rng_state ^= m->rng_state << 25;
			m->rng_state ^= m->rng_state >> 27;
			p[i] = (u8)((m->rng_state * 0x2545F4914F6CDD1Dull) >> 56);
		}
		return 0;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t n = getrandom(p + done, len - done, 0);
		if (n <= 0) {
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

void arch_terminate(u8 reason_set, u8 reason_code)
{
	struct emu_machine *m = emu_machine_current();

	if (m) {
		emu_terminate(m, reason_set, reason_code);
	}
	fprintf(stderr, "svsm-emu: SVSM terminated (reason set %u, code %u)\n", reason_set, reason_code);
	exit(3);
}
