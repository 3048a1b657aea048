# BareFlow's minimal LLVM: CMake initial cache (cmake -C llvm-min/bareflow.cmake).
#
# Used by scripts/build-llvm.sh. The kernel links these static libraries into one
# static, non-PIE x86-64 glibc executable that runs in ring 0 (BRIEF §3, §4).
# Changing this file changes the configuration hash, so the next build-llvm.sh run
# builds into a new cache directory. The old one is kept.
#
# The script passes only CMAKE_INSTALL_PREFIX, the generator (Ninja) and the
# compilers on the command line. Every other setting is here.

# Size first. MinSizeRel = -Os -DNDEBUG.
set(CMAKE_BUILD_TYPE MinSizeRel CACHE STRING "")

# Extra code-generation flags for every LLVM object. CMake appends them to the
# MinSizeRel flags.
#  -ffunction-sections -fdata-sections  so the kernel link can drop unused code with
#                                       --gc-sections (HandleLLVMOptions adds these
#                                       too; listing them here makes it explicit).
#  -fno-stack-protector                 no canary loads from %fs:0x28 and less code.
#                                       Debian's gcc does not enable it by default;
#                                       this only makes that explicit.
#  -fno-asynchronous-unwind-tables -fno-unwind-tables
#                                       no .eh_frame for LLVM's own code (issue 16):
#                                       the kernel has no unwinder and LLVM is built
#                                       without exceptions. JIT code's frames are
#                                       registered by the JIT, which does not need
#                                       these. (linker.ld also discards every
#                                       .eh_frame, so Debian's LLVM gets the same.)
# No -mno-red-zone: the kernel's SYSCALL entry switches to its own stack before it
# pushes anything, interrupts stay off, and CPU exceptions run on IST stacks. So the
# 128-byte red zone below %rsp is never overwritten. glibc, libstdc++ and Rust std
# use the red zone as well, so turning it off only in LLVM would not make anything
# safer.
set(CMAKE_C_FLAGS "-ffunction-sections -fdata-sections -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables" CACHE STRING "")
set(CMAKE_CXX_FLAGS "-ffunction-sections -fdata-sections -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables" CACHE STRING "")
# Without this, HandleLLVMOptions appends -funwind-tables after the flags above (its
# default is ON), and every LLVM object still carries an .eh_frame.
set(LLVM_ENABLE_UNWIND_TABLES OFF CACHE BOOL "")

# Static, non-PIC archives only.
set(BUILD_SHARED_LIBS OFF CACHE BOOL "")
set(LLVM_ENABLE_PIC OFF CACHE BOOL "")
set(LLVM_BUILD_LLVM_DYLIB OFF CACHE BOOL "")
set(LLVM_LINK_LLVM_DYLIB OFF CACHE BOOL "")
set(LLVM_BUILD_LLVM_C_DYLIB OFF CACHE BOOL "")
set(LLVM_ENABLE_PLUGINS OFF CACHE BOOL "")

# Only the host target. JIT code runs on the same machine.
set(LLVM_TARGETS_TO_BUILD X86 CACHE STRING "")
set(LLVM_EXPERIMENTAL_TARGETS_TO_BUILD "" CACHE STRING "")
set(LLVM_ENABLE_PROJECTS "" CACHE STRING "")
set(LLVM_ENABLE_RUNTIMES "" CACHE STRING "")

# One core, no threads. The kernel provides futex only as a no-waiter stub.
set(LLVM_ENABLE_THREADS OFF CACHE BOOL "")

# No C++ exceptions and no RTTI. These are LLVM's defaults; set here to be explicit.
set(LLVM_ENABLE_EH OFF CACHE BOOL "")
set(LLVM_ENABLE_RTTI OFF CACHE BOOL "")

