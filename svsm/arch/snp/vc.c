/*
 * The #VC handler of the SNP platform: what an SEV-SNP guest cannot execute directly.
 * CPUID is answered from the launch's CPUID page (the hypervisor only when there is
 * none), RDMSR/WRMSR, port I/O and RDTSC (should the host intercept it) go to the
 * hypervisor through this vCPU's GHCB. The handler runs on its own IST stack and must
 * not raise #VC itself (nesting is fatal).
 */
#include <svsm/ghcb_client.h>
#include <svsm/string.h>

#include "insn.h"
#include "snp.h"

/* The SNP CPUID page: a count, 12 reserved bytes, then 48-byte entries. */
struct vc_cpuid_entry {
	u32 eax_in;
	u32 ecx_in;
	u64 xcr0_in;
	u64 xss_in;
	u32 eax, ebx, ecx, edx;
	u64 reserved;
};
_Static_assert(sizeof(struct vc_cpuid_entry) == 48, "SNP CPUID entry");
#define VC_CPUID_MAX 64

/* Leaves whose answer depends on ECX (the sub-leaf). */
static bool vc_leaf_has_subleaf(u32 leaf)
{
	return leaf == 0x4 || leaf == 0x7 || leaf == 0xB || leaf == 0xD || leaf == 0xF || leaf == 0x10 ||
	       leaf == 0x8000001D || leaf == 0x80000020;
}

/* The CPUID page's answer; false if the launch gave no CPUID page. Absent leaves read as 0. */
static bool vc_cpuid_table(u32 leaf, u32 sub, u32 out[4])
{
	u32 count;

	memcpy(&count, snp_cpuid_page, sizeof(count));
	if (count == 0 || count > VC_CPUID_MAX) {
		return false;
	}
	const struct vc_cpuid_entry *e = (const struct vc_cpuid_entry *)(snp_cpuid_page + 16);
	out[0] = out[1] = out[2] = out[3] = 0;
	for (u32 i = 0; i < count; i++) {
		if (e[i].eax_in == leaf && (!vc_leaf_has_subleaf(leaf) || e[i].ecx_in == sub)) {
			out[0] = e[i].eax;
			out[1] = e[i].ebx;
			out[2] = e[i].ecx;
			out[3] = e[i].edx;
			break;
		}
	}
	return true;
}

static bool vc_core_ghcb;

/* See snp.h: called by the hardware platform just before svsm_boot. */
void vc_use_core_ghcb(void)
{
	vc_core_ghcb = true;
}

/* This vCPU's GHCB, once the core registered one. */
static struct ghcb_page *vc_ghcb(void)
{
	if (!vc_core_ghcb) {
		return NULL; /* early boot: the core does not exist yet */
	}
	return cpu_ghcb();
}

static bool vc_cpuid(struct idt_frame *f)
{
	u32 leaf = (u32)f->rax;
	u32 sub = (u32)f->rcx;
	u32 r[4];

	if (!vc_cpuid_table(leaf, sub, r)) {
		struct ghcb_page *g = vc_ghcb();
		if (g) {
			ghcb_invalidate(g->ghcb);
			ghcb_set_rax(g->ghcb, leaf);
			ghcb_set_rcx(g->ghcb, sub);
			if (ghcb_nae(g, SVM_EXIT_CPUID, 0, 0, NULL) != GHCB_CLIENT_OK) {
				return false;
			}
			r[0] = (u32)ghcb_get_rax(g->ghcb);
			r[1] = (u32)ghcb_get_rbx(g->ghcb);
			r[2] = (u32)ghcb_get_rcx(g->ghcb);
			r[3] = (u32)ghcb_get_rdx(g->ghcb);
		} else {
			/* Before the GHCB: the MSR protocol (no sub-leaf). */
			for (unsigned i = 0; i < 4; i++) {
				if (ghcb_msr_cpuid(leaf, i, &r[i]) != GHCB_CLIENT_OK) {
					return false;
				}
			}
		}
	}
	f->rax = r[0];
	f->rbx = r[1];
	f->rcx = r[2];
	f->rdx = r[3];
	f->rip += 2;
	return true;
}

