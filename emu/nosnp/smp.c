/*
 * The test image's other CPUs (no SNP): the CPUs QEMU's ACPI MADT lists, started the PC
 * way (INIT, then STARTUP IPIs to the real-mode trampoline of smp_entry.S below 1 MiB),
 * each on its own per-CPU area (svsm/arch/snp/percpu.c: stack, TLS, GDT/TSS/IST; the IDT
 * is shared). An AP then sleeps in HLT with interrupts on until the BSP posts work and
 * sends it a wake-up IPI; it runs the work and reports done. The local APIC is used in
 * the mode the firmware left it in: xAPIC (MMIO) or x2APIC (MSRs).
 */
#include <svsm/string.h>

#include "insn.h"
#include "nosnp.h"
#include "snp.h"

#define NOSNP_WAKE_VECTOR 0xF0
#define NOSNP_SPURIOUS_VECTOR 0xFF
/* How long the BSP waits for one AP to report ready after its STARTUP IPIs. */
#define NOSNP_AP_TIMEOUT_NS 2000000000ull
/* Waits of the INIT-SIPI-SIPI sequence (Intel MP specification): 10 ms, 200 us. */
#define NOSNP_INIT_DELAY_NS 10000000ull
#define NOSNP_SIPI_DELAY_NS 200000ull

#define MSR_APIC_BASE 0x1B
#define APIC_BASE_EXTD BIT(10)
#define APIC_BASE_EN BIT(11)
#define APIC_BASE_ADDR_MASK 0x000FFFFFFFFFF000ull
/* Register offsets of the xAPIC page; x2APIC MSR = 0x800 + offset / 16. */
#define LAPIC_ID 0x20
#define LAPIC_EOI 0xB0
#define LAPIC_SVR 0xF0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_SVR_ENABLE BIT(8)
#define ICR_DELIVERY_PENDING BIT(12)
#define ICR_FIXED 0x000u
#define ICR_INIT 0x500u
#define ICR_STARTUP 0x600u
#define ICR_ASSERT 0x4000u
#define ICR_LEVEL 0x8000u

/* ACPI: RSDP, the common table header, the MADT and its CPU entries. */
#define ACPI_TABLE_MAX (1u << 20)
#define MADT_LOCAL_APIC 0
#define MADT_LOCAL_X2APIC 9
#define MADT_ENABLED BIT(0)

struct acpi_rsdp {
	char signature[8];
	u8 checksum;
	char oem[6];
	u8 revision;
	u32 rsdt;
	u32 length; /* revision >= 2 from here */
	u64 xsdt;
	u8 ext_checksum;
	u8 reserved[3];
} SVSM_PACKED;
_Static_assert(sizeof(struct acpi_rsdp) == 36, "ACPI RSDP");

struct acpi_header {
	char signature[4];
	u32 length;
	u8 revision;
	u8 checksum;
	char oem[6];
	char oem_table[8];
	u32 oem_revision;
	u32 creator;
	u32 creator_revision;
} SVSM_PACKED;
_Static_assert(sizeof(struct acpi_header) == 36, "ACPI table header");
#define MADT_ENTRIES_OFFSET (sizeof(struct acpi_header) + 8) /* local APIC address, flags */

/* The trampoline's parameters (smp_entry.S, nosnp_trampoline_params). */
struct nosnp_trampoline_params {
	u64 cr3;
	u64 entry;
	u64 stack;
	u64 cpu_index;
};

extern const u8 nosnp_trampoline_start[], nosnp_trampoline_end[], nosnp_trampoline_params[];
void nosnp_wake_isr(void);
void nosnp_spurious_isr(void);

static struct {
	struct nosnp_smp_info info;
	u64 lapic;                 /* xAPIC MMIO base (identity mapped, uncached) */
	u32 ap_count;              /* APs running (ready) */
	u32 ap_apic[SNP_MAX_CPUS]; /* their APIC IDs */
	/* Work for every CPU (nosnp_smp_run): written by the BSP before generation moves. */
	void (*fn)(void *arg);
	void *arg;
	u32 generation;
	u32 done;
} smp;

/*
 * Low physical memory through the identity map. The address goes through an empty asm
 * so that the compiler does not treat a small constant address as a null-pointer offset.
 */
static void *phys(u64 pa)
{
	void *p;

	__asm__("" : "=r"(p) : "0"(pa));
	return p;
}

/* --- local APIC ----------------------------------------------------------------------- */

static u32 lapic_read(u32 reg)
{
	if (smp.info.x2apic) {
		return (u32)insn_rdmsr(0x800 + (reg >> 4));
	}
	return *(volatile u32 *)(smp.lapic + reg);
}

