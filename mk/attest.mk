# Attestation (docs/attestation.md).
#   make check-ct          the core's crypto under valgrind with secrets marked undefined

# The suites find the committed fixtures (test keys, vectors) wherever they run.
ATTEST_SUITES := test_crypto
$(ATTEST_SUITES:%=$(B)/obj/harness/%.o): HOSTED_CFLAGS += -DFIXTURES_DIR='"$(abspath fixtures)"'

# Constant time, checked the ctgrind way: always built without sanitizers (valgrind runs it).
CT_CHECK := $(ROOT)/ct/ct-check
CT_SRCS := harness/tools/ct_check.c $(sort $(wildcard svsm/crypto/*.c))
$(CT_CHECK): $(CT_SRCS) $(wildcard svsm/include/svsm/*.h) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g $(WARN) -Isvsm/include -o $@ $(CT_SRCS)

.PHONY: check-ct
check-ct: $(CT_CHECK)
	@valgrind -q --error-exitcode=2 $(CT_CHECK)

test: check-ct
