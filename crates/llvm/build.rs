//! Builds `cpp/pipelines.cpp` (the optimisation pipelines as explicit pass lists,
//! issue 16), `cpp/emitter.cpp` (the code generator's pipeline, kept per target
//! machine) and `cpp/materialize.cpp` (one function of a lazily read module) against
//! the headers of the LLVM being linked: `BAREFLOW_LLVM_CONFIG`
//! names its `llvm-config` (the Makefile sets it for the kernel, to the minimal LLVM
//! or Debian's), Debian's `llvm-22-dev` otherwise. The archive goes on the link line
//! of whatever links this crate; it needs LLVM and libstdc++, which the kernel's
//! build script adds.
//!
//! This crate's own tests link Debian's shared libLLVM (llvm-22-dev) and libstdc++.

use std::process::Command;

const DEBIAN_CONFIG: &str = "/usr/lib/llvm-22/bin/llvm-config";

fn llvm_config(config: &str, arg: &str) -> Option<String> {
    let out = Command::new(config).arg(arg).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=BAREFLOW_LLVM_CONFIG");
    println!("cargo:rerun-if-changed=cpp/pipelines.cpp");
    println!("cargo:rerun-if-changed=cpp/emitter.cpp");
    println!("cargo:rerun-if-changed=cpp/materialize.cpp");
    let config = std::env::var("BAREFLOW_LLVM_CONFIG").unwrap_or_else(|_| DEBIAN_CONFIG.into());
    println!("cargo:rerun-if-changed={config}");
    let Some(cxxflags) = llvm_config(&config, "--cxxflags") else {
        println!("cargo:warning=bf-llvm: {config} not found; the pipelines and the tests will not build");
        return;
    };
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("cpp/pipelines.cpp")
        .file("cpp/emitter.cpp")
        .file("cpp/materialize.cpp")
        .cpp_link_stdlib(None)
        .warnings(false);
    // llvm-config's flags: the include directory, the C++ standard, and whether LLVM
    // was built with exceptions and RTTI (both off in the minimal build).
    for flag in cxxflags.split_whitespace() {
        build.flag(flag);
    }
    // Only what a pipeline uses is linked; no unwind tables (linker.ld drops them).
    build.flag("-ffunction-sections").flag("-fdata-sections").flag("-fno-asynchronous-unwind-tables");
    build.compile("bf_pipelines");

    if let Some(libdir) = llvm_config(DEBIAN_CONFIG, "--libdir") {
        println!("cargo:rustc-link-arg-tests=-L{libdir}");
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{libdir}");
        println!("cargo:rustc-link-arg-tests=-lLLVM");
        println!("cargo:rustc-link-arg-tests=-lstdc++");
    }
}
