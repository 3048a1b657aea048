; An app that recurses without end: interpreted, it is stopped at the interpreter's
; depth limit with a message (checks::interpreted_trap).
define internal i32 @down(i32 %n) {
  %m = add i32 %n, 1
  %r = call i32 @down(i32 %m)
  ret i32 %r
}

define i32 @bf_app_main() {
  %r = call i32 @down(i32 0)
  ret i32 %r
}
