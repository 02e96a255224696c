# The SNP image: the same core sources built freestanding for x86-64 (svsm/arch/snp/),
# bootable from QEMU's -kernel (PVH), with the emulated machine linked in for its
# no-SNP platform; plus an image variant that runs the in-image tests (harness/image/).
#   make image              build/svsm.elf, build/svsm.bin, build/svsm-test.elf + checks
#   make test-image-checks  only the checks (no undefined/libc/dynamic symbols, same core objects)
#   make test-qemu          boot build/svsm-test.elf in QEMU (KVM if usable, else TCG), TAP -> cmocka summary + JUnit
#   make run-image          boot the production image (no-SNP self-check) in QEMU
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
IMG_NO_LOOP_CALLS := $(if $(findstring clang,$(notdir $(CC))),,-fno-tree-loop-distribute-patterns)
IMG_CFLAGS := -std=gnu11 -O2 -g $(WARN) -ffreestanding -nostdlib -nostdinc -isystem $(CC_INCLUDE) \
	-Isvsm/include -Iemu -Isvsm/arch/snp -fno-stack-protector -fno-pic -fno-pie -mno-red-zone \
	-mgeneral-regs-only -mcmodel=small -ftls-model=local-exec -fno-asynchronous-unwind-tables \
	$(IMG_NO_LOOP_CALLS) -fno-strict-aliasing $(REPRO_FLAGS) -MMD -MP
IMG_ASFLAGS := -fno-pic -fno-pie $(REPRO_FLAGS) -MMD -MP

# The same core sources as build/libsvsmcore.a (CORE_SRCS), plus the freestanding-only ones.
IMG_CORE_SRCS := $(CORE_SRCS) $(FREESTANDING_ONLY_SRCS)
# The emulated machine's model (freestanding part of emu/): the no-SNP platform runs it.
IMG_EMU_SRCS := emu/rmp.c emu/hv.c emu/machine.c emu/cpu.c emu/guest.c emu/oracle.c
IMG_ARCH_SRCS := $(filter-out svsm/arch/snp/image.c,$(sort $(wildcard svsm/arch/snp/*.c))) \
	$(sort $(wildcard svsm/arch/snp/*.S))
IMG_TEST_SRCS := $(sort $(wildcard harness/image/*.c))

img_objs = $(patsubst %.S,$(IMG_B)/%.o,$(patsubst %.c,$(IMG_B)/%.o,$(1)))
IMG_CORE_OBJS := $(call img_objs,$(IMG_CORE_SRCS))
IMG_EMU_OBJS := $(call img_objs,$(IMG_EMU_SRCS))
IMG_ARCH_OBJS := $(call img_objs,$(IMG_ARCH_SRCS))
IMG_RUN_OBJ := $(IMG_B)/svsm/arch/snp/image.o
IMG_TEST_OBJS := $(call img_objs,$(IMG_TEST_SRCS))
IMG_COMMON_OBJS := $(IMG_ARCH_OBJS) $(IMG_CORE_OBJS) $(IMG_EMU_OBJS)

$(IMG_B)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(IMG_CFLAGS) -c $< -o $@

$(IMG_B)/%.o: %.S | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(IMG_ASFLAGS) -c $< -o $@

IMG_LD := ld -m elf_x86_64 -nostdlib -static -z noexecstack -z max-page-size=4096 --no-dynamic-linker
$(IMG_ELF): $(IMG_COMMON_OBJS) $(IMG_RUN_OBJ) $(IMG_LDS)
	$(IMG_LD) -T $(IMG_LDS) -Map $(IMG_B)/svsm.map -o $@ $(IMG_COMMON_OBJS) $(IMG_RUN_OBJ)

$(IMG_TEST_ELF): $(IMG_COMMON_OBJS) $(IMG_TEST_OBJS) $(IMG_LDS)
	$(IMG_LD) -T $(IMG_LDS) -Map $(IMG_B)/svsm-test.map -o $@ $(IMG_COMMON_OBJS) $(IMG_TEST_OBJS)

$(ROOT)/%.bin: $(ROOT)/%.elf
	objcopy -O binary $< $@

# The core objects the image really linked (from its link map), by name, for the
# comparison with libsvsmcore.a: arch code and the freestanding-only string.o left out.
$(IMG_B)/core-objects.txt: $(IMG_ELF)
	@grep -oE '$(IMG_B)/svsm/[^ ]+\.o' $(IMG_B)/svsm.map | grep -v -e '/arch/' \
		$(addprefix -e $(IMG_B)/,$(FREESTANDING_ONLY_SRCS:%.c=%.o)) | sort -u | xargs -n1 basename | sort > $@

.PHONY: image test-image-checks test-qemu run-image launch-config bench-image check-emu-freestanding
image: $(IMG_ELF) $(IMG_BIN) $(IMG_TEST_ELF) test-image-checks

test-image-checks: $(IMG_ELF) $(IMG_BIN) $(IMG_TEST_ELF) $(CORE_LIB) $(IMG_B)/core-objects.txt
	@ci/image-checks.sh $(IMG_ELF) $(IMG_BIN) $(CORE_LIB) $(IMG_B)/core-objects.txt $(IMG_TEST_ELF)

QEMU_TIMEOUT ?= 60
test-qemu: $(IMG_TEST_ELF)
	@python3 ci/test-qemu.py --kernel $(IMG_TEST_ELF) --timeout $(QEMU_TIMEOUT) --junit $(ROOT)/junit/qemu.xml \
		--log $(ROOT)/test-logs/qemu.log

run-image: $(IMG_ELF)
	@python3 ci/test-qemu.py --kernel $(IMG_ELF) --timeout $(QEMU_TIMEOUT) --run

bench-image: $(IMG_TEST_ELF)
	@mkdir -p $(ROOT)/bench
	@python3 ci/test-qemu.py --kernel $(IMG_TEST_ELF) --timeout $(QEMU_TIMEOUT) --bench $(ROOT)/bench/image.json

launch-config: $(IMG_ELF) $(IMG_BIN)
	@python3 ci/launch-config.py $(IMG_ELF) $(IMG_BIN) $(ROOT)/launch

BENCH_TARGETS += bench-image

# The emulated machine's model must build freestanding (the image links it): link it with
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
