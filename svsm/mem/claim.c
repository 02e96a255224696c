/*
 * Page claims (claim.h): one bit per guest page, set and cleared with atomic operations
 * on 64-bit words, so a claim of many pages costs one operation per 64 pages. A claim is
 * all or nothing: bits this call set are cleared again if any page was already claimed.
 */
#include <svsm/claim.h>
#include <svsm/core.h>
#include <svsm/string.h>

static SVSM_STATE struct {
	u64 *bits;
	u64 page_count;
} claims;

long claim_init(u64 mem_size, void *at, u64 room)
{
	u64 pages = mem_size >> PAGE_SHIFT;
	u64 bytes = ALIGN_UP(ALIGN_UP(pages, 64) / 8, PAGE_SIZE);

	if (!at || bytes > room) {
		return -1;
	}
	claims.bits = at;
	claims.page_count = pages;
	memset(claims.bits, 0, bytes);
	return (long)bytes;
}

/* The bits of word @w that pages [@first, @end) cover. */
static u64 claim_word_mask(u64 w, u64 first, u64 end)
{
	u64 lo = first > w * 64 ? first - w * 64 : 0;
	u64 hi = end < (w + 1) * 64 ? end - w * 64 : 64;
	u64 upper = hi == 64 ? ~0ull : ((1ull << hi) - 1);

	return upper & ~((1ull << lo) - 1);
}

/* Clear the bits of [@first, @end) in words [@w0, @w1) (they are this caller's). */
static void claim_clear(u64 first, u64 end, u64 w0, u64 w1)
{
	for (u64 w = w0; w < w1; w++) {
		__atomic_fetch_and(&claims.bits[w], ~claim_word_mask(w, first, end), __ATOMIC_RELEASE);
	}
}

bool claim_pages(u64 gpa, u64 pages)
{
	u64 first = gpa >> PAGE_SHIFT;

	if (pages == 0 || first >= claims.page_count || pages > claims.page_count - first) {
		return false;
	}
	u64 end = first + pages;
	for (u64 w = first / 64; w <= (end - 1) / 64; w++) {
		u64 mask = claim_word_mask(w, first, end);
		u64 old = __atomic_fetch_or(&claims.bits[w], mask, __ATOMIC_ACQUIRE);
		if (old & mask) {
			/* Someone else holds one: give back what this word gained, then the words before. */
			__atomic_fetch_and(&claims.bits[w], ~(mask & ~old), __ATOMIC_RELEASE);
			claim_clear(first, end, first / 64, w);
			return false;
		}
	}
	return true;
}

void claim_release(u64 gpa, u64 pages)
{
	u64 first = gpa >> PAGE_SHIFT;

	if (pages == 0 || first >= claims.page_count || pages > claims.page_count - first) {
		return;
	}
	u64 end = first + pages;
	claim_clear(first, end, first / 64, (end - 1) / 64 + 1);
}
