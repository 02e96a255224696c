/*
 * VMSA (SEV-ES/SNP save area) offsets the core reads and writes. The VMSA is one
 * 4 KiB page; only the fields the SVSM touches are named here (reference section 5).
 */
#ifndef SVSM_VMSA_H
#define SVSM_VMSA_H

#include <svsm/types.h>

/* Segment registers: selector u16, attributes u16 (the descriptor's bits 40-47 and 52-55), limit u32, base u64. */
#define VMSA_ES 0x000
#define VMSA_CS 0x010
#define VMSA_SS 0x020
#define VMSA_DS 0x030
#define VMSA_FS 0x040
#define VMSA_GS 0x050
#define VMSA_GDTR 0x060
#define VMSA_LDTR 0x070
#define VMSA_IDTR 0x080
#define VMSA_TR 0x090
#define VMSA_VMPL 0x0CA      /* u8 */
#define VMSA_CPL 0x0CB       /* u8 */
#define VMSA_EFER 0x0D0      /* u64 */
#define VMSA_CR4 0x148
#define VMSA_CR3 0x150
#define VMSA_CR0 0x158
#define VMSA_DR7 0x160
#define VMSA_DR6 0x168
#define VMSA_RFLAGS 0x170
#define VMSA_RIP 0x178
#define VMSA_RSP 0x1D8
#define VMSA_RAX 0x1F8
#define VMSA_G_PAT 0x268
#define VMSA_RCX 0x308
#define VMSA_RDX 0x310
#define VMSA_RBX 0x318
#define VMSA_RSI 0x330
#define VMSA_RDI 0x338
#define VMSA_R8 0x340
#define VMSA_R9 0x348
#define VMSA_GUEST_EXITINFO1 0x390
#define VMSA_GUEST_EXITINFO2 0x398
#define VMSA_SEV_FEATURES 0x3B0
#define VMSA_GUEST_EXITCODE 0x3C0
#define VMSA_PCPU_ID 0x3D8
#define VMSA_XCR0 0x3E8
#define VMSA_MXCSR 0x408     /* u32 */
#define VMSA_X87_FTW 0x40C   /* u16 */
#define VMSA_X87_FCW 0x410   /* u16 */

#define EFER_LME BIT(8)
#define EFER_LMA BIT(10)
#define EFER_SVME BIT(12)
#define VMEXIT_VMGEXIT 0x403ull

#define VMSA_SIZE 4096

#endif
