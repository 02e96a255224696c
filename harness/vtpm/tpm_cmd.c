/* TPM 2.0 command builders and response readers of the vTPM harness (tpm_cmd.h). */
#include <string.h>

#include "tpm_cmd.h"

#define ST_NO_SESSIONS 0x8001u
#define ST_SESSIONS 0x8002u
#define TPM_RS_PW 0x40000009u
#define TPM_CAP_HANDLES 1u
#define TPM_CAP_TPM_PROPERTIES 6u

struct tc {
	uint8_t *b;
	size_t n;
};

static void u8_(struct tc *c, uint8_t v)
{
	c->b[c->n++] = v;
}

static void u16_(struct tc *c, uint16_t v)
{
	u8_(c, (uint8_t)(v >> 8));
	u8_(c, (uint8_t)v);
}

static void u32_(struct tc *c, uint32_t v)
{
	u16_(c, (uint16_t)(v >> 16));
	u16_(c, (uint16_t)v);
}

static void bytes_(struct tc *c, const uint8_t *p, size_t n)
{
	memcpy(c->b + c->n, p, n);
	c->n += n;
}

static struct tc begin(uint8_t *b, uint16_t tag, uint32_t cc)
{
	struct tc c = {b, 0};

	u16_(&c, tag);
	u32_(&c, 0);
	u32_(&c, cc);
	return c;
}

static size_t end(struct tc *c)
{
	c->b[2] = (uint8_t)(c->n >> 24);
	c->b[3] = (uint8_t)(c->n >> 16);
	c->b[4] = (uint8_t)(c->n >> 8);
	c->b[5] = (uint8_t)c->n;
	return c->n;
}

/* One password session, empty password. */
static void pw_auth(struct tc *c)
{
	u32_(c, 9);
	u32_(c, TPM_RS_PW);
	u16_(c, 0);
	u8_(c, 0x01);
	u16_(c, 0);
}

uint32_t tc_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

uint16_t tc_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

size_t tc_startup(uint8_t *b, uint16_t su)
{
	struct tc c = begin(b, ST_NO_SESSIONS, 0x144);

	u16_(&c, su);
	return end(&c);
}

size_t tc_shutdown(uint8_t *b, uint16_t su)
{
	struct tc c = begin(b, ST_NO_SESSIONS, 0x145);

	u16_(&c, su);
	return end(&c);
}

size_t tc_selftest(uint8_t *b)
{
	struct tc c = begin(b, ST_NO_SESSIONS, 0x143);

	u8_(&c, 1); /* fullTest */
	return end(&c);
}

size_t tc_get_random(uint8_t *b, uint16_t bytes)
{
	struct tc c = begin(b, ST_NO_SESSIONS, 0x17B);

	u16_(&c, bytes);
	return end(&c);
}

size_t tc_pcr_extend(uint8_t *b, uint32_t pcr, uint8_t fill)
{
	struct tc c = begin(b, ST_SESSIONS, 0x182);
	uint8_t digest[32];

	memset(digest, fill, sizeof(digest));
	u32_(&c, pcr);
	pw_auth(&c);
	u32_(&c, 1);      /* one digest */
	u16_(&c, 0x000B); /* SHA-256 */
	bytes_(&c, digest, sizeof(digest));
	return end(&c);
}

size_t tc_pcr_read(uint8_t *b, uint32_t pcr)
{
	struct tc c = begin(b, ST_NO_SESSIONS, 0x17E);

	u32_(&c, 1);
	u16_(&c, 0x000B);
	u8_(&c, 3);
	for (uint32_t i = 0; i < 3; i++) {
		u8_(&c, pcr / 8 == i ? (uint8_t)(1u << (pcr % 8)) : 0);
	}
	return end(&c);
}

size_t tc_nv_define(uint8_t *b, uint32_t index, uint32_t attrs, uint16_t size)
{
	struct tc c = begin(b, ST_SESSIONS, 0x12A);

	u32_(&c, TPM_RH_OWNER);
	pw_auth(&c);
	u16_(&c, 0);      /* auth */
	u16_(&c, 14);     /* TPM2B_NV_PUBLIC */
	u32_(&c, index);
	u16_(&c, 0x000B); /* nameAlg */
	u32_(&c, attrs);
	u16_(&c, 0);      /* authPolicy */
	u16_(&c, size);
	return end(&c);
}

