//! Links the runtime with `link.ld` (at 0x100000, header first, BSS in the file).

fn main() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("link.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg=-T{}", script.display());
    println!("cargo:rustc-link-arg=--gc-sections");
    println!("cargo:rustc-link-arg=--no-pie");
}
