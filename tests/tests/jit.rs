//! LLVM on bare metal: the kernel links LLVM, and `main` JIT-compiles the embedded
//! bitcode self-test with ORC LLJIT at O0 and O3, in QEMU.

use std::path::PathBuf;
use std::sync::OnceLock;

use bareflow_tests::{
    Accel, Artifacts, BOOT_TIMEOUT, DiskInterface, ImageSpec, assert_contains_all, boot, build_image,
};

fn jit_image() -> &'static PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| build_image("jit", &ImageSpec::default()))
}

fn kernel_has_llvm() -> bool {
    kernel_symbols().iter().any(|(_, name)| name == "LLVMOrcCreateLLJIT")
}

fn number_after(s: &str, prefix: &str) -> i64 {
    s.split(prefix).nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(-1)
}

#[test]
fn jit_compiles_fib_floats_and_callbacks_at_o0_and_o3() {
    if !kernel_has_llvm() {
        panic!("build/kernel.elf has no LLVM: it was built with LLVM=none");
    }
    for accel in Accel::available() {
        let outcome = boot(jit_image(), accel, DiskInterface::Virtio, BOOT_TIMEOUT);
        let s = &outcome.serial;
        let llvm = s.lines().find(|l| l.starts_with("llvm: linked")).unwrap_or("llvm: (not reported)");
        eprintln!("ran against: {llvm}");
        for tier in ["o0", "o3"] {
            assert_contains_all(
                s,
                [
                    format!("jit: fib(30) = 832040 at {tier} (ok in"),
                    format!("jit: dot = 4.125 (4.125 expected), scale(1.5, 4) = 6, greet(21) = 42 at {tier}"),
                ],
            );
            assert!(outcome.metric(&format!("jit.compile_ms.fib.{tier}")).is_some_and(|ms| ms > 0.0));
        }
        assert_eq!(s.matches("jit-callback: hello from JIT code: 21").count(), 2, "the callback ran once per tier");
        // LLVM's memory through every path: our operator new/delete, and the malloc
        // family and mmap its own code calls (`--wrap`, jit::llvm_memory).
        let baseline = number_after(s, "llvm: memory baseline ");
        let peak = number_after(s, "bytes, peak ");
        let after = number_after(s, "after the JITs were destroyed ");
        let calls = number_after(s, "bytes (");
        let malloc_calls = number_after(s, "operator new calls, ");
        assert!(peak > 0 && calls > 1000, "peak {peak}, {calls} operator new calls:\n{s}");
        assert!(malloc_calls > 10, "LLVM's own malloc calls are counted ({malloc_calls}):\n{s}");
        assert!(
            after < peak && after - baseline < (peak - baseline) / 2,
            "use returns toward the baseline: {baseline} -> {peak} -> {after}"
        );
        assert_eq!(outcome.metric("llvm.mem_peak_bytes"), Some(peak as f64));
        // Bad input is refused with a message and the kernel goes on.
        assert_contains_all(
            s,
            [
                "jit: corrupt bitcode rejected: cannot parse the module:",
                "jit: truncated bitcode rejected: cannot parse the module:",
                "jit: IR that fails the verifier rejected: the module fails verification: Only PHI nodes may reference their own value",
                "jit: IR text instead of bitcode rejected: cannot parse the module: not LLVM bitcode (no `BC` magic)",
                "jit: an app without bf_app_main rejected: compiling or finding the function failed: Symbols not found: [ bf_app_main ]",
                "jit: an app calling an unknown symbol rejected: compiling or finding the function failed: Symbols not found: [ bf_does_not_exist ]",
                "jit: self-test passed",
                "main: exiting with status 0",
            ],
        );
        assert!(outcome.metric("boot.to_first_jit_ms").is_some_and(|ms| ms > 0.0));
        assert_eq!(outcome.kernel_status, Some(0));
    }
}