size_t tc_nv_define_auth(uint8_t *b, uint32_t index, uint32_t attrs, uint16_t size, const uint8_t *auth,
			 uint16_t auth_len)
{
	struct tc c = begin(b, ST_SESSIONS, 0x12A);

	u32_(&c, TPM_RH_OWNER);
	pw_auth(&c);
	u16_(&c, auth_len);
	bytes_(&c, auth, auth_len);
	u16_(&c, 14);
	u32_(&c, index);
	u16_(&c, 0x000B);
	u32_(&c, attrs);
	u16_(&c, 0);
	u16_(&c, size);
	return end(&c);
}

size_t tc_nv_read_pw(uint8_t *b, uint32_t index, uint16_t len, const uint8_t *pw, uint16_t pw_len)
{
	struct tc c = begin(b, ST_SESSIONS, 0x14E);

	u32_(&c, index);
	u32_(&c, index);
	u32_(&c, 9u + pw_len);
	u32_(&c, TPM_RS_PW);
	u16_(&c, 0);
	u8_(&c, 0x01);
	u16_(&c, pw_len);
	bytes_(&c, pw, pw_len);
	u16_(&c, len);
	u16_(&c, 0);
	return end(&c);
}

size_t tc_nv_write_owner(uint8_t *b, uint32_t index, const uint8_t *data, uint16_t len)
{
	struct tc c = begin(b, ST_SESSIONS, 0x137);

	u32_(&c, TPM_RH_OWNER);
	u32_(&c, index);
	pw_auth(&c);
	u16_(&c, len);
	bytes_(&c, data, len);
	u16_(&c, 0);
	return end(&c);
}

size_t tc_da_parameters(uint8_t *b, uint32_t max_tries, uint32_t recovery, uint32_t lockout_recovery)
{
	struct tc c = begin(b, ST_SESSIONS, 0x13A);

	u32_(&c, 0x4000000Au); /* TPM_RH_LOCKOUT */
	pw_auth(&c);
	u32_(&c, max_tries);
	u32_(&c, recovery);
	u32_(&c, lockout_recovery);
	return end(&c);
}

size_t tc_change_eps(uint8_t *b)
{
	struct tc c = begin(b, ST_SESSIONS, 0x124);

	u32_(&c, 0x4000000Cu); /* TPM_RH_PLATFORM */
	pw_auth(&c);
	return end(&c);
}

size_t tc_nv_undefine(uint8_t *b, uint32_t index)
{
	struct tc c = begin(b, ST_SESSIONS, 0x122);

	u32_(&c, TPM_RH_OWNER);
	u32_(&c, index);
	pw_auth(&c);
	return end(&c);
}

size_t tc_nv_write(uint8_t *b, uint32_t index, const uint8_t *data, uint16_t len, uint16_t offset)
{
	struct tc c = begin(b, ST_SESSIONS, 0x137);

	u32_(&c, index);
	u32_(&c, index);
	pw_auth(&c);
	u16_(&c, len);
	bytes_(&c, data, len);
	u16_(&c, offset);
	return end(&c);
}

size_t tc_nv_increment(uint8_t *b, uint32_t index)
{
	struct tc c = begin(b, ST_SESSIONS, 0x134);

	u32_(&c, index);
	u32_(&c, index);
	pw_auth(&c);
	return end(&c);
}

size_t tc_nv_read(uint8_t *b, uint32_t index, uint16_t len, uint16_t offset)
{
	struct tc c = begin(b, ST_SESSIONS, 0x14E);

	u32_(&c, index);
	u32_(&c, index);
	pw_auth(&c);
	u16_(&c, len);
	u16_(&c, offset);
	return end(&c);
}

size_t tc_create_primary_ecc(uint8_t *b, uint32_t hierarchy)
{
	struct tc c = begin(b, ST_SESSIONS, 0x131);

	u32_(&c, hierarchy);
	pw_auth(&c);
	u16_(&c, 4); /* inSensitive: empty */
	u16_(&c, 0);
	u16_(&c, 0);
	u16_(&c, 26);         /* inPublic */
	u16_(&c, 0x0023);     /* ECC */
	u16_(&c, 0x000B);     /* SHA-256 */
	u32_(&c, 0x00030072); /* fixedTPM fixedParent sensitiveDataOrigin userWithAuth restricted decrypt */
	u16_(&c, 0);          /* authPolicy */
	u16_(&c, 0x0006);     /* AES */
	u16_(&c, 128);
	u16_(&c, 0x0043);     /* CFB */
	u16_(&c, 0x0010);     /* scheme NULL */
	u16_(&c, 0x0003);     /* NIST P-256 */
	u16_(&c, 0x0010);     /* kdf NULL */
	u16_(&c, 0);          /* unique x */
	u16_(&c, 0);          /* unique y */
	u16_(&c, 0);          /* outsideInfo */
	u32_(&c, 0);          /* creationPCR */
	return end(&c);
}

