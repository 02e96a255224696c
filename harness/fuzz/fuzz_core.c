/*
 * Fuzz target "core": each call of the core protocol with structured inputs (PVALIDATE
 * and DEPOSIT_MEM lists, WITHDRAW_MEM buffers, VMSA contents for CREATE_VCPU, DELETE_VCPU,
 * calling-area remaps), mixed with calls on the extra vCPUs and SNP AP creation.
 *
 * Input: the common header (fuzz_common.h), then operations until the input ends.
 * Pages are fuzz_page() (u16); "where" bytes place a list: 0 the calling vCPU's CA buffer,
 * 1 the start of a page, else a page plus (where * 8) bytes. A vcpu byte names APIC ID
 * 0-4 (mod 5): the VMPL1 guest's vCPUs or, with header byte 2, the VMPL2/3 guests' ones,
 * which then make the call.
 *   0 remap      vcpu byte, page
 *   1 pvalidate  vcpu byte, where, page, count byte, next byte, entries (page, flags byte:
 *                bits 0-1 size, 2 validate, 3 ignore-CF, 4-7 reserved bits 4-7)
 *   2 create     VMSA page, CA page, APIC u32, VMPL byte, flags byte (bit 0 clear EFER.SVME,
 *                1 other SEV_FEATURES, 2 skip writing the image, 3 start it by AP creation,
 *                4 the call comes from APIC FUZZ_APIC_CHILD, e.g. the VMPL2 guest)
 *   3 delete     selector byte: bits 0-5 the vCPU whose VMSA (bit 7: a page instead, [page]),
 *                bit 6 call from that vCPU itself (else from the startup vCPU)
 *   4 deposit    where, page, count byte, next byte, entries (page, flags byte: size bits,
 *                bit 2 reserved bit)
 *   5 withdraw   page, u16: bits 0-11 the offset, bit 15 from APIC FUZZ_APIC_CHILD
 *   6 query      u64 RCX
 *   7 vtom       u64 RCX
 *   8 call       vcpu byte: QUERY_PROTOCOL on that vCPU (first entry sets up its GHCB)
 *   9 ap-destroy vcpu byte
 */
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

#include "fuzz_common.h"
#include "guest.h"

#define FUZZ_CORE_OPS 10

static u32 fuzz_core_vcpu_sel(struct fuzz_in *in)
{
	return fuzz_u8(in) % (FUZZ_MAX_EXTRA_VCPUS + 2);
}

static u64 fuzz_core_call(u32 apic, u32 call, u64 rcx, u64 rdx, u64 r8)
{
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_CORE, call), .rcx = rcx, .rdx = rdx, .r8 = r8};

	if (fuzz_call(apic, &r, false) != GUEST_OK) {
		return ~0ull;
	}
	return (u32)r.rax;
}

/* Where a list goes: the caller's CA buffer, a page, or a page plus an 8-byte multiple. */
static u64 fuzz_core_where(struct fuzz_in *in, u32 apic)
{
	u8 where = fuzz_u8(in);
	u64 page = fuzz_page(in);
	struct guest_vcpu *gv = guest_vcpu(fuzz_guest_of(apic), apic);

	if (where == 0 && gv) {
		return gv->caa_gpa + offsetof(struct svsm_ca, buffer);
	}
	return page + (where <= 1 ? 0 : (u64)where * 8);
}

/* Write a list header and up to @max entries built by @entry; false if the guest cannot. */
static bool fuzz_core_write_list(u64 gpa, struct fuzz_in *in, u64 (*entry)(struct fuzz_in *in))
{
	u8 count = fuzz_u8(in);
	struct svsm_list_hdr h = {.entries = count, .next = fuzz_u8(in)};
	u64 e[256];

	h.next = h.next % (count + 2u);
	for (unsigned i = 0; i < count; i++) {
		e[i] = entry(in);
	}
	return guest_write(fuzz_g(), gpa, &h, sizeof(h)) == 0 &&
	       (count == 0 || guest_write(fuzz_g(), gpa + sizeof(h), e, 8ull * count) == 0);
}

static u64 fuzz_core_pval_entry(struct fuzz_in *in)
{
	u64 page = fuzz_page(in);
	u8 flags = fuzz_u8(in);

	if ((flags & 3) == PAGE_SIZE_2M) {
		page = ALIGN_DOWN(page, PAGE_2M_SIZE);
	}
	return page | (flags & 0xF) | ((u64)(flags >> 4) << 4);
}

static u64 fuzz_core_deposit_entry(struct fuzz_in *in)
{
	u64 page = fuzz_page(in);
	u8 flags = fuzz_u8(in);

	if ((flags & 3) == PAGE_SIZE_2M) {
		page = ALIGN_DOWN(page, PAGE_2M_SIZE);
	}
	return page | (flags & 3) | ((flags & 4) ? 1u << 5 : 0);
}

static void fuzz_core_list_call(struct fuzz_in *in, u32 apic, u32 call)
{
	u64 gpa = fuzz_core_where(in, apic);

	if (fuzz_core_write_list(gpa, in, call == SVSM_CORE_PVALIDATE ? fuzz_core_pval_entry : fuzz_core_deposit_entry)) {
		fuzz_core_call(apic, call, gpa, 0, 0);
	}
}

