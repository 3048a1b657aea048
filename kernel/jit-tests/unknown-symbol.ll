; An app calling a symbol the kernel does not export: refused at load, naming it
; (checks::bad_apps).
declare void @bf_does_not_exist()

define i32 @bf_app_main() {
  call void @bf_does_not_exist()
  ret i32 0
}
