#!/usr/bin/env python3
"""scripts/promotion-latency.py KERNEL.elf N

Runs a kernel ELF natively (as a Linux program, empty environment) N times with
`--no-jit --apps=all --tiers=tiered` and prints, per tier, how many promotions the N
runs made and the median over all of them of `jit.compile_ms.<app>.<function>.<tier>`:
what `make bench` reports as `jit.promote_ms_median.all.<tier>.native_linux` from one
run, pooled over N to see how far that figure moves (docs/engine.md, "Compile
latency")."""
import re, statistics, subprocess, sys
if len(sys.argv) != 3:
    sys.exit(__doc__)
kernel, n = sys.argv[1], int(sys.argv[2])
by_tier = {}
for _ in range(n):
    out = subprocess.run([kernel, "--no-jit", "--apps=all", "--tiers=tiered"], capture_output=True, text=True, env={}).stdout
    for m in re.finditer(r"^METRIC jit\.compile_ms\.\w+\.\S+\.(t\d+) (\S+)", out, re.M):
        by_tier.setdefault(m.group(1), []).append(float(m.group(2)))
for tier, ms in sorted(by_tier.items()):
    print(f"{tier}: {len(ms)} promotions in {n} runs, median {statistics.median(ms):.2f} ms")
