//! Generates, from `apps/apps.list` (crate `bf-app-list`), `OUT_DIR/apps.rs`: the
//! library's table of apps (name and `<crate>::run`), and `OUT_DIR/app_tests.rs`: one
//! test per app for `tests/apps.rs`, named after the app.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed={}", bf_app_list::list_path().display());
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut table = String::from("/// Every app of `apps/apps.list`, in its order.\npub const APPS: &[App] = &[\n");
    let mut tests = String::new();
    for app in bf_app_list::apps() {
        table += &format!("    App {{ name: {:?}, run: {} }},\n", app.name, app.native_entry());
        tests += &format!("#[test]\nfn {}() {{\n    check({:?});\n}}\n\n", app.ident(), app.name);
    }
    table += "];\n";
    std::fs::write(out.join("apps.rs"), table).expect("write OUT_DIR/apps.rs");
    std::fs::write(out.join("app_tests.rs"), tests).expect("write OUT_DIR/app_tests.rs");
}