static void lapic_write(u32 reg, u32 value)
{
	if (smp.info.x2apic) {
		insn_wrmsr(0x800 + (reg >> 4), value);
		return;
	}
	*(volatile u32 *)(smp.lapic + reg) = value;
}

static u32 lapic_id(void)
{
	u32 id = lapic_read(LAPIC_ID);

	return smp.info.x2apic ? id : id >> 24;
}

/* Software-enable this CPU's local APIC (fixed IPIs are taken only then). */
static void lapic_enable(void)
{
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | NOSNP_SPURIOUS_VECTOR);
}

void nosnp_lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

/* Send an IPI (ICR low word @icr) to @apic_id and wait until the APIC took it. */
static void lapic_ipi(u32 apic_id, u32 icr)
{
	if (smp.info.x2apic) {
		insn_wrmsr(0x830, ((u64)apic_id << 32) | icr);
		return;
	}
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr);
	for (u32 spins = 0; spins < 1000000 && (lapic_read(LAPIC_ICR_LO) & ICR_DELIVERY_PENDING); spins++) {
		__builtin_ia32_pause();
	}
}

/* --- ACPI: the CPUs of the MADT -------------------------------------------------------- */

static bool acpi_sum_ok(const void *p, u64 len)
{
	const u8 *b = p;
	u8 sum = 0;

	for (u64 i = 0; i < len; i++) {
		sum = (u8)(sum + b[i]);
	}
	return sum == 0;
}

/* The table at @pa if its header, length and checksum hold and it lies in the identity map. */
static const struct acpi_header *acpi_table(u64 pa)
{
	if (pa == 0 || pa >= PAGING_DIRECT_MAP_LIMIT - sizeof(struct acpi_header)) {
		return NULL;
	}
	const struct acpi_header *h = phys(pa);
	if (h->length < sizeof(*h) || h->length > ACPI_TABLE_MAX || pa + h->length > PAGING_DIRECT_MAP_LIMIT ||
	    !acpi_sum_ok(h, h->length)) {
		return NULL;
	}
	return h;
}

static const struct acpi_rsdp *acpi_rsdp_at(u64 pa)
{
	const struct acpi_rsdp *r = phys(pa);

	if (memcmp(r->signature, "RSD PTR ", 8) != 0 || !acpi_sum_ok(r, 20)) {
		return NULL;
	}
	if (r->revision >= 2 && (r->length < sizeof(*r) || r->length > 4096 || !acpi_sum_ok(r, r->length))) {
		return NULL;
	}
	return r;
}

/* The RSDP: where the PVH start info says, else the BIOS areas the ACPI spec names. */
static const struct acpi_rsdp *acpi_find_rsdp(void)
{
	u64 pa = nosnp_pvh_rsdp();

	if (pa && pa < PAGING_DIRECT_MAP_LIMIT - sizeof(struct acpi_rsdp)) {
		return acpi_rsdp_at(pa);
	}
	u64 ebda = (u64)*(const volatile u16 *)phys(0x40E) << 4;
	if (ebda >= 0x80000 && ebda < 0xA0000) {
		for (u64 p = ebda; p < ebda + 1024; p += 16) {
			const struct acpi_rsdp *r = acpi_rsdp_at(p);
			if (r) {
				return r;
			}
		}
	}
	for (u64 p = 0xE0000; p < 0x100000; p += 16) {
		const struct acpi_rsdp *r = acpi_rsdp_at(p);
		if (r) {
			return r;
		}
	}
	return NULL;
}

/* The MADT through the XSDT (ACPI 2.0+) or the RSDT. */
static const struct acpi_header *acpi_find_madt(void)
{
	const struct acpi_rsdp *r = acpi_find_rsdp();

	if (!r) {
		return NULL;
	}
	bool x = r->revision >= 2 && r->xsdt != 0;
	const struct acpi_header *root = acpi_table(x ? r->xsdt : r->rsdt);
	if (!root || memcmp(root->signature, x ? "XSDT" : "RSDT", 4) != 0) {
		return NULL;
	}
	u32 width = x ? 8 : 4;
	u32 n = (root->length - (u32)sizeof(*root)) / width;
	const u8 *entries = (const u8 *)root + sizeof(*root);
	for (u32 i = 0; i < n; i++) {
		u64 pa = 0;
		memcpy(&pa, entries + (u64)i * width, width);
		const struct acpi_header *h = acpi_table(pa);
		if (h && memcmp(h->signature, "APIC", 4) == 0 && h->length >= MADT_ENTRIES_OFFSET) {
			return h;
		}
	}
	return NULL;
}

