/*
 * Guest memory in a Linux process with three views of the same pages (hosted only):
 *   - the machine's view (emu_machine.mem): what the hardware, the hypervisor and the
 *     guest driver use, always accessible; every access through it is checked against the
 *     RMP by the model itself;
 *   - the SVSM's direct map (emu_machine.svsm_map): what arch_phys_to_virt hands the core.
 *     A page is mapped there only while the RMP lets VMPL0 access it privately (assigned
 *     and validated). Any other access raises SIGSEGV, which becomes the fault hardware
 *     would raise (#NPF, #VC 0x404) and terminates the machine (emu_svsm_map_fault).
 *   - the SVSM's shared mapping (emu_machine.shared_map): what arch_map_shared hands the
 *     core for its GHCB (C-bit clear). A page is mapped there only while it is
 *     hypervisor-owned (shared); a C=0 write to a guest-owned page is an RMP violation.
 * So whatever the host does to a page the SVSM relies on (its own pages, a VMSA, its
 * GHCB...), the SVSM can never use bytes the host could have changed, nor write where it
 * must not: its next access faults.
 */
#ifndef EMU_DMAP_H
#define EMU_DMAP_H

#include "machine.h"

/* Map @size bytes of zeroed guest memory three times (memfd). 0, or -1 with errno. */
int dmap_create(u64 size, u8 **mem, u8 **svsm_map, u8 **shared_map);
void dmap_destroy(u64 size, u8 *mem, u8 *svsm_map, u8 *shared_map);

/* May VMPL0 access page @pfn privately (assigned and validated)? */
bool dmap_page_accessible(const struct emu_machine *m, u64 pfn);
/* Is page @pfn hypervisor-owned (what the shared mapping may access)? */
bool dmap_page_shared(const struct emu_machine *m, u64 pfn);

/*
 * The protect hook of struct emu_host: in the direct map, accessible pages RW and others
 * none; in the shared mapping, hypervisor-owned pages RW and others none.
 */
void dmap_protect(struct emu_machine *m, u64 pfn, u64 count);

/*
 * Install the SIGSEGV handler that turns a fault in the current machine's direct map or
 * shared mapping into emu_svsm_map_fault (other faults go to the previous handler). 0 or
 * -1. Cheap to repeat (a test framework may have put its own handler in since: then ours
 * goes in front of it again).
 */
int dmap_handler_install(void);

#endif