#[test]
fn writing_to_finalised_jit_code_faults() {
    let image =
        build_image("jit-write", &ImageSpec { cmdline: "--no-jit --jit-write-code".into(), ..Default::default() });
    let outcome = boot(&image, Accel::Tcg, DiskInterface::Virtio, BOOT_TIMEOUT);
    let s = &outcome.serial;
    let addr = s.split("jit: fib compiled at 0x").nth(1).and_then(|r| r.split(';').next()).expect("compiled address");
    let addr = u64::from_str_radix(addr, 16).unwrap();
    assert_contains_all(
        s,
        [
            "EXCEPTION #PF page fault (vector 14)".to_string(),
            "page fault: write on a present (protection violation) page".to_string(),
            format!("CR2=0x{addr:016x}"),
        ],
    );
    assert!(!s.contains("did NOT fault"));
    assert_eq!(outcome.kernel_status, Some(0x7f));
}

/// What `--tiered-selftest` must print, in QEMU and natively: both hot functions
/// start interpreted, move to tier 1 at their 10th call and to tier 2 at their 100th
/// (the self-test's policy has no cycle thresholds, so load cannot move these) — fib,
/// which calls itself, at the first return in tier 1 that adds its calls to the count
/// past 100 (an activation of fib(20) adds at most the 10 calls it made of itself:
/// docs/engine.md, "Recursive functions"), both runs
/// right, exact call counts (2 runs x 2000 calls of square_sum; fib(20) makes
/// 2 fib(21) - 1 = 21891 calls per run), fib ending in tier 2; then one run held in
/// tier 0 with exact counts of the interpreter's own; then a function the interpreter
/// cannot lower, named in a message, running in tier 1 with the right answer.
fn assert_tiered_selftest(s: &str) {
    assert_contains_all(
        s,
        [
            "tier: square_sum -> t1 after 10 calls",
            "tier: fib -> t1 after 10 calls",
            "tier: square_sum -> t2 after 100 calls",
            "tiered: run 1 status 0",
            "run 2 status 0",
        ],
    );
    let fib_to_t2 = s
        .split("tier: fib -> t2 after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|calls| calls.parse::<u64>().ok());
    assert!(fib_to_t2.is_some_and(|calls| (100..=110).contains(&calls)), "fib -> t2 after {fib_to_t2:?} calls");
    let row = |f: &str| s.lines().find(|l| l.starts_with(&format!("profile: {f} "))).unwrap_or_default().to_string();
    assert_eq!(row("square_sum").split_whitespace().nth(2), Some("4000"), "{}", row("square_sum"));
    assert_eq!(row("fib").split_whitespace().nth(2), Some("43782"), "{}", row("fib"));
    assert!(row("fib").contains(" t2 "), "fib ends in tier 2: {}", row("fib"));
    let t0 = |f: &str| s.lines().find(|l| l.starts_with(&format!("profile-t0: {f} "))).unwrap_or_default().to_string();
    for (f, calls) in [("square_sum", "2000"), ("fib", "21891"), ("bf_app_main", "1")] {
        let row = t0(f);
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.get(2), Some(&calls), "{f}: exact call count in tier 0: {row}");
        assert_eq!(cols.get(4), Some(&"t0"), "{f} stays in tier 0: {row}");
    }
    assert_contains_all(
        s,
        [
            "tiered: tier 0 only: 3 functions interpreted, run status 0",
            "interp: starts in tier 1: wide: cannot interpret `%a = zext i64 %x to i128`: integers wider than 64 bits",
            "interp: app with an uninterpretable function: status 0, tiers wide t1, bf_app_main t0",
            "conformance: 17 of 17 functions interpreted",
            "conformance: status t1 0, t0 0",
        ],
    );
    // jit-tests/interp.ll: the interpreter computes exactly what compiled code does.
    let line = |tier: &str| s.lines().find_map(|l| l.strip_prefix(&format!("conformance {tier}: "))).map(str::trim);
    assert!(line("t1").is_some_and(|l| l.split(' ').count() == 15), "conformance t1 line: {:?}", line("t1"));
    assert_eq!(line("t0"), line("t1"), "interpreted and compiled results differ");
}

#[test]
fn hot_functions_move_to_tier_two_while_the_app_runs() {
    let image =
        build_image("tiered", &ImageSpec { cmdline: "--no-jit --tiered-selftest".into(), ..Default::default() });
    let outcome = boot(&image, Accel::Tcg, DiskInterface::Virtio, BOOT_TIMEOUT);
    assert_tiered_selftest(&outcome.serial);
    assert_eq!(outcome.kernel_status, Some(0));
}

