# BareFlow — build, boot and test.
#
#   make disk   stage1 + stage2 + kernel + FAT16 partition -> build/bareflow.img
#   make run    build what is missing and boot build/bareflow.img in QEMU
#   make test   the full test suite (host unit tests + QEMU integration tests)
#   make bench  boot figures under KVM -> docs/benchmarks.md
#
# Variables: CMDLINE (kernel command line baked into the image), FAT_MIB (size of the
# FAT16 partition), PATTERN_MIB (add a boot-test pattern module of that many MiB),
# DISK (virtio|ide|usb for `make run`), QEMU_ARGS (extra bfrun flags, e.g. --tcg).

SHELL := /bin/bash
BUILD := build
TARGET := x86_64-unknown-linux-gnu

# The kernel is a static, non-PIE glibc executable linked by GNU ld (BRIEF §3).
KERNEL_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static -C linker-features=-lld
KERNEL_TARGET_DIR := target/kernel
KERNEL_ELF := $(KERNEL_TARGET_DIR)/$(TARGET)/release/kernel

MKIMAGE := target/release/mkimage
BFRUN := target/release/bfrun

CMDLINE ?=
FAT_MIB ?= 32
PATTERN_MIB ?= 0
DISK ?= virtio
QEMU_ARGS ?=

IMAGE_FLAGS := --fat-mib $(FAT_MIB) $(if $(filter-out 0,$(PATTERN_MIB)),--pattern-mib $(PATTERN_MIB))

.PHONY: all disk run test bench kernel tools boot-stages clean

all: disk

$(BUILD):
	mkdir -p $@

$(BUILD)/stage1.bin: stage1/stage1.asm | $(BUILD)
	nasm -f bin -Wall -o $@ $<

$(BUILD)/stage2.bin: stage2/stage2.asm | $(BUILD)
	nasm -f bin -Wall -o $@ $<

boot-stages: $(BUILD)/stage1.bin $(BUILD)/stage2.bin

# Cargo decides what is stale; the copy only happens when the ELF changed.
kernel: | $(BUILD)
	RUSTFLAGS="$(KERNEL_RUSTFLAGS)" cargo build --release -p kernel --target $(TARGET) --target-dir $(KERNEL_TARGET_DIR)
	@cmp -s $(KERNEL_ELF) $(BUILD)/kernel.elf || cp $(KERNEL_ELF) $(BUILD)/kernel.elf
	@echo "METRIC kernel.text_bytes $$(size -A $(BUILD)/kernel.elf | awk '$$1 == ".text" { print $$2 }') bytes"

tools:
	cargo build --release -p mkimage -p runner

disk: boot-stages kernel tools
	$(MKIMAGE) build --stage1 $(BUILD)/stage1.bin --stage2 $(BUILD)/stage2.bin \
		--kernel $(BUILD)/kernel.elf --cmdline="$(CMDLINE)" $(IMAGE_FLAGS) \
		--output $(BUILD)/bareflow.img

run: disk
	$(BFRUN) --disk $(DISK) $(QEMU_ARGS) $(BUILD)/bareflow.img

test: disk
	@$(BFRUN) --probe
	cargo test --workspace --exclude kernel
	cargo test -p kernel

bench: disk
	cargo run --release -p bareflow-tests --bin bench -- docs/benchmarks.md

clean:
	rm -rf $(BUILD) target
