# The vTPM (docs/vtpm.md): the libtpms engine, its state store, the guest's vTPM driver and
# the TPM bridge (emu/vtpm/), their suites (harness/vtpm/), the fuzz target's link and the
# benchmark against swtpm. The core side (svsm/vtpm/) is part of libsvsmcore.a, whose
# engine is the absent one: a binary gets libtpms by linking VTPM_ENGINE_OBJS.
#   make test-vtpm     the vTPM suites only (also part of make test)
#   make bench-vtpm    build/bench/vtpm.json: round trips through tpm-server and swtpm (part of make bench)

VTPM_LIBS := $(shell $(PKG_CONFIG) --libs libtpms 2>/dev/null || echo -ltpms)
VTPM_ENGINE_OBJS := $(B)/obj/emu/vtpm/engine_libtpms.o $(B)/obj/emu/vtpm/store.o
VTPM_GUEST_OBJS := $(B)/obj/emu/vtpm/tpm_guest.o
VTPM_BRIDGE_OBJS := $(B)/obj/emu/vtpm/mssim.o

# svsm-emu carries the engine and the bridge (tpm-server).
VTPM_EMU_LINK := $(VTPM_BRIDGE_OBJS) $(VTPM_GUEST_OBJS) $(VTPM_ENGINE_OBJS)
$(SVSM_EMU): $(VTPM_EMU_LINK)
$(SVSM_EMU): LINK_LIBS := $(VTPM_EMU_LINK) $(LINK_LIBS) $(VTPM_LIBS)

# --- suites (harness/vtpm/test_*.c) ----------------------------------------------------------
# Each suite links the engine it tests: the scripted one (protocol), none (absent: the
# core library's), or libtpms (engine, attest, tools). tools and crash drive svsm-emu
# tpm-server (tools also svsm-emu attest).
VTPM_SUITES := $(sort $(basename $(notdir $(wildcard harness/vtpm/test_*.c))))
VTPM_SUITE_BINS := $(VTPM_SUITES:%=$(B)/tests/vtpm/%)
VTPM_H := $(B)/obj/harness/vtpm
VTPM_CLIENT_OBJS := $(VTPM_H)/tpm_client.o $(VTPM_H)/tpm_cmd.o
VTPM_LINK_test_vtpm_protocol := $(VTPM_H)/fake_engine.o $(VTPM_GUEST_OBJS)
VTPM_LINK_test_vtpm_absent := $(VTPM_GUEST_OBJS)
VTPM_LINK_test_vtpm_engine := $(VTPM_GUEST_OBJS) $(VTPM_ENGINE_OBJS) $(VTPM_H)/tpm_cmd.o
VTPM_LINK_test_vtpm_tools := $(VTPM_GUEST_OBJS) $(VTPM_ENGINE_OBJS) $(VTPM_CLIENT_OBJS)
VTPM_LINK_test_vtpm_attest := $(VTPM_GUEST_OBJS) $(VTPM_ENGINE_OBJS) $(VTPM_H)/tpm_cmd.o
# Suites with the emulated PSP load the committed test keys.
$(VTPM_H)/test_vtpm_attest.o $(VTPM_H)/test_vtpm_protocol.o: HOSTED_CFLAGS += -DFIXTURES_DIR='"$(abspath fixtures)"'
VTPM_LINK_test_vtpm_crash := $(VTPM_CLIENT_OBJS)
VTPM_SERVER_SUITES := $(B)/tests/vtpm/test_vtpm_tools $(B)/tests/vtpm/test_vtpm_crash
$(VTPM_SERVER_SUITES): $(SVSM_EMU)
$(VTPM_H)/tpm_client.o: HOSTED_CFLAGS += -DVTPM_SVSM_EMU='"$(abspath $(SVSM_EMU))"'
$(VTPM_H)/test_vtpm_tools.o: HOSTED_CFLAGS += -DVTPM_CI_DIR='"$(abspath ci)"' -DFIXTURES_DIR='"$(abspath fixtures)"'

.SECONDEXPANSION:
$(VTPM_SUITE_BINS): $(B)/tests/vtpm/%: $(VTPM_H)/%.o $$(VTPM_LINK_$$*) $(HARNESS_LIB) $(EMU_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(VTPM_LINK_$*) $(HARNESS_LIB) $(LINK_LIBS) $(VTPM_LIBS) $(CMOCKA_LIBS) -lpthread

TEST_BINS += $(VTPM_SUITE_BINS)

.PHONY: test-vtpm
test-vtpm: $(VTPM_SUITE_BINS)
	@ci/run-tests.sh $(B) $(VTPM_SUITE_BINS)

# --- benchmark: tpm-server against swtpm, same client, same run -------------------------------
$(B)/bench-vtpm: $(B)/obj/harness/bench/vtpm/bench_vtpm.o $(VTPM_CLIENT_OBJS) | $(SVSM_EMU)
	$(CC) $(LDFLAGS_ALL) -o $@ $(B)/obj/harness/bench/vtpm/bench_vtpm.o $(VTPM_CLIENT_OBJS)

.PHONY: bench-vtpm
bench-vtpm: $(B)/bench-vtpm $(SVSM_EMU)
	@mkdir -p $(ROOT)/bench
	$(B)/bench-vtpm --json $(ROOT)/bench/vtpm.json

BENCH_TARGETS += bench-vtpm

# --- fuzz target harness/fuzz/fuzz_vtpm.c: the machine with libtpms (mk/fuzz.mk builds the rest) ----
$(B)/tests/fuzz/fuzz_vtpm_replay: $(B)/obj/harness/fuzz/fuzz_vtpm.o $(B)/obj/harness/fuzz/main-vtpm.o \
		$(B)/obj/harness/fuzz/fuzz_common.o $(VTPM_ENGINE_OBJS) $(EMU_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(LINK_LIBS) $(VTPM_LIBS)

FUZZ_VTPM_ENGINE_OBJS := $(FUZZ_B)/obj/emu/vtpm/engine_libtpms.o $(FUZZ_B)/obj/emu/vtpm/store.o
$(FUZZ_B)/fuzz_vtpm: $(FUZZ_B)/obj/harness/fuzz/fuzz_vtpm.o $(FUZZ_COMMON_OBJS) $(FUZZ_EMU_OBJS) \
		$(filter-out %/vtpm/engine_absent.o,$(FUZZ_CORE_OBJS)) $(FUZZ_VTPM_ENGINE_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) $(FUZZ_LINK) -o $@ $^ $(VTPM_LIBS) -lcrypto -lpthread

# The vtpm seeds and dictionary come with the others (make fuzz-corpora).
.PHONY: fuzz-corpora-vtpm
fuzz-corpora: fuzz-corpora-vtpm
fuzz-corpora-vtpm:
	python3 harness/fuzz/gen_vtpm_corpus.py fixtures/fuzz