#[test]
fn an_app_that_traps_is_reported_not_hung() {
    let image = build_image("jit-trap", &ImageSpec { cmdline: "--no-jit --jit-trap".into(), ..Default::default() });
    let outcome = boot(&image, Accel::Tcg, DiskInterface::Virtio, BOOT_TIMEOUT);
    let s = &outcome.serial;
    assert_contains_all(
        s,
        ["jit: running an app that traps at run time", "EXCEPTION #UD invalid opcode (vector 6)", "kernel halted"],
    );
    assert!(!s.contains("instead of trapping"));
    assert_eq!(outcome.kernel_status, Some(0x7f));
}

#[test]
fn an_interpreted_trap_names_the_function_natively() {
    let (s, status) = bareflow_tests::run_kernel_natively(&["--no-jit", "--interp-trap"]);
    assert_contains_all(
        &s,
        [
            "interp: running an interpreted app that reaches unreachable",
            "interp: trap: unreachable executed in bf_app_main",
        ],
    );
    assert!(!s.contains("instead of trapping"), "{s}");
    assert_ne!(status, Some(0), "the trap ends the program (SIGILL, like compiled code):\n{s}");
    let (s, status) = bareflow_tests::run_kernel_natively(&["--no-jit", "--interp-trap=recursion"]);
    assert_contains_all(&s, ["interp: trap: interpreter call depth limit (10000) reached calling down"]);
    assert_ne!(status, Some(0), "{s}");
}

#[test]
fn tiering_and_exact_call_counts_natively() {
    let (s, status) = bareflow_tests::run_kernel_natively(&["--no-jit", "--tiered-selftest"]);
    println!("{s}");
    assert_tiered_selftest(&s);
    assert_eq!(status, Some(0));
}

/// One op of a lowered function as `BF_INTERP_DUMP` prints it
/// (`   6 BrUlt { a: r2, b: r49, t: 2, f: 38 }`): its index, its name, the line.
struct DumpedOp {
    index: usize,
    name: String,
    line: String,
}

impl DumpedOp {
    /// The value of field `field` (`t`, `off`, …), if it has one that is a number.
    fn field(&self, field: &str) -> Option<i64> {
        self.line.split(&format!(" {field}: ")).nth(1)?.split([',', ' ']).next()?.parse().ok()
    }
}

/// The lowered form of the conformance module's function `function` (`jit-tests/interp.ll`),
/// printed by `BF_INTERP_DUMP` during a native `--tiered-selftest`, which must pass.
fn lowered(function: &str) -> Vec<DumpedOp> {
    let out = std::process::Command::new(Artifacts::locate().kernel)
        .args(["--no-jit", "--tiered-selftest"])
        .env_clear()
        .env("BF_INTERP_DUMP", function)
        .output()
        .expect("run build/kernel.elf");
    let dump = String::from_utf8_lossy(&out.stderr);
    println!("{dump}");
    assert_eq!(out.status.code(), Some(0));
    dump.lines()
        .skip_while(|l| !l.starts_with(&format!("== {function} ")))
        .skip(1)
        .take_while(|l| !l.starts_with("=="))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some(DumpedOp { index: words.next()?.parse().ok()?, name: words.next()?.to_string(), line: l.to_string() })
        })
        .collect()
}

/// The names of `ops`, in order.
fn op_names(ops: &[DumpedOp]) -> Vec<&str> {
    ops.iter().map(|op| op.name.as_str()).collect()
}

/// The lowering's fusions happen where they should: the conformance module's `indexed`
/// (its loads and stores at a variable index, its multiply-adds, its rotation of phis
/// beside a swap) is lowered to the fused ops, as `BF_INTERP_DUMP` shows; that its
/// results equal compiled code's is `assert_tiered_selftest`'s check.
#[test]
fn the_interpreter_fuses_indexed_accesses_multiply_adds_and_edge_moves_natively() {
    let dumped = lowered("indexed");
    let ops = op_names(&dumped);
    for op in ["Store8Idx", "Store16Idx", "Store32Idx", "Store64Idx", "Load8Idx", "Load16Idx", "Load32Idx", "Load64Idx"]
    {
        assert!(ops.contains(&op), "no {op} in indexed: {ops:?}");
    }
    for op in ["FMulAddD", "FMulAddS", "MoveJump"] {
        assert!(ops.contains(&op), "no {op} in indexed: {ops:?}");
    }
    for op in ["AddScaled", "FMulD", "FMulS", "FAddD", "FAddS", "Jump"] {
        assert!(!ops.contains(&op), "{op} left unfused in indexed: {ops:?}");
    }
}

