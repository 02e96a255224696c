# Attestation (docs/attestation.md): the suites' fixture path, the fixture generator and the
# constant-time check.
#   make check-ct          the core's crypto under valgrind with secrets marked undefined
#   make attest-fixtures   regenerate fixtures/attestation/keys and golden/ (test keys!)

# The suites find the committed fixtures (test keys, vectors) wherever they run.
ATTEST_SUITES := test_crypto test_attest test_greq test_psp test_verify
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

.PHONY: attest-fixtures check-ct
check-ct: $(CT_CHECK)
	@valgrind -q --error-exitcode=2 $(CT_CHECK)

# New keys change every golden vector: both are regenerated together.
attest-fixtures: $(ATTEST_TOOL)
	$(ATTEST_TOOL) keys fixtures/attestation/keys
	$(ATTEST_TOOL) golden fixtures/attestation/keys fixtures/attestation/golden

test: check-ct
