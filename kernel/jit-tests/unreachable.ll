; An app that reaches `unreachable`: interpreted, it traps like compiled code
; (checks::interpreted_trap).
define i32 @bf_app_main() {
  unreachable
}