/// The lowering's loops move nothing on their back edges where a phi can share its
/// new value's register, and GEP indices `x + c` become offsets: in the conformance
/// module's `loops`, the three loops where that is safe (`fill`, `sum`, `bump`) branch
/// straight back to their first op and the two where it is not (`late`, whose phi is
/// read after its new value; `scan`, whose counter's new value is an index sum) branch
/// forward to their edge moves; `sum`'s `j|1` and `j+3` are the loads' offsets, and only
/// `j|2`, also used as a value, is computed. That the results equal compiled code's is
/// `assert_tiered_selftest`'s check.
#[test]
fn interpreted_loops_share_phi_registers_and_fold_index_sums_natively() {
    let ops = lowered("loops");
    let backward = ops
        .iter()
        .filter(|op| {
            op.name.starts_with("Br")
                && [op.field("t"), op.field("f")].into_iter().flatten().any(|t| t <= op.index as i64)
        })
        .count();
    let names = op_names(&ops);
    assert_eq!(backward, 3, "fill, sum and bump branch straight back: {names:?}");
    let count = |name: &str| names.iter().filter(|n| **n == name).count();
    assert_eq!(count("Or"), 1, "only j|2 is computed: {names:?}");
    assert_eq!(count("AddScaled"), 0, "every variable index fused into its access: {names:?}");
    for (name, off) in [("Load64Idx", 8), ("Load64Idx", 16), ("Load32Idx", 28)] {
        assert!(
            ops.iter().any(|op| op.name == name && op.field("off") == Some(off)),
            "no {name} at offset {off}: {names:?}"
        );
    }
}

/// A `double` loaded for one arithmetic op is read by that op: the conformance
/// module's `double_loads` is lowered to the memory-operand ops (one or both operands
/// loaded, the result stored back where an operand came from), and the one load
/// followed by a store to its address before its use stays a load.
#[test]
fn the_interpreter_reads_doubles_for_one_op_from_memory_natively() {
    let dumped = lowered("double_loads");
    let ops = op_names(&dumped);
    for op in ["FSubDM", "FSubMD", "FMulDM", "FAddDM", "FMulAddDM", "FSubMM", "FSubToM", "FAddToM", "FMulAddToM"] {
        assert!(ops.contains(&op), "no {op} in double_loads: {ops:?}");
    }
    assert_eq!(ops.iter().filter(|op| **op == "Load64").count(), 1, "the load before the store stays: {ops:?}");
}

/// A dot product's step loads two floats at one index and multiply-adds them: the
/// conformance module's `dot` has one `FDotS` for the step that can fuse, and keeps the
/// loads and the `FMulAddS` of the step whose loaded value is overwritten before use.
#[test]
fn the_interpreter_fuses_dot_product_steps_natively() {
    let dumped = lowered("dot");
    let ops = op_names(&dumped);
    let count = |name: &str| ops.iter().filter(|op| **op == name).count();
    assert_eq!(count("FDotS"), 1, "the first step fused: {ops:?}");
    assert_eq!(count("Load32Idx") + count("Load32"), 3, "the second step's loads and the final one stay: {ops:?}");
}

/// Every symbol `nm` lists for the kernel ELF, as (type letter, name); read once.
fn kernel_symbols() -> &'static [(String, String)] {
    static SYMBOLS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    SYMBOLS.get_or_init(|| bareflow_tests::nm_symbols(&Artifacts::locate().kernel))
}