/* Add @id to @ids (up to SNP_MAX_CPUS, no duplicates); counts every enabled CPU. */
static void madt_add(u32 *ids, u32 *n, u32 id)
{
	for (u32 i = 0; i < *n && i < SNP_MAX_CPUS; i++) {
		if (ids[i] == id) {
			return;
		}
	}
	if (*n < SNP_MAX_CPUS) {
		ids[*n] = id;
	}
	(*n)++;
}

/* The enabled CPUs of the MADT: their APIC IDs (at most SNP_MAX_CPUS kept), the count. */
static u32 madt_cpus(const struct acpi_header *madt, u32 *ids)
{
	const u8 *t = (const u8 *)madt;
	u32 n = 0;

	for (u32 off = MADT_ENTRIES_OFFSET; off + 2 <= madt->length;) {
		u8 type = t[off];
		u8 len = t[off + 1];
		if (len < 2 || off + len > madt->length) {
			break; /* a malformed entry ends the list */
		}
		u32 flags, id;
		if (type == MADT_LOCAL_APIC && len >= 8) {
			memcpy(&flags, t + off + 4, 4);
			if (flags & MADT_ENABLED) {
				madt_add(ids, &n, t[off + 3]);
			}
		} else if (type == MADT_LOCAL_X2APIC && len >= 16) {
			memcpy(&id, t + off + 4, 4);
			memcpy(&flags, t + off + 8, 4);
			if (flags & MADT_ENABLED) {
				madt_add(ids, &n, id);
			}
		}
		off += len;
	}
	return n;
}

/* --- starting the APs ------------------------------------------------------------------ */

/*
 * The AP reported ready in time; else the BSP declares it failed (should it start later
 * it halts: platform_ap_main cannot move a failed area to ready) and sends it INIT, so
 * that it does not run the trampoline with the next AP's parameters.
 */
