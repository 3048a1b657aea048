//! Only this crate's own tests link LLVM: Debian's shared libLLVM (llvm-22-dev), found
//! with its `llvm-config`. The crate itself links nothing (`no-llvm-linking`); the
//! kernel's build script puts LLVM's static libraries on the kernel's link line.

use std::process::Command;

fn main() {
    const CONFIG: &str = "/usr/lib/llvm-22/bin/llvm-config";
    println!("cargo:rerun-if-changed={CONFIG}");
    let Ok(out) = Command::new(CONFIG).arg("--libdir").output() else {
        println!("cargo:warning=bf-llvm: {CONFIG} not found; its tests will not link");
        return;
    };
    let libdir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    println!("cargo:rustc-link-arg-tests=-L{libdir}");
    println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{libdir}");
    println!("cargo:rustc-link-arg-tests=-lLLVM");
}
