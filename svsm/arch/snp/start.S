/*
 * Entry of the SNP image: the PVH ELF note QEMU's -kernel loader looks for, the 32-bit
 * entries (PVH without SNP, and the SNP launch entry that finds the C-bit in the CPUID
 * page), the identity page tables of the first 4 GiB, the switch to 64-bit mode, and
 * the 64-bit entry of the application processors.
 */
#define BOOT_ENTRY_PVH 1
#define BOOT_ENTRY_SNP 2
#define PTE_P 0x1
#define PTE_RW 0x2
#define PTE_PS 0x80
#define CR0_PG 0x80000000
#define CR0_WP 0x00010000
#define CR4_PAE 0x20
#define MSR_EFER 0xC0000080
#define EFER_LME 0x100
#define MSR_GHCB 0xC0010130
/* GHCB MSR termination request: reason set 3 (SVSM), code 1 (boot). */
#define TERM_BOOT_REQUEST (0x100 | (3 << 12) | (1 << 16))

/* XEN_ELFNOTE_PHYS32_ENTRY (18): QEMU enters here in 32-bit protected mode, EBX = hvm_start_info. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4
	.long 8
	.long 18
	.asciz "Xen"
	.balign 4
	.quad start_pvh32
	.balign 4

	.section .text.boot32, "ax"
	.code32
	.globl start_pvh32
start_pvh32:
	cli
	cld
	movl %ebx, boot_pvh_info
	movl $BOOT_ENTRY_PVH, boot_entry_kind
	xorl %ebp, %ebp			/* no C-bit: pages are mapped as they are */
	jmp start_common32

/*
 * SNP launch entry (the initial VMSA's RIP, 32-bit protected mode, paging off). With
 * paging off every access is private, so the CPUID page the launch placed in the image
 * can be read to learn the C-bit position (CPUID 0x8000001F EBX[5:0]).
 */
	.globl start_snp32
start_snp32:
	cli
	cld
	movl $BOOT_ENTRY_SNP, boot_entry_kind
	movl $snp_cpuid_page, %esi
	movl (%esi), %ecx		/* entry count */
	cmpl $64, %ecx
	ja snp_boot_fail
	addl $16, %esi
1:	testl %ecx, %ecx
	jz snp_boot_fail
	cmpl $0x8000001f, (%esi)	/* eax_in */
	je 2f
	addl $48, %esi
	decl %ecx
	jmp 1b
2:	movl 28(%esi), %ecx		/* EBX of the entry */
	andl $0x3f, %ecx
	subl $32, %ecx
	jb snp_boot_fail		/* the C-bit lives in the high dword of an entry */
	movl $1, %ebp
	shll %cl, %ebp
	jmp start_common32

/* No usable CPUID page: ask the hypervisor to terminate us (GHCB MSR protocol). */
snp_boot_fail:
	movl $MSR_GHCB, %ecx
	movl $TERM_BOOT_REQUEST, %eax
	xorl %edx, %edx
	wrmsr
	.byte 0xf3, 0x0f, 0x01, 0xd9	/* VMGEXIT */
3:	hlt
	jmp 3b

/* EBP = high dword of every page-table entry (the C-bit, or 0). */
start_common32:
	/* .bss is not part of the loaded image: clear it before anything lives there. */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl
	movl $boot_stack_top, %esp

	/* PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB pages (0..4 GiB). */
	movl $boot_pdpt, %eax
	orl $(PTE_P | PTE_RW), %eax
	movl %eax, boot_pml4
	movl %ebp, boot_pml4 + 4
	xorl %ecx, %ecx
4:	movl %ecx, %eax
	shll $12, %eax
	addl $boot_pd, %eax
	orl $(PTE_P | PTE_RW), %eax
	movl %eax, boot_pdpt(, %ecx, 8)
	movl %ebp, boot_pdpt + 4(, %ecx, 8)
	incl %ecx
	cmpl $4, %ecx
	jb 4b
	xorl %ecx, %ecx
5:	movl %ecx, %eax
	shll $21, %eax
	orl $(PTE_P | PTE_RW | PTE_PS), %eax
	movl %eax, boot_pd(, %ecx, 8)
	movl %ebp, boot_pd + 4(, %ecx, 8)
	incl %ecx
	cmpl $2048, %ecx
	jb 5b

	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_WP), %eax
	movl %eax, %cr0
	lgdt boot_gdt_desc
	ljmp $0x08, $start64

	.code64
start64:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movq $boot_stack_top, %rsp
	xorl %ebp, %ebp
	movl boot_entry_kind(%rip), %edi
	movl boot_pvh_info(%rip), %esi
	call boot_main
6:	cli
	hlt
	jmp 6b

/*
 * Every AP arrives here in 64-bit mode on the BSP's page tables, interrupts off, with
 * RSP = the top of its own stack (16-byte aligned) and EDI = its cpu index: from the
 * VMSA the BSP built (SNP) or from the real-mode trampoline (emu/nosnp).
 */
	.globl smp_ap_start64
smp_ap_start64:
	cld
	xorl %ebp, %ebp
	call smp_ap_main
7:	cli
	hlt
	jmp 7b

	.section .rodata
	.balign 16
/* Null, 64-bit code (0x08), flat data (0x10). percpu.c loads the real GDT with a TSS. */
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff
	.quad 0x00cf92000000ffff
boot_gdt_end:
boot_gdt_desc:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt

	.section .data
	.balign 8
	.globl boot_entry_kind
boot_entry_kind:
	.long 0
	.globl boot_pvh_info
boot_pvh_info:
	.long 0

	.section .bss
	.balign 4096
	.globl boot_pml4
boot_pml4:
	.skip 4096
boot_pdpt:
	.skip 4096
	.globl boot_pd
boot_pd:
	.skip 4 * 4096
	.balign 16
boot_stack:
	.skip 32768
	.globl boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