static bool nosnp_ap_wait(struct percpu *pc)
{
	if (smp_wait_ready(pc, NOSNP_AP_TIMEOUT_NS)) {
		return true;
	}
	u32 s = PERCPU_PREPARED;
	bool failed = __atomic_compare_exchange_n(&pc->state, &s, (u32)PERCPU_FAILED, false, __ATOMIC_ACQ_REL,
						  __ATOMIC_ACQUIRE);
	if (!failed && s == PERCPU_STARTED) {
		failed = __atomic_compare_exchange_n(&pc->state, &s, (u32)PERCPU_FAILED, false, __ATOMIC_ACQ_REL,
						     __ATOMIC_ACQUIRE);
	}
	if (!failed) {
		return percpu_state(pc) == PERCPU_READY; /* it became ready just now */
	}
	lapic_ipi(pc->apic_id, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	return false;
}

/* INIT, then up to two STARTUP IPIs to the trampoline, for the AP @pc. */
static bool nosnp_ap_start(struct percpu *pc)
{
	struct nosnp_trampoline_params p = {
		.cr3 = insn_read_cr3(),
		.entry = (u64)smp_ap_start64,
		.stack = pc->stack_top,
		.cpu_index = pc->cpu_index,
	};
	/* Labels of one blob (smp_entry.S): compared as addresses. */
	u64 off = (u64)nosnp_trampoline_params - (u64)nosnp_trampoline_start;
	u32 sipi = ICR_STARTUP | (u32)(NOSNP_TRAMPOLINE_BASE >> 12);

	memcpy(phys(NOSNP_TRAMPOLINE_BASE + off), &p, sizeof(p));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	lapic_ipi(pc->apic_id, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	if (!smp.info.x2apic) {
		lapic_ipi(pc->apic_id, ICR_INIT | ICR_LEVEL); /* de-assert (not in x2APIC mode) */
	}
	smp_delay_ns(NOSNP_INIT_DELAY_NS);
	for (unsigned i = 0; i < 2 && percpu_state(pc) == PERCPU_PREPARED; i++) {
		lapic_ipi(pc->apic_id, sipi);
		smp_delay_ns(NOSNP_SIPI_DELAY_NS);
	}
	return nosnp_ap_wait(pc);
}

/* See nosnp.h. */
u32 nosnp_smp_start(void)
{
	u32 ids[SNP_MAX_CPUS];
	u64 base = insn_rdmsr(MSR_APIC_BASE);
	u64 t0 = clock_ns();

	smp.info.cpus = 1;
	if (!(base & APIC_BASE_EN)) {
		serial_printf("no-snp: no local APIC: one CPU\n");
		return 1;
	}
	smp.info.x2apic = (base & APIC_BASE_EXTD) != 0;
	smp.lapic = base & APIC_BASE_ADDR_MASK;
	if (!smp.info.x2apic) {
		if (smp.lapic >= PAGING_DIRECT_MAP_LIMIT) {
			serial_printf("no-snp: local APIC at 0x%llx is not mapped: one CPU\n", (unsigned long long)smp.lapic);
			return 1;
		}
		paging_set_uncached(smp.lapic);
	}
	u32 bsp_apic = lapic_id();
	percpu_this()->apic_id = bsp_apic;
	const struct acpi_header *madt = acpi_find_madt();
	smp.info.madt_found = madt != NULL;
	u32 n = madt ? madt_cpus(madt, ids) : 0;
	smp.info.madt_cpus = n;
	if (n == 0) {
		serial_printf("no-snp: no CPUs in an ACPI MADT: one CPU\n");
		return 1;
	}
	if (!nosnp_pvh_is_ram(NOSNP_TRAMPOLINE_BASE, PAGE_SIZE)) {
		serial_printf("no-snp: no RAM at 0x%llx for the AP trampoline: one CPU\n",
			      (unsigned long long)NOSNP_TRAMPOLINE_BASE);
		return 1;
	}
	idt_set_gate(NOSNP_WAKE_VECTOR, (u64)nosnp_wake_isr);
	idt_set_gate(NOSNP_SPURIOUS_VECTOR, (u64)nosnp_spurious_isr);
	lapic_enable();
	memcpy(phys(NOSNP_TRAMPOLINE_BASE), nosnp_trampoline_start,
	       (size_t)((u64)nosnp_trampoline_end - (u64)nosnp_trampoline_start));
	u32 next = 1;
	for (u32 i = 0; i < MIN(n, (u32)SNP_MAX_CPUS); i++) {
		if (ids[i] == bsp_apic) {
			continue;
		}
		struct percpu *pc = percpu_prepare(next, ids[i]);
		if (!pc) {
			break;
		}
		next++;
		if (nosnp_ap_start(pc)) {
			smp.ap_apic[smp.ap_count++] = ids[i];
		} else {
			serial_printf("no-snp: CPU %u (APIC ID %u) did not start\n", pc->cpu_index, ids[i]);
		}
	}
	smp.info.cpus = 1 + smp.ap_count;
	smp.info.start_ns = clock_ns() - t0;
	serial_printf("no-snp: %u of %u CPUs running (%s, APs started in %llu ms)\n", smp.info.cpus, n,
		      smp.info.x2apic ? "x2APIC" : "xAPIC", (unsigned long long)(smp.info.start_ns / 1000000));
	return smp.info.cpus;
}

void nosnp_smp_get_info(struct nosnp_smp_info *out)
{
	*out = smp.info;
}

/* --- work for every CPU ---------------------------------------------------------------- */

/*
 * See snp.h: an AP of the test image checks that it is the CPU the BSP meant (its APIC
 * ID), reports ready and sleeps until there is work. `sti; hlt` cannot miss the wake-up:
 * an IPI that arrives after the check is held until STI's shadow ends, on the HLT.
 */
void platform_ap_main(struct percpu *pc)
{
	u32 started = PERCPU_STARTED;
	u32 seen = __atomic_load_n(&smp.generation, __ATOMIC_ACQUIRE);

	lapic_enable();
	if (lapic_id() != pc->apic_id ||
	    !__atomic_compare_exchange_n(&pc->state, &started, (u32)PERCPU_READY, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		insn_halt_forever();
	}
	for (;;) {
		u32 gen = __atomic_load_n(&smp.generation, __ATOMIC_ACQUIRE);
		if (gen == seen) {
			__asm__ volatile("sti; hlt; cli" : : : "memory");
			continue;
		}
		seen = gen;
		smp.fn(smp.arg);
		__atomic_add_fetch(&smp.done, 1, __ATOMIC_RELEASE);
	}
}

void nosnp_smp_run(void (*fn)(void *arg), void *arg)
{
	smp.fn = fn;
	smp.arg = arg;
	__atomic_store_n(&smp.done, 0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&smp.generation, 1, __ATOMIC_RELEASE);
	for (u32 i = 0; i < smp.ap_count; i++) {
		lapic_ipi(smp.ap_apic[i], ICR_FIXED | ICR_ASSERT | NOSNP_WAKE_VECTOR);
	}
	fn(arg);
	while (__atomic_load_n(&smp.done, __ATOMIC_ACQUIRE) != smp.ap_count) {
		__builtin_ia32_pause();
	}
}

void nosnp_barrier_wait(struct nosnp_barrier *b, u32 count)
{
	u32 phase = __atomic_load_n(&b->phase, __ATOMIC_ACQUIRE);

	if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == count) {
		__atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->phase, phase + 1, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(&b->phase, __ATOMIC_ACQUIRE) == phase) {
		__builtin_ia32_pause();
	}
}
