/*
 * VMSA (SEV-ES/SNP save area) offsets the core reads and writes. The VMSA is one
 * 4 KiB page; only the fields the SVSM touches are named here (reference section 5).
 */
#ifndef SVSM_VMSA_H
#define SVSM_VMSA_H

#include <svsm/types.h>

#define VMSA_VMPL 0x0CA      /* u8 */
#define VMSA_CPL 0x0CB       /* u8 */
#define VMSA_EFER 0x0D0      /* u64 */
#define VMSA_CR4 0x148
#define VMSA_CR3 0x150
#define VMSA_CR0 0x158
#define VMSA_RFLAGS 0x170
#define VMSA_RIP 0x178
#define VMSA_RSP 0x1D8
#define VMSA_RAX 0x1F8
#define VMSA_RCX 0x308
#define VMSA_RDX 0x310
#define VMSA_RBX 0x318
#define VMSA_R8 0x340
#define VMSA_R9 0x348
#define VMSA_GUEST_EXITINFO1 0x390
#define VMSA_GUEST_EXITINFO2 0x398
#define VMSA_SEV_FEATURES 0x3B0
#define VMSA_GUEST_EXITCODE 0x3C0
#define VMSA_PCPU_ID 0x3D8

#define EFER_SVME BIT(12)
#define VMEXIT_VMGEXIT 0x403ull

#define VMSA_SIZE 4096

#endif
