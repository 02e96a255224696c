# The SNP image: the same core sources built freestanding for x86-64 (svsm/arch/snp/),
# bootable from QEMU's -kernel (PVH). Two images, each with its platform bound at link
# time (every arch_* function defined once, no run-time table):
#   build/svsm.elf       production: core + svsm/arch/snp (SNP hardware platform, hw.c)
#   build/svsm-test.elf  in-image tests: core + the shared parts of svsm/arch/snp + the
#                        no-SNP platform (emu/nosnp/) and the emulated machine of emu/ +
#                        harness/image/
#   make image              build/svsm.elf, build/svsm.bin, build/svsm-test.elf + checks
#   make test-image-checks  only the checks (no undefined/libc/dynamic symbols, same core
#                           objects, no emulator symbol or emu/ header in the production image)
#   make test-qemu          boot build/svsm-test.elf in QEMU (KVM if usable, else TCG), TAP -> cmocka summary + JUnit;
#                           the image's attestation evidence verified on the host (ci/image-attest-verify.py)
#   make run-image          boot the production image in QEMU without SNP: it must refuse (status 37)
#   make launch-config      build/launch/qemu-snp.sh and build/launch/svsm-domain.xml for an SNP host
#   make bench-image        build/bench/image.json (boot-to-last-result time; part of make bench)
# Objects go to build/image/ with their own flags; build/obj is never touched.

IMG_B := $(ROOT)/image
IMG_ELF := $(ROOT)/svsm.elf
IMG_BIN := $(ROOT)/svsm.bin
IMG_TEST_ELF := $(ROOT)/svsm-test.elf
IMG_LDS := svsm/arch/snp/svsm.ld

# No libc, no SSE/x87 state (nothing saves it), no red zone (exceptions use the stack),
# absolute addressing below 2 GiB (the image runs identity mapped at 1 MiB), and no loops
# turned into memset/memcpy calls (the image's own copies are the byte loops of string.c).
# Include paths by part: the core sees svsm/include only, the arch code also its own
# directory, and only emu/ and harness/image/ objects see emu/ headers.
IMG_NO_LOOP_CALLS := $(if $(findstring clang,$(notdir $(CC))),,-fno-tree-loop-distribute-patterns)
IMG_BASE_CFLAGS := -std=gnu11 -O2 -g $(WARN) -ffreestanding -nostdlib -nostdinc -isystem $(CC_INCLUDE) \
	-fno-stack-protector -fno-pic -fno-pie -mno-red-zone \
	-mgeneral-regs-only -mcmodel=small -ftls-model=local-exec -fno-asynchronous-unwind-tables \
	$(IMG_NO_LOOP_CALLS) -fno-strict-aliasing $(REPRO_FLAGS) -MMD -MP
IMG_CORE_CFLAGS := $(IMG_BASE_CFLAGS) -Isvsm/include
IMG_ARCH_CFLAGS := $(IMG_CORE_CFLAGS) -Isvsm/arch/snp
IMG_EMU_CFLAGS := $(IMG_ARCH_CFLAGS) -Iemu -Iemu/nosnp
IMG_ASFLAGS := -fno-pic -fno-pie $(REPRO_FLAGS) -MMD -MP

