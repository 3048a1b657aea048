; An app with a function the interpreter cannot lower (i128 arithmetic): named in a
; message, it starts in tier 1 and still gives the right answer
; (checks::uninterpretable_function).
define internal i64 @wide(i64 %x) {
  %a = zext i64 %x to i128
  %b = mul i128 %a, %a
  %c = lshr i128 %b, 64
  %d = trunc i128 %c to i64
  ret i64 %d
}

define i32 @bf_app_main() {
  %r = call i64 @wide(i64 4294967296)
  %ok = icmp eq i64 %r, 1
  %s = select i1 %ok, i32 0, i32 1
  ret i32 %s
}