#[test]
fn the_kernel_has_our_operator_new_and_no_exception_machinery() {
    if !kernel_has_llvm() {
        panic!("build/kernel.elf has no LLVM: it was built with LLVM=none");
    }
    let symbols = kernel_symbols();
    let defined = |name: &str| symbols.iter().any(|(kind, n)| n == name && kind == "T");
    // Our C++ runtime (kernel/src/jit/cxxrt.rs): the operator new/delete variants LLVM
    // uses (the linker drops unused ones; the accounting test above shows they are ours),
    // and the fatal stubs the no-exceptions libstdc++ copy is renamed to.
    for name in [
        "_Znwm",
        "_Znam",
        "_ZnwmRKSt9nothrow_t",
        "_ZdlPv",
        "_ZdlPvm",
        "_ZdaPv",
        "_ZdlPvmSt11align_val_t",
        "bf_nothrow_cxa_throw",
        "bf_nothrow_personality",
        "_Unwind_Resume",
        "_Unwind_Backtrace",
    ] {
        assert!(defined(name), "the kernel does not define {name}");
    }
    for forbidden in ["__cxa_throw", "__gxx_personality_v0", "_Unwind_RaiseException", "DW.ref.__gxx_personality_v0"] {
        let found: Vec<_> = symbols.iter().filter(|(_, n)| n == forbidden).collect();
        assert!(found.is_empty(), "the kernel links {forbidden}: {found:?}");
    }
}

