; An app whose compiled code traps (`llvm.trap`, i.e. `ud2`): the kernel's exception
; report (checks::trapping_app).
declare void @llvm.trap()

define i32 @bf_app_main() {
  call void @llvm.trap()
  unreachable
}
