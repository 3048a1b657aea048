#!/usr/bin/env bash
# scripts/interp-instructions.sh KERNEL.elf [APP...]
#
# Counts the machine instructions the interpreter (tier 0) executes to run each app's
# suite entry once, natively, under valgrind's callgrind: from the first entry into
# `Machine::call` to its return (the interpreter loop, its profiling hooks and the host
# functions the app calls). Prints one line per app:
#
#   METRIC app.<name>.interp_instructions <count> instructions
#
# Why instructions and not cycles: the interpreter's cycle figures move by up to 3x
# between two builds that differ only in where the linker put its code (the one
# dispatch jump and the handlers' addresses decide how well the CPU predicts it), so
# they cannot tell whether a change to the interpreter made it do more or less work.
# The instruction count is repeatable (the same kernel ELF gives the same count to
# within a few dozen instructions in billions, whatever else the machine is doing). docs/engine.md, "Measuring the
# interpreter".
#
# APPs default to every app of apps/apps.list. Needs valgrind (Debian's package) and
# objcopy/nm (binutils). Takes about 20 s per app.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $# -ge 1 ]] || { sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 2; }
kernel=$1
shift
[[ -f $kernel ]] || { echo "interp-instructions: no kernel ELF at $kernel" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "interp-instructions: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
if [[ $# -gt 0 ]]; then
  apps=("$@")
else
  mapfile -t apps < <(awk '{ sub(/#.*/, "") } NF { print $1 }' apps/apps.list)
fi

# A copy valgrind can run:
# - the kernel's ELF entry reads CS to tell bare metal from Linux, which valgrind's
#   emulation does not report as ring 3, so the copy starts at glibc's `_start`
#   directly (what the entry does on Linux anyway);
# - valgrind 3.19 cannot read the DWARF 5 debug info of Debian's LLVM libraries, so
#   the copy has none (the symbol table stays: `Machine::call` is found by name);
# - valgrind reads no symbols at all from an ELF with a file-less PT_LOAD segment (the
#   AOT apps' statics window, `.aot_bss`: docs/boot-protocol.md), so in the copy that
#   section has contents (zeros), which puts its segment in the file.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(nm "$kernel" | awk '$3 == "_start" { print $1 }')
[[ -n $start ]] || { echo "interp-instructions: $kernel has no _start symbol" >&2; exit 1; }
objcopy --strip-debug --set-start="0x$start" --set-section-flags .aot_bss=alloc,load,contents,data \
  "$kernel" "$work/kernel"

for app in "${apps[@]}"; do
  # `env -i`: the same empty environment as every native run of the kernel.
  if ! env -i "$(command -v valgrind)" --tool=callgrind --toggle-collect='*Machine::call' \
      --callgrind-out-file=/dev/null "$work/kernel" --no-jit "--apps=$app" --tiers=interp \
      > "$work/log" 2>&1; then
    echo "interp-instructions: $app: the kernel failed under valgrind:" >&2
    tail -n 20 "$work/log" >&2
    exit 1
  fi
  count=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$work/log")
  grep -q "^apps: suite passed" "$work/log" || { echo "interp-instructions: $app: the suite did not pass:" >&2; tail -n 20 "$work/log" >&2; exit 1; }
  [[ -n $count && $count -gt 0 ]] || { echo "interp-instructions: $app: no interpreter instructions counted (is --tiers=interp still the interpreter?)" >&2; exit 1; }
  echo "METRIC app.$app.interp_instructions $count instructions"
done
