#!/usr/bin/env bash
# apps/programs/build.sh OUT_DIR [NAME...]
#
# Builds each C test program of apps/programs (all *.c when no NAME is given) two ways:
#   OUT_DIR/NAME.bc      LLVM bitcode, the kernel's input (clang -O2 -c -emit-llvm)
#   OUT_DIR/NAME.native  a native reference executable (clang -O2 ... -lm)
#   OUT_DIR/NAME.timed   the same with main timed by harness/timed.c (`cycles N` on
#                        stderr), for make bench
# Both for generic x86-64 (no -march). Prints one line per program.
#
# Environment: CLANG (default clang-22).
set -euo pipefail

usage() {
    echo "usage: $0 OUT_DIR [NAME...]" >&2
    exit 2
}
[[ $# -ge 1 ]] || usage
out_dir=$1
shift

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
clang=${CLANG:-clang-22}
command -v "$clang" >/dev/null || { echo "error: $clang not found (set CLANG)" >&2; exit 1; }

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
    for f in "$src_dir"/*.c; do
        n=${f##*/}
        names+=("${n%.c}")
    done
fi

for name in "${names[@]}"; do
    [[ -f $src_dir/${name%.c}.c ]] || { echo "error: no program $src_dir/${name%.c}.c" >&2; exit 1; }
done

mkdir -p "$out_dir"
for name in "${names[@]}"; do
    name=${name%.c}
    src=$src_dir/$name.c
    "$clang" -O2 -c -emit-llvm -o "$out_dir/$name.bc" "$src"
    "$clang" -O2 -o "$out_dir/$name.native" "$src" -lm
    "$clang" -O2 -c -Dmain=bf_timed_main -o "$out_dir/$name.timed.o" "$src"
    "$clang" -O2 -o "$out_dir/$name.timed" "$out_dir/$name.timed.o" "$src_dir/harness/timed.c" -lm
    echo "built $name: $out_dir/$name.bc $out_dir/$name.native"
done
