/*
 * SVSM protocol wire formats (AMD pub. 58019 rev 1.00): call ids, result codes, the
 * calling area, and the in-memory lists of the core protocol. Numbers and their
 * confidence are in shared/spec/snp-svsm-reference.md sections 1.1-1.6.
 */
#ifndef SVSM_SVSM_ABI_H
#define SVSM_SVSM_ABI_H

#include <svsm/types.h>

/* RAX = protocol << 32 | call id. */
#define SVSM_CALL(protocol, call) (((u64)(protocol) << 32) | (u32)(call))
#define SVSM_CALL_PROTOCOL(rax) ((u32)((rax) >> 32))
#define SVSM_CALL_ID(rax) ((u32)(rax))

/* Protocols. */
#define SVSM_PROTOCOL_CORE 0u
#define SVSM_PROTOCOL_ATTEST 1u
#define SVSM_PROTOCOL_VTPM 2u

/* Core protocol (0) call ids. */
#define SVSM_CORE_REMAP_CA 0u
#define SVSM_CORE_PVALIDATE 1u
#define SVSM_CORE_CREATE_VCPU 2u
#define SVSM_CORE_DELETE_VCPU 3u
#define SVSM_CORE_DEPOSIT_MEM 4u
#define SVSM_CORE_WITHDRAW_MEM 5u
#define SVSM_CORE_QUERY_PROTOCOL 6u
#define SVSM_CORE_CONFIGURE_VTOM 7u
#define SVSM_CORE_CALL_COUNT 8u

#define SVSM_CORE_VERSION_MIN 1u
#define SVSM_CORE_VERSION_MAX 1u

/* Result codes (RAX). */
#define SVSM_SUCCESS 0x00000000u
#define SVSM_ERR_INCOMPLETE 0x80000000u
#define SVSM_ERR_UNSUPPORTED_PROTOCOL 0x80000001u
#define SVSM_ERR_UNSUPPORTED_CALL 0x80000002u
#define SVSM_ERR_INVALID_ADDRESS 0x80000003u
#define SVSM_ERR_INVALID_FORMAT 0x80000004u
#define SVSM_ERR_INVALID_PARAMETER 0x80000005u
#define SVSM_ERR_INVALID_REQUEST 0x80000006u
#define SVSM_ERR_BUSY 0x80000007u
/* 0x4000_0000 | n: the call needs n more 4 KiB pages deposited before it can succeed. */
#define SVSM_RESULT_NEED_MEMORY 0x40000000u
#define SVSM_RESULT_NEED_MEMORY_MASK 0x3FFFFFFFu

/* Core-protocol errors: 0x8000_1000 + the PVALIDATE/RMPADJUST EAX value. */
#define SVSM_ERR_PROTOCOL_BASE 0x80001000u
#define SVSM_ERR_PVALIDATE_FAIL_INPUT 0x80001001u
#define SVSM_ERR_RMPADJUST_FAIL_PERMISSION 0x80001002u
#define SVSM_ERR_DELETE_VCPU_FAIL_INUSE 0x80001003u
#define SVSM_ERR_PVALIDATE_FAIL_SIZEMISMATCH 0x80001006u
#define SVSM_ERR_PVALIDATE_FAIL_UNCHANGED 0x80001010u
#define SVSM_ERR_PVALIDATE_FAIL_OTHER 0x80001011u

/* Calling area: one 4 KiB guest page per vCPU. */
struct svsm_ca {
	u8 call_pending;
	u8 mem_available;
	u8 reserved[6];
	u8 buffer[4088];
};
_Static_assert(sizeof(struct svsm_ca) == 4096, "calling area is one page");
_Static_assert(offsetof(struct svsm_ca, mem_available) == 1, "CA layout");
_Static_assert(offsetof(struct svsm_ca, buffer) == 8, "CA layout");

#define SVSM_CA_CALL_PENDING_OFFSET 0x0
#define SVSM_CA_MEM_AVAILABLE_OFFSET 0x1

/*
 * Header of the PVALIDATE operation list and of the DEPOSIT_MEM list; 8-byte entries
 * follow. The whole list must not cross a 4 KiB boundary.
 */
struct svsm_list_hdr {
	u16 entries;
	u16 next;
	u32 reserved;
};
_Static_assert(sizeof(struct svsm_list_hdr) == 8, "list header");

/* PVALIDATE entry. */
#define SVSM_PVAL_SIZE_MASK 0x3ull
#define SVSM_PVAL_VALIDATE BIT(2)
#define SVSM_PVAL_IGNORE_CF BIT(3)
#define SVSM_PVAL_RESERVED_MASK 0xFF0ull
#define SVSM_ENTRY_GFN_SHIFT 12
/* Entries that fit when the list starts at CA + 8. */
#define SVSM_PVAL_MAX_ENTRIES_IN_CA 510

/* DEPOSIT_MEM entry: bits 1:0 page size, 11:2 reserved, 63:12 GFN. */
#define SVSM_DEPOSIT_SIZE_MASK 0x3ull
#define SVSM_DEPOSIT_RESERVED_MASK 0xFFCull

/* WITHDRAW_MEM buffer: u16 count filled by the SVSM, 6 unused bytes, then 4 KiB GPAs. */
struct svsm_withdraw_hdr {
	u16 entries;
	u8 unused[6];
};
_Static_assert(sizeof(struct svsm_withdraw_hdr) == 8, "withdraw header");

/* QUERY_PROTOCOL: RCX in = protocol << 32 | version; out = max << 32 | min, or 0. */

/* CONFIGURE_VTOM: RCX bit 0 = query. */
#define SVSM_VTOM_QUERY BIT(0)

/* SVSM fields of the SNP secrets page. */
#define SECRETS_SVSM_BASE_OFFSET 0x140
#define SECRETS_SVSM_SIZE_OFFSET 0x148
#define SECRETS_SVSM_CAA_OFFSET 0x150
#define SECRETS_SVSM_MAX_VERSION_OFFSET 0x158
#define SECRETS_SVSM_GUEST_VMPL_OFFSET 0x15C

#endif