size_t tc_create_ek_rsa(uint8_t *b)
{
	static const uint8_t policy[32] = {
		0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24,
		0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA,
	};
	struct tc c = begin(b, ST_SESSIONS, 0x131);

	u32_(&c, TPM_RH_ENDORSEMENT);
	pw_auth(&c);
	u16_(&c, 4);
	u16_(&c, 0);
	u16_(&c, 0);
	u16_(&c, 314);
	u16_(&c, 0x0001);     /* RSA */
	u16_(&c, 0x000B);
	u32_(&c, 0x000300B2); /* fixedTPM fixedParent sensitiveDataOrigin adminWithPolicy restricted decrypt */
	u16_(&c, 32);
	bytes_(&c, policy, sizeof(policy));
	u16_(&c, 0x0006);
	u16_(&c, 128);
	u16_(&c, 0x0043);
	u16_(&c, 0x0010);
	u16_(&c, 2048);
	u32_(&c, 0);
	u16_(&c, 256);
	memset(c.b + c.n, 0, 256);
	c.n += 256;
	u16_(&c, 0);
	u32_(&c, 0);
	return end(&c);
}

size_t tc_evict_control(uint8_t *b, uint32_t object, uint32_t persistent)
{
	struct tc c = begin(b, ST_SESSIONS, 0x120);

	u32_(&c, TPM_RH_OWNER);
	u32_(&c, object);
	pw_auth(&c);
	u32_(&c, persistent);
	return end(&c);
}

size_t tc_flush_context(uint8_t *b, uint32_t handle)
{
	struct tc c = begin(b, ST_NO_SESSIONS, 0x165);

	u32_(&c, handle);
	return end(&c);
}

size_t tc_get_handles(uint8_t *b, uint32_t first)
{
	struct tc c = begin(b, ST_NO_SESSIONS, 0x17A);

	u32_(&c, TPM_CAP_HANDLES);
	u32_(&c, first);
	u32_(&c, 64);
	return end(&c);
}

size_t tc_get_property(uint8_t *b, uint32_t property)
{
	struct tc c = begin(b, ST_NO_SESSIONS, 0x17A);

	u32_(&c, TPM_CAP_TPM_PROPERTIES);
	u32_(&c, property);
	u32_(&c, 1);
	return end(&c);
}

size_t tc_raw(uint8_t *b, uint16_t tag, uint32_t cc, uint32_t size)
{
	struct tc c = begin(b, tag, cc);

	memset(b + c.n, 0, size - c.n);
	c.n = size;
	return end(&c);
}

uint32_t tc_rc(const uint8_t *r, size_t len)
{
	if (len < 10 || tc_be32(r + 2) != len) {
		return ~0u;
	}
	return tc_be32(r + 6);
}

int tc_created(const uint8_t *r, size_t len, uint32_t *handle, const uint8_t **pub, size_t *pub_len)
{
	if (tc_rc(r, len) != 0 || len < 20) {
		return -1;
	}
	size_t n = tc_be16(r + 18);
	if (20 + n > len) {
		return -1;
	}
	*handle = tc_be32(r + 10);
	*pub = r + 20;
	*pub_len = n;
	return 0;
}

int tc_nv_read_data(const uint8_t *r, size_t len, const uint8_t **data, size_t *data_len)
{
	/* header, parameterSize, TPM2B_MAX_NV_BUFFER */
	if (tc_rc(r, len) != 0 || len < 16) {
		return -1;
	}
	size_t n = tc_be16(r + 14);
	if (16 + n > len) {
		return -1;
	}
	*data = r + 16;
	*data_len = n;
	return 0;
}

int tc_handles_contain(const uint8_t *r, size_t len, uint32_t handle)
{
	/* header, moreData, capability, count, handles */
	if (tc_rc(r, len) != 0 || len < 19) {
		return -1;
	}
	uint32_t count = tc_be32(r + 15);
	if (19 + 4ull * count > len) {
		return -1;
	}
	for (uint32_t i = 0; i < count; i++) {
		if (tc_be32(r + 19 + 4 * i) == handle) {
			return 1;
		}
	}
	return 0;
}

int tc_property_value(const uint8_t *r, size_t len, uint32_t property, uint32_t *value)
{
	/* header, moreData, capability, count, {property, value} */
	if (tc_rc(r, len) != 0 || len < 27 || tc_be32(r + 15) < 1 || tc_be32(r + 19) != property) {
		return -1;
	}
	*value = tc_be32(r + 23);
	return 0;
}
