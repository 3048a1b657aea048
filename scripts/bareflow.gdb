# GDB set-up for a BareFlow kernel in QEMU (docs/debugging.md). `make debug` boots
# build/bareflow.img halted with QEMU's GDB stub open and prints the command that
# loads this file:
#
#   gdb -x scripts/bareflow.gdb -ex 'bf-attach 1234' -ex 'hbreak kernel_start' -ex continue
#
# The kernel's symbols come from build/kernel.elf (the same build as the image). Use
# hardware breakpoints (`hbreak`) for kernel code until the kernel is loaded: stage2
# copies the kernel to 0x100000 after the machine starts, over any software
# breakpoint written there earlier.
set pagination off
set confirm off
set architecture i386:x86-64
file build/kernel.elf

define bf-attach
  target remote 127.0.0.1:$arg0
end
document bf-attach
Attach to QEMU's GDB stub on localhost port ARG (bfrun --gdb ARG, make debug).
end
