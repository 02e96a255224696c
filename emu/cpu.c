/* What the CPU does for the SVSM at VMPL0 on the emulated machine: the arch interface's model side. */
#include <svsm/arch.h>

#include "machine.h"

u32 emu_cpu_pvalidate(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, enum page_size size, bool validate)
{
	return rmp_pvalidate(&m->rmp, v->vmpl, gpa, size, validate);
}

/* True if every byte of the (validated) range is zero. */
static bool emu_cpu_range_zero(struct emu_machine *m, u64 gpa, u64 len)
{
	const u8 *p = emu_mem(m, gpa);
	u64 acc = 0;

	/* Whole pages (the only lengths used): eight bytes at a time, or 2 MiB checks dominate fuzzing. */
	for (u64 i = 0; i + 8 <= len; i += 8) {
		u64 w;
		__builtin_memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (u64 i = len & ~7ull; i < len; i++) {
		acc |= p[i];
	}
	return acc == 0;
}

u32 emu_cpu_rmpadjust(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, enum page_size size, u8 target_vmpl,
		      u8 perms, bool vmsa)
{
	u64 len = size == PAGE_SIZE_2M ? PAGE_2M_SIZE : PAGE_SIZE;
	bool newly_granted = false;

	/* Oracle input: a page that goes from no access to some access must be zero. */
	const struct rmp_entry *e = rmp_entry(&m->rmp, gpa);
	if (e && perms && target_vmpl < RMP_VMPL_COUNT && e->perms[target_vmpl] == 0 && e->validated &&
	    gpa + len <= m->cfg.mem_size) {
		newly_granted = true;
	}
	bool zero = newly_granted && emu_cpu_range_zero(m, gpa, len);
	u32 rc = rmp_rmpadjust(&m->rmp, v->vmpl, gpa, size, target_vmpl, perms, vmsa);
	if (rc == RMP_SUCCESS && newly_granted && !zero && !vmsa) {
		m->stats.ungranted_nonzero++;
	}
	return rc;
}

u32 emu_cpu_rmpquery(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, u8 target_vmpl, u8 *perms)
{
	return rmp_rmpquery(&m->rmp, v->vmpl, gpa, target_vmpl, perms);
}

/* Guest-memory copies by the SVSM, counted per vCPU for the double-fetch checks. */
int emu_cpu_guest_read(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, void *dst, size_t len)
{
	v->svsm_guest_reads++;
	return emu_mem_read(m, v->vmpl, gpa, dst, len, NULL);
}

int emu_cpu_guest_write(struct emu_machine *m, struct emu_vcpu *v, u64 gpa, const void *src, size_t len)
{
	v->svsm_guest_writes++;
	return emu_mem_write(m, v->vmpl, gpa, src, len, NULL);
}

void *emu_cpu_phys_to_virt(struct emu_machine *m, u64 gpa)
{
	if (gpa >= m->cfg.mem_size) {
		return NULL;
	}
	return emu_mem(m, gpa);
}

u64 emu_cpu_virt_to_phys(struct emu_machine *m, const void *va)
{
	return (u64)((const u8 *)va - m->mem);
}

/* Only a hypervisor-owned (shared) page can be mapped without the C-bit. */
void *emu_cpu_map_shared(struct emu_machine *m, u64 gpa)
{
	const struct rmp_entry *e = rmp_entry(&m->rmp, gpa);

	if (!IS_ALIGNED(gpa, PAGE_SIZE) || !e || e->assigned) {
		return NULL;
	}
	return emu_mem(m, gpa);
}

u64 emu_cpu_det_clock(struct emu_machine *m)
{
	return __atomic_add_fetch(&m->clock_ns, 1000, __ATOMIC_RELAXED);
}

/* xorshift64*: reproducible runs for fuzzing. */
void emu_cpu_det_random(struct emu_machine *m, void *buf, size_t len)
{
	u8 *p = buf;

	for (size_t i = 0; i < len; i++) {
		m->rng_state ^= m->rng_state >> 12;
		m->rng_state ^= m->rng_state << 25;
		m->rng_state ^= m->rng_state >> 27;
		p[i] = (u8)((m->rng_state * 0x2545F4914F6CDD1Dull) >> 56);
	}
}
