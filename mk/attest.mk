# Attestation (docs/attestation.md): the CLI's fixture path, the fixture generator, and the
# end-to-end check that make test runs (svsm-emu attest -> verify -> the documented openssl
# commands -> measure -> an independent recomputation of the launch log).
#   make attest-e2e        the end-to-end check alone
#   make check-ct          the core's crypto under valgrind with secrets marked undefined
#   make attest-fixtures   regenerate fixtures/attestation/keys and golden/ (test keys!)
#   make bench-attest      crypto throughput vs OpenSSL, measured boot, one attestation (part of make bench)

# svsm-emu and the suites find the committed fixtures (test keys, vectors) wherever they run.

ATTEST_SUITES := test_crypto test_attest test_greq test_psp test_verify test_minipsp tools/attest_bench
$(ATTEST_SUITES:%=$(B)/obj/harness/%.o): HOSTED_CFLAGS += -DFIXTURES_DIR='"$(abspath fixtures)"'

ATTEST_TOOL := $(B)/tools/attest-fixtures
$(ATTEST_TOOL): $(B)/obj/harness/tools/attest_fixtures.o $(EMU_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LINK_LIBS)

# Constant time, checked the ctgrind way: always built without sanitizers (valgrind runs it).
CT_CHECK := $(ROOT)/ct/ct-check
CT_SRCS := harness/tools/ct_check.c $(sort $(wildcard svsm/crypto/*.c))
$(CT_CHECK): $(CT_SRCS) $(wildcard svsm/include/svsm/*.h) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g $(WARN) -Isvsm/include -o $@ $(CT_SRCS)

ATTEST_BENCH := $(B)/tools/attest-bench
$(ATTEST_BENCH): $(B)/obj/harness/tools/attest_bench.o $(HARNESS_LIB) $(EMU_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) $(LTO_LDFLAGS) -o $@ $< $(HARNESS_LIB) $(LINK_LIBS)

.PHONY: attest-e2e attest-fixtures check-ct bench-attest
bench-attest: $(ATTEST_BENCH)
	@mkdir -p $(ROOT)/bench
	$(ATTEST_BENCH) --json $(ROOT)/bench/attest.json
BENCH_TARGETS += bench-attest

check-ct: $(CT_CHECK)
	@valgrind -q --error-exitcode=2 $(CT_CHECK)

attest-e2e: $(SVSM_EMU)
	@ci/attest-e2e.sh $(SVSM_EMU) $(B)/attest-e2e

# New keys change every golden vector: both are regenerated together.
attest-fixtures: $(ATTEST_TOOL)
	$(ATTEST_TOOL) keys fixtures/attestation/keys
	$(ATTEST_TOOL) golden fixtures/attestation/keys fixtures/attestation/golden

test: attest-e2e check-ct

# The attestation fuzz targets (harness/fuzz/fuzz_attest.c, fuzz_greq.c) load the test keys
# from the tree when it is there (else they make new ones): in every build of them.
%/harness/fuzz/fuzz_attest.o %/harness/fuzz/fuzz_greq.o: HOSTED_CFLAGS += -DFIXTURES_DIR='"$(abspath fixtures)"'
%/harness/fuzz/fuzz_attest.o %/harness/fuzz/fuzz_greq.o: FUZZ_HOSTED_CFLAGS += -DFIXTURES_DIR='"$(abspath fixtures)"'

.PHONY: attest-fuzz-corpora
attest-fuzz-corpora:
	python3 harness/fuzz/gen_attest_corpus.py fixtures/fuzz
fuzz-corpora: attest-fuzz-corpora
