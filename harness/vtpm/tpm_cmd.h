/*
 * TPM 2.0 commands built byte by byte for the vTPM suites, the crash test, the fuzz
 * target and the benchmark (TPM 2.0 Library part 3 layouts; big-endian). Each builder
 * writes a complete command into @b (at least TC_MAX bytes) and returns its size.
 * Authorizations are one password session with the empty password.
 */
#ifndef HARNESS_VTPM_TPM_CMD_H
#define HARNESS_VTPM_TPM_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TC_MAX 4096u

#define TPM_RC_SUCCESS 0x000u
#define TPM_RC_INITIALIZE 0x100u
#define TPM_RC_NV_UNINITIALIZED 0x14Au
#define TPM_RC_NV_DEFINED 0x14Cu
#define TPM_RH_OWNER 0x40000001u
#define TPM_RH_ENDORSEMENT 0x4000000Bu
#define TPM_SU_CLEAR 0u
#define TPM_SU_STATE 1u

/* TPMA_NV for the suites' indices: owner/auth read and write, no DA; COUNTER adds TPM_NT_COUNTER. */
#define TC_NV_ORDINARY 0x02060006u
#define TC_NV_COUNTER (TC_NV_ORDINARY | 0x10u)

size_t tc_startup(uint8_t *b, uint16_t su);
size_t tc_shutdown(uint8_t *b, uint16_t su);
size_t tc_selftest(uint8_t *b);
size_t tc_get_random(uint8_t *b, uint16_t bytes);
size_t tc_pcr_extend(uint8_t *b, uint32_t pcr, uint8_t fill);
size_t tc_pcr_read(uint8_t *b, uint32_t pcr);
size_t tc_nv_define(uint8_t *b, uint32_t index, uint32_t attrs, uint16_t size);
/* An index with its own authValue @auth (@auth_len bytes) and @attrs. */
size_t tc_nv_define_auth(uint8_t *b, uint32_t index, uint32_t attrs, uint16_t size, const uint8_t *auth,
			 uint16_t auth_len);
size_t tc_nv_undefine(uint8_t *b, uint32_t index);
/* TPM2_NV_Read authorized by the index itself with password @pw. */
size_t tc_nv_read_pw(uint8_t *b, uint32_t index, uint16_t len, const uint8_t *pw, uint16_t pw_len);
/* TPM2_NV_Write authorized by the owner. */
size_t tc_nv_write_owner(uint8_t *b, uint32_t index, const uint8_t *data, uint16_t len);
/* TPM2_DictionaryAttackParameters (lockout hierarchy, empty password). */
size_t tc_da_parameters(uint8_t *b, uint32_t max_tries, uint32_t recovery, uint32_t lockout_recovery);
/* TPM2_ChangeEPS (platform hierarchy, empty password). */
size_t tc_change_eps(uint8_t *b);
size_t tc_nv_write(uint8_t *b, uint32_t index, const uint8_t *data, uint16_t len, uint16_t offset);
size_t tc_nv_increment(uint8_t *b, uint32_t index);
size_t tc_nv_read(uint8_t *b, uint32_t index, uint16_t len, uint16_t offset);
/* TPM2_CreatePrimary of an ECC P-256 storage key (AES-128-CFB) under @hierarchy. */
size_t tc_create_primary_ecc(uint8_t *b, uint32_t hierarchy);
/* The TCG default RSA-2048 EK (template L-1) in the endorsement hierarchy. */
size_t tc_create_ek_rsa(uint8_t *b);
size_t tc_evict_control(uint8_t *b, uint32_t object, uint32_t persistent);
size_t tc_flush_context(uint8_t *b, uint32_t handle);
/* TPM2_GetCapability(TPM_CAP_HANDLES, @first, 64). */
size_t tc_get_handles(uint8_t *b, uint32_t first);
/* TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, @property, 1). */
size_t tc_get_property(uint8_t *b, uint32_t property);
/* A command of @size bytes (>= 10) with a valid header for @cc and zero parameters. */
size_t tc_raw(uint8_t *b, uint16_t tag, uint32_t cc, uint32_t size);

/* Response helpers: the response code, or ~0 if @r is no well-formed TPM response. */
uint32_t tc_rc(const uint8_t *r, size_t len);
/* TPM2_CreatePrimary: the object handle and the TPMT_PUBLIC (pointer into @r, size). 0 or -1. */
int tc_created(const uint8_t *r, size_t len, uint32_t *handle, const uint8_t **pub, size_t *pub_len);
/* TPM2_NV_Read: the data read. 0 or -1. */
int tc_nv_read_data(const uint8_t *r, size_t len, const uint8_t **data, size_t *data_len);
/* TPM2_GetCapability(TPM_CAP_HANDLES): whether @handle is listed. 1, 0 or -1. */
int tc_handles_contain(const uint8_t *r, size_t len, uint32_t handle);
/* TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES) of one property: its value. 0 or -1. */
int tc_property_value(const uint8_t *r, size_t len, uint32_t property, uint32_t *value);

uint32_t tc_be32(const uint8_t *p);
uint16_t tc_be16(const uint8_t *p);

#endif
