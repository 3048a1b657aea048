//! Boot-time JIT checks. The self-test `main` runs at boot: the embedded bitcode module
//! compiled at O0 and O3 with known answers, a callback into the kernel, LLVM's memory
//! accounting, and bad input that must be refused without stopping the kernel. The
//! tiered engine's check (`--tiered-selftest`) and the deliberate traps and faults the
//! tests select on the command line.

use std::ffi::{CStr, c_char};

use bf_tiers::{TIERS, TierPolicy};

use super::host::{abi_symbols, engine_log, measure};
use super::suite::{CompiledApp, print_profile, print_profile_as};
use super::tiered::TieredApp;
use super::{HostSymbol, Jit, JitError, Module, OptLevel, compile, cxxrt, llvm_memory};

/// The bitcode of `kernel/jit-tests/<name>.ll`, assembled by `build.rs` (the kernel
/// reads bitcode only).
macro_rules! jit_test_bitcode {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/", $name, ".bc"))
    };
}

/// `kernel/jit-tests/selftest.ll`, assembled to bitcode by `build.rs`.
pub static SELFTEST_BITCODE: &[u8] = jit_test_bitcode!("selftest");

/// Printed by JIT code through [`bf_print_i64`].
extern "C" fn bf_print_i64(message: *const c_char, value: i64) {
    // SAFETY: JIT code passes a NUL-terminated constant.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    println!("jit-callback: {text}: {value}");
}

/// Symbols the kernel exports to JIT code.
pub fn host_symbols() -> Vec<HostSymbol> {
    let mut v = vec![HostSymbol { name: "bf_print_i64", address: bf_print_i64 as *const () as u64 }];
    v.extend(super::memory_symbols());
    v
}

/// Runs the self-test; returns false if any answer is wrong. `on_first_result` is
/// called once, when the first JIT-compiled function has returned.
pub fn run(mut on_first_result: impl FnMut()) -> bool {
    println!("llvm: linked {}", env!("BAREFLOW_LLVM_DESCRIPTION"));
    let mut ok = true;
    let baseline = llvm_memory::bytes_in_use();
    llvm_memory::reset_peak();
    for level in [OptLevel::O0, OptLevel::O3] {
        match run_level(level, &mut on_first_result) {
            Ok(good) => ok &= good,
            Err(e) => {
                println!("jit: {} self-test failed: {e}", level.name());
                ok = false;
            }
        }
    }
    let peak = llvm_memory::peak_bytes();
    let (malloc_bytes, mapped_bytes, malloc_calls, untracked) = llvm_memory::other_paths();
    println!(
        "llvm: memory baseline {} bytes, peak {} bytes, after the JITs were destroyed {} bytes ({} operator new calls, \
         {} malloc-family calls from LLVM holding {} bytes, {} bytes mapped{})",
        baseline,
        peak,
        llvm_memory::bytes_in_use(),
        cxxrt::allocations(),
        malloc_calls,
        malloc_bytes,
        mapped_bytes,
        if untracked > 0 { format!(", {untracked} blocks not tracked") } else { String::new() }
    );
    println!("METRIC llvm.mem_peak_bytes {} bytes", peak);

    // Bad input: refused with a message, and the kernel carries on.
    let mut corrupt = SELFTEST_BITCODE.to_vec();
    for b in corrupt.iter_mut().skip(64).step_by(7) {
        *b ^= 0x5a;
    }
    report_rejection("corrupt bitcode", Module::parse("corrupt", &corrupt).err());
    let truncated = &SELFTEST_BITCODE[..SELFTEST_BITCODE.len() / 3];
    report_rejection("truncated bitcode", Module::parse("truncated", truncated).err());
    let unverifiable = jit_test_bitcode!("unverifiable");
    report_rejection("IR that fails the verifier", Module::parse("unverifiable", unverifiable).err());
    report_rejection("IR text instead of bitcode", Module::parse("text", b"define i32 @f() {\n  ret i32 0\n}\n").err());
    ok &= bad_apps();
    println!("jit: self-test {}", if ok { "passed" } else { "FAILED" });
    ok
}

fn report_rejection(what: &str, error: Option<JitError>) {
    match error {
        Some(e) => println!("jit: {what} rejected: {e}"),
        None => println!("jit: {what} was ACCEPTED"),
    }
}

