#!/bin/sh
# scripts/count-cost.sh [RUNS] — compiles scripts/count-cost.c with clang at -O3 (the
# JIT's compiler; `cc` when there is no clang) and runs it RUNS times (default 5):
# what counting every call costs fib's shape natively, outside the kernel, per way of
# counting (docs/engine.md, "Profiling overhead").
set -eu
here=$(dirname "$0")
cc=$(command -v clang-22 || command -v /usr/lib/llvm-22/bin/clang || command -v clang || command -v cc)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$cc" -O3 -o "$out" "$here/count-cost.c"
echo "compiler: $cc"
for i in $(seq "${1:-5}"); do
    echo "run $i:"
    "$out"
done
