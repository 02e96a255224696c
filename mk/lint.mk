# Static analysis (docs/building.md).
#   make lint   clang-tidy (.clang-tidy, harness/.clang-tidy, harness/image/.clang-tidy) and
#               cppcheck (ci/lint/) over every C source of `make all image`, with its real
#               flags; fails on any finding (ci/lint.sh)
.PHONY: lint
lint:
	@ci/lint.sh $(ROOT)/lint
