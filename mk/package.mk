# Installation, the release tarball and the generated files they carry (docs/building.md).
#   make install [PREFIX=/usr/local] [DESTDIR=]   svsm-emu, libsvsm-malloc.so (and -debug),
#                      the images, static libraries + headers + pkg-config file, man pages,
#                      bash completion, fixtures
#   make uninstall     removes exactly what install put there (same PREFIX/DESTDIR)
#   make installcheck  install into build/installcheck/, ci/install-check.sh, uninstall, nothing left
#   make dist          build/svsm-emu-VERSION.tar.gz (reproducible; ci/offline-build.sh builds it)
#   make man           the man pages in build/man/ (for `man -l`)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATAROOTDIR ?= $(PREFIX)/share
MANDIR ?= $(DATAROOTDIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(DATAROOTDIR)/bash-completion/completions
# svsm-emu looks for its data in <bindir>/../share/svsm (emu/cli/paths.c).
SVSM_DATADIR := $(DATAROOTDIR)/svsm
PKGLIBDIR := $(LIBDIR)/svsm-emu
PKG_INCLUDEDIR := $(INCLUDEDIR)/svsm-emu

INSTALL ?= install
VERSION := $(shell ci/version.sh 2>/dev/null || echo unknown)

# --- generated text: man pages and the pkg-config file ----------------------------------
MAN_SRCS := $(sort $(wildcard docs/man/*.in))
MAN_PAGES := $(patsubst docs/man/%.in,$(ROOT)/man/%,$(MAN_SRCS))
MAN_DATE := $(shell date -u -d @$(or $(SOURCE_DATE_EPOCH),0) +%Y-%m-%d 2>/dev/null)
# $(call subst_paths,SRC,DEST): substitute the install paths of this invocation.
subst_paths = sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@DATE@|$(MAN_DATE)|g' -e 's|@PREFIX@|$(PREFIX)|g' \
	-e 's|@SVSM_DATADIR@|$(SVSM_DATADIR)|g' -e 's|@PKGLIBDIR@|$(PKGLIBDIR)|g' \
	-e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
	-e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g' \
	-e 's|@DATAROOTDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(DATAROOTDIR))|g' $(1) >$(2)

$(ROOT)/man/%: docs/man/%.in
	@mkdir -p $(@D)
	$(call subst_paths,$<,$@)

.PHONY: man install uninstall installcheck dist
man: $(MAN_PAGES)

# --- install / uninstall --------------------------------------------------------------------
INSTALL_BUILT := $(SVSM_EMU) $(MM_SO) $(MM_SO_DEBUG) $(CORE_LIB) $(EMU_LIB) $(HARNESS_LIB) \
	$(IMG_ELF) $(IMG_BIN) $(IMG_TEST_ELF)
CORE_HEADERS := $(sort $(wildcard svsm/include/svsm/*.h))
EMU_HEADERS := $(sort $(wildcard emu/*.h))
HARNESS_HEADERS := harness/test_common.h harness/lib/hx.h
IMAGE_NAMES := svsm.elf svsm.bin svsm-test.elf
# Installed names of the static libraries (build/libharness.a is too generic a name for libdir).
STATIC_LIBS := libsvsmcore.a libsvsmemu.a libsvsmharness.a
D = $(DESTDIR)

install: $(INSTALL_BUILT)
	@if [ -n "$(SANITIZE)$(TSAN)$(COVERAGE)" ]; then echo "install: only the normal build is installed" >&2; exit 1; fi
	$(INSTALL) -d $(D)$(BINDIR) $(D)$(PKGLIBDIR) $(D)$(LIBDIR) $(D)$(PKGCONFIGDIR) $(D)$(SVSM_DATADIR) \
		$(D)$(PKG_INCLUDEDIR)/svsm $(D)$(PKG_INCLUDEDIR)/emu $(D)$(PKG_INCLUDEDIR)/harness/lib \
		$(D)$(MANDIR)/man1 $(D)$(MANDIR)/man3 $(D)$(BASHCOMPDIR)
	$(INSTALL) -m 755 $(SVSM_EMU) $(D)$(BINDIR)/svsm-emu
	$(INSTALL) -m 644 $(MM_SO) $(MM_SO_DEBUG) $(D)$(PKGLIBDIR)/
	$(INSTALL) -m 644 $(CORE_LIB) $(D)$(LIBDIR)/libsvsmcore.a
	$(INSTALL) -m 644 $(EMU_LIB) $(D)$(LIBDIR)/libsvsmemu.a
	$(INSTALL) -m 644 $(HARNESS_LIB) $(D)$(LIBDIR)/libsvsmharness.a
	$(INSTALL) -m 644 $(IMG_ELF) $(IMG_BIN) $(IMG_TEST_ELF) $(D)$(SVSM_DATADIR)/
	$(INSTALL) -m 644 $(CORE_HEADERS) $(D)$(PKG_INCLUDEDIR)/svsm/
	$(INSTALL) -m 644 $(EMU_HEADERS) $(D)$(PKG_INCLUDEDIR)/emu/
	$(INSTALL) -m 644 harness/test_common.h $(D)$(PKG_INCLUDEDIR)/harness/
	$(INSTALL) -m 644 harness/lib/hx.h $(D)$(PKG_INCLUDEDIR)/harness/lib/
	rm -rf $(D)$(SVSM_DATADIR)/fixtures
	cp -R fixtures $(D)$(SVSM_DATADIR)/fixtures
	chmod -R u=rwX,go=rX $(D)$(SVSM_DATADIR)/fixtures
	$(call subst_paths,docs/pkg-config/svsm-emu.pc.in,$(D)$(PKGCONFIGDIR)/svsm-emu.pc)
	$(call subst_paths,docs/man/svsm-emu.1.in,$(D)$(MANDIR)/man1/svsm-emu.1)
	$(call subst_paths,docs/man/libsvsm-malloc.3.in,$(D)$(MANDIR)/man3/libsvsm-malloc.3)
	$(INSTALL) -m 644 emu/cli/svsm-emu.bash-completion $(D)$(BASHCOMPDIR)/svsm-emu
	chmod 644 $(D)$(PKGCONFIGDIR)/svsm-emu.pc $(D)$(MANDIR)/man1/svsm-emu.1 $(D)$(MANDIR)/man3/libsvsm-malloc.3

uninstall:
	rm -f $(D)$(BINDIR)/svsm-emu $(D)$(PKGLIBDIR)/libsvsm-malloc.so $(D)$(PKGLIBDIR)/libsvsm-malloc-debug.so \
		$(addprefix $(D)$(LIBDIR)/,$(STATIC_LIBS)) $(addprefix $(D)$(SVSM_DATADIR)/,$(IMAGE_NAMES)) \
		$(D)$(PKGCONFIGDIR)/svsm-emu.pc $(D)$(MANDIR)/man1/svsm-emu.1 $(D)$(MANDIR)/man3/libsvsm-malloc.3 \
		$(D)$(BASHCOMPDIR)/svsm-emu
	rm -rf $(D)$(PKG_INCLUDEDIR) $(D)$(SVSM_DATADIR)/fixtures
	-rmdir $(D)$(PKGLIBDIR) $(D)$(SVSM_DATADIR) 2>/dev/null

# Install into a staging directory, check it (ci/install-check.sh), uninstall, and require
# that nothing but directories is left.
INSTALLCHECK_DIR := $(abspath $(ROOT))/installcheck
installcheck:
	rm -rf $(INSTALLCHECK_DIR)
	$(MAKE) install DESTDIR=$(INSTALLCHECK_DIR)/stage PREFIX=/usr/local
	ci/install-check.sh $(INSTALLCHECK_DIR)/stage /usr/local
	$(MAKE) uninstall DESTDIR=$(INSTALLCHECK_DIR)/stage PREFIX=/usr/local
	@left=$$(find $(INSTALLCHECK_DIR)/stage ! -type d); if [ -n "$$left" ]; then \
		echo "installcheck: uninstall left files behind:" >&2; echo "$$left" >&2; exit 1; fi
	@echo "installcheck: uninstall removed every installed file"

# --- release tarball ---------------------------------------------------------------------------
dist:
	@ci/dist.sh $(ROOT)
