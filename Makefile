# BareFlow — build, boot and test.
#
#   make disk   stage1 + stage2 + kernel + FAT16 partition -> build/bareflow.img
#   make run    build what is missing and boot build/bareflow.img in QEMU
#   make test   the full test suite (host unit tests + QEMU integration tests)
#   make bench  boot figures under KVM -> docs/benchmarks.md
#   make lint   rustfmt --check and clippy (warnings are errors) on every crate; part of make test
#   make shrink boot the grow image with bf.export=$(APP), extract and boot the exported image (docs/shrink.md)
#
# Variables: CMDLINE (kernel command line baked into the image), FAT_MIB (size of the
# FAT16 partition), PATTERN_MIB (add a boot-test pattern module of that many MiB),
# DISK (virtio|ide|usb|ahci for `make run`; ahci boots -machine q35), METRICS=1 (`make run` shows COM1's
# METRIC lines, which bfrun hides otherwise), QEMU_ARGS (extra bfrun flags, e.g. --tcg),
# LLVM (which LLVM the kernel links, see below), FRESH (`make disk`/`make run` keep the
# FAT16 partition of the image they replace — boot log, snapshots — when FAT_MIB is
# unchanged; FRESH=1 starts with an empty one).
#
# LLVM=min     (default of disk/run) the minimal LLVM; builds it first when missing
#              (about an hour on 2 cores)
# LLVM=auto    (default of test/bench) the minimal LLVM if scripts/build-llvm.sh has
#              cached it, Debian's llvm-22-dev otherwise; never starts a source build
# LLVM=system  Debian's llvm-22-dev static libraries
# LLVM=none    no LLVM in the kernel (no JIT self-test)

SHELL := /bin/bash
BUILD := build
TARGET := x86_64-unknown-linux-gnu

# The kernel is a static, non-PIE glibc executable (BRIEF §3), linked by rustc's own
# rust-lld (its default linker for this target) with identical-code folding (kernel/build.rs).
KERNEL_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static
KERNEL_TARGET_DIR := target/kernel
KERNEL_ELF := $(KERNEL_TARGET_DIR)/$(TARGET)/release/kernel

# `make disk`/`make run` ship the minimal LLVM (building it first when it is missing);
# `make test`, `make bench` and `make lint` use LLVM=auto, so they never start an LLVM source build.
LLVM ?= min
test bench lint: LLVM = auto
SYSTEM_LLVM_CONFIG := /usr/lib/llvm-22/bin/llvm-config
MIN_LLVM_PREFIX := $(shell scripts/build-llvm.sh --print-prefix 2>/dev/null)
MIN_LLVM_CONFIG := $(MIN_LLVM_PREFIX)/bin/llvm-config
# Recursively expanded: they follow LLVM, including its target-specific value above.
LLVM_KIND = $(if $(filter auto,$(LLVM)),$(if $(wildcard $(MIN_LLVM_CONFIG)),min,system),$(LLVM))
LLVM_CONFIG = $(if $(filter min,$(LLVM_KIND)),$(MIN_LLVM_CONFIG),$(SYSTEM_LLVM_CONFIG))
KERNEL_FEATURES = $(if $(filter none,$(LLVM_KIND)),,--features llvm)

# The environment of every kernel build (and of clippy over the kernel).
KERNEL_ENV = RUSTFLAGS="$(KERNEL_RUSTFLAGS)" BAREFLOW_LLVM_CONFIG="$(LLVM_CONFIG)" BAREFLOW_APPS_BC_DIR="$(abspath $(BUILD)/apps)" BAREFLOW_EXPORT_RUNTIME="$(abspath $(BUILD)/export-runtime.bin)" LLVM_SYS_221_PREFIX="$$($(LLVM_CONFIG) --prefix 2>/dev/null)"

# The export runtime (export-runtime/, docs/shrink.md): a no_std binary for
# x86_64-unknown-none, outside the workspace, that the kernel embeds.
RUNTIME_CARGO := RUSTFLAGS="-C relocation-model=static" cargo
RUNTIME_FLAGS := --release --manifest-path export-runtime/Cargo.toml --target x86_64-unknown-none --target-dir target/export-runtime
RUNTIME_ELF := target/export-runtime/x86_64-unknown-none/release/bf-export-runtime

MKIMAGE := target/release/mkimage
BFRUN := target/release/bfrun

# The default boot runs tinyllama through the tiered pipeline (docs/engine.md).
CMDLINE ?= --apps=tinyllama
FAT_MIB ?= 32
PATTERN_MIB ?= 0
DISK ?= virtio
QEMU_ARGS ?=
METRICS ?=

