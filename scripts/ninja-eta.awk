# Ninja's progress lines with an estimate of the time left, for scripts/build-llvm.sh.
# Ninja runs with NINJA_STATUS="[%f/%t %e] " (finished/total edges, seconds elapsed);
# each such line becomes
#   [789/1383 57%, 41 min, ~31 min left] Building CXX object …
# the time left being the remaining edges at this run's pace so far. Other lines pass
# unchanged. Works with mawk (Debian's default awk) and gawk.
/^\[[0-9]+\/[0-9]+ [0-9.]+\] / {
    status = $1 " " $2
    rest = substr($0, length(status) + 2)
    split(substr($1, 2), counts, "/")
    done = counts[1] + 0
    total = counts[2] + 0
    elapsed = substr($2, 1, length($2) - 1) + 0
    left = ""
    if (done > 0 && elapsed > 0 && total >= done)
        left = sprintf(", ~%d min left", int((total - done) * elapsed / done / 60 + 0.5))
    printf "[%d/%d %d%%, %d min%s] %s\n", done, total, (total > 0 ? 100 * done / total : 0), int(elapsed / 60), left, rest
    fflush()
    next
}
{ print; fflush() }