fn run_level(level: OptLevel, on_first_result: &mut impl FnMut()) -> Result<bool, JitError> {
    let tier = level.name();
    let mut jit = Jit::new(&host_symbols())?;
    let (fib_addr, fib_ms) = compile(&mut jit, "selftest", SELFTEST_BITCODE, level, "fib")?;
    // SAFETY: `fib` is `i64 (i64)` in the module, compiled for this CPU.
    let fib: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(fib_addr as usize) };
    let fib30 = fib(30);
    on_first_result();
    println!("jit: fib(30) = {fib30} at {tier} ({} in {fib_ms:.1} ms)", if fib30 == 832_040 { "ok" } else { "WRONG" });
    println!("METRIC jit.compile_ms.fib.{tier} {fib_ms:.2} ms");

    // The module is already in this JIT: the other functions only need lookups.
    let dot_addr = jit.lookup("dot")?;
    let scale_addr = jit.lookup("scale")?;
    let greet_addr = jit.lookup("greet")?;
    // SAFETY: signatures as declared in selftest.ll.
    let (dot, scale, greet) = unsafe {
        (
            std::mem::transmute::<usize, extern "C" fn(*const f64, *const f64, i64) -> f64>(dot_addr as usize),
            std::mem::transmute::<usize, extern "C" fn(f64, f64) -> f64>(scale_addr as usize),
            std::mem::transmute::<usize, extern "C" fn(i64) -> i64>(greet_addr as usize),
        )
    };
    let a = [1.5, 2.25, -3.0, 4.0, 0.5];
    let b = [2.0, 0.5, 1.0, -0.25, 8.0];
    let d = dot(a.as_ptr(), b.as_ptr(), a.len() as i64);
    let s = scale(1.5, 4.0);
    let g = greet(21);
    let good = fib30 == 832_040 && d == 4.125 && s == 6.0 && g == 42;
    println!("jit: dot = {d} (4.125 expected), scale(1.5, 4) = {s}, greet(21) = {g} at {tier}");
    Ok(good)
}

/// Compiles `fib` at O0 and writes to its first code byte: on bare metal the page is
/// read+execute after finalisation, so this must fault.
pub fn write_to_code_page() {
    let result = (|| -> Result<(), JitError> {
        let mut jit = Jit::new(&host_symbols())?;
        let (addr, _) = compile(&mut jit, "selftest", SELFTEST_BITCODE, OptLevel::O0, "fib")?;
        println!("jit: fib compiled at {addr:#x}; writing to its code must fault");
        // SAFETY: deliberately writing into finalised JIT code to prove it is protected.
        unsafe { (addr as *mut u8).write_volatile(0xcc) };
        println!("jit: the write to JIT code did NOT fault");
        Ok(())
    })();
    if let Err(e) = result {
        println!("jit: {e}");
    }
}

/// `kernel/jit-tests/tiered.ll`, assembled to bitcode by `build.rs`.
pub static TIERED_BITCODE: &[u8] = jit_test_bitcode!("tiered");

/// Loads `tiered.ll` into the tiered engine, runs it twice (tier-ups happen during the
/// first run) and prints the profile; returns whether both runs returned 0. The policy
/// is [`TierPolicy::CALLS_ONLY`], so that the tier-ups come at the same calls however
/// fast or loaded the machine is (the cycle thresholds are host-tested in `bf-tiers`,
/// `crates/tiers/src/policy.rs`, and exercised by tinyllama's matmul).
pub fn run_tiered() -> bool {
    let mut app =
        match TieredApp::load("tiered", TIERED_BITCODE, &abi_symbols(), TierPolicy::CALLS_ONLY, engine_log(true)) {
            Ok(app) => app,
            Err(e) => {
                println!("tiered: {e}");
                return false;
            }
        };
    println!("tiered: module at {} in {:.1} ms", TIERS.name(app.load_tier), app.module_compile_ms);
    let first = measure(|| app.run());
    let second = measure(|| app.run());
    println!(
        "tiered: run 1 status {} in {} cycles, run 2 status {} in {} cycles, {} tier-ups",
        first.status,
        first.section_cycles,
        second.status,
        second.section_cycles,
        app.tier_ups()
    );
    print_profile(&app.report());
    app.unload();
    // The same module held in tier 0: the interpreter's own call counts must be exact
    // too (one run: 2000 calls of square_sum, 2 fib(21) - 1 = 21891 of fib).
    let mut t0 =
        match TieredApp::load("tiered-t0", TIERED_BITCODE, &abi_symbols(), TierPolicy::INTERP_ONLY, engine_log(true)) {
            Ok(app) => app,
            Err(e) => {
                println!("tiered: tier 0: {e}");
                return false;
            }
        };
    let run = measure(|| t0.run());
    println!(
        "tiered: tier 0 only: {} functions interpreted, run status {} in {} cycles",
        t0.interpreted, run.status, run.section_cycles
    );
    print_profile_as("profile-t0:", &t0.report());
    t0.unload();
    let refused = uninterpretable_function();
    let conforms = interp_conformance();
    first.status == 0 && second.status == 0 && run.status == 0 && refused && conforms
}