# APP=prog.bc puts external bitcode — an ordinary C program with main
# (docs/programs.md) or an app following apps/README.md's ABI — into the image as the
# FLUD module "app"; APP=a.bc,b.bc,… puts several (modules app, app.2, …; the FLUD
# header has room for 6 modules in all: more programs go to /PROGRAMS on the FAT16
# partition). The kernel runs each through every JIT tier at boot. APP_ARGS="8 queens"
# gives every program its arguments (argv[1..]; no commas inside an argument).
APP ?=
APP_ARGS ?=
comma := ,
empty :=
space := $(empty) $(empty)
APP_FILES := $(subst $(comma),$(space),$(APP))
APP_MODULES := $(foreach i,$(shell seq 1 $(words $(APP_FILES))),--module $(if $(filter 1,$(i)),app,app.$(i))=$(word $(i),$(APP_FILES)))
PROGRAM_ARGS := $(if $(strip $(APP_ARGS)),--program-args=$(subst $(space),$(comma),$(strip $(APP_ARGS))))
# `mkimage build --keep-fat` carries the old image's FAT16 partition over (it says whether
# it did, and why not); FRESH=1 formats a new one.
FRESH ?=
KEEP_FAT := $(if $(filter-out 0,$(FRESH)),,--keep-fat)
IMAGE_FLAGS := --fat-mib $(FAT_MIB) $(if $(filter-out 0,$(PATTERN_MIB)),--pattern-mib $(PATTERN_MIB)) $(APP_MODULES)

.PHONY: all disk run debug test bench size-report lint kernel tools boot-stages apps-bitcode export-runtime shrink clean

all: disk

$(BUILD):
	mkdir -p $@

$(BUILD)/stage1.bin: stage1/stage1.asm | $(BUILD)
	nasm -f bin -Wall -o $@ $<

$(BUILD)/stage2.bin: stage2/stage2.asm | $(BUILD)
	nasm -f bin -Wall -o $@ $<

boot-stages: $(BUILD)/stage1.bin $(BUILD)/stage2.bin

# Cargo decides what is stale; the copy only happens when the ELF changed, and goes
# through a rename so that a kernel.elf still running natively is not in the way.
# The apps as self-contained bitcode (apps/README.md), embedded in the kernel.
apps-bitcode: | $(BUILD)
	env -u RUSTFLAGS apps/build-bitcode.sh $(BUILD)/apps

export-runtime: | $(BUILD)
	$(RUNTIME_CARGO) build $(RUNTIME_FLAGS)
	@objcopy -O binary $(RUNTIME_ELF) $(BUILD)/export-runtime.bin.new
	@cmp -s $(BUILD)/export-runtime.bin.new $(BUILD)/export-runtime.bin && rm $(BUILD)/export-runtime.bin.new || mv $(BUILD)/export-runtime.bin.new $(BUILD)/export-runtime.bin
	@echo "METRIC export.runtime_bytes $$(stat -c %s $(BUILD)/export-runtime.bin) bytes"

kernel: apps-bitcode export-runtime | $(BUILD)
	@if [ "$(LLVM_KIND)" = min ] && ! scripts/build-llvm.sh --print-prefix >/dev/null; then \
		echo "make: the minimal LLVM is not built yet; building it now (about an hour on 2 cores;"; \
		echo "make: LLVM=system uses Debian's llvm-22-dev instead)"; \
		time scripts/build-llvm.sh; \
	fi
	@echo "make: kernel LLVM = $(LLVM_KIND)$(if $(filter-out none,$(LLVM_KIND)), ($(LLVM_CONFIG)))"
	$(KERNEL_ENV) cargo build --release -p kernel $(KERNEL_FEATURES) --target $(TARGET) --target-dir $(KERNEL_TARGET_DIR)
	@cmp -s $(KERNEL_ELF) $(BUILD)/kernel.elf || { cp $(KERNEL_ELF) $(BUILD)/kernel.elf.new && mv $(BUILD)/kernel.elf.new $(BUILD)/kernel.elf && cp $(KERNEL_TARGET_DIR)/$(TARGET)/release/kernel.map $(BUILD)/kernel.map; }
	@echo "METRIC kernel.text_bytes $$(size -A $(BUILD)/kernel.elf | awk '$$1 == ".text" { print $$2 }') bytes"

tools:
	cargo build --release -p mkimage -p runner

disk: boot-stages kernel tools
	$(MKIMAGE) build --stage1 $(BUILD)/stage1.bin --stage2 $(BUILD)/stage2.bin \
		--kernel $(BUILD)/kernel.elf --cmdline="$(strip $(CMDLINE) $(PROGRAM_ARGS))" $(IMAGE_FLAGS) $(KEEP_FAT) \
		--output $(BUILD)/bareflow.img

run: disk
	$(BFRUN) --disk $(DISK) $(if $(filter-out 0,$(METRICS)),--metrics) $(QEMU_ARGS) $(BUILD)/bareflow.img