/// Issue 16: what was cut from LLVM stays out of the kernel (docs/llvm-size.md). Each
/// entry is a symbol that only the removed part defines: if something needs that part
/// again, its code comes back and this test names it.
#[test]
fn the_kernel_links_none_of_the_llvm_parts_that_were_cut() {
    if !kernel_has_llvm() {
        panic!("build/kernel.elf has no LLVM: it was built with LLVM=none");
    }
    let symbols = kernel_symbols();
    // An object the link needs for one symbol keeps its static constructor (named
    // `_GLOBAL__sub_I_<its first symbol>`, which sets up its command-line options) even
    // when --gc-sections drops all its code: libLLVMObject's `createBinary` refers to the
    // offload-binary reader, which refers to the IR reader, so LLParser.cpp's 470-byte
    // constructor stays. Such constructors are not the parts this test is about.
    let present = |needle: &str| -> Vec<&str> {
        symbols
            .iter()
            .filter(|(_, n)| n.contains(needle) && !n.starts_with("_GLOBAL__sub_I_"))
            .map(|(_, n)| n.as_str())
            .take(3)
            .collect()
    };
    // The explicit pipelines are what runs passes.
    // Each (part, needle): no symbol of the kernel contains the needle.
    let absent = |parts: &[(&str, &str)]| {
        for (part, needle) in parts {
            let found = present(needle);
            assert!(found.is_empty(), "the kernel links {part}: {found:?}");
        }
    };
    assert!(!present("bf_run_pipeline").is_empty(), "the kernel lacks bf_run_pipeline");
    absent(&[
        ("the pass-pipeline text parser (PassBuilder::parsePassPipeline)", "11PassBuilder17parsePassPipeline"),
        ("LLVMRunPasses (parses pipeline text)", "LLVMRunPasses"),
        ("PassBuilder (refers to every pass LLVM has)", "_ZN4llvm11PassBuilderC"),
        ("PassBuilder's default pipelines", "_ZN4llvm11PassBuilder29buildPerModuleDefaultPipeline"),
        ("the textual IR parser (LLParser)", "_ZN4llvm8LLParser"),
        ("MCJIT", "_ZN4llvm5MCJIT"),
        ("LLVM's IR interpreter", "_ZN4llvm11Interpreter"),
        ("the X86 assembly parser", "LLVMInitializeX86AsmParser"),
        ("the X86 disassembler", "LLVMInitializeX86Disassembler"),
        ("the instrumentation passes (e.g. AddressSanitizer)", "AddressSanitizerPass"),
        ("the coroutine passes", "CoroSplitPass"),
        ("the OpenMP optimiser", "OpenMPOptPass"),
        ("the module summary analysis", "ModuleSummaryIndexAnalysis3run"),
        ("the loop vectorizer (left out of the pipelines)", "_ZN4llvm17LoopVectorizePass"),
        ("the loop vectorizer's plans", "_ZN4llvm5VPlan"),
        ("the SLP vectorizer (left out of the pipelines)", "_ZN4llvm17SLPVectorizerPass"),
        ("VectorCombine (left out of the pipelines)", "_ZN4llvm17VectorCombinePass"),
        ("loop distribution (left out of the pipelines)", "_ZN4llvm18LoopDistributePass"),
        ("constraint elimination (left out of the pipelines)", "_ZN4llvm25ConstraintEliminationPass"),
        ("loop idiom recognition (left out of the pipelines)", "_ZN4llvm22LoopIdiomRecognizePass"),
        ("loop-load elimination (left out of the pipelines)", "_ZN4llvm23LoopLoadEliminationPass"),
        ("aggressive instcombine (left out of the pipelines)", "_ZN4llvm25AggressiveInstCombinePass"),
        ("the loop access analysis (only the left-out passes use it)", "_ZN4llvm14LoopAccessInfo"),
    ]);
    // What llvm-min/patches remove from LLVM's sources is absent when the kernel links
    // the minimal LLVM (its archives' paths in the linker map); Debian's llvm-22-dev,
    // unpatched, still links it.
    if !bareflow_tests::kernel_links_minimal_llvm() {
        println!("the kernel links Debian's LLVM: the patched-out parts are not checked");
        return;
    }
    absent(&[
        ("the X86 AT&T instruction printer (patch 0003)", "X86ATTInstPrinter9printInst"),
        ("the X86 Intel instruction printer (patch 0003)", "X86IntelInstPrinter9printInst"),
        ("the machine pipeliner (patch 0003)", "_ZN4llvm16MachinePipeliner"),
        ("the modulo scheduler (patch 0003)", "ModuloSchedule"),
        ("the vector-library tables (patch 0003)", "VecFuncs_"),
        ("the legacy MIR printing pass (patch 0003)", "createPrintMIRPass"),
        ("X86's GlobalISel (patch 0001)", "X86InstructionSelector"),
        ("CodeView debug information (patch 0002)", "_ZN4llvm13CodeViewDebug"),
        ("RuntimeDyld (patch 0004)", "_ZN4llvm14RuntimeDyldELF"),
        ("JITLink's MachO linker (patch 0004)", "_ZN4llvm7jitlink10link_MachO"),
        ("JITLink's AArch64 ELF linker (patch 0004)", "_ZN4llvm7jitlink16link_ELF_aarch64"),
        ("the MachO object reader (patch 0004)", "_ZN4llvm6object15MachOObjectFile"),
        ("the COFF object reader (patch 0004)", "_ZN4llvm6object14COFFObjectFile"),
        ("the Wasm object reader (patch 0004)", "_ZN4llvm6object14WasmObjectFile"),
        ("the assembly-text streamer (patch 0005)", "_ZN4llvm17createAsmStreamer"),
        ("the MachO object writer (patch 0005)", "_ZN4llvm16MachObjectWriter"),
        ("the COFF object writer (patch 0005)", "createWinCOFFObjectWriter"),
        ("the Wasm object writer (patch 0005)", "createWasmObjectWriter"),
        ("X86's MachO assembler back end (patch 0005)", "DarwinX86AsmBackend"),
        ("X86's new-pass-manager code generator (patch 0006)", "X86CodeGenPassBuilder"),
        ("the code generator's sample-profile loader (patch 0008)", "createMIRProfileLoaderPass"),
        ("the Itanium mangling canonicaliser behind it (patch 0008)", "ItaniumManglingCanonicalizer"),
        ("the ARM ELF attribute parser (patch 0008)", "_ZN4llvm18ARMAttributeParser"),
        ("the DWARF debug-information writer (patch 0009)", "_ZN4llvm10DwarfDebugC"),
        ("LiveDebugValues' instruction-referencing implementation (patch 0009)", "16InstrRefBasedLDV"),
        ("LiveDebugValues' VarLoc implementation (patch 0009)", "14VarLocBasedLDV"),
        ("LiveDebugVariables' tracking (patch 0009)", "_ZN4llvm18LiveDebugVariables7LDVImpl15emitDebugValues"),
        ("the assignment-tracking analysis (patch 0009)", "FunctionVarLocsBuilder"),
        ("X86 speculative load hardening (patch 0010)", "31X86SpeculativeLoadHardeningPass21hardenValueInRegister"),
        ("LVI load hardening's gadget graph (patch 0010)", "MachineGadgetGraph"),
        ("the RDF data-flow graph LVI hardening used (patch 0010)", "_ZN4llvm3rdf13DataFlowGraph"),
        ("AMX type lowering (patch 0010)", "X86LowerAMXCast"),
        ("the machine outliner (patch 0010)", "15MachineOutliner9doOutline"),
        ("the machine verifier (patch 0010)", "15MachineVerifier19visitMachineOperand"),
        ("the ML inline advisor (patch 0010)", "_ZN4llvm15MLInlineAdvisor"),
        ("the ML register-eviction advisor (patch 0010)", "14MLEvictAdvisor"),
        ("Atom's scheduling model (patch 0011)", "AtomModelSchedClasses"),
        ("Broadwell's scheduling model (patch 0011)", "BroadwellModelSchedClasses"),
        ("Skylake (client)'s scheduling model (patch 0011)", "SkylakeClientModelSchedClasses"),
        ("Lunar Lake's scheduling model (patch 0011)", "LunarlakePModelSchedClasses"),
        ("Jaguar's scheduling model (patch 0011)", "BtVer2ModelSchedClasses"),
        ("Bulldozer's scheduling model (patch 0011)", "BdVer2ModelSchedClasses"),
        ("Zen 1's scheduling model (patch 0011)", "Znver1ModelSchedClasses"),
        ("Zen 2's scheduling model (patch 0011)", "Znver2ModelSchedClasses"),
        ("SjLj exception preparation (patch 0012)", "13SjLjEHPrepare"),
        ("Windows exception preparation (patch 0012)", "12WinEHPrepare"),
        ("Wasm exception preparation (patch 0012)", "13WasmEHPrepare"),
        ("GC statepoint lowering in SelectionDAG (patch 0012)", "17LowerAsSTATEPOINT"),
        ("machine debugify (patch 0012)", "21DebugifyMachineModule"),
        ("the if-converter (patch 0012)", "11IfConverter"),
        ("interleaved load combining (patch 0012)", "22InterleavedLoadCombine"),
        ("the MIR canonicalizer (patch 0012)", "16MIRCanonicalizer"),
        ("implicit null checks (patch 0012)", "18ImplicitNullChecks"),
        ("the machine function splitter (patch 0012)", "23MachineFunctionSplitter"),
        ("MachO's inline-assembly directives (patch 0012)", "DarwinAsmParser"),
        ("COFF's inline-assembly directives (patch 0012)", "COFFAsmParser"),
        ("MachO's object-file information (patch 0012)", "initMachOMCObjectFileInfo"),
        ("the big-endian ELF object readers (patch 0012)", "13ELFObjectFileINS0_7ELFTypeILNS_10endiannessE0"),
        (
            "the 32-bit little-endian ELF object reader (patch 0012)",
            "13ELFObjectFileINS0_7ELFTypeILNS_10endiannessE1ELb0",
        ),
        ("the contextual-profile reader (patch 0012)", "19PGOCtxProfileReader"),
        ("Objective-C ARC contraction (patch 0012)", "15ObjCARCContract3run"),
        ("NVVM intrinsic upgrades (patch 0012)", "24upgradeNVVMIntrinsicCall"),
        ("the Itanium demangler (patch 0012)", "15itaniumDemangle"),
        ("C++ string streams (patch 0013)", "19basic_ostringstream"),
        ("libstdc++'s locale, which a stream's construction initialises (patch 0013)", "_ZNSt6localeC"),
        ("the locale's time facets (patch 0013)", "_ZNKSt8time_get"),
        ("the locale's money facets (patch 0013)", "_ZNKSt10moneypunct"),
    ]);
    // What the patches keep beside what they cut. Patch 0011 keeps x86-64's scheduling
    // model (Sandy Bridge's), which tiers 1 and 2 use, and the newer CPUs' that the
    // host-tuned tier may use (two of them here); patch 0012 keeps x86-64's object
    // reader.
    for (part, needle) in [
        ("Sandy Bridge's scheduling model", "SandyBridgeModelSchedClasses"),
        ("Zen 4's scheduling model", "Znver4ModelSchedClasses"),
        ("Skylake server's scheduling model", "SkylakeServerModelSchedClasses"),
        ("the 64-bit little-endian ELF object reader", "13ELFObjectFileINS0_7ELFTypeILNS_10endiannessE1ELb1"),
    ] {
        assert!(!present(needle).is_empty(), "the kernel lacks {part} ({needle})");
    }
    // Patch 0006: the X86 instruction names' indices are a zeroed array in .bss (every
    // name is ""), not the generated table in read-only data.
    let indices: Vec<_> = symbols.iter().filter(|(_, n)| n == "_ZN4llvm19X86InstrNameIndicesE").collect();
    assert!(
        !indices.is_empty() && indices.iter().all(|(kind, _)| kind.eq_ignore_ascii_case("b")),
        "X86InstrNameIndices should be the zeroed .bss array of patch 0006: {indices:?}"
    );
}