/* SNP AP creation and destruction by the VMPL1 guest (its first use sets up its GHCB: SVSM calls). */
struct fuzz_core_ap {
	u32 apic;
	u64 vmsa, caa;
};

static void fuzz_core_start_fn(void *p)
{
	struct fuzz_core_ap *a = p;

	guest_start_vcpu(fuzz_g(), a->apic, a->vmsa, a->caa);
}

static void fuzz_core_ap_destroy_fn(void *p)
{
	guest_ap_destroy(fuzz_g(), ((struct fuzz_core_ap *)p)->apic);
}

static void fuzz_core_create(struct fuzz_in *in)
{
	static u8 vmsa[VMSA_SIZE];
	u64 vmsa_gpa = fuzz_page(in);
	u64 caa = fuzz_page(in);
	u32 apic = fuzz_u32(in);
	u8 vmpl = fuzz_u8(in);
	u8 flags = fuzz_u8(in);

	/* Mostly small APIC IDs, so that the vCPU can be started and called. */
	if (!(apic & 0x80000000u)) {
		apic %= FUZZ_MAX_EXTRA_VCPUS + 2;
	}
	if (!(flags & 4)) {
		guest_vmsa_template(vmsa, vmpl, (flags & 2) ? 0x5 : 0x1);
		if (flags & 1) {
			u64 efer = 0;
			__builtin_memcpy(vmsa + VMSA_EFER, &efer, 8);
		}
		guest_write(fuzz_g(), vmsa_gpa, vmsa, VMSA_SIZE);
	}
	u64 rc = fuzz_core_call((flags & 16) ? FUZZ_APIC_CHILD : 0, SVSM_CORE_CREATE_VCPU, vmsa_gpa, caa, apic);
	if (rc == SVSM_SUCCESS && (flags & 8) && !guest_vcpu(fuzz_guest_of(apic), apic)) {
		struct fuzz_core_ap a = {apic, vmsa_gpa, caa};
		fuzz_guest_op(fuzz_core_start_fn, &a);
	}
}

static void fuzz_core_delete(struct fuzz_in *in)
{
	u8 sel = fuzz_u8(in);
	u32 target = (sel & 0x3F) % (FUZZ_MAX_EXTRA_VCPUS + 2);
	u64 vmsa = 0;

	if (sel & 0x80) {
		vmsa = fuzz_page(in);
	} else {
		struct guest_vcpu *gv = guest_vcpu(fuzz_guest_of(target), target);
		vmsa = gv ? gv->vmsa_gpa : fuzz_symbol(9);
	}
	/* From the startup vCPU, or (bit 6) from the target vCPU itself: deleting one's own VMSA. */
	fuzz_core_call((sel & 0x40) ? target : 0, SVSM_CORE_DELETE_VCPU, vmsa, 0, 0);
}

static int fuzz_core_init(void)
{
	struct fuzz_machine_opts o = {.boot_per_input = false, .termination_ok = false};

	return fuzz_machine_init(&o);
}

static void fuzz_core_run(const u8 *data, size_t size)
{
	struct fuzz_in in = {data, size};

	if (fuzz_begin(&in)) {
		for (unsigned ops = 0; fuzz_more(&in) && ops < 64; ops++) {
			switch (fuzz_u8(&in) % FUZZ_CORE_OPS) {
			case 0: {
				u32 apic = fuzz_core_vcpu_sel(&in);
				fuzz_core_call(apic, SVSM_CORE_REMAP_CA, fuzz_page(&in), 0, 0);
				break;
			}
			case 1:
				fuzz_core_list_call(&in, fuzz_core_vcpu_sel(&in), SVSM_CORE_PVALIDATE);
				break;
			case 2:
				fuzz_core_create(&in);
				break;
			case 3:
				fuzz_core_delete(&in);
				break;
			case 4:
				fuzz_core_list_call(&in, 0, SVSM_CORE_DEPOSIT_MEM);
				break;
			case 5: {
				u64 page = fuzz_page(&in);
				u16 off = fuzz_u16(&in);
				fuzz_core_call((off & 0x8000) ? FUZZ_APIC_CHILD : 0, SVSM_CORE_WITHDRAW_MEM, page + (off & 0xFFF),
					       0, 0);
				break;
			}
			case 6:
				fuzz_core_call(0, SVSM_CORE_QUERY_PROTOCOL, fuzz_u64(&in), 0, 0);
				break;
			case 7:
				fuzz_core_call(0, SVSM_CORE_CONFIGURE_VTOM, fuzz_u64(&in), 0, 0);
				break;
			case 8:
				fuzz_core_call(fuzz_core_vcpu_sel(&in), SVSM_CORE_QUERY_PROTOCOL, 1ull << 32 | 1, 0, 0);
				break;
			default: {
				struct fuzz_core_ap a = {.apic = fuzz_core_vcpu_sel(&in)};
				if (a.apic != 0) {
					fuzz_guest_op(fuzz_core_ap_destroy_fn, &a);
				}
				break;
			}
			}
		}
	}
	fuzz_end();
}

const struct fuzz_target fuzz_target = {
	.name = "core",
	.init = fuzz_core_init,
	.run = fuzz_core_run,
};
