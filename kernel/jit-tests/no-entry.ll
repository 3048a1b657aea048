; An app without `bf_app_main`: refused at load, naming it (checks::bad_apps).
define i32 @main() {
  ret i32 0
}
