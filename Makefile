# One non-recursive build for the SVSM core, the emulated machine, the harness and the image.
#   make            build everything for the userspace run (build/)
#   make run        start a machine and run the default scenario (build/svsm-emu run)
#   make test       all cmocka suites and corpus replays; SANITIZE=1 for ASan+UBSan, TSAN=1 for ThreadSanitizer
#   make check-freestanding   prove svsm/ needs nothing but the arch interface
#   make bench      benchmarks -> build/bench.json
#   make install    PREFIX=/usr/local DESTDIR=; also uninstall, installcheck, dist (docs/building.md)
#   make coverage   line/branch coverage of make test;  make lint  clang-tidy + cppcheck
#   make help       this list and the other targets
# Objects go to build/ (build/san/ with SANITIZE=1, build/tsan/ with TSAN=1).

.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:
SHELL := /bin/bash

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif

ROOT ?= build
ifeq ($(SANITIZE),1)
B := $(ROOT)/san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else ifeq ($(TSAN),1)
B := $(ROOT)/tsan
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
else ifeq ($(COVERAGE),1)
# make coverage (mk/coverage.mk): gcov instrumentation, objects in build/cov/.
B := $(ROOT)/cov
SAN_FLAGS := --coverage -fprofile-update=atomic
else
B := $(ROOT)
SAN_FLAGS :=
endif

OPT ?= -O2
# With gcc and no sanitizer, objects also carry LTO bytecode: svsm-emu and the benchmark
# link with -flto (the SVSM call path crosses core, arch layer and machine model), the
# test suites link the ordinary code and stay quick to build.
ifeq ($(SANITIZE)$(TSAN)$(COVERAGE),)
ifneq ($(findstring gcc,$(notdir $(CC))),)
LTO_CFLAGS := -flto=auto -ffat-lto-objects
LTO_LDFLAGS = -flto=auto $(OPT) $(REPRO_FLAGS)
AR := gcc-ar
endif
endif
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# Reproducible outputs (docs/building.md): no build directory in objects or debug info, and a
# fixed source date (the commit's, or the release tarball's) for anything that asks for one.
REPRO_FLAGS := -ffile-prefix-map=$(CURDIR)=.
SOURCE_DATE_EPOCH ?= $(shell ci/version.sh --epoch 2>/dev/null)
ifneq ($(strip $(SOURCE_DATE_EPOCH)),)
export SOURCE_DATE_EPOCH
endif
BASE_CFLAGS := -std=gnu11 $(OPT) -g $(WARN) -fno-strict-aliasing $(SAN_FLAGS) $(LTO_CFLAGS) $(REPRO_FLAGS) -MMD -MP

# The core: no libc headers, no libc builtins. Only the compiler's freestanding headers.
CC_INCLUDE := $(shell $(CC) -print-file-name=include)
CORE_CFLAGS := $(BASE_CFLAGS) -ffreestanding -nostdinc -isystem $(CC_INCLUDE) -Isvsm/include
# HOSTED_EXTRA_CFLAGS/LDFLAGS: a distribution's hardening flags for hosted code and links
# (debian/rules); the freestanding core and the image never get them.
HOSTED_CFLAGS := $(BASE_CFLAGS) -D_GNU_SOURCE -Isvsm/include -Iemu -Iharness $(HOSTED_EXTRA_CFLAGS)
LDFLAGS_ALL := $(SAN_FLAGS) $(HOSTED_EXTRA_LDFLAGS)

# --- dependency discovery (pkg-config); install-deps.sh names the packages -----------
# DEPS_CHECK=0 skips the check, for builds whose dependencies are declared elsewhere
# (debian/control's Build-Depends, an OBS or container recipe; docs/building.md).
PKG_CONFIG ?= pkg-config
DEPS_CHECK ?= 1
DEPS_STAMP := $(ROOT)/.deps-ok
$(DEPS_STAMP):
	@mkdir -p $(ROOT)
	@if [ "$(DEPS_CHECK)" = 1 ] && ! ci/install-deps.sh --check >/dev/null 2>&1; then \
		echo "make: some build dependencies are missing; running ci/install-deps.sh"; \
		ci/install-deps.sh || { echo "make: run 'sudo ci/install-deps.sh' (Debian 12) and retry"; exit 1; }; \
	fi
	@touch $@

CMOCKA_CFLAGS = $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

