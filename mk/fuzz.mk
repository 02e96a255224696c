# Fuzz targets (harness/fuzz/fuzz_<name>.c): corpus replays in make test, libFuzzer and
# AFL++ builds, the CI smoke run, the exec/s benchmark and the OSS-Fuzz build check.
#   make fuzz-list                         the targets
#   make fuzz TARGET=dispatch [SECONDS=n]  libFuzzer (clang, ASan+UBSan), corpus in build/fuzz/corpus/<t>
#   make fuzz ENGINE=afl TARGET=dispatch   the same target built with afl-clang-fast, run by afl-fuzz
#   make fuzz-smoke                        every target FUZZ_SMOKE_SECONDS under libFuzzer + corpus replay
#   make fuzz-bench                        exec/s per target -> build/bench/fuzz.json
#   make oss-fuzz-build-test               ci/oss-fuzz/build.sh with local OSS-Fuzz variables, then checks
# A target file defines `const struct fuzz_target fuzz_target`; harness/fuzz/fuzz_main.c is
# the driver. Targets in FUZZ_STANDALONE link only the allocators, the others the machine.

FUZZ_HELPERS := harness/fuzz/fuzz_common.c harness/fuzz/fuzz_main.c harness/fuzz/fuzz_selftest.c
FUZZ_TARGETS := $(sort $(patsubst harness/fuzz/fuzz_%.c,%,$(filter-out $(FUZZ_HELPERS),$(wildcard harness/fuzz/fuzz_*.c))))
FUZZ_STANDALONE := mm
# Machine targets linked with a TPM engine: their link rules are in mk/vtpm.mk.
FUZZ_OWN_LINK := vtpm
FUZZ_MACHINE_TARGETS := $(filter-out $(FUZZ_STANDALONE) $(FUZZ_OWN_LINK),$(FUZZ_TARGETS))
FUZZ_CORPUS_DIR := fixtures/fuzz

# --- replays with the normal build (gcc; SANITIZE=1 works too), part of make test ---------
FUZZ_REPLAY_BINS := $(FUZZ_TARGETS:%=$(B)/tests/fuzz/fuzz_%_replay)

$(B)/obj/harness/fuzz/main-%.o: harness/fuzz/fuzz_main.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) -DFUZZ_CORPUS='"$(abspath $(FUZZ_CORPUS_DIR))/$*"' -c $< -o $@

