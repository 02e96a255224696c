# Memory allocators (svsm/mm): their cmocka suites, fuzz replay, hosted malloc and benchmark.
# The suites link only the allocator objects plus harness/mm glue, never the core or the
# emulator libraries, so `make test-mm` works whatever state the rest of the tree is in.
#   make test-mm                suites + corpus replay + LD_PRELOAD test (SANITIZE=1, TSAN=1 too)
#   make fuzz-mm SECONDS=60     libFuzzer run of harness/fuzz/fuzz_mm.c (mk/fuzz.mk)
#   make bench-mm               build/bench/mm.json (also part of make bench)

MM_SRCS := $(sort $(wildcard svsm/mm/*.c))
MM_OBJS := $(MM_SRCS:%.c=$(B)/obj/%.o)
# The suites use a debug build of the allocators (poisoning, full canaries).
MM_DBG_OBJS := $(MM_SRCS:%.c=$(B)/obj/mmdbg/%.o)

$(MM_DBG_OBJS): $(B)/obj/mmdbg/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -DSVSM_MM_DEBUG -c $< -o $@

# --- the hosted malloc: position independent, no sanitizer, only malloc & co. exported ---
MM_SO := $(B)/libsvsm-malloc.so
MM_SO_BASE := -std=gnu11 $(OPT) -g $(WARN) -fno-strict-aliasing $(REPRO_FLAGS) -MMD -MP -fPIC -fvisibility=hidden \
	-ftls-model=initial-exec
MM_SO_CORE_OBJS := $(MM_SRCS:%.c=$(B)/obj/so/%.o)
MM_SO_GLUE_SRCS := $(sort $(wildcard emu/usermalloc/*.c))
MM_SO_GLUE_OBJS := $(MM_SO_GLUE_SRCS:%.c=$(B)/obj/so/%.o)

$(MM_SO_CORE_OBJS): $(B)/obj/so/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(MM_SO_BASE) -ffreestanding -nostdinc -isystem $(CC_INCLUDE) -Isvsm/include -c $< -o $@

$(MM_SO_GLUE_OBJS): $(B)/obj/so/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(MM_SO_BASE) $(HOSTED_EXTRA_CFLAGS) -D_GNU_SOURCE -Isvsm/include -c $< -o $@

$(MM_SO): $(MM_SO_CORE_OBJS) $(MM_SO_GLUE_OBJS)
	$(CC) -shared -Wl,-z,defs -Wl,-z,now $(HOSTED_EXTRA_LDFLAGS) -o $@ $^ -lpthread

# The debug variant (libsvsm-malloc-debug.so): the same glue on the debug build of the
# allocators (poisoning, whole-slack canaries), for LD_PRELOAD when hunting a bug.
MM_SO_DEBUG := $(B)/libsvsm-malloc-debug.so
MM_SO_DEBUG_OBJS := $(MM_SRCS:%.c=$(B)/obj/so-debug/%.o)
$(MM_SO_DEBUG_OBJS): $(B)/obj/so-debug/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(MM_SO_BASE) -DSVSM_MM_DEBUG -ffreestanding -nostdinc -isystem $(CC_INCLUDE) -Isvsm/include -c $< -o $@

$(MM_SO_DEBUG): $(MM_SO_DEBUG_OBJS) $(MM_SO_GLUE_OBJS)
	$(CC) -shared -Wl,-z,defs -Wl,-z,now $(HOSTED_EXTRA_LDFLAGS) -o $@ $^ -lpthread

# --- suites ------------------------------------------------------------------------------
MM_HARNESS_SRCS := $(sort $(wildcard harness/mm/*.c))
MM_HARNESS_OBJS := $(MM_HARNESS_SRCS:%.c=$(B)/obj/%.o)
MM_TEST_DEFS := -DMM_PRELOAD_SO='"$(abspath $(MM_SO))"' -DMM_PRELOAD_DEBUG_SO='"$(abspath $(MM_SO_DEBUG))"' \
	-DMM_SOURCE_DIR='"$(abspath .)"' \
	-DMM_TMP_DIR='"$(abspath $(B))/tmp"'

$(MM_HARNESS_OBJS): $(B)/obj/harness/mm/%.o: harness/mm/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) $(CMOCKA_CFLAGS) $(MM_TEST_DEFS) -c $< -o $@

MM_SUITES := $(filter-out mm_test,$(basename $(notdir $(MM_HARNESS_SRCS))))
MM_SUITE_BINS := $(MM_SUITES:%=$(B)/tests/mm/%)
MM_GLUE_OBJ := $(B)/obj/harness/mm/mm_test.o

$(MM_SUITE_BINS): $(B)/tests/mm/%: $(B)/obj/harness/mm/%.o $(MM_GLUE_OBJ) $(MM_DBG_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CMOCKA_LIBS) -lpthread

# The LD_PRELOAD suite runs real programs on the hosted library.
$(B)/tests/mm/test_mm_preload: $(MM_SO)
# The environment switches and the debug variant (libsvsm-malloc(3)).
$(B)/tests/mm/test_mm_env: | $(MM_SO) $(MM_SO_DEBUG)

# --- fuzz target: harness/fuzz/fuzz_mm.c is built by mk/fuzz.mk (replay in make test,
# `make fuzz TARGET=mm` or `make fuzz-mm` for libFuzzer) ----------------------------------
MM_TEST_BINS := $(MM_SUITE_BINS) $(B)/tests/fuzz/fuzz_mm_replay
TEST_BINS += $(MM_TEST_BINS)

.PHONY: test-mm bench-mm
test-mm: $(MM_TEST_BINS)
	@ci/run-tests.sh $(B) $(MM_TEST_BINS)

# --- benchmark ---------------------------------------------------------------------------
MM_BENCH := $(B)/bench-mm
$(B)/obj/harness/bench/mm/bench_mm.o: harness/bench/mm/bench_mm.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(HOSTED_CFLAGS) -c $< -o $@

$(MM_BENCH): $(B)/obj/harness/bench/mm/bench_mm.o $(MM_OBJS) $(MM_SO)
	$(CC) $(LDFLAGS_ALL) -o $@ $(B)/obj/harness/bench/mm/bench_mm.o $(MM_OBJS) -lpthread

bench-mm: $(MM_BENCH)
	@mkdir -p $(ROOT)/bench
	$(MM_BENCH) --json $(ROOT)/bench/mm.json --so $(abspath $(MM_SO))

BENCH_TARGETS += bench-mm
