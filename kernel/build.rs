//! Link settings for the kernel binary (BRIEF §3): a static, non-PIE executable linked
//! with GNU ld through `linker.ld`, entered at `bareflow_entry`.
//!
//! The Makefile adds the code-generation flags (`+crt-static`, `relocation-model=static`,
//! `linker-features=-lld`); they are RUSTFLAGS because they must apply to the whole
//! crate graph, not only to the final link.
//!
//! With the `llvm` feature, LLVM's static libraries are linked too (BRIEF §3's link
//! line): `BAREFLOW_LLVM_CONFIG` names the `llvm-config` of the LLVM to use (the
//! Makefile picks the minimal build when cached, Debian's `llvm-22-dev` otherwise);
//! the archives of the components in `llvm-min/components.txt`, then a no-exceptions
//! copy of libstdc++ ([`nothrow_libstdcxx`]), zlib, zstd, libffi, libm, libc and libgcc
//! go into one `--start-group`. The JIT self-test
//! modules (`jit-tests/*.ll`) are assembled to bitcode with Debian's `llvm-as`, the
//! table of apps is generated from `apps/apps.list` ([`embed_apps`]) and the C library
//! table of programs from `kernel/src/jit/program/libc.symbols` ([`libc_table`]).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("linker.ld").canonicalize().expect("linker.ld at the workspace root");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    // The build id identifies this kernel build in snapshots (docs/persistence.md).
    println!("cargo:rustc-link-arg-bins=-Wl,--build-id=sha1");
    // The linker map, next to the kernel binary (`make kernel` copies it to
    // build/kernel.map): `mkimage deadcode` attributes pages to components with it.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    if let Some(profile_dir) = out_dir.ancestors().nth(3) {
        println!("cargo:rustc-link-arg-bins=-Wl,-Map={}", profile_dir.join("kernel.map").display());
    }
    if std::env::var_os("CARGO_FEATURE_LLVM").is_some() {
        link_llvm(&root);
        assemble_selftest();
        embed_apps();
        libc_table(&root);
        embed_export_runtime();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn gcc_file(name: &str) -> PathBuf {
    PathBuf::from(run(Command::new("gcc").arg(format!("-print-file-name={name}"))))
}

fn link_llvm(root: &Path) {
    println!("cargo:rerun-if-env-changed=BAREFLOW_LLVM_CONFIG");
    let config = std::env::var("BAREFLOW_LLVM_CONFIG").unwrap_or_else(|_| "/usr/lib/llvm-22/bin/llvm-config".into());
    let components_file = root.join("llvm-min/components.txt");
    println!("cargo:rerun-if-changed={}", components_file.display());
    let components: Vec<String> = std::fs::read_to_string(&components_file)
        .expect("llvm-min/components.txt")
        .lines()
        .map(|l| l.split('#').next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let libdir = run(Command::new(&config).arg("--libdir"));
    let names = run(Command::new(&config).args(["--link-static", "--libnames"]).args(&components));
    let version = run(Command::new(&config).arg("--version"));
    println!("cargo:warning=linking LLVM {version} from {libdir}");
    println!("cargo:rustc-env=BAREFLOW_LLVM_DESCRIPTION=LLVM {version} from {libdir}");
    println!("cargo:rustc-link-arg-bins=-Wl,--start-group");
    for name in names.split_whitespace() {
        println!("cargo:rustc-link-arg-bins={libdir}/{name}");
    }
    let libstdcxx = gcc_file("libstdc++.a");
    assert!(libstdcxx.is_absolute(), "libstdc++.a not found (install libstdc++-12-dev)");
    println!("cargo:rustc-link-arg-bins={}", nothrow_libstdcxx(&libstdcxx).display());
    for archive in ["libz.a", "libzstd.a", "libffi.a", "libm.a", "libc.a", "libgcc.a", "libgcc_eh.a"] {
        let path = gcc_file(archive);
        assert!(path.is_absolute(), "{archive} not found (install zlib1g-dev, libzstd-dev, libffi-dev)");
        println!("cargo:rustc-link-arg-bins={}", path.display());
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--end-group");
    // `BAREFLOW_LINK_MAP=path` writes GNU ld's map: which archive member each symbol
    // came from (docs/llvm.md uses it to show what pulls what).
    println!("cargo:rerun-if-env-changed=BAREFLOW_LINK_MAP");
    if let Ok(map) = std::env::var("BAREFLOW_LINK_MAP") {
        println!("cargo:rustc-link-arg-bins=-Wl,-Map={map}");
    }
}

/// libstdc++'s exception runtime: the members that implement throwing, catching and
/// the C++ personality routine. The no-exceptions copy leaves them out; the kernel's
/// `jit/cxxrt.rs` defines what LLVM and the rest of libstdc++ still reference as fatal
/// diagnostics.
const LIBSTDCXX_EH_MEMBERS: [&str; 5] = ["eh_personality.o", "eh_throw.o", "eh_catch.o", "eh_alloc.o", "eh_call.o"];

/// References the kept libstdc++ members make to the exception machinery, renamed to
/// the kernel's fatal stubs (`jit/cxxrt.rs`), so none of the original names is linked:
/// the personality routine (and the `DW.ref` pointer every `.eh_frame` CIE holds to it),
/// `__cxa_throw` and libgcc's `_Unwind_RaiseException`.
const LIBSTDCXX_RENAMES: [(&str, &str); 4] = [
    ("__gxx_personality_v0", "bf_nothrow_personality"),
    ("DW.ref.__gxx_personality_v0", "DW.ref.bf_nothrow_personality"),
    ("__cxa_throw", "bf_nothrow_cxa_throw"),
    ("_Unwind_RaiseException", "bf_nothrow_raise_exception"),
];

/// Writes `OUT_DIR/libstdc++-nothrow.a`: the system libstdc++ without its exception
/// runtime ([`LIBSTDCXX_EH_MEMBERS`]) and with [`LIBSTDCXX_RENAMES`] applied (binutils'
/// `objcopy --redefine-syms` and `ar d`). Nothing that can throw is left to link: a
/// member that still needs a removed symbol fails the link loudly.
fn nothrow_libstdcxx(original: &Path) -> PathBuf {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let renames = out_dir.join("libstdc++-nothrow.redefine");
    let text: String = LIBSTDCXX_RENAMES.iter().map(|(from, to)| format!("{from} {to}\n")).collect();
    std::fs::write(&renames, text).expect("write the rename list");
    let copy = out_dir.join("libstdc++-nothrow.a");
    let _ = std::fs::remove_file(&copy);
    run(Command::new("objcopy").arg(format!("--redefine-syms={}", renames.display())).arg(original).arg(&copy));
    // A libstdc++ laid out differently would keep its exception runtime under other
    // member names: refuse it rather than link it.
    let members = run(Command::new("ar").arg("t").arg(&copy));
    for member in LIBSTDCXX_EH_MEMBERS {
        assert!(members.lines().any(|m| m == member), "{} has no {member}", original.display());
    }
    run(Command::new("ar").arg("d").arg(&copy).args(LIBSTDCXX_EH_MEMBERS));
    println!("cargo:rerun-if-changed={}", original.display());
    copy
}

/// The test modules of `jit-tests/`, assembled to `OUT_DIR/<name>.bc`: the kernel reads
/// bitcode only (no IR text parser in it). `unverifiable.ll` is meant to fail the
/// verifier, so it is assembled without it.
fn assemble_selftest() {
    let llvm_as = std::env::var("BAREFLOW_LLVM_AS").unwrap_or_else(|_| "/usr/lib/llvm-22/bin/llvm-as".into());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("jit-tests");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("kernel/jit-tests")
        .map(|e| e.expect("kernel/jit-tests").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ll"))
        .collect();
    sources.sort();
    for source in sources {
        println!("cargo:rerun-if-changed={}", source.display());
        let name = source.file_stem().unwrap().to_string_lossy().into_owned();
        let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join(format!("{name}.bc"));
        let mut command = Command::new(&llvm_as);
        if name == "unverifiable" {
            command.arg("--disable-verify");
        }
        run(command.arg(&source).arg("-o").arg(&out));
    }
}

/// The apps of `apps/apps.list` (crate `bf-app-list`): their bitcode and AOT objects
/// (built by `apps/build-bitcode.sh`, which the Makefile runs first into
/// `BAREFLOW_APPS_BC_DIR`) must be there; `OUT_DIR/apps.rs` gets the kernel's table of
/// apps, which the app suite in `src/jit/` `include!`s: per app its name, its bitcode
/// (`include_bytes!`) and its AOT entry, `bf_aot_main_<app>` of `<app>.aot.o` — rustc's
/// object code from the same LTO module as the bitcode, linked into the kernel here.
fn embed_apps() {
    println!("cargo:rerun-if-env-changed=BAREFLOW_APPS_BC_DIR");
    println!("cargo:rerun-if-changed={}", bf_app_list::list_path().display());
    let dir = std::env::var("BAREFLOW_APPS_BC_DIR")
        .expect("BAREFLOW_APPS_BC_DIR is not set: build the kernel with `make` (it runs apps/build-bitcode.sh first)");
    let mut entries = String::from("unsafe extern \"C\" {\n");
    let mut table = String::from(
        "/// Every app in the image, in the order the suite runs them (`apps/apps.list`).\n\
         pub static APPS: &[App] = &[\n",
    );
    let mut wrappers = String::new();
    for app in bf_app_list::apps() {
        let bc = Path::new(&dir).join(app.bitcode_file());
        let aot = Path::new(&dir).join(format!("{}.aot.o", app.name));
        for file in [&bc, &aot] {
            assert!(file.is_file(), "{} is missing: run apps/build-bitcode.sh {dir}", file.display());
            println!("cargo:rerun-if-changed={}", file.display());
        }
        println!("cargo:rustc-link-arg-bins={}", aot.display());
        let bc = bc.to_str().expect("BAREFLOW_APPS_BC_DIR is UTF-8");
        let symbol = format!("bf_aot_main_{}", app.name);
        entries += &format!("    /// `{}`'s `bf_app_main` in its AOT object.\n    fn {symbol}() -> i32;\n", app.name);
        wrappers += &format!(
            "/// Runs `{name}`'s AOT copy.\nfn aot_{name}() -> i32 {{\n    \
             // SAFETY: `{symbol}` is the app's `extern \"C\" fn() -> i32` entry (the app ABI),\n    \
             // linked from its AOT object; it calls only the ABI's host functions.\n    \
             unsafe {{ {symbol}() }}\n}}\n",
            name = app.name
        );
        table += &format!(
            "    App {{ name: {:?}, bitcode: include_bytes!({bc:?}), native: aot_{} }},\n",
            app.name, app.name
        );
    }
    entries += "}\n";
    table += "];\n";
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("apps.rs");
    std::fs::write(&out, entries + &wrappers + &table).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
}

/// The export runtime (`export-runtime/`, built by `make export-runtime`) that exported
/// images run their app on, as `$OUT_DIR/export-runtime.bin`; empty when
/// `BAREFLOW_EXPORT_RUNTIME` is not set (a `cargo clippy` outside `make`): the kernel
/// then says it cannot export.
fn embed_export_runtime() {
    println!("cargo:rerun-if-env-changed=BAREFLOW_EXPORT_RUNTIME");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("export-runtime.bin");
    let bytes = match std::env::var("BAREFLOW_EXPORT_RUNTIME") {
        Ok(path) => {
            println!("cargo:rerun-if-changed={path}");
            std::fs::read(&path)
                .unwrap_or_else(|e| panic!("BAREFLOW_EXPORT_RUNTIME={path}: {e} (run `make export-runtime`)"))
        }
        Err(_) => Vec::new(),
    };
    std::fs::write(&out, bytes).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
}

/// The C library functions programs may call (`kernel/src/jit/program/libc.symbols`) as
/// `$OUT_DIR/libc_table.rs`: one `extern "C"` declaration per name (which also links the
/// function into the kernel) and `LIBC_SYMBOLS`, a sorted table of names and addresses.
fn libc_table(root: &Path) {
    let list = root.join("kernel/src/jit/program/libc.symbols");
    println!("cargo:rerun-if-changed={}", list.display());
    let text = std::fs::read_to_string(&list).expect("kernel/src/jit/program/libc.symbols");
    let mut names: Vec<&str> = text.lines().flat_map(|l| l.split('#').next().unwrap().split_whitespace()).collect();
    names.sort_unstable();
    names.dedup();
    let mut decls = String::new();
    let mut table = String::new();
    for (i, name) in names.iter().enumerate() {
        decls += &format!("        #[link_name = {name:?}]\n        pub fn f{i}();\n");
        table += &format!("    ({name:?}, raw::f{i} as unsafe extern \"C\" fn()),\n");
    }
    let code = format!(
        "/// The declarations: only their addresses are used (the signatures are not the\n\
         /// functions' own, so they are never called from Rust).\n\
         #[allow(clashing_extern_declarations, dead_code)]\n\
         mod raw {{\n    unsafe extern \"C\" {{\n{decls}    }}\n}}\n\n\
         /// Every function of `libc.symbols` by name, sorted by name.\n\
         pub static LIBC_SYMBOLS: &[(&str, unsafe extern \"C\" fn())] = &[\n{table}];\n"
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("libc_table.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
}
