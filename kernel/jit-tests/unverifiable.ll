; Bitcode that fails LLVM's verifier (an instruction using its own value): refused
; with the verifier's report (checks::run). Assembled with `llvm-as --disable-verify`.
define i32 @bad(i32 %x) {
entry:
  %y = add i32 %y, 1
  ret i32 %y
}