# --- sources ----------------------------------------------------------------------------
# svsm/lib/string.c provides memcpy & co. for freestanding links; hosted builds use libc's.
CORE_SRCS := $(sort $(shell find svsm -name '*.c' -not -path 'svsm/arch/*' -not -path 'svsm/lib/string.c'))
FREESTANDING_ONLY_SRCS := svsm/lib/string.c
# emu/nosnp/ is the test image's no-SNP platform (freestanding, mk/image.mk), not part of the userspace build.
# emu/vtpm/ (the TPM engine and bridge) is linked by the binaries that want it (mk/vtpm.mk).
EMU_SRCS := $(sort $(filter-out emu/cli/% emu/usermalloc/% emu/nosnp/% emu/vtpm/%,$(shell find emu -name '*.c')))
CLI_SRCS := $(sort $(wildcard emu/cli/*.c))
HARNESS_LIB_SRCS := $(sort $(wildcard harness/lib/*.c))
TEST_SRCS := $(sort $(wildcard harness/test_*.c))

CORE_OBJS := $(CORE_SRCS:%.c=$(B)/obj/%.o)
EMU_OBJS := $(EMU_SRCS:%.c=$(B)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(B)/obj/%.o)
HARNESS_LIB_OBJS := $(HARNESS_LIB_SRCS:%.c=$(B)/obj/%.o)
TEST_BINS := $(TEST_SRCS:harness/%.c=$(B)/tests/%)

CORE_LIB := $(B)/libsvsmcore.a
EMU_LIB := $(B)/libsvsmemu.a
HARNESS_LIB := $(B)/libharness.a
SVSM_EMU := $(B)/svsm-emu

$(B)/obj/svsm/%.o: svsm/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -c $< -o $@

$(B)/obj/emu/%.o: emu/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) -c $< -o $@

$(B)/obj/harness/%.o: harness/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(CMOCKA_CFLAGS) -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

$(EMU_LIB): $(EMU_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

$(HARNESS_LIB): $(HARNESS_LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

# The emulator library and the core reference each other (arch_* <-> svsm_*): group them.
LINK_LIBS = -Wl,--start-group $(EMU_LIB) $(CORE_LIB) -Wl,--end-group -lcrypto -lpthread

$(SVSM_EMU): $(CLI_OBJS) $(EMU_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS_ALL) $(LTO_LDFLAGS) -o $@ $(CLI_OBJS) $(LINK_LIBS)

$(B)/tests/%: $(B)/obj/harness/%.o $(HARNESS_LIB) $(EMU_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(HARNESS_LIB) $(LINK_LIBS) $(CMOCKA_LIBS)

# Module fragments (extra targets and suites of one area) live in mk/; they may add to
# TEST_BINS (suites run by make test) and BENCH_TARGETS.
-include $(sort $(wildcard mk/*.mk))

.PHONY: all run test test-unit check-freestanding bench help clean deps
all: $(SVSM_EMU) $(TEST_BINS)

deps: $(DEPS_STAMP)

run: $(SVSM_EMU)
	$(SVSM_EMU) run

# Each suite prints cmocka's summary; CMOCKA_XML=1 writes JUnit XML to $(B)/junit/.
# The core must not rely on how RMPADJUST treats unvalidated pages (the architecture leaves
# it open): these suites run once more on a machine where it succeeds.
RMPADJUST_BOTH_WAYS := $(addprefix $(B)/tests/,test_core_pvalidate test_core_mem test_core_vcpu test_multivmpl test_hostile)
# TSAN=1 runs every suite under ThreadSanitizer (test_concurrency is where the vCPU threads
# meet) but those whose machine terminations leave a SIGSEGV handler by longjmp, again and
# again: test_hostile, the fuzz replays and the fuzz self-test. A longjmp out of a fault
# taken inside ThreadSanitizer's own bookkeeping leaves its internal mutex held (seen as a
# hang in fuzz_hv_replay). None of them starts a thread; SANITIZE=1 runs them.
TSAN_SKIP := $(B)/tests/test_hostile $(B)/tests/fuzz/%
ifeq ($(TSAN),1)
UNIT_RUN := $(filter-out $(TSAN_SKIP),$(TEST_BINS)) \
	$(addsuffix @HX_RMPADJUST_UNVALIDATED=1,$(filter-out $(TSAN_SKIP),$(RMPADJUST_BOTH_WAYS)))
else
UNIT_RUN := $(TEST_BINS) $(addsuffix @HX_RMPADJUST_UNVALIDATED=1,$(RMPADJUST_BOTH_WAYS))
endif
test-unit: $(TEST_BINS)
	@ci/run-tests.sh $(B) $(UNIT_RUN)

test: test-unit test-docs

# Tables in docs/ that are generated from the code must match it.
.PHONY: test-docs
test-docs: $(SVSM_EMU)
	@ci/check-hostile-doc.sh $(SVSM_EMU) docs/hostile.md

# --- the proof that the core is freestanding ----------------------------------------
FS_CFLAGS := -std=gnu11 -O2 $(WARN) -ffreestanding -nostdlib -nostdinc -isystem $(CC_INCLUDE) \
	-Isvsm/include -fno-stack-protector -fno-pic -mno-red-zone -mcmodel=kernel
FS_OBJS := $(CORE_SRCS:%.c=$(ROOT)/fs/%.o) $(FREESTANDING_ONLY_SRCS:%.c=$(ROOT)/fs/%.o)
$(ROOT)/fs/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(FS_CFLAGS) -c $< -o $@

$(ROOT)/svsm-core-fs.o: $(FS_OBJS)
	ld -r -o $@ $^

check-freestanding: $(ROOT)/svsm-core-fs.o
	@ci/check-freestanding.sh $< svsm/include/svsm/arch.h

# --- benchmarks -------------------------------------------------------------------------
# Each benchmark writes a JSON list of {name, value, unit[, ratio_to, ratio]} objects to
# $(ROOT)/bench/<name>.json; ci/bench-merge.py prints the table and writes bench.json.
# Fragments in mk/ add their own run targets to BENCH_TARGETS.
BENCH_SRCS := $(sort $(wildcard harness/bench/*.c))
BENCH_OBJS := $(BENCH_SRCS:%.c=$(B)/obj/%.o)
$(B)/bench-core: $(BENCH_OBJS) $(HARNESS_LIB) $(EMU_LIB) $(CORE_LIB)
	$(CC) $(LDFLAGS_ALL) $(LTO_LDFLAGS) -o $@ $(BENCH_OBJS) $(HARNESS_LIB) $(LINK_LIBS)

.PHONY: bench-core
bench-core: $(B)/bench-core
	@mkdir -p $(ROOT)/bench
	$(B)/bench-core --json $(ROOT)/bench/core.json

bench: bench-core $(BENCH_TARGETS)
	@python3 ci/bench-merge.py $(ROOT)/bench.json $(ROOT)/bench/*.json

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'
	@echo "Other targets: deps, test-unit, clean; see docs/ and README.md."

clean:
	rm -rf $(ROOT)

-include $(shell find $(B)/obj $(ROOT)/fs -name '*.d' 2>/dev/null)