# The same core sources as build/libsvsmcore.a (CORE_SRCS), plus the freestanding-only ones.
IMG_CORE_SRCS := $(CORE_SRCS) $(FREESTANDING_ONLY_SRCS)
# svsm/arch/snp: the SNP hardware platform (hw.c, production only) and the rest, which
# both images share (boot, IDT, paging, per-CPU, serial, #VC, guarded accesses...).
IMG_HW_SRCS := svsm/arch/snp/hw.c
IMG_ARCH_SRCS := $(filter-out $(IMG_HW_SRCS),$(sort $(wildcard svsm/arch/snp/*.c))) \
	$(sort $(wildcard svsm/arch/snp/*.S))
# The emulated machine's model (freestanding part of emu/), its PSP model (emu/minipsp/:
# launch, guest messages, reports signed with ECDSA P-384) and the no-SNP platform that
# runs it: the test image only.
IMG_EMU_SRCS := emu/rmp.c emu/hv.c emu/machine.c emu/cpu.c emu/guest.c emu/oracle.c \
	emu/psp_common.c emu/minipsp/minipsp.c emu/minipsp/p384.c
IMG_NOSNP_SRCS := $(sort $(wildcard emu/nosnp/*.c)) $(sort $(wildcard emu/nosnp/*.S))
IMG_TEST_SRCS := $(sort $(wildcard harness/image/*.c))

img_objs = $(patsubst %.S,$(IMG_B)/%.o,$(patsubst %.c,$(IMG_B)/%.o,$(1)))
IMG_CORE_OBJS := $(call img_objs,$(IMG_CORE_SRCS))
IMG_ARCH_OBJS := $(call img_objs,$(IMG_ARCH_SRCS))
IMG_HW_OBJS := $(call img_objs,$(IMG_HW_SRCS))
IMG_EMU_OBJS := $(call img_objs,$(IMG_EMU_SRCS))
IMG_NOSNP_OBJS := $(call img_objs,$(IMG_NOSNP_SRCS))
IMG_TEST_OBJS := $(call img_objs,$(IMG_TEST_SRCS))
# The PSP model's keys: the committed TEST keys of fixtures/attestation/keys as C, made by
# the fixture tool (hosted, OpenSSL) so that the image's VCEK is the one its certificate
# chain names.
IMG_KEYS_C := $(IMG_B)/gen/nosnp_psp_keys.c
IMG_KEYS_OBJ := $(IMG_B)/gen/nosnp_psp_keys.o
IMG_PROD_OBJS := $(IMG_ARCH_OBJS) $(IMG_HW_OBJS) $(IMG_CORE_OBJS)
IMG_TEST_ALL_OBJS := $(IMG_ARCH_OBJS) $(IMG_CORE_OBJS) $(IMG_EMU_OBJS) $(IMG_NOSNP_OBJS) $(IMG_TEST_OBJS) $(IMG_KEYS_OBJ)

$(IMG_B)/svsm/arch/%.o: svsm/arch/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(IMG_ARCH_CFLAGS) -c $< -o $@

$(IMG_B)/svsm/%.o: svsm/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(IMG_CORE_CFLAGS) -c $< -o $@

$(IMG_B)/emu/%.o: emu/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(IMG_EMU_CFLAGS) -c $< -o $@

$(IMG_B)/harness/%.o: harness/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(IMG_EMU_CFLAGS) -c $< -o $@

$(IMG_KEYS_C): $(ATTEST_TOOL) $(wildcard fixtures/attestation/keys/*)
	@mkdir -p $(@D)
	$(ATTEST_TOOL) image-keys fixtures/attestation/keys $@

$(IMG_KEYS_OBJ): $(IMG_KEYS_C)
	$(CC) $(IMG_EMU_CFLAGS) -c $< -o $@

$(IMG_B)/%.o: %.S | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(IMG_ASFLAGS) -c $< -o $@

IMG_LD := ld -m elf_x86_64 -nostdlib -static -z noexecstack -z max-page-size=4096 --no-dynamic-linker
$(IMG_ELF): $(IMG_PROD_OBJS) $(IMG_LDS)
	$(IMG_LD) -T $(IMG_LDS) -Map $(IMG_B)/svsm.map -o $@ $(IMG_PROD_OBJS)

$(IMG_TEST_ELF): $(IMG_TEST_ALL_OBJS) $(IMG_LDS)
	$(IMG_LD) -T $(IMG_LDS) -Map $(IMG_B)/svsm-test.map -o $@ $(IMG_TEST_ALL_OBJS)

$(ROOT)/%.bin: $(ROOT)/%.elf
	objcopy -O binary $< $@

# The core objects the image really linked (from its link map), by name, for the
# comparison with libsvsmcore.a: arch code and the freestanding-only string.o left out.
$(IMG_B)/core-objects.txt: $(IMG_ELF)
	@grep -oE '$(IMG_B)/svsm/[^ ]+\.o' $(IMG_B)/svsm.map | grep -v -e '/arch/' \
		$(addprefix -e $(IMG_B)/,$(FREESTANDING_ONLY_SRCS:%.c=%.o)) | sort -u | xargs -n1 basename | sort > $@

.PHONY: image test-image-checks test-qemu run-image launch-config bench-image check-emu-freestanding
image: $(IMG_ELF) $(IMG_BIN) $(IMG_TEST_ELF) test-image-checks

# The flags the image's core objects are compiled with, for the check that they never
# see emu/ headers.
$(IMG_B)/core-cflags.txt: mk/image.mk Makefile
	@mkdir -p $(@D)
	@echo '$(IMG_CORE_CFLAGS)' > $@

test-image-checks: $(IMG_ELF) $(IMG_BIN) $(IMG_TEST_ELF) $(CORE_LIB) $(IMG_B)/core-objects.txt $(IMG_B)/core-cflags.txt
	@ci/image-checks.sh --elf $(IMG_ELF) --bin $(IMG_BIN) --corelib $(CORE_LIB) \
		--core-list $(IMG_B)/core-objects.txt --core-cflags $(IMG_B)/core-cflags.txt \
		--core-deps "$(IMG_CORE_OBJS:.o=.d)" --emu-objs "$(IMG_EMU_OBJS) $(IMG_NOSNP_OBJS) $(IMG_KEYS_OBJ)" \
		--also $(IMG_TEST_ELF)

QEMU_TIMEOUT ?= 60
test-qemu: $(IMG_TEST_ELF)
	@python3 ci/test-qemu.py --kernel $(IMG_TEST_ELF) --timeout $(QEMU_TIMEOUT) --junit $(ROOT)/junit/qemu.xml \
		--log $(ROOT)/test-logs/qemu.log --evidence $(ROOT)/test-logs/qemu-attest

# Without SNP the production image must say so and leave QEMU with status 37 (docs/image.md).
run-image: $(IMG_ELF)
	@python3 ci/test-qemu.py --kernel $(IMG_ELF) --timeout $(QEMU_TIMEOUT) --run --expect no-snp

bench-image: $(IMG_TEST_ELF)
	@mkdir -p $(ROOT)/bench
	@python3 ci/test-qemu.py --kernel $(IMG_TEST_ELF) --timeout $(QEMU_TIMEOUT) --bench $(ROOT)/bench/image.json

launch-config: $(IMG_ELF) $(IMG_BIN)
	@python3 ci/launch-config.py $(IMG_ELF) $(IMG_BIN) $(ROOT)/launch

BENCH_TARGETS += bench-image

# The emulated machine's model must build freestanding (the test image links it): link it with
# the freestanding core and check that only the arch interface is left undefined.
IMG_FS_EMU_OBJS := $(IMG_EMU_SRCS:%.c=$(ROOT)/fs/%.o)
$(IMG_FS_EMU_OBJS): $(ROOT)/fs/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(FS_CFLAGS) -Iemu -mgeneral-regs-only -ftls-model=local-exec -c $< -o $@

IMG_FS_CORE_OBJS := $(CORE_SRCS:%.c=$(ROOT)/fs/%.o) $(FREESTANDING_ONLY_SRCS:%.c=$(ROOT)/fs/%.o)
# GAS names _GLOBAL_OFFSET_TABLE_ in objects with TLS relocations (the emulator's current
# vCPU) without any relocation using it; a final link defines it, so it is dropped here.
$(ROOT)/svsm-emu-model-fs.o: $(IMG_FS_EMU_OBJS) $(IMG_FS_CORE_OBJS)
	ld -r -o $@ $^
	objcopy --strip-symbol=_GLOBAL_OFFSET_TABLE_ $@

check-emu-freestanding: $(ROOT)/svsm-emu-model-fs.o
	@ci/check-freestanding.sh $< svsm/include/svsm/arch.h

check-freestanding: check-emu-freestanding

-include $(shell find $(IMG_B) -name '*.d' 2>/dev/null)
