/*
 * The ownership map: one bit per 4 KiB guest page that belongs to the SVSM (its region,
 * GHCB pages, deposited memory). Guest-supplied addresses are checked against it before
 * any use, and the invariant oracle compares it with the RMP.
 */
#include <svsm/arch.h>
#include <svsm/core.h>
#include <svsm/string.h>

static SVSM_STATE struct {
	u64 *bits;
	u64 page_count;
	u64 owned;
	u64 mem_size;
} owned_map;

/*
 * Place the map at the start of the SVSM region (the caller reserves those pages) and
 * clear it. Returns the number of bytes used, or -1.
 */
int owned_init(u64 mem_size)
{
	const struct svsm_boot_info *b = svsm_boot_params();
	u64 pages = mem_size >> PAGE_SHIFT;
	u64 bytes = ALIGN_UP(ALIGN_UP(pages, 64) / 8, PAGE_SIZE);

	if (bytes >= b->svsm_size) {
		return -1;
	}
	owned_map.bits = arch_phys_to_virt(b->svsm_base);
	if (!owned_map.bits) {
		return -1;
	}
	memset(owned_map.bits, 0, bytes);
	owned_map.page_count = pages;
	owned_map.owned = 0;
	owned_map.mem_size = mem_size;
	return (int)bytes;
}

/* True if the page containing @gpa is the SVSM's. Addresses past memory are not owned. */
bool owned_page(u64 gpa)
{
	u64 pfn = gpa >> PAGE_SHIFT;

	if (pfn >= owned_map.page_count) {
		return false;
	}
	return (__atomic_load_n(&owned_map.bits[pfn / 64], __ATOMIC_ACQUIRE) >> (pfn % 64)) & 1;
}

/* True if any page of [gpa, gpa + len) is owned; a wrapping range counts as owned. */
bool owned_range(u64 gpa, u64 len)
{
	if (len == 0) {
		return false;
	}
	u64 last = gpa + len - 1;
	if (last < gpa) {
		return true;
	}
	for (u64 p = ALIGN_DOWN(gpa, PAGE_SIZE); p <= ALIGN_DOWN(last, PAGE_SIZE); p += PAGE_SIZE) {
		if (owned_page(p)) {
			return true;
		}
		if (p + PAGE_SIZE < p) {
			break;
		}
	}
	return false;
}

/*
 * Mark @pages pages from @gpa as owned or not. Each bit changes with one atomic
 * operation and the count follows what the operation found, so concurrent calls on
 * different pages keep it exact; a page changes only under its claim (claim.h).
 */
void owned_set(u64 gpa, u64 pages, bool owned)
{
	for (u64 i = 0; i < pages; i++) {
		u64 pfn = (gpa >> PAGE_SHIFT) + i;
		if (pfn >= owned_map.page_count) {
			return;
		}
		u64 mask = (u64)1 << (pfn % 64);
		if (owned) {
			if (!(__atomic_fetch_or(&owned_map.bits[pfn / 64], mask, __ATOMIC_ACQ_REL) & mask)) {
				__atomic_fetch_add(&owned_map.owned, 1, __ATOMIC_RELAXED);
			}
		} else if (__atomic_fetch_and(&owned_map.bits[pfn / 64], ~mask, __ATOMIC_ACQ_REL) & mask) {
			__atomic_fetch_sub(&owned_map.owned, 1, __ATOMIC_RELAXED);
		}
	}
}

/* Number of pages the SVSM owns. */
u64 owned_count(void)
{
	return __atomic_load_n(&owned_map.owned, __ATOMIC_RELAXED);
}

/* The guest-physical span the map covers. */
u64 owned_mem_size(void)
{
	return owned_map.mem_size;
}
