#!/usr/bin/env bash
# apps/run-lli.sh BC_DIR [APP...]
#
# Runs app bitcode built by apps/build-bitcode.sh under LLVM's lli (all the apps of
# apps/apps.list by default): links each BC_DIR/<app>.bc with apps/lli/host.ll (the
# host functions and a `main` returning bf_app_main's status) and runs it. Prints each
# app's output, the timed section's cycles and its exit status; exits 1 if any app's
# status is not 0.
#
# Environment: LLVM_BIN (default /usr/lib/llvm-22/bin), LLI_FLAGS (extra lli flags,
# e.g. --force-interpreter).
set -euo pipefail

[[ $# -ge 1 ]] || { echo "usage: $0 BC_DIR [APP...]" >&2; exit 2; }
bc_dir=$1
shift
apps_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
llvm_bin=${LLVM_BIN:-/usr/lib/llvm-22/bin}
apps=("$@")
# apps/apps.list: one app per line, `#` starts a comment (apps/README.md).
[[ ${#apps[@]} -gt 0 ]] || mapfile -t apps < <(awk '{ sub(/#.*/, "") } NF { print $1 }' "$apps_dir/apps.list")
[[ ${#apps[@]} -gt 0 ]] || { echo "error: $apps_dir/apps.list names no app" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=0
for app in "${apps[@]}"; do
    "$llvm_bin/llvm-link" "$bc_dir/$app.bc" "$apps_dir/lli/host.ll" -o "$work/$app.bc"
    status=0
    # shellcheck disable=SC2086 # LLI_FLAGS is a list of flags
    "$llvm_bin/lli" ${LLI_FLAGS:-} "$work/$app.bc" || status=$?
    echo "$app: lli exit status $status"
    [[ $status -eq 0 ]] || failed=1
done
exit $failed
