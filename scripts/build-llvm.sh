#!/usr/bin/env bash
# Build BareFlow's minimal static LLVM (BRIEF §4) and install it into a cache
# directory outside the repo.
#
#   scripts/build-llvm.sh                 build (or report "already built at ...")
#   scripts/build-llvm.sh --print-prefix  print the install prefix; exit 0 if it is
#                                         built, 1 if not (nothing else is done)
#   scripts/build-llvm.sh --dry-run       print what would be done and whether the
#                                         cache hits; no download, no build
#
# Environment:
#   BAREFLOW_CACHE     cache root (default: $HOME/.cache/bareflow)
#   JOBS               ninja parallelism (default: 2)
#   CC / CXX           host compilers (default: gcc / g++); part of the config hash
#   LLVM_ORIG_TARBALL  use this local copy of the orig tarball instead of apt
#                      (its SHA-256 must still match llvm-min/source.txt)
#   BAREFLOW_CCACHE    0 = do not use ccache even when it is installed (default: use
#                      it when present; its cache is $BAREFLOW_CACHE/llvm-min/ccache)
#
# Configuration: llvm-min/bareflow.cmake (CMake cache), llvm-min/components.txt
# (llvm-config components), llvm-min/source.txt (pinned source and SHA-256) and
# llvm-min/patches/*.patch (applied in name order with patch -p1 to the extracted
# source; each says what it removes and why).
# The install goes to $BAREFLOW_CACHE/llvm-min/<llvm version>-<hash12>/. hash12 is
# built from those files and from this script's options (see config_fingerprint).
# Long build: run it in the background, e.g.
#   nohup nice -n 19 scripts/build-llvm.sh > /tmp/llvm-build.log 2>&1 &
# See docs/llvm-build.md.

set -euo pipefail

SCRIPT_START=$(date +%s)
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CFG_DIR="$REPO_ROOT/llvm-min"
CMAKE_CACHE_FILE="$CFG_DIR/bareflow.cmake"
COMPONENTS_FILE="$CFG_DIR/components.txt"
SOURCE_FILE="$CFG_DIR/source.txt"
PATCH_DIR="$CFG_DIR/patches"

CACHE_ROOT="${BAREFLOW_CACHE:-$HOME/.cache/bareflow}"
LLVM_CACHE="$CACHE_ROOT/llvm-min"
JOBS="${JOBS:-2}"
CC_BIN="${CC:-gcc}"
CXX_BIN="${CXX:-g++}"

# Where the deb-src entry goes. The mirror URI is read at run time from the
# machine's own apt configuration. No host name is written in this repo.
APT_SOURCES_MAIN=/etc/apt/sources.list.d/debian.sources
APT_SRC_ENTRY=/etc/apt/sources.list.d/bareflow-llvm-src.sources
APT_SRC_SUITES="trixie sid"

# Which parts of the orig tarball are extracted (relative to its top directory).
# These paths are part of the config hash.
EXTRACT_PATHS=(llvm cmake third-party/siphash)
EXTRACT_EXCLUDES=(llvm/test llvm/unittests llvm/docs)

MODE=build
usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    --print-prefix) MODE=print-prefix ;;
    --dry-run) MODE=dry-run ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-llvm.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

