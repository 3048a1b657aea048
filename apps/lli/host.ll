; The host side of the BareFlow app ABI (apps/README.md) for running app bitcode under
; LLVM's `lli`, without a C compiler:
;
;   llvm-link APP.bc apps/lli/host.ll -o APP+host.bc && lli APP+host.bc; echo $?
;
; `main` calls `bf_app_main` and returns its status, so lli's exit code is the app's.
; Text goes to libc's write(1, ...) and printf + fflush (resolved by lli in its own
; process), unbuffered, so a panic message survives the fault that follows it; the
; cycle counter is rdtsc (`llvm.readcyclecounter`). After the app, main prints
; "lli-host: section <cycles> cycles, begin xN, end xN, status S" on stderr.

target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-unknown-linux-gnu"

@fmt_u64 = private unnamed_addr constant [4 x i8] c"%lu\00"
@fmt_report = private unnamed_addr constant [63 x i8] c"lli-host: section %lu cycles, begin x%lu, end x%lu, status %d\0A\00"

@section_begin_tsc = internal global i64 0
@section_end_tsc = internal global i64 0
@section_begins = internal global i64 0
@section_ends = internal global i64 0

@stderr = external global ptr

declare i64 @write(i32, ptr, i64)
declare i32 @printf(ptr, ...)
declare i32 @fprintf(ptr, ptr, ...)
declare i32 @fflush(ptr)
declare i64 @llvm.readcyclecounter()
declare i32 @bf_app_main()

; bf_print(ptr, len): writes len bytes (one write call is enough for a terminal or
; pipe and the apps' short strings).
define void @bf_print(ptr %ptr, i64 %len) {
  %r = call i64 @write(i32 1, ptr %ptr, i64 %len)
  ret void
}

; bf_print_u64(value): writes value in decimal.
define void @bf_print_u64(i64 %value) {
  %r = call i32 (ptr, ...) @printf(ptr @fmt_u64, i64 %value)
  %f = call i32 @fflush(ptr null)
  ret void
}

; bf_cycles(): the time-stamp counter.
define i64 @bf_cycles() {
  %t = call i64 @llvm.readcyclecounter()
  ret i64 %t
}

define void @bf_section_begin() {
  %t = call i64 @llvm.readcyclecounter()
  store i64 %t, ptr @section_begin_tsc
  %n = load i64, ptr @section_begins
  %n1 = add i64 %n, 1
  store i64 %n1, ptr @section_begins
  ret void
}

define void @bf_section_end() {
  %t = call i64 @llvm.readcyclecounter()
  store i64 %t, ptr @section_end_tsc
  %n = load i64, ptr @section_ends
  %n1 = add i64 %n, 1
  store i64 %n1, ptr @section_ends
  ret void
}

define i32 @main() {
  %status = call i32 @bf_app_main()
  %b = load i64, ptr @section_begin_tsc
  %e = load i64, ptr @section_end_tsc
  %cycles = sub i64 %e, %b
  %nb = load i64, ptr @section_begins
  %ne = load i64, ptr @section_ends
  %f = call i32 @fflush(ptr null)
  %err = load ptr, ptr @stderr
  %r = call i32 (ptr, ptr, ...) @fprintf(ptr %err, ptr @fmt_report, i64 %cycles, i64 %nb, i64 %ne, i32 %status)
  ret i32 %status
}