/// `mkimage size-report` (`make size-report`, docs/llvm-size.md) on the kernel and its
/// linker map: the components add up to the kernel's `.text`, LLVM's libraries are
/// there with their object files, and LLVM's share is the difference of two ELFs' loaded
/// bytes (here the kernel against itself: zero).
#[test]
fn the_size_report_accounts_for_the_kernels_text_by_component() {
    if !kernel_has_llvm() {
        panic!("build/kernel.elf has no LLVM: it was built with LLVM=none");
    }
    let a = Artifacts::locate();
    let out = std::process::Command::new(&a.mkimage)
        .arg("size-report")
        .arg(&a.kernel)
        .arg("--without")
        .arg(&a.kernel)
        .args(["--libraries", "2", "--objects", "3"])
        .output()
        .expect("run mkimage size-report");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}{}", String::from_utf8_lossy(&out.stderr));
    // The ELF's own .text, independently of the report (binutils' size).
    let size = std::process::Command::new("size").arg("-A").arg(&a.kernel).output().expect("run size");
    let text: u64 = String::from_utf8_lossy(&size.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(".text ").and_then(|r| r.split_whitespace().next()?.parse().ok()))
        .expect(".text in size -A");
    // The component table's sum row: | **sum** | **text** | …
    let sum_text: u64 = report
        .lines()
        .find_map(|l| l.strip_prefix("| **sum** | **"))
        .and_then(|r| r.split("**").next()?.parse().ok())
        .expect("a sum row");
    assert!(
        sum_text * 100 >= text * 98 && sum_text * 100 <= text * 101,
        "the components' code ({sum_text} bytes) should be .text ({text} bytes) within 2 %:\n{report}"
    );
    for row in
        ["| LLVM X86CodeGen | ", "| LLVM Core | ", "| libstdc++ | ", "| glibc | ", "| Rust std | ", "| kernel | "]
    {
        assert!(report.contains(row), "no row {row:?}:\n{report}");
    }
    assert!(report.contains("## LLVM ") && report.contains(".cpp.o | "), "per-object tables:\n{report}");
    assert!(report.contains("METRIC llvm.image_bytes 0 bytes") && report.contains("METRIC llvm.text_bytes 0 bytes"));
}

#[test]
fn a_throw_inside_libstdcxx_is_a_fatal_diagnostic() {
    if !kernel_has_llvm() {
        panic!("build/kernel.elf has no LLVM: it was built with LLVM=none");
    }
    let expected =
        "llvm: fatal C++ error __cxa_allocate_exception (a C++ throw) (exceptions are not supported in the kernel)";
    // Natively: the same ELF as a Linux program.
    let out = std::process::Command::new(Artifacts::locate().kernel)
        .args(["--no-jit", "--cxx-throw"])
        .env_clear()
        .output()
        .expect("run build/kernel.elf");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(expected), "stderr: {stderr}");
    assert_eq!(out.status.code(), Some(0x7e), "stderr: {stderr}");
    // In QEMU: the diagnostic on COM1 and the program's exit status 0x7e.
    let image = build_image("cxx-throw", &ImageSpec { cmdline: "--no-jit --cxx-throw".into(), ..Default::default() });
    let outcome = boot(&image, Accel::Tcg, DiskInterface::Virtio, BOOT_TIMEOUT);
    assert_contains_all(&outcome.serial, ["cxxrt: calling libstdc++'s std::__throw_bad_function_call()", expected]);
    assert_eq!(outcome.kernel_status, Some(0x7e));
}
