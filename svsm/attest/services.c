/*
 * The registry of attestable services and the manifests built from it: the GUID table of
 * SVSM_ATTEST_SERVICES, and a service's own data for SVSM_ATTEST_SINGLE_SERVICE. The
 * registry has its own lock, held while a manifest is built (never across a VMGEXIT).
 */
#include <svsm/attest.h>
#include <svsm/spinlock.h>
#include <svsm/string.h>
#include <svsm/svsm_abi.h>

static SVSM_STATE struct {
	struct spinlock lock;
	const struct attest_service *slots[SVSM_ATTEST_MAX_SERVICES];
	u32 count;
} registry = {.lock = SPINLOCK_INIT};

static bool guid_is_null(const u8 guid[16])
{
	static const u8 zero[16];

	return !memcmp(guid, zero, 16);
}

/* The slot of @guid, or -1 (registry lock held). */
static int services_find(const u8 guid[16])
{
	for (u32 i = 0; i < registry.count; i++) {
		if (!memcmp(registry.slots[i]->guid, guid, 16)) {
			return (int)i;
		}
	}
	return -1;
}

int attest_service_register(const struct attest_service *s)
{
	int rc = -1;

	if (!s || !s->manifest || guid_is_null(s->guid)) {
		return -1;
	}
	spin_lock(&registry.lock);
	if (services_find(s->guid) < 0 && registry.count < SVSM_ATTEST_MAX_SERVICES) {
		registry.slots[registry.count++] = s;
		rc = 0;
	}
	spin_unlock(&registry.lock);
	return rc;
}

int attest_service_unregister(const u8 guid[16])
{
	spin_lock(&registry.lock);
	int i = services_find(guid);
	if (i >= 0) {
		/* Keep registration order: the GUID table lists services in it. */
		for (u32 j = (u32)i; j + 1 < registry.count; j++) {
			registry.slots[j] = registry.slots[j + 1];
		}
		registry.slots[--registry.count] = NULL;
	}
	spin_unlock(&registry.lock);
	return i >= 0 ? 0 : -1;
}

void attest_services_reset(void)
{
	registry.lock = (struct spinlock)SPINLOCK_INIT;
	memset(registry.slots, 0, sizeof(registry.slots));
	registry.count = 0;
}

/*
 * A service's data of @version into @buf (@room bytes); *@len its length. False if too big
 * or unavailable (ATTEST_MANIFEST_UNAVAILABLE is above any room).
 */
static bool services_data(const struct attest_service *s, u32 version, u8 *buf, u32 room, u32 *len)
{
	u32 n = s->manifest(s, version, buf, room);

	if (n == ATTEST_MANIFEST_UNAVAILABLE || n > room) {
		return false;
	}
	*len = n;
	return true;
}

static const u8 manifest_guid[16] = SVSM_MANIFEST_GUID;

u32 attest_services_prepare(const u8 *guid, u32 version)
{
	const struct attest_service *todo[SVSM_ATTEST_MAX_SERVICES];
	u32 n = 0;
	u32 rc = SVSM_SUCCESS;

	/* Which hooks, decided under the lock; run after it was released. */
	spin_lock(&registry.lock);
	if (!guid) {
		version = 0;
		for (u32 i = 0; i < registry.count; i++) {
			if (registry.slots[i]->prepare) {
				todo[n++] = registry.slots[i];
			}
		}
	} else {
		int i = services_find(guid);
		if (i < 0) {
			rc = SVSM_ERR_UNSUPPORTED_PROTOCOL;
		} else if (version > registry.slots[i]->max_manifest_version) {
			rc = SVSM_ERR_INVALID_PARAMETER;
		} else if (registry.slots[i]->prepare) {
			todo[n++] = registry.slots[i];
		}
	}
	spin_unlock(&registry.lock);
	for (u32 k = 0; k < n && rc == SVSM_SUCCESS; k++) {
		if (todo[k]->prepare(todo[k], version) != 0) {
			rc = SVSM_ERR_INVALID_REQUEST;
		}
	}
	return rc;
}

/* The GUID table: header, entries in registration order, then each service's data. */
static u32 services_table(u8 *buf, u32 cap, u32 *size)
{
	u32 n = registry.count;
	u32 off = (u32)(sizeof(struct svsm_manifest_hdr) + n * sizeof(struct svsm_manifest_entry));

	if (off > cap) {
		return SVSM_ERR_INVALID_REQUEST;
	}
	for (u32 i = 0; i < n; i++) {
		const struct attest_service *s = registry.slots[i];
		u32 len;
		if (!services_data(s, 0, buf + off, cap - off, &len)) {
			return SVSM_ERR_INVALID_REQUEST;
		}
		struct svsm_manifest_entry e;
		memcpy(e.guid, s->guid, 16);
		e.offset = off;
		e.size = len;
		memcpy(buf + sizeof(struct svsm_manifest_hdr) + i * sizeof(e), &e, sizeof(e));
		off += len;
	}
	struct svsm_manifest_hdr h;
	memcpy(h.guid, manifest_guid, 16);
	h.size = off;
	h.count = n;
	memcpy(buf, &h, sizeof(h));
	*size = off;
	return SVSM_SUCCESS;
}

u32 attest_manifest_build(const u8 *guid, u32 version, u8 *buf, u32 cap, u32 *size)
{
	u32 rc;

	spin_lock(&registry.lock);
	if (!guid) {
		rc = services_table(buf, cap, size);
	} else {
		int i = services_find(guid);
		if (i < 0) {
			rc = SVSM_ERR_UNSUPPORTED_PROTOCOL;
		} else if (version > registry.slots[i]->max_manifest_version) {
			rc = SVSM_ERR_INVALID_PARAMETER;
		} else if (!services_data(registry.slots[i], version, buf, cap, size)) {
			rc = SVSM_ERR_INVALID_REQUEST;
		} else if (*size >= 16 && !memcmp(buf, manifest_guid, 16)) {
			/*
			 * A service's data that starts like a services manifest could be mistaken for
			 * one: SINGLE and SERVICES answers must never be able to coincide.
			 */
			rc = SVSM_ERR_INVALID_REQUEST;
		} else {
			rc = SVSM_SUCCESS;
		}
	}
	spin_unlock(&registry.lock);
	return rc;
}