/// Apps (IR following the app ABI) that must be refused with a message naming the
/// problem; returns true if each one was.
pub fn bad_apps() -> bool {
    let cases: [(&str, &[u8], &str); 2] = [
        ("an app without bf_app_main", jit_test_bitcode!("no-entry"), "bf_app_main"),
        ("an app calling an unknown symbol", jit_test_bitcode!("unknown-symbol"), "bf_does_not_exist"),
    ];
    let mut ok = true;
    for (what, bitcode, must_name) in cases {
        match CompiledApp::new("bad-app", bitcode, OptLevel::O1) {
            Ok(_) => {
                println!("jit: {what} was ACCEPTED");
                ok = false;
            }
            Err(e) => {
                let named = e.to_string().contains(must_name);
                println!("jit: {what} rejected: {e}");
                ok &= named;
            }
        }
    }
    ok
}

/// `kernel/jit-tests/interp.ll`, assembled to bitcode by `build.rs`.
pub static INTERP_BITCODE: &[u8] = jit_test_bitcode!("interp");

/// Runs `interp.ll` compiled (t1) and wholly interpreted (t0); each run prints its
/// line of results after `conformance <tier>: ` (the test compares them). Returns
/// whether both runs passed the module's own checks.
pub fn interp_conformance() -> bool {
    let compiled = match CompiledApp::new("interp-t1", INTERP_BITCODE, OptLevel::O1) {
        Ok(mut app) => {
            print!("conformance t1: ");
            app.run().status
        }
        Err(e) => {
            println!("conformance: t1: {e}");
            -1
        }
    };
    let interpreted = match TieredApp::load(
        "interp-t0",
        INTERP_BITCODE,
        &abi_symbols(),
        TierPolicy::INTERP_ONLY,
        engine_log(false),
    ) {
        Ok(mut app) => {
            print!("conformance t0: ");
            let status = measure(|| app.run()).status;
            println!("conformance: {} of {} functions interpreted", app.interpreted, app.report().len());
            app.unload();
            status
        }
        Err(e) => {
            println!("conformance: t0: {e}");
            -1
        }
    };
    println!("conformance: status t1 {compiled}, t0 {interpreted}");
    compiled == 0 && interpreted == 0
}

/// An app with a function the interpreter cannot lower (`i128` arithmetic): it must be
/// named in a message, start in tier 1 and still give the right answer. Returns
/// whether it did.
pub fn uninterpretable_function() -> bool {
    let bitcode = jit_test_bitcode!("wide");
    match TieredApp::load("uninterpretable", bitcode, &abi_symbols(), TierPolicy::INTERP_ONLY, engine_log(false)) {
        Ok(mut app) => {
            let run = measure(|| app.run());
            let tiers: Vec<String> =
                app.report().iter().map(|f| format!("{} {}", f.name, TIERS.name(f.tier))).collect();
            println!("interp: app with an uninterpretable function: status {}, tiers {}", run.status, tiers.join(", "));
            app.unload();
            run.status == 0
        }
        Err(e) => {
            println!("interp: app with an uninterpretable function: {e}");
            false
        }
    }
}

/// Runs an app whose interpreted code reaches `unreachable`: the interpreter names the
/// function and traps like compiled code (`ud2`: the kernel's exception report on bare
/// metal, SIGILL as a Linux program).
/// With `recursion`, the app recurses without end instead: the interpreter stops it at
/// its depth limit with a message (compiled code would overflow the stack).
pub fn interpreted_trap(recursion: bool) {
    let bitcode: &[u8] = if recursion { jit_test_bitcode!("recursion") } else { jit_test_bitcode!("unreachable") };
    match TieredApp::load("interp-trap", bitcode, &abi_symbols(), TierPolicy::INTERP_ONLY, engine_log(false)) {
        Ok(mut app) => {
            println!(
                "interp: running an interpreted app that {}",
                if recursion { "recurses without end" } else { "reaches unreachable" }
            );
            let run = measure(|| app.run());
            println!("interp: the trapping app returned {} instead of trapping", run.status);
        }
        Err(e) => println!("interp: {e}"),
    }
}

/// Runs an app whose code traps (`llvm.trap`, i.e. `ud2`): on bare metal the kernel's
/// exception handler reports `#UD` with the JIT code's RIP and stops the machine.
pub fn trapping_app() {
    match CompiledApp::new("trap", jit_test_bitcode!("trap"), OptLevel::O1) {
        Ok(mut app) => {
            println!("jit: running an app that traps at run time");
            let run = app.run();
            println!("jit: the trapping app returned {} instead of trapping", run.status);
        }
        Err(e) => println!("jit: {e}"),
    }
}
