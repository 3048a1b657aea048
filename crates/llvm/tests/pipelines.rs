//! The explicit pipelines (`cpp/pipelines.cpp`) against LLVM's own `default<On>`: on
//! the apps' bitcode (`make test` builds it before this runs) and the C programs',
//! each pipeline must leave exactly the IR that `LLVMRunPasses` leaves with the
//! pipeline text it replaces, with the passes our pipelines leave out ([`LEFT_OUT`])
//! switched off by LLVM's `-opt-disable`.
//! These tests link Debian's shared libLLVM, which still has the pipeline parser; the
//! kernel does not.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;

use bf_llvm::{Module, Pipeline, TargetMachine};
use llvm_sys::transforms::pass_builder::{LLVMCreatePassBuilderOptions, LLVMDisposePassBuilderOptions, LLVMRunPasses};

/// The apps' bitcode the suite has built (`build/apps/*.bc`), and the C programs of
/// `apps/programs` compiled here with `clang-22 -O2 -emit-llvm` (skipped without it).
fn bitcode_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root.join("build/apps")) {
        files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "bc")));
    }
    let out = std::env::temp_dir().join(format!("bf-pipelines-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(root.join("apps/programs")).unwrap().flatten() {
        let source = entry.path();
        if source.extension().is_none_or(|e| e != "c") {
            continue;
        }
        let bitcode = out.join(source.file_stem().unwrap()).with_extension("bc");
        let built = Command::new("clang-22")
            .args(["-O2", "-c", "-emit-llvm", "-o"])
            .arg(&bitcode)
            .arg(&source)
            .status()
            .is_ok_and(|s| s.success());
        if built {
            files.push(bitcode);
        }
    }
    files.sort();
    files
}

/// The passes of LLVM's `default<On>` that our pipelines leave out (`cpp/pipelines.cpp`
/// says why): the vectorizers and the passes that change nothing in our modules.
const LEFT_OUT: [&str; 17] = [
    "loop-vectorize",
    "slp-vectorizer",
    "vector-combine",
    "loop-distribute",
    "inject-tli-mappings",
    "speculative-execution",
    "libcalls-shrinkwrap",
    "aggressive-instcombine",
    "constraint-elimination",
    "move-auto-init",
    "callsite-splitting",
    "called-value-propagation",
    "float2int",
    "loop-load-elim",
    "loop-sink",
    "loop-idiom",
    "mldst-motion",
];

/// Switches [`LEFT_OUT`] off in this process's LLVM (`-opt-disable`; once, as LLVM's
/// options are global), so that `LLVMRunPasses("default<On>")` skips them.
fn leave_out_what_our_pipelines_leave_out() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let args = ["pipelines-test".to_string(), format!("-opt-disable={}", LEFT_OUT.join(","))];
        let args: Vec<CString> = args.into_iter().map(|a| CString::new(a).unwrap()).collect();
        let argv: Vec<*const std::ffi::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        // SAFETY: argv points to live NUL-terminated strings for the call; LLVM copies
        // what it keeps; a null overview is allowed.
        unsafe { llvm_sys::support::LLVMParseCommandLineOptions(argv.len() as i32, argv.as_ptr(), std::ptr::null()) };
    });
}

/// `LLVMRunPasses(text)` on a module, for `machine` (the reference).
fn run_text(module: &Module, text: &str, machine: &TargetMachine) {
    let text = CString::new(text).unwrap();
    // SAFETY: the module and machine are live; the options are created and disposed
    // here; the module is not used elsewhere during the call.
    unsafe {
        let options = LLVMCreatePassBuilderOptions();
        let err = LLVMRunPasses(module.as_raw(), text.as_ptr(), machine.as_raw(), options);
        LLVMDisposePassBuilderOptions(options);
        assert!(err.is_null(), "LLVMRunPasses({text:?}) failed");
    }
}

#[test]
fn each_level_leaves_the_ir_of_llvms_default_pipeline() {
    bf_llvm::initialise_x86_target();
    leave_out_what_our_pipelines_leave_out();
    let files = bitcode_files();
    if files.is_empty() {
        panic!("no bitcode: neither build/apps/*.bc (make apps-bitcode) nor clang-22 for apps/programs");
    }
    let machine = TargetMachine::generic_static().unwrap();
    let mut compared = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let pairs = [
            (Pipeline::O0, "default<O0>"),
            (Pipeline::O1, "default<O1>"),
            (Pipeline::O2, "default<O2>"),
            (Pipeline::O3, "default<O3>"),
            (Pipeline::Scalarize, "function(expand-reductions,scalarizer<load-store>)"),
        ];
        for (pipeline, text) in pairs {
            let Ok(mut ours) = Module::parse("m", &bytes) else { continue };
            let theirs = Module::parse("m", &bytes).unwrap();
            ours.run_pipeline_for(pipeline, &machine);
            run_text(&theirs, text, &machine);
            let (a, b) = (ours.print(), theirs.print());
            if a != b {
                let dir = std::env::temp_dir();
                let stem = file.file_stem().unwrap().to_string_lossy();
                std::fs::write(dir.join(format!("{stem}.{pipeline:?}.ours.ll")), &a).unwrap();
                std::fs::write(dir.join(format!("{stem}.{pipeline:?}.llvm.ll")), &b).unwrap();
                panic!(
                    "{}: {pipeline:?} and {text} leave different IR (both written to {})",
                    file.display(),
                    dir.display()
                );
            }
            compared += 1;
        }
    }
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("bf-pipelines-{}", std::process::id())));
    assert!(compared > 0);
    eprintln!("{compared} module/level pairs identical");
}