static bool vc_msr(struct idt_frame *f, bool write)
{
	struct ghcb_page *g = vc_ghcb();

	if (!g) {
		return false;
	}
	ghcb_invalidate(g->ghcb);
	ghcb_set_rcx(g->ghcb, (u32)f->rcx);
	if (write) {
		ghcb_set_rax(g->ghcb, (u32)f->rax);
		ghcb_set_rdx(g->ghcb, (u32)f->rdx);
	}
	if (ghcb_nae(g, SVM_EXIT_MSR, write ? 1 : 0, 0, NULL) != GHCB_CLIENT_OK) {
		return false;
	}
	if (!write) {
		f->rax = (u32)ghcb_get_rax(g->ghcb);
		f->rdx = (u32)ghcb_get_rdx(g->ghcb);
	}
	f->rip += 2;
	return true;
}

/*
 * RDTSC, if the host intercepts it (KVM does not by default): the host's answer. The
 * image uses the TSC only for delays and timeouts (clock.c), never for security.
 */
static bool vc_rdtsc(struct idt_frame *f)
{
	struct ghcb_page *g = vc_ghcb();

	if (!g) {
		return false;
	}
	ghcb_invalidate(g->ghcb);
	if (ghcb_nae(g, SVM_EXIT_RDTSC, 0, 0, NULL) != GHCB_CLIENT_OK || !ghcb_rax_is_valid(g->ghcb) ||
	    !ghcb_rdx_is_valid(g->ghcb)) {
		return false;
	}
	f->rax = (u32)ghcb_get_rax(g->ghcb);
	f->rdx = (u32)ghcb_get_rdx(g->ghcb);
	f->rip += 2;
	return true;
}

/* IN/OUT with an 8- or 32-bit operand (16 with 0x66), port in DX or an immediate. */
static bool vc_ioio(struct idt_frame *f)
{
	const u8 *ip = (const u8 *)f->rip;
	unsigned len = 0;
	bool opsize16 = false;

	if (ip[0] == 0x66) {
		opsize16 = true;
		len++;
	}
	u8 op = ip[len++];
	u16 port;
	switch (op) {
	case 0xE4:
	case 0xE5:
	case 0xE6:
	case 0xE7:
		port = ip[len++];
		break;
	case 0xEC:
	case 0xED:
	case 0xEE:
	case 0xEF:
		port = (u16)f->rdx;
		break;
	default:
		return false; /* string forms are never used by the image */
	}
	bool in = op == 0xE4 || op == 0xE5 || op == 0xEC || op == 0xED;
	unsigned bytes = (op & 1) ? (opsize16 ? 2 : 4) : 1;
	u64 mask = bytes == 4 ? 0xFFFFFFFFull : (bytes == 2 ? 0xFFFFull : 0xFFull);
	u64 size_bit = bytes == 4 ? IOIO_DATA_32 : (bytes == 2 ? IOIO_DATA_16 : IOIO_DATA_8);
	struct ghcb_page *g = vc_ghcb();

	if (!g) {
		/* Before the GHCB nobody can be asked: output is dropped, input reads as all ones. */
		if (in) {
			f->rax = (f->rax & ~mask) | mask;
		}
		f->rip += len;
		return true;
	}
	ghcb_invalidate(g->ghcb);
	if (!in) {
		ghcb_set_rax(g->ghcb, f->rax & mask);
	}
	u64 info1 = ((u64)port << IOIO_PORT_SHIFT) | size_bit | IOIO_ADDR_16 | (in ? IOIO_TYPE_IN : 0);
	if (ghcb_nae(g, SVM_EXIT_IOIO, info1, 0, NULL) != GHCB_CLIENT_OK) {
		return false;
	}
	if (in) {
		f->rax = (f->rax & ~mask) | (ghcb_get_rax(g->ghcb) & mask);
	}
	f->rip += len;
	return true;
}

/* See snp.h; the #VC error code is the exit code the instruction would have caused. */
bool vc_handle(struct idt_frame *f)
{
	struct percpu *pc = percpu_this();
	const u8 *ip = (const u8 *)f->rip;
	bool ok = false;

	if (pc->in_vc) {
		return false;
	}
	pc->in_vc = true;
	switch (f->error_code) {
	case SVM_EXIT_CPUID:
		ok = ip[0] == 0x0F && ip[1] == 0xA2 && vc_cpuid(f);
		break;
	case SVM_EXIT_MSR:
		ok = ip[0] == 0x0F && (ip[1] == 0x30 || ip[1] == 0x32) && vc_msr(f, ip[1] == 0x30);
		break;
	case SVM_EXIT_IOIO:
		ok = vc_ioio(f);
		break;
	case SVM_EXIT_RDTSC:
		ok = ip[0] == 0x0F && ip[1] == 0x31 && vc_rdtsc(f);
		break;
	default:
		break;
	}
	pc->in_vc = false;
	return ok;
}
