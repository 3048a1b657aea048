#!/usr/bin/env python3
"""scripts/compare-kernels.py BEFORE.elf AFTER.elf N [TIERS]

Runs two kernel ELFs natively (as Linux programs, empty environment), interleaved, N
times each with `--no-jit --apps=all` (and `--tiers=TIERS` when given, e.g. `interp`
for the interpreter's runs alone), and prints a Markdown table of every
`METRIC app.*`, `profile.*` and `jit.compile_ms.*` figure: the median of each side, the
ratio and the spreads. For checking that a change leaves the figures alone (a
refactoring) or measuring what it changes, on one machine in one run
(docs/architecture.md, "Checking a change's figures")."""
import subprocess, sys, statistics, re, collections
if len(sys.argv) not in (4, 5):
    sys.exit(__doc__)
old, new, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
args = ["--no-jit", "--apps=all"] + ([f"--tiers={sys.argv[4]}"] if len(sys.argv) == 5 else [])
runs = {old: collections.defaultdict(list), new: collections.defaultdict(list)}
for i in range(n):
    for k in (old, new):
        out = subprocess.run([k] + args, capture_output=True, text=True, env={}).stdout
        for m in re.finditer(r"^METRIC (app\.\S+|profile\.\S+|jit\.compile_ms\.\S+) (\S+)", out, re.M):
            runs[k][m.group(1)].append(float(m.group(2)))
print(f"| figure | before (median of {n}) | after (median of {n}) | after/before | before spread | after spread |")
print("|---|---:|---:|---:|---:|---:|")
for name in sorted(runs[old]):
    a, b = runs[old][name], runs[new].get(name, [])
    if not b: continue
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = mb / ma if ma else float('nan')
    sp = lambda v: f"{min(v):.4g}–{max(v):.4g}"
    print(f"| {name} | {ma:.4g} | {mb:.4g} | {ratio:.2f} | {sp(a)} | {sp(b)} |")