test: disk lint
	@$(BFRUN) --probe
	cargo test --workspace --exclude kernel --no-fail-fast
	cargo test -p kernel --no-fail-fast

# Lints (docs/architecture.md): formatting, then clippy with the workspace's lints as
# errors over the host crates, the kernel as `make kernel` builds it (its real flags and
# LLVM) and the kernel's host-test configuration (no LLVM).
lint: apps-bitcode export-runtime
	cargo fmt --all -- --check
	cargo fmt --manifest-path export-runtime/Cargo.toml -- --check
	$(RUNTIME_CARGO) clippy $(RUNTIME_FLAGS) -- -D warnings
	cargo clippy --workspace --exclude kernel --all-targets -- -D warnings
	$(KERNEL_ENV) cargo clippy --release -p kernel $(KERNEL_FEATURES) --target $(TARGET) --target-dir $(KERNEL_TARGET_DIR) -- -D warnings
	cargo clippy -p kernel --all-targets -- -D warnings

# The kernel without LLVM, only to measure LLVM's share of the kernel's text.
$(BUILD)/kernel-nollvm.elf: kernel
	RUSTFLAGS="$(KERNEL_RUSTFLAGS)" cargo build --release -p kernel --target $(TARGET) --target-dir target/kernel-nollvm
	cp target/kernel-nollvm/$(TARGET)/release/kernel $@

# Where the kernel's bytes are (docs/llvm-size.md): per component, per object file of
# the largest LLVM libraries, and LLVM's share against the kernel built with LLVM=none.
size-report: kernel tools $(BUILD)/kernel-nollvm.elf
	$(MKIMAGE) size-report $(BUILD)/kernel.elf --without $(BUILD)/kernel-nollvm.elf | tee $(BUILD)/size-report.md

bench: disk $(BUILD)/kernel-nollvm.elf
	BAREFLOW_LLVM_KIND=$(LLVM_KIND) cargo run --release -p bareflow-tests --bin bench -- docs/benchmarks.md

# Grow, then shrink (docs/shrink.md): the grow image runs APP (default fib) through the
# tiered engine and exports it (FULL=1 keeps never-executed code at minsize); the
# exported image is taken from its FAT16 partition and booted; both output lines and
# both sizes are shown side by side.
SHRINK_APP := $(or $(APP),fib)
shrink: boot-stages kernel tools
	$(MKIMAGE) build --stage1 $(BUILD)/stage1.bin --stage2 $(BUILD)/stage2.bin --kernel $(BUILD)/kernel.elf \
		--cmdline="--no-jit --apps=$(SHRINK_APP) --tiers=tiered bf.export=$(SHRINK_APP)$(if $(filter-out 0,$(FULL)),$(comma)full)" \
		--output $(BUILD)/grow.img > /dev/null
	$(BFRUN) --disk $(DISK) --metrics $(QEMU_ARGS) $(BUILD)/grow.img | tee $(BUILD)/grow.log | grep -E "^($(SHRINK_APP): |export: )"
	$(MKIMAGE) fs cat $(BUILD)/grow.img /EXPORT/$(shell echo $(SHRINK_APP) | cut -c1-8 | tr a-z A-Z).IMG > $(BUILD)/$(SHRINK_APP).min.img
	$(BFRUN) --disk $(DISK) --metrics $(QEMU_ARGS) $(BUILD)/$(SHRINK_APP).min.img | tee $(BUILD)/shrink.log
	@payload() { $(MKIMAGE) info $$1 | sed -n 's/^  payload size *\([0-9]*\) bytes.*/\1/p'; }; \
	printf '%-8s %12s %13s  %s\n' image "file bytes" "payload bytes" "$(SHRINK_APP)'s line"; \
	printf '%-8s %12s %13s  %s\n' grow "$$(stat -c %s $(BUILD)/grow.img)" "$$(payload $(BUILD)/grow.img)" \
		"$$(grep -m1 '^$(SHRINK_APP): ' $(BUILD)/grow.log)"; \
	printf '%-8s %12s %13s  %s\n' exported "$$(stat -c %s $(BUILD)/$(SHRINK_APP).min.img)" \
		"$$(payload $(BUILD)/$(SHRINK_APP).min.img)" "$$(grep -m1 '^$(SHRINK_APP): ' $(BUILD)/shrink.log)"

# Boot the image halted with QEMU's GDB stub on localhost:$(GDB_PORT) (TCG: the GDB stub
# and hardware breakpoints work the same there on every machine); bfrun prints the
# command that attaches gdb with build/kernel.elf's symbols (docs/debugging.md).
GDB_PORT ?= 1234
debug: disk tools
	$(BFRUN) --tcg --gdb $(GDB_PORT) --disk $(DISK) $(QEMU_ARGS) $(BUILD)/bareflow.img

clean:
	rm -rf $(BUILD) target