log() { printf '[build-llvm %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'build-llvm.sh: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- configuration
# key=value from llvm-min/source.txt
src_kv() {
  local v
  v=$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$SOURCE_FILE" | tail -n 1)
  [[ -n "$v" ]] || die "$SOURCE_FILE: no value for '$1'"
  printf '%s' "${v%%[[:space:]]}"
}
# Drop comment-only lines, trailing comments (components) and blank lines, so that
# editing a comment does not trigger an hour-long rebuild.
strip_comments() { sed -e 's/^[[:space:]]*#.*$//' -e 's/[[:space:]]*$//' "$1" | sed '/^$/d'; }

for f in "$CMAKE_CACHE_FILE" "$COMPONENTS_FILE" "$SOURCE_FILE"; do
  [[ -f "$f" ]] || die "missing configuration file $f"
done
PKG=$(src_kv package)
DEB_VERSION=$(src_kv debian_version)
LLVM_VERSION=$(src_kv upstream_version)
ORIG_NAME=$(src_kv orig_tarball)
ORIG_SHA256=$(src_kv sha256)
ORIG_TOP="${ORIG_NAME%.orig.tar.xz}"     # llvm-toolchain-22_22.1.8
mapfile -t COMPONENTS < <(sed 's/#.*//' "$COMPONENTS_FILE" | tr -s ' \t' '\n\n' | sed '/^$/d')
((${#COMPONENTS[@]})) || die "$COMPONENTS_FILE lists no components"
PATCHES=()
if [[ -d "$PATCH_DIR" ]]; then mapfile -t PATCHES < <(find "$PATCH_DIR" -maxdepth 1 -name '*.patch' | LC_ALL=C sort); fi
# Name and SHA-256 of each patch: part of the configuration hash and of the
# extraction stamp (a changed patch means a fresh extraction).
patch_list() { local p; for p in "${PATCHES[@]}"; do printf '%s %s\n' "$(basename "$p")" "$(sha256sum "$p" | cut -d' ' -f1)"; done; }

config_fingerprint() {
  echo "bareflow llvm-min fingerprint v1"
  echo "llvm=$LLVM_VERSION orig_sha256=$ORIG_SHA256"
  echo "generator=Ninja cc=$CC_BIN cxx=$CXX_BIN"
  echo "extract=${EXTRACT_PATHS[*]} exclude=${EXTRACT_EXCLUDES[*]}"
  echo "install=libs-of-components+llvm-headers+llvm-config"
  echo "--- bareflow.cmake"; strip_comments "$CMAKE_CACHE_FILE"
  echo "--- components"; printf '%s\n' "${COMPONENTS[@]}"
  if ((${#PATCHES[@]})); then echo "--- patches"; patch_list; fi
}
CONFIG_HASH=$(config_fingerprint | sha256sum | cut -c1-12)
PREFIX="$LLVM_CACHE/$LLVM_VERSION-$CONFIG_HASH"
BUILD_DIR="$LLVM_CACHE/build/$LLVM_VERSION-$CONFIG_HASH"
SRC_DIR="$LLVM_CACHE/src/llvm-$LLVM_VERSION"
DL_DIR="$LLVM_CACHE/downloads"
TARBALL="$DL_DIR/$ORIG_NAME"
STAMP_EXTRACT="$SRC_DIR/.bareflow-extracted"
EXTRACT_STAMP_TEXT="sha256=$ORIG_SHA256 paths=${EXTRACT_PATHS[*]} exclude=${EXTRACT_EXCLUDES[*]}"
((${#PATCHES[@]} == 0)) || EXTRACT_STAMP_TEXT+=" patches=$(patch_list | tr '\n' ' ')"
STAMP_CONFIGURED="$BUILD_DIR/.bareflow-configured"

is_built() { [[ -f "$PREFIX/build-info.txt" && -x "$PREFIX/bin/llvm-config" ]]; }

if [[ $MODE == print-prefix ]]; then
  echo "$PREFIX"
  is_built && exit 0 || exit 1
fi

# ---------------------------------------------------------------- helpers
size_table() { # $1 = prefix with libs.txt
  local p=$1 total=0 n lib
  printf '%14s  %s\n' "bytes" "library"
  while read -r lib; do
    [[ -n "$lib" ]] || continue
    n=$(du -b "$p/lib/$lib" | cut -f1)
    total=$((total + n))
    printf '%14d  %s\n' "$n" "$lib"
  done < "$p/libs.txt"
  printf '%14d  %s\n' "$total" "total ($(grep -c . "$p/libs.txt") libraries)"
  echo "METRIC llvm.min_lib_bytes $total bytes"
}

report_hit() {
  echo "already built at $PREFIX"
  size_table "$PREFIX"
  grep -E '^(wall_seconds|cpu_seconds|ccache)=' "$PREFIX/build-info.txt" | sed 's/^/recorded /' || true
  # The recorded build's times (what make bench reports).
  sed -n 's/^wall_seconds=\([0-9]*\)$/METRIC llvm.build_s \1 s/p; s/^cpu_seconds=\([0-9]*\)$/METRIC llvm.build_cpu_s \1 s/p' "$PREFIX/build-info.txt"
  echo "install prefix: $PREFIX"
}

# The main archive's mirror URI (and keyring) from the machine's apt config, for
# the first non-security "deb" entry. Prints "URI<TAB>SIGNED_BY".
read_mirror() {
  local out=""
  if [[ -r "$APT_SOURCES_MAIN" ]]; then
    out=$(awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; signed = ""
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          if (match(line, /^[Tt]ypes:[ \t]*/))     types  = substr(line, RLENGTH + 1)
          if (match(line, /^URIs:[ \t]*/))         uris   = substr(line, RLENGTH + 1)
          if (match(line, /^[Ss]uites:[ \t]*/))    suites = substr(line, RLENGTH + 1)
          if (match(line, /^[Ss]igned-[Bb]y:[ \t]*/)) signed = substr(line, RLENGTH + 1)
        }
        if (types ~ /(^|[ \t])deb([ \t]|$)/ && suites !~ /-security/ && uris != "") {
          split(uris, u, /[ \t]+/); print u[1] "\t" signed; exit
        }
      }' "$APT_SOURCES_MAIN")
  fi
  if [[ -z "$out" && -r /etc/apt/sources.list ]]; then
    out=$(awk '$1 == "deb" {
        i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) !~ /-security/) { print $i "\t"; exit } }' /etc/apt/sources.list)
  fi
  printf '%s' "$out"
}

write_src_entry() { # $1 = uri, $2 = signed-by (may be empty)
  local want
  want=$(
    echo "# Written by BareFlow's scripts/build-llvm.sh: source packages only (deb-src),"
    echo "# used to fetch the $PKG orig tarball. Binary packages are not affected."
    echo "Types: deb-src"
    echo "URIs: $1"
    echo "Suites: $APT_SRC_SUITES"
    echo "Components: main"
    [[ -n "$2" ]] && echo "Signed-By: $2"
  )
  if [[ -f "$APT_SRC_ENTRY" ]] && [[ "$(cat "$APT_SRC_ENTRY")" == "$want" ]]; then
    log "deb-src entry $APT_SRC_ENTRY already present"
  else
    printf '%s\n' "$want" > "$APT_SRC_ENTRY"
    log "wrote deb-src entry $APT_SRC_ENTRY (suites: $APT_SRC_SUITES)"
  fi
}

retry() { # retry N cmd...: apt may be busy with another session's install
  local n=$1 i; shift
  for ((i = 1; i <= n; i++)); do
    "$@" && return 0
    log "attempt $i/$n failed: $*; retrying in 15 s"
    sleep 15
  done
  return 1
}

sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$ORIG_SHA256" ]]; }

need_tools() { # prints the missing Debian packages
  local missing=() t
  command -v cmake >/dev/null || missing+=(cmake)
  command -v ninja >/dev/null || missing+=(ninja-build)
  command -v "$CXX_BIN" >/dev/null || missing+=(g++)
  command -v "$CC_BIN" >/dev/null || missing+=(gcc)
  command -v python3 >/dev/null || missing+=(python3)
  command -v xz >/dev/null || missing+=(xz-utils)
  ((${#PATCHES[@]} == 0)) || command -v patch >/dev/null || missing+=(patch)
  for t in flock sha256sum tar; do command -v $t >/dev/null || missing+=("$t") ; done
  echo "${missing[*]}"
}

ninja_targets_note() { echo "llvm-config, llvm-headers, and the LLVM* libraries that 'llvm-config --link-static --libnames ${COMPONENTS[*]}' lists"; }

# ---------------------------------------------------------------- dry run
if [[ $MODE == dry-run ]]; then
  echo "LLVM $LLVM_VERSION from Debian source package $PKG=$DEB_VERSION"
  echo "config hash: $CONFIG_HASH"
  echo "install prefix: $PREFIX"
  if is_built; then
    echo "cache: HIT (already built at $PREFIX); a real run would do nothing"
    exit 0
  fi
  echo "cache: MISS"
  missing=$(need_tools)
  if [[ -n "$missing" ]]; then echo "tools: would apt-get install $missing"; else echo "tools: all present"; fi
  if sha_ok "$TARBALL"; then
    echo "source: $TARBALL present, SHA-256 ok (no download)"
  else
    mirror=$(read_mirror)
    echo "source: would write $APT_SRC_ENTRY (deb-src, mirror ${mirror%%$'\t'*}, suites $APT_SRC_SUITES),"
    echo "        apt-get update for that file only, apt-get source --download-only $PKG=$DEB_VERSION,"
    echo "        then check $ORIG_NAME against sha256 $ORIG_SHA256"
  fi
  if [[ -f "$STAMP_EXTRACT" && "$(cat "$STAMP_EXTRACT")" == "$EXTRACT_STAMP_TEXT" ]]; then
    echo "extract: $SRC_DIR already extracted"
  else
    echo "extract: ${EXTRACT_PATHS[*]} (minus ${EXTRACT_EXCLUDES[*]}) -> $SRC_DIR"
  fi
  if ((${#PATCHES[@]})); then echo "patches: $(patch_list | cut -d' ' -f1 | tr '\n' ' ')"; else echo "patches: none"; fi
  if [[ -f "$STAMP_CONFIGURED" ]]; then
    echo "configure: $BUILD_DIR already configured (ninja resumes)"
  else
    echo "configure: cmake -G Ninja -C $CMAKE_CACHE_FILE -S $SRC_DIR/llvm -B $BUILD_DIR"
  fi
  echo "build: ninja -j$JOBS $(ninja_targets_note)"
  echo "components: ${COMPONENTS[*]}"
  echo "install: headers + those libraries + bin/llvm-config + libs.txt + build-info.txt -> $PREFIX"
  exit 0
fi

# ---------------------------------------------------------------- build
if is_built; then report_hit; exit 0; fi

mkdir -p "$LLVM_CACHE" "$DL_DIR" "$LLVM_CACHE/src" "$LLVM_CACHE/build"
exec 9> "$LLVM_CACHE/.lock"
if ! flock -n 9; then
  log "another build-llvm.sh holds $LLVM_CACHE/.lock; waiting for it"
  flock 9
fi
if is_built; then report_hit; exit 0; fi

log "LLVM $LLVM_VERSION, config hash $CONFIG_HASH, prefix $PREFIX, JOBS=$JOBS"
log "components: ${COMPONENTS[*]}"
declare -A STAGE_SECONDS=()
stage_start() { STAGE_NAME=$1; STAGE_T0=$(date +%s); log "== $1"; }
stage_end() { STAGE_SECONDS[$STAGE_NAME]=$(( $(date +%s) - STAGE_T0 )); log "== $STAGE_NAME done in ${STAGE_SECONDS[$STAGE_NAME]} s"; }

# 1. tools ---------------------------------------------------------------------
stage_start tools
missing=$(need_tools)
if [[ -n "$missing" ]]; then
  [[ $(id -u) -eq 0 ]] || die "missing tools ($missing); install them (as root: apt-get install $missing)"
  log "installing: $missing"
  export DEBIAN_FRONTEND=noninteractive
  retry 5 apt-get -o DPkg::Lock::Timeout=300 -qq update
  # shellcheck disable=SC2086
  retry 5 apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing
  missing=$(need_tools)
  [[ -z "$missing" ]] || die "still missing after apt-get install: $missing"
fi
cmake_ver=$(cmake --version | sed -n '1s/[^0-9]*\([0-9][0-9.]*\).*/\1/p')
[[ "$(printf '%s\n3.20.0\n' "$cmake_ver" | sort -V | head -n1)" == "3.20.0" ]] || die "cmake $cmake_ver is older than 3.20 (LLVM needs 3.20)"
log "cmake $cmake_ver, ninja $(ninja --version), $("$CXX_BIN" --version | head -n1), $(python3 --version 2>&1)"
stage_end

# 2. source --------------------------------------------------------------------
stage_start download
FETCHED_VERSION="(cached tarball)"
if sha_ok "$TARBALL"; then
  log "$TARBALL present, SHA-256 ok"
elif [[ -n "${LLVM_ORIG_TARBALL:-}" ]]; then
  sha_ok "$LLVM_ORIG_TARBALL" || die "LLVM_ORIG_TARBALL=$LLVM_ORIG_TARBALL does not match sha256 $ORIG_SHA256"
  cp "$LLVM_ORIG_TARBALL" "$TARBALL.part" && mv "$TARBALL.part" "$TARBALL"
  FETCHED_VERSION="(copied from LLVM_ORIG_TARBALL)"
else
  if [[ $(id -u) -eq 0 ]]; then
    mirror=$(read_mirror)
    [[ -n "$mirror" ]] || die "no Debian mirror found in $APT_SOURCES_MAIN or /etc/apt/sources.list"
    write_src_entry "${mirror%%$'\t'*}" "${mirror#*$'\t'}"
    # Refresh only the new entry's indexes (Sources for trixie and sid); keep the
    # other lists as they are.
    retry 5 apt-get -o DPkg::Lock::Timeout=300 \
      -o Dir::Etc::SourceList="$APT_SRC_ENTRY" -o Dir::Etc::SourceParts=- \
      -o APT::Get::List-Cleanup=0 update
  else
    log "not root: cannot add $APT_SRC_ENTRY or run apt-get update; trying apt-get source with the lists as they are"
  fi
  # The pinned revision first, then any other revision of the same upstream version
  # in the index. They all share the orig tarball.
  mapfile -t candidates < <( { echo "$DEB_VERSION"; apt-cache showsrc "$PKG" 2>/dev/null \
      | sed -n 's/^Version: //p' | grep -E "^([0-9]+:)?${LLVM_VERSION//./\\.}-" ; } | awk '!seen[$0]++')
  tmp="$DL_DIR/tmp.$$"
  for ver in "${candidates[@]}"; do
    rm -rf "$tmp"; mkdir -p "$tmp"
    log "apt-get source --download-only $PKG=$ver"
    # apt exits non-zero when the .dsc 404s (as it does for 1:22.1.8-1), even though
    # the orig tarball arrived. Only the orig tarball is used, so ignore apt's status
    # and check the SHA-256 below.
    (cd "$tmp" && apt-get source --download-only "$PKG=$ver") || log "apt-get source exited $? (a missing .dsc is expected; checking for the orig tarball)"
    if [[ -f "$tmp/$ORIG_NAME" ]]; then
      got=$(sha256sum "$tmp/$ORIG_NAME" | cut -d' ' -f1)
      if [[ "$got" == "$ORIG_SHA256" ]]; then
        mv "$tmp/$ORIG_NAME" "$TARBALL"
        FETCHED_VERSION=$ver
        break
      fi
      log "SHA-256 MISMATCH for $ORIG_NAME from $ver: got $got, pinned $ORIG_SHA256"
    else
      log "no $ORIG_NAME from $PKG=$ver"
    fi
  done
  rm -rf "$tmp"
  sha_ok "$TARBALL" || die "could not fetch $ORIG_NAME with SHA-256 $ORIG_SHA256 (tried: ${candidates[*]})"
fi
log "source: $TARBALL ($(du -b "$TARBALL" | cut -f1) bytes, sha256 $ORIG_SHA256, Debian version $FETCHED_VERSION)"
stage_end

# 3. extract -------------------------------------------------------------------
stage_start extract
if [[ -f "$STAMP_EXTRACT" && "$(cat "$STAMP_EXTRACT")" == "$EXTRACT_STAMP_TEXT" ]]; then
  log "$SRC_DIR already extracted"
else
  rm -rf "$SRC_DIR" "$SRC_DIR.partial"
  mkdir -p "$SRC_DIR.partial"
  excl=(); for e in "${EXTRACT_EXCLUDES[@]}"; do excl+=("--exclude=$ORIG_TOP/$e"); done
  memb=(); for m in "${EXTRACT_PATHS[@]}"; do memb+=("$ORIG_TOP/$m"); done
  tar -xJf "$TARBALL" -C "$SRC_DIR.partial" --strip-components=1 "${excl[@]}" "${memb[@]}"
  for p in "${PATCHES[@]}"; do
    log "applying $(basename "$p")"
    patch -p1 --batch --forward -d "$SRC_DIR.partial" < "$p" > "$SRC_DIR.partial/.patch.log" 2>&1 \
      || { cat "$SRC_DIR.partial/.patch.log" >&2; die "$(basename "$p") does not apply to LLVM $LLVM_VERSION"; }
  done
  rm -f "$SRC_DIR.partial/.patch.log"
  printf '%s\n' "$EXTRACT_STAMP_TEXT" > "$SRC_DIR.partial/.bareflow-extracted"
  mv "$SRC_DIR.partial" "$SRC_DIR"
  log "extracted ${EXTRACT_PATHS[*]} to $SRC_DIR ($(du -sb "$SRC_DIR" | cut -f1) bytes)"
fi
stage_end

# 4. configure -----------------------------------------------------------------
stage_start configure
# ccache, when installed, keeps every object compiled by any configuration. A new
# configuration hash means a new build directory; CCACHE_BASEDIR makes the paths in
# the compile commands relative, so files whose flags did not change are not
# compiled again. It changes nothing in the output, so it is not in the hash.
LAUNCHER=()
if [[ "${BAREFLOW_CCACHE:-1}" != 0 ]] && command -v ccache >/dev/null; then
  export CCACHE_DIR="$LLVM_CACHE/ccache" CCACHE_BASEDIR="$LLVM_CACHE" CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-6G}"
  ccache --zero-stats >/dev/null
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  log "ccache $(ccache --version | sed -n '1s/.*version //p'): cache $CCACHE_DIR"
else
  log "no ccache (install the Debian package ccache to make reconfigurations fast)"
fi
if [[ -f "$STAMP_CONFIGURED" && -f "$BUILD_DIR/build.ninja" ]]; then
  log "$BUILD_DIR already configured; ninja resumes where it stopped"
else
  rm -rf "$BUILD_DIR"
  cmake -G Ninja -S "$SRC_DIR/llvm" -B "$BUILD_DIR" -C "$CMAKE_CACHE_FILE" \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_C_COMPILER="$CC_BIN" -DCMAKE_CXX_COMPILER="$CXX_BIN" "${LAUNCHER[@]}"
  touch "$STAMP_CONFIGURED"
fi
stage_end

# 5. resolve the libraries ------------------------------------------------------
stage_start resolve
ninja -C "$BUILD_DIR" -j "$JOBS" llvm-config
# A copy of llvm-config outside the build tree runs in "installed" mode. Its lib/
# is empty, so every library the components need shows up as "missing:", in link
# order, with full paths. This gives the full list before anything is built.
probe="$BUILD_DIR/bareflow-probe"
rm -rf "$probe"; mkdir -p "$probe/bin" "$probe/lib"
cp "$BUILD_DIR/bin/llvm-config" "$probe/bin/"
probe_out=$("$probe/bin/llvm-config" --link-static --libnames "${COMPONENTS[@]}" 2>&1 || true)
mapfile -t LIB_TARGETS < <(printf '%s\n' "$probe_out" | sed -n 's|.*missing: .*/lib\(LLVM[^/]*\)\.a$|\1|p')
((${#LIB_TARGETS[@]})) || die "could not resolve components with llvm-config: $probe_out"
log "${#LIB_TARGETS[@]} libraries: ${LIB_TARGETS[*]}"
stage_end

# 6. build ---------------------------------------------------------------------
stage_start build
# Each progress line says how far the build is and, at this run's pace, how long is
# left (scripts/ninja-eta.awk); pipefail keeps ninja's status.
NINJA_STATUS="[%f/%t %e] " ninja -C "$BUILD_DIR" -j "$JOBS" llvm-headers "${LIB_TARGETS[@]}" \
  | awk -f "$REPO_ROOT/scripts/ninja-eta.awk"
stage_end

# 7. install -------------------------------------------------------------------
stage_start install
stage="$PREFIX.partial"
rm -rf "$stage"
for comp in llvm-headers "${LIB_TARGETS[@]}"; do
  cmake --install "$BUILD_DIR" --component "$comp" --prefix "$stage" >> "$BUILD_DIR/bareflow-install.log"
done
mkdir -p "$stage/bin"
cp "$BUILD_DIR/bin/llvm-config" "$stage/bin/llvm-config"
strip "$stage/bin/llvm-config" 2>/dev/null || true
# The installed llvm-config must resolve the components against what was installed.
libnames=$("$stage/bin/llvm-config" --link-static --libnames "${COMPONENTS[@]}") \
  || die "installed llvm-config cannot resolve the components"
tr ' ' '\n' <<< "$libnames" | sed '/^$/d' > "$stage/libs.txt"
printf '%s\n' "${COMPONENTS[@]}" > "$stage/components.txt"
cp "$CMAKE_CACHE_FILE" "$stage/bareflow.cmake"
stage_end

END=$(date +%s)
WALL=$((END - SCRIPT_START))
# CPU time of all children (compilers): the second line of `times`. `times` must run
# in this shell: in a pipeline or $(...) it runs in a fresh subshell and reports 0.
times > "$stage/times.txt"
CPU=$(tail -n 1 "$stage/times.txt" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } printf "%d", s }')
rm -f "$stage/times.txt"
total=0; while read -r lib; do total=$((total + $(du -b "$stage/lib/$lib" | cut -f1))); done < "$stage/libs.txt"
{
  echo "# BareFlow minimal LLVM, written by scripts/build-llvm.sh"
  echo "llvm_version=$LLVM_VERSION"
  echo "debian_package=$PKG"
  echo "debian_version_fetched=$FETCHED_VERSION"
  echo "orig_tarball=$ORIG_NAME"
  echo "orig_sha256=$ORIG_SHA256"
  echo "config_hash=$CONFIG_HASH"
  echo "components=${COMPONENTS[*]}"
  echo "patches=$(patch_list | cut -d' ' -f1 | tr '\n' ' ')"
  echo "libraries=$(grep -c . "$stage/libs.txt")"
  echo "lib_bytes=$total"
  echo "system_libs=$("$stage/bin/llvm-config" --link-static --system-libs "${COMPONENTS[@]}")"
  echo "host_compiler=$("$CXX_BIN" --version | head -n1)"
  echo "jobs=$JOBS"
  for s in tools download extract configure resolve build install; do echo "seconds_$s=${STAGE_SECONDS[$s]:-0}"; done
  echo "wall_seconds=$WALL"
  if ((${#LAUNCHER[@]})); then
    echo "ccache=$(ccache --print-stats 2>/dev/null | awk -F'\t' '$1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { h += $2 } $1 == "cache_miss" { m = $2 } END { printf "%d hits, %d misses", h, m }')"
  else
    echo "ccache=not used"
  fi
  echo "cpu_seconds=$CPU"
  echo "finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$stage/build-info.txt"
rm -rf "$PREFIX"
mv "$stage" "$PREFIX"

size_table "$PREFIX"
log "wall time ${WALL} s ($((WALL / 60)) min), CPU time of children ${CPU} s, JOBS=$JOBS"
grep '^ccache=' "$PREFIX/build-info.txt" | sed 's/^/recorded /' || true
echo "METRIC llvm.build_s $WALL s"
echo "METRIC llvm.build_cpu_s $CPU s"
echo "installed at $PREFIX"
echo "install prefix: $PREFIX"
