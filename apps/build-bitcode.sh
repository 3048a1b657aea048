#!/usr/bin/env bash
# apps/build-bitcode.sh OUT_DIR [APP...]
#
# Builds each app (all of apps/apps.list by default) into ONE self-contained LLVM
# bitcode file OUT_DIR/<app>.bc, the JIT's input, and checks it: the only undefined
# symbols may be the host functions of the app ABI (apps/README.md) and
# memcpy/memmove/memset/memcmp/bcmp, and bf_app_main must be defined. Fails loudly
# otherwise.
#
# The same run writes OUT_DIR/<app>.aot.o, the AOT baseline the kernel links: rustc's
# object code for x86-64 from the very module of <app>.bc (the same LTO, opt-level and
# codegen units), with `bf_app_main` renamed `bf_aot_main_<app>` and every other symbol
# it defines made local, so the apps' objects link side by side (docs/engine.md, "The
# AOT baseline"). Needs objcopy (binutils).
#
# How: `cargo rustc` builds the app as a staticlib with its `bitcode` feature (which
# exports bf_app_main and brings the panic handler) and fat LTO, so core and
# bf-app-abi are merged into the module; `--emit=llvm-bc=PATH` writes the module after
# LTO and optimisation. The profile settings are passed with `--config` and the build
# uses its own target directory (target/apps), so nothing else in the workspace is
# affected. Needs the crates in Cargo.lock (fetched once, then works offline).
#
# Environment: LLVM_NM (default /usr/lib/llvm-22/bin/llvm-nm), CARGO (default cargo).
set -euo pipefail

usage() {
    echo "usage: $0 OUT_DIR [APP...]" >&2
    exit 2
}
[[ $# -ge 1 ]] || usage
out_dir=$1
shift

apps_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$apps_dir/.." && pwd)
target=x86_64-unknown-linux-gnu
target_dir=$root/target/apps
emit_dir=$target_dir/bitcode
llvm_nm=${LLVM_NM:-/usr/lib/llvm-22/bin/llvm-nm}
cargo=${CARGO:-cargo}

# apps/apps.list: one app per line, `#` starts a comment (apps/README.md).
mapfile -t all_apps < <(awk '{ sub(/#.*/, "") } NF { print $1 }' "$apps_dir/apps.list")
[[ ${#all_apps[@]} -gt 0 ]] || { echo "error: $apps_dir/apps.list names no app" >&2; exit 1; }
apps=("$@")
[[ ${#apps[@]} -gt 0 ]] || apps=("${all_apps[@]}")

# Undefined symbols a module may have: the app ABI and the C memory functions.
allowed_undefined=" bf_print bf_print_u64 bf_cycles bf_section_begin bf_section_end memcpy memmove memset memcmp bcmp "

[[ -x $llvm_nm ]] || { echo "error: llvm-nm not found at $llvm_nm (set LLVM_NM)" >&2; exit 1; }
mkdir -p "$out_dir" "$emit_dir"
out_dir=$(cd "$out_dir" && pwd)

# One cargo invocation per app (`cargo rustc` takes one package); the shared
# dependencies are compiled once.
cargo_bitcode() {
    local app=$1
    "$cargo" rustc --locked --quiet -p "$app" --lib --release --features bitcode \
        --target "$target" --target-dir "$target_dir" --crate-type staticlib \
        --config 'profile.release.lto="fat"' \
        --config 'profile.release.opt-level=2' \
        --config 'profile.release.codegen-units=1' \
        --config 'profile.release.panic="abort"' \
        --config 'profile.release.debug=0' \
        --config 'profile.release.incremental=false' \
        --config 'profile.release.overflow-checks=false' \
        --config 'profile.release.debug-assertions=false' \
        -- --emit="llvm-bc=$emit_dir/$app.bc,obj=$emit_dir/$app.o"
}

# OUT_DIR/<app>.aot.o from the object of the LTO module: `bf_app_main` becomes
# `bf_aot_main_<app>`, the only global symbol it defines. Replaced only when it changed
# (the kernel's build script reruns on a new file).
aot_object() {
    local app=$1 tmp
    tmp=$(mktemp "$out_dir/.$app.aot.XXXXXX")
    objcopy --redefine-sym "bf_app_main=bf_aot_main_$app" "$emit_dir/$app.o" "$tmp"
    objcopy --keep-global-symbol "bf_aot_main_$app" "$tmp"
    if cmp -s "$tmp" "$out_dir/$app.aot.o"; then rm "$tmp"; else mv "$tmp" "$out_dir/$app.aot.o"; fi
}

failed=0
for app in "${apps[@]}"; do
    [[ " ${all_apps[*]} " == *" $app "* ]] || { echo "error: unknown app '$app' (apps: ${all_apps[*]})" >&2; exit 2; }
    bc=$emit_dir/$app.bc
    cargo_bitcode "$app"
    if [[ ! -s $bc || ! -s $emit_dir/$app.o ]]; then
        # Cargo considered the crate fresh but the .bc or .o is gone: rebuild the crate.
        "$cargo" clean --quiet -p "$app" --release --target "$target" --target-dir "$target_dir"
        cargo_bitcode "$app"
    fi
    [[ -s $bc ]] || { echo "error: $app: rustc wrote no bitcode to $bc" >&2; exit 1; }
    [[ -s $emit_dir/$app.o ]] || { echo "error: $app: rustc wrote no object to $emit_dir/$app.o" >&2; exit 1; }
    cmp -s "$bc" "$out_dir/$app.bc" || cp "$bc" "$out_dir/$app.bc"
    aot_object "$app"
    if ! nm --defined-only --extern-only "$out_dir/$app.aot.o" | awk '{ print $3 }' | grep -qx "bf_aot_main_$app"; then
        echo "error: $app.aot.o does not define bf_aot_main_$app" >&2
        failed=1
    fi

    undefined=$("$llvm_nm" --undefined-only --format=just-symbols "$out_dir/$app.bc" | sort -u)
    bad=""
    for sym in $undefined; do
        [[ $allowed_undefined == *" $sym "* ]] || bad+=" $sym"
    done
    if ! "$llvm_nm" --defined-only --extern-only --format=just-symbols "$out_dir/$app.bc" | grep -qx bf_app_main; then
        echo "error: $app.bc does not define bf_app_main" >&2
        failed=1
    fi
    if [[ -n $bad ]]; then
        echo "error: $app.bc has undefined symbols outside the app ABI:$bad" >&2
        failed=1
    fi
    printf '%-13s %6d bytes  undefined: %s\n' "$app.bc" "$(stat -c %s "$out_dir/$app.bc")" "$(echo $undefined)"
done
if [[ $failed -ne 0 ]]; then
    echo "error: bitcode check failed" >&2
    exit 1
fi
echo "bitcode in $out_dir"
