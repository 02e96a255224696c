/* The protocol table and the dispatch of RAX = protocol << 32 | call id. */
#include <svsm/core.h>
#include <svsm/svsm_abi.h>

#define PROTOCOL_SLOTS 8

static const struct svsm_protocol core_protocol = {
	.id = SVSM_PROTOCOL_CORE,
	.min_version = SVSM_CORE_VERSION_MIN,
	.max_version = SVSM_CORE_VERSION_MAX,
	.name = "core",
	.handle = core_protocol_handle,
};

static SVSM_STATE const struct svsm_protocol *protocols[PROTOCOL_SLOTS];

/* Only the core protocol: the state of a fresh boot. */
void protocol_reset(void)
{
	for (unsigned i = 0; i < PROTOCOL_SLOTS; i++) {
		protocols[i] = NULL;
	}
	protocols[0] = &core_protocol;
}

/* Register @p; -1 if its id is taken, its versions are inverted or the table is full. */
int protocol_register(const struct svsm_protocol *p)
{
	if (!p || !p->handle || p->min_version > p->max_version || protocol_find(p->id)) {
		return -1;
	}
	for (unsigned i = 0; i < PROTOCOL_SLOTS; i++) {
		if (!protocols[i]) {
			protocols[i] = p;
			return 0;
		}
	}
	return -1;
}

/* The protocol with @id, or NULL. */
const struct svsm_protocol *protocol_find(u32 id)
{
	for (unsigned i = 0; i < PROTOCOL_SLOTS; i++) {
		if (protocols[i] && protocols[i]->id == id) {
			return protocols[i];
		}
	}
	return NULL;
}

/* Route the call to its protocol's handler. */
u32 protocol_dispatch(struct svsm_call *call)
{
	const struct svsm_protocol *p = protocol_find(SVSM_CALL_PROTOCOL(call->rax));

	if (!p) {
		return SVSM_ERR_UNSUPPORTED_PROTOCOL;
	}
	return p->handle(SVSM_CALL_ID(call->rax), call);
}