$(FUZZ_MACHINE_TARGETS:%=$(B)/tests/fuzz/fuzz_%_replay): $(B)/tests/fuzz/fuzz_%_replay: $(B)/obj/harness/fuzz/fuzz_%.o \
		$(B)/obj/harness/fuzz/main-%.o $(B)/obj/harness/fuzz/fuzz_common.o $(EMU_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(LINK_LIBS)

FUZZ_MM_SRCS := $(sort $(wildcard svsm/mm/*.c))
$(B)/tests/fuzz/fuzz_mm_replay: $(B)/obj/harness/fuzz/fuzz_mm.o $(B)/obj/harness/fuzz/main-mm.o \
		$(FUZZ_MM_SRCS:%.c=$(B)/obj/mmdbg/%.o)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^

# The oracle self-test: each oracle must catch a deliberately broken handler.
$(B)/tests/fuzz/fuzz_selftest: $(B)/obj/harness/fuzz/fuzz_selftest.o $(B)/obj/harness/fuzz/fuzz_common.o \
		$(EMU_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(LINK_LIBS) $(CMOCKA_LIBS)

# The seeds and regression inputs of each machine target once more with FUZZ_CHECK_VIEWS=1:
# after every reset and call, the SVSM's views allow at most their rules (the RMP) and
# states, the kernel agrees with the snapshot about them, and all of guest memory is back
# after each reset (docs/fuzzing.md). The campaign inputs are left out for time; run
# FUZZ_CHECK_VIEWS=1 build/tests/fuzz/fuzz_<t>_replay for those.
FUZZ_VIEWS_BINS := $(FUZZ_MACHINE_TARGETS:%=$(B)/tests/fuzz/fuzz_%_views)
$(FUZZ_VIEWS_BINS): $(B)/tests/fuzz/fuzz_%_views: $(B)/tests/fuzz/fuzz_%_replay
	@mkdir -p $(@D)
	@printf '#!/bin/sh\n# %s seeds and regressions with the views and the restore checked (mk/fuzz.mk)\ncd %s && FUZZ_CHECK_VIEWS=1 exec %s $$(ls | grep -v "^campaign-")\n' \
		'$*' '$(abspath $(FUZZ_CORPUS_DIR))/$*' '$(abspath $<)' > $@
	@chmod +x $@

# mk/mm.mk lists the allocator replay with its own suites.
TEST_BINS += $(filter-out $(B)/tests/fuzz/fuzz_mm_replay,$(FUZZ_REPLAY_BINS)) $(B)/tests/fuzz/fuzz_selftest $(FUZZ_VIEWS_BINS)

# --- engine builds (clang) ------------------------------------------------------------------
# ENGINE=libfuzzer (default) or afl. OSS-Fuzz style overrides: FUZZ_CC, FUZZ_CFLAGS (its
# CFLAGS with sanitizer and coverage flags), FUZZ_SAN= and FUZZ_COV= (empty), FUZZ_LINK
# ($LIB_FUZZING_ENGINE), FUZZ_B (object directory).
ENGINE ?= libfuzzer
ifeq ($(ENGINE),afl)
FUZZ_CC ?= afl-clang-fast
FUZZ_SAN ?= -fsanitize=address,undefined -fno-sanitize-recover=all
else
FUZZ_CC ?= clang
FUZZ_SAN ?= -fsanitize=address,undefined -fno-sanitize-recover=all
endif
FUZZ_CFLAGS ?= -O2 -g -fno-omit-frame-pointer
FUZZ_COV ?= -fsanitize=fuzzer-no-link
FUZZ_LINK ?= -fsanitize=fuzzer
FUZZ_B ?= $(ROOT)/fuzz/$(ENGINE)
FUZZ_CC_INCLUDE = $(shell $(FUZZ_CC) -print-file-name=include)
FUZZ_WARN := -Wall -Wextra -Werror -Wno-unused-parameter
FUZZ_BASE = -std=gnu11 $(FUZZ_CFLAGS) $(FUZZ_COV) $(FUZZ_SAN) $(FUZZ_WARN) -fno-strict-aliasing -MMD -MP -DFUZZ_ENGINE
FUZZ_CORE_CFLAGS = $(FUZZ_BASE) -ffreestanding -nostdinc -isystem $(FUZZ_CC_INCLUDE) -Isvsm/include
FUZZ_HOSTED_CFLAGS = $(FUZZ_BASE) -D_GNU_SOURCE -Isvsm/include -Iemu -Iharness

FUZZ_CORE_OBJS := $(CORE_SRCS:%.c=$(FUZZ_B)/obj/%.o)
FUZZ_MM_OBJS := $(FUZZ_MM_SRCS:%.c=$(FUZZ_B)/obj/mmdbg/%.o)
FUZZ_EMU_OBJS := $(EMU_SRCS:%.c=$(FUZZ_B)/obj/%.o)
FUZZ_COMMON_OBJS := $(FUZZ_B)/obj/harness/fuzz/fuzz_common.o $(FUZZ_B)/obj/harness/fuzz/fuzz_main.o

$(FUZZ_B)/obj/svsm/%.o: svsm/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CORE_CFLAGS) -c $< -o $@

$(FUZZ_B)/obj/mmdbg/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CORE_CFLAGS) -DSVSM_MM_DEBUG -c $< -o $@

# The ownership bitmap's accessors (svsm/mem/owned.c) carry no coverage either: the
# invariant oracle asks owned_page() for every page after each boot (the hv target boots
# per input), and comparison tracing there cost over half of that target's time for a
# bitmap lookup whose own branches are no feedback worth having.
$(FUZZ_B)/obj/svsm/mem/owned.o: FUZZ_COV :=
# Nor do the allocators (svsm/mm/) in the machine targets: the rejected-call check drains
# and reads them around every guest call, and the features of their loops over slabs and
# CPU slots (which follow allocator state, not the input's protocol behaviour) made
# libFuzzer keep inputs for them: dispatch ran at 12 000 instead of 19 000 exec/s here.
# The allocators have their own target with full coverage (fuzz_mm, FUZZ_MM_OBJS).
$(FUZZ_B)/obj/svsm/mm/%.o: FUZZ_COV :=
# Nor does the core's crypto (svsm/crypto/): constant-time code has no control flow that
# follows the data, so its comparisons are no feedback; tracing the loop counters of the
# AES S-box took 12 % of the greq target's time (perf, 2026-12-02).
$(FUZZ_B)/obj/svsm/crypto/%.o: FUZZ_COV :=

# The machine model and the common harness are the test bench, not the code under test:
# without coverage feedback (its byte loops over pages would drown the core's features and
# cost most of the time in comparison tracing); ASan and UBSan still apply.
FUZZ_NOCOV_CFLAGS = $(filter-out $(FUZZ_COV),$(FUZZ_HOSTED_CFLAGS))
$(FUZZ_B)/obj/emu/%.o: emu/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_NOCOV_CFLAGS) -c $< -o $@

$(FUZZ_B)/obj/harness/fuzz/fuzz_common.o: harness/fuzz/fuzz_common.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_NOCOV_CFLAGS) -c $< -o $@

$(FUZZ_B)/obj/harness/%.o: harness/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_HOSTED_CFLAGS) -c $< -o $@

$(FUZZ_MACHINE_TARGETS:%=$(FUZZ_B)/fuzz_%): $(FUZZ_B)/fuzz_%: $(FUZZ_B)/obj/harness/fuzz/fuzz_%.o $(FUZZ_COMMON_OBJS) \
		$(FUZZ_EMU_OBJS) $(FUZZ_CORE_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) $(FUZZ_LINK) -o $@ $^ -lcrypto -lpthread

$(FUZZ_B)/fuzz_mm: $(FUZZ_B)/obj/harness/fuzz/fuzz_mm.o $(FUZZ_B)/obj/harness/fuzz/fuzz_main.o $(FUZZ_MM_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) $(FUZZ_LINK) -o $@ $^

.PHONY: fuzz fuzz-list fuzz-build fuzz-smoke fuzz-bench fuzz-corpora oss-fuzz-build-test fuzz-mm
fuzz-list:
	@for t in $(FUZZ_TARGETS); do echo $$t; done

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)

TARGET ?= dispatch
SECONDS ?= 60
FUZZ_JOBS ?= 1
fuzz: $(FUZZ_B)/fuzz_$(TARGET)
	@mkdir -p $(ROOT)/fuzz/corpus/$(TARGET) $(ROOT)/fuzz/artifacts/$(TARGET)
	ENGINE=$(ENGINE) ci/fuzz-run.sh $(TARGET) $(FUZZ_B)/fuzz_$(TARGET) $(SECONDS) $(ROOT)/fuzz

# The allocator target under its old name.
fuzz-mm:
	$(MAKE) fuzz TARGET=mm SECONDS=$(SECONDS)

FUZZ_SMOKE_SECONDS ?= 30
fuzz-smoke: $(FUZZ_TARGETS:%=$(ROOT)/fuzz/libfuzzer/fuzz_%)
	ci/fuzz-smoke.sh $(FUZZ_SMOKE_SECONDS) $(ROOT)/fuzz $(FUZZ_TARGETS)

FUZZ_BENCH_SECONDS ?= 10
# The sanitizer-free engine build (FUZZ_B=$(ROOT)/fuzz/plain) comes from a sub-make: the
# engine rules take their flags from FUZZ_SAN/FUZZ_B of the invocation.
fuzz-bench: $(FUZZ_TARGETS:%=$(ROOT)/fuzz/libfuzzer/fuzz_%) $(FUZZ_REPLAY_BINS)
	$(MAKE) fuzz-build FUZZ_SAN= FUZZ_B=$(ROOT)/fuzz/plain
	@mkdir -p $(ROOT)/bench
	python3 ci/fuzz-bench.py --seconds $(FUZZ_BENCH_SECONDS) --out $(ROOT)/bench/fuzz.json \
		--fuzz-dir $(ROOT)/fuzz/libfuzzer --plain-dir $(ROOT)/fuzz/plain --replay-dir $(B)/tests/fuzz $(FUZZ_TARGETS)

# Regenerate the committed seed corpora and dictionaries.
fuzz-corpora:
	python3 harness/fuzz/gen_corpus.py fixtures/fuzz
	python3 harness/fuzz/gen_mm_corpus.py fixtures/fuzz/mm

oss-fuzz-build-test:
	ci/oss-fuzz/build-test.sh $(abspath $(ROOT))/oss-fuzz-out $(FUZZ_TARGETS)

# Header dependencies of every engine build (FUZZ_B may lie outside ROOT, e.g. OSS-Fuzz's $WORK).
-include $(shell find $(ROOT)/fuzz $(FUZZ_B) -name '*.d' 2>/dev/null | sort -u)
