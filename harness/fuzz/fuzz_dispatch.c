/*
 * Fuzz target "dispatch": raw SVSM calls through the guest driver with fuzz-chosen
 * registers (RAX/RCX/RDX/R8/R9), guest memory, calling-area and VMSA contents.
 *
 * Input: the common header (fuzz_common.h), then operations until the input ends. A vcpu
 * byte names APIC ID 0-4: the VMPL1 guest's vCPUs, or (header byte 2) those of the guests
 * at VMPL2/3 (FUZZ_APIC_CHILD, FUZZ_APIC_GRANDCHILD), which then make the call.
 *   0 call      vcpu byte (bit 7: one attempt, no INCOMPLETE retry), RAX RCX RDX R8 R9 (fuzz_value)
 *   1 write     address (fuzz_value), length byte (1-64), bytes: a VMPL1 write (may fault)
 *   2 list      address, entry count byte, next byte, entries (fuzz_value each)
 *   3 vmsa      address, VMPL byte, flags byte (bit 0 EFER.SVME, bit 1 wrong SEV_FEATURES),
 *               field offset (u16) and u64 value poked into the image
 *   4 pending   vcpu byte, call_pending byte, RAX RCX: one entry with a raw call_pending
 *   5 ap-start  APIC byte, VMSA address, CA address: SNP AP creation by the guest
 *   6 ap-stop   APIC byte: SNP AP destroy by the guest
 */
#include <svsm/svsm_abi.h>
#include <svsm/vmsa.h>

#include "fuzz_common.h"
#include "guest.h"

#define FUZZ_DISPATCH_OPS 7

/* The guest vCPU an operation names: the startup one or an extra one. */
static u32 fuzz_dispatch_vcpu(u8 sel)
{
	return (sel & 0x7F) % (FUZZ_MAX_EXTRA_VCPUS + 2);
}

static void fuzz_dispatch_call(struct fuzz_in *in)
{
	u8 sel = fuzz_u8(in);
	struct guest_regs r;

	r.rax = fuzz_value(in);
	r.rcx = fuzz_value(in);
	r.rdx = fuzz_value(in);
	r.r8 = fuzz_value(in);
	r.r9 = fuzz_value(in);
	fuzz_call(fuzz_dispatch_vcpu(sel), &r, (sel & 0x80) != 0);
}

static void fuzz_dispatch_write(struct fuzz_in *in)
{
	u64 gpa = fuzz_value(in);
	u8 len = (u8)(fuzz_u8(in) % 64 + 1);
	u8 buf[64];

	for (unsigned i = 0; i < len; i++) {
		buf[i] = fuzz_u8(in);
	}
	guest_write(fuzz_g(), gpa, buf, len);
}

static void fuzz_dispatch_list(struct fuzz_in *in)
{
	u64 gpa = fuzz_value(in);
	struct svsm_list_hdr h = {.entries = fuzz_u8(in), .next = fuzz_u8(in)};

	if (guest_write(fuzz_g(), gpa, &h, sizeof(h)) != 0) {
		return;
	}
	for (unsigned i = 0; i < h.entries && fuzz_more(in); i++) {
		u64 e = fuzz_value(in);
		if (guest_write(fuzz_g(), gpa + sizeof(h) + 8ull * i, &e, 8) != 0) {
			return;
		}
	}
}

static void fuzz_dispatch_vmsa(struct fuzz_in *in)
{
	static u8 vmsa[VMSA_SIZE];
	u64 gpa = fuzz_value(in);
	u8 vmpl = fuzz_u8(in);
	u8 flags = fuzz_u8(in);
	u16 off = fuzz_u16(in) % (VMSA_SIZE - 7);
	u64 poke = fuzz_u64(in);

	guest_vmsa_template(vmsa, vmpl, (flags & 2) ? 0x3 : 0x1);
	if (!(flags & 1)) {
		u64 efer = 0;
		__builtin_memcpy(vmsa + VMSA_EFER, &efer, 8);
	}
	if (flags & 4) {
		__builtin_memcpy(vmsa + off, &poke, 8);
	}
	guest_write(fuzz_g(), gpa & ~PAGE_MASK, vmsa, VMSA_SIZE);
}

/* One entry into the SVSM with call_pending set to a raw value (0, 2, 0xFF...). */
static void fuzz_dispatch_pending(struct fuzz_in *in)
{
	u32 apic = fuzz_dispatch_vcpu(fuzz_u8(in));
	u8 pending = fuzz_u8(in);
	struct guest_regs r = {.rax = fuzz_value(in), .rcx = fuzz_value(in)};

	fuzz_entry(apic, pending, &r);
}

struct fuzz_dispatch_ap {
	u32 apic;
	u64 vmsa, caa;
};

static void fuzz_dispatch_ap_start_fn(void *p)
{
	struct fuzz_dispatch_ap *a = p;

	guest_start_vcpu(fuzz_g(), a->apic, a->vmsa, a->caa);
}

static void fuzz_dispatch_ap_stop_fn(void *p)
{
	guest_ap_destroy(fuzz_g(), ((struct fuzz_dispatch_ap *)p)->apic);
}

/* SNP AP creation and destruction by the VMPL1 guest: its first use sets up its GHCB (SVSM calls). */
static void fuzz_dispatch_ap_start(struct fuzz_in *in)
{
	struct fuzz_dispatch_ap a = {.apic = fuzz_u8(in) % (FUZZ_MAX_EXTRA_VCPUS + 2)};

	a.vmsa = fuzz_value(in) & ~PAGE_MASK;
	a.caa = fuzz_value(in) & ~PAGE_MASK;
	if (a.apic != 0 && !guest_vcpu(fuzz_g(), a.apic)) {
		fuzz_guest_op(fuzz_dispatch_ap_start_fn, &a);
	}
}

static void fuzz_dispatch_ap_stop(struct fuzz_in *in)
{
	struct fuzz_dispatch_ap a = {.apic = fuzz_u8(in) % (FUZZ_MAX_EXTRA_VCPUS + 2)};

	if (a.apic != 0) {
		fuzz_guest_op(fuzz_dispatch_ap_stop_fn, &a);
	}
}

static int fuzz_dispatch_init(void)
{
	struct fuzz_machine_opts o = {.boot_per_input = false, .termination_ok = false};

	return fuzz_machine_init(&o);
}

static void fuzz_dispatch_run(const u8 *data, size_t size)
{
	struct fuzz_in in = {data, size};

	if (fuzz_begin(&in)) {
		for (unsigned ops = 0; fuzz_more(&in) && ops < 64; ops++) {
			switch (fuzz_u8(&in) % FUZZ_DISPATCH_OPS) {
			case 0:
				fuzz_dispatch_call(&in);
				break;
			case 1:
				fuzz_dispatch_write(&in);
				break;
			case 2:
				fuzz_dispatch_list(&in);
				break;
			case 3:
				fuzz_dispatch_vmsa(&in);
				break;
			case 4:
				fuzz_dispatch_pending(&in);
				break;
			case 5:
				fuzz_dispatch_ap_start(&in);
				break;
			default:
				fuzz_dispatch_ap_stop(&in);
				break;
			}
		}
	}
	fuzz_end();
}

const struct fuzz_target fuzz_target = {
	.name = "dispatch",
	.init = fuzz_dispatch_init,
	.run = fuzz_dispatch_run,
};