# Release semantics.
set(LLVM_ENABLE_ASSERTIONS OFF CACHE BOOL "")
set(LLVM_ENABLE_EXPENSIVE_CHECKS OFF CACHE BOOL "")
set(LLVM_ENABLE_DUMP OFF CACHE BOOL "")
set(LLVM_ABI_BREAKING_CHECKS FORCE_OFF CACHE STRING "")

# No optional host libraries. Without these, the archives need nothing beyond libc,
# libm and libstdc++. (LLVM 19 removed the terminfo dependency, so there is no
# LLVM_ENABLE_TERMINFO to set.)
set(LLVM_ENABLE_ZLIB OFF CACHE STRING "")
set(LLVM_ENABLE_ZSTD OFF CACHE STRING "")
set(LLVM_ENABLE_LIBXML2 OFF CACHE STRING "")
set(LLVM_ENABLE_LIBEDIT OFF CACHE BOOL "")
set(LLVM_ENABLE_LIBPFM OFF CACHE BOOL "")
set(LLVM_ENABLE_FFI OFF CACHE BOOL "")
set(LLVM_ENABLE_CURL OFF CACHE STRING "")
set(LLVM_ENABLE_HTTPLIB OFF CACHE STRING "")
set(LLVM_ENABLE_ICU OFF CACHE STRING "")
set(LLVM_ENABLE_ICONV OFF CACHE STRING "")
set(LLVM_HAS_LOGF128 OFF CACHE STRING "")
set(LLVM_ENABLE_Z3_SOLVER OFF CACHE BOOL "")

# No crash-time machinery: no signal handlers that print backtraces, and no
# crash-report overrides.
set(LLVM_ENABLE_BACKTRACES OFF CACHE BOOL "")
set(LLVM_ENABLE_CRASH_OVERRIDES OFF CACHE BOOL "")
set(LLVM_ENABLE_CRASH_DUMPS OFF CACHE BOOL "")

# Nothing besides the libraries. LLVM_INCLUDE_TOOLS stays ON so that the
# llvm-config target exists. With LLVM_BUILD_TOOLS=OFF, tools are left out of "all";
# the script builds llvm-config by name. llvm-tblgen is always built because the
# build needs it.
set(LLVM_INCLUDE_TOOLS ON CACHE BOOL "")
set(LLVM_BUILD_TOOLS OFF CACHE BOOL "")
set(LLVM_INCLUDE_UTILS OFF CACHE BOOL "")
set(LLVM_BUILD_UTILS OFF CACHE BOOL "")
set(LLVM_INSTALL_UTILS OFF CACHE BOOL "")
set(LLVM_INCLUDE_TESTS OFF CACHE BOOL "")
set(LLVM_BUILD_TESTS OFF CACHE BOOL "")
set(LLVM_INCLUDE_EXAMPLES OFF CACHE BOOL "")
set(LLVM_BUILD_EXAMPLES OFF CACHE BOOL "")
set(LLVM_INCLUDE_BENCHMARKS OFF CACHE BOOL "")
set(LLVM_BUILD_BENCHMARKS OFF CACHE BOOL "")
set(LLVM_INCLUDE_DOCS OFF CACHE BOOL "")
set(LLVM_BUILD_DOCS OFF CACHE BOOL "")
set(LLVM_ENABLE_DOXYGEN OFF CACHE BOOL "")
set(LLVM_ENABLE_SPHINX OFF CACHE BOOL "")
set(LLVM_ENABLE_OCAMLDOC OFF CACHE BOOL "")
set(LLVM_ENABLE_BINDINGS OFF CACHE BOOL "")
set(LLVM_INCLUDE_RUNTIMES OFF CACHE BOOL "")
set(LLVM_BUILD_RUNTIMES OFF CACHE BOOL "")
set(LLVM_INCLUDE_GO_TESTS OFF CACHE BOOL "")

# Only one link job. The build links only llvm-tblgen and llvm-config.
set(LLVM_PARALLEL_LINK_JOBS 1 CACHE STRING "")
