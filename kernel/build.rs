//! Link settings for the kernel binary (BRIEF §3): a static, non-PIE executable linked
//! with GNU ld through `linker.ld`, entered at `bareflow_entry`.
//!
//! The Makefile adds the code-generation flags (`+crt-static`, `relocation-model=static`,
//! `linker-features=-lld`); they are RUSTFLAGS because they must apply to the whole
//! crate graph, not only to the final link.

fn main() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../linker.ld");
    let script = script.canonicalize().expect("linker.ld at the workspace root");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    println!("cargo:rustc-link-arg-bins=-Wl,--build-id=none");
}
