//! Running applications (bitcode following the app ABI, `apps/README.md`) in JIT tiers
//! and measuring their timed sections.
//!
//! The host side of the ABI lives here: `bf_print`, `bf_print_u64`, `bf_cycles`,
//! `bf_section_begin`, `bf_section_end`. They are `#[no_mangle]`, so the natively
//! compiled (AOT) copies of the apps linked into the kernel call the same functions the
//! JIT-compiled copies get as absolute symbols.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{HostSymbol, Jit, JitError, OptLevel, compile};
use crate::arch::x86_64::tsc;

/// TSC at `bf_section_begin` and `bf_section_end` of the current run.
static SECTION_BEGIN: AtomicU64 = AtomicU64::new(0);
static SECTION_END: AtomicU64 = AtomicU64::new(0);

/// Whether the app's output is at the start of a line (nothing of a line printed yet).
static AT_LINE_START: AtomicBool = AtomicBool::new(true);
/// Engine messages that arrived while the app was in the middle of a line.
static PENDING: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Prints an engine message (a tier-up) on a line of its own: at once when the app's
/// output is at a line start, otherwise right after the app ends its line, so the
/// message never splits the app's result line.
pub fn log_line(message: String) {
    if AT_LINE_START.load(Ordering::Relaxed) {
        println!("{message}");
    } else {
        PENDING.lock().unwrap().push(message);
    }
}

/// Prints the messages [`log_line`] held back.
pub fn flush_log() {
    for m in std::mem::take(&mut *PENDING.lock().unwrap()) {
        println!("{m}");
    }
    AT_LINE_START.store(true, Ordering::Relaxed);
}

/// App ABI: writes `len` bytes of text.
#[unsafe(no_mangle)]
pub extern "C" fn bf_print(ptr: *const u8, len: usize) {
    if ptr.is_null() || len == 0 {
        return;
    }
    // SAFETY: the app passes a pointer to `len` bytes it owns.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    let _ = std::io::stdout().write_all(bytes);
    let ends_line = bytes.last() == Some(&b'\n');
    AT_LINE_START.store(ends_line, Ordering::Relaxed);
    if ends_line {
        flush_log();
    }
}

/// App ABI: writes a decimal number.
#[unsafe(no_mangle)]
pub extern "C" fn bf_print_u64(value: u64) {
    print!("{value}");
    AT_LINE_START.store(false, Ordering::Relaxed);
}

/// App ABI: the cycle counter.
#[unsafe(no_mangle)]
pub extern "C" fn bf_cycles() -> u64 {
    tsc::rdtsc()
}

/// App ABI: the timed section starts.
#[unsafe(no_mangle)]
pub extern "C" fn bf_section_begin() {
    SECTION_BEGIN.store(tsc::rdtsc(), Ordering::Relaxed);
}

/// App ABI: the timed section ends.
#[unsafe(no_mangle)]
pub extern "C" fn bf_section_end() {
    SECTION_END.store(tsc::rdtsc(), Ordering::Relaxed);
}

/// The ABI functions (and the C memory functions) as JIT symbols.
pub fn abi_symbols() -> Vec<HostSymbol> {
    let mut v = vec![
        HostSymbol { name: "bf_print", address: bf_print as *const () as u64 },
        HostSymbol { name: "bf_print_u64", address: bf_print_u64 as *const () as u64 },
        HostSymbol { name: "bf_cycles", address: bf_cycles as *const () as u64 },
        HostSymbol { name: "bf_section_begin", address: bf_section_begin as *const () as u64 },
        HostSymbol { name: "bf_section_end", address: bf_section_end as *const () as u64 },
    ];
    v.extend(super::memory_symbols());
    v
}

/// One run of an app.
#[derive(Clone, Copy, Debug)]
pub struct AppRun {
    /// `bf_app_main`'s (or `run()`'s) return value: 0 = the app's own check passed.
    pub status: i32,
    /// Cycles between `bf_section_begin` and `bf_section_end`.
    pub section_cycles: u64,
}

/// Runs `run` and reads the timed section it reported through the ABI.
pub fn measure(run: impl FnOnce() -> i32) -> AppRun {
    SECTION_BEGIN.store(0, Ordering::Relaxed);
    SECTION_END.store(0, Ordering::Relaxed);
    let status = run();
    flush_log();
    let (b, e) = (SECTION_BEGIN.load(Ordering::Relaxed), SECTION_END.load(Ordering::Relaxed));
    AppRun { status, section_cycles: e.saturating_sub(b) }
}

/// Runs a natively compiled app entry (the AOT baseline).
pub fn run_native(entry: fn() -> i32) -> AppRun {
    measure(entry)
}

/// A JIT-compiled app: its LLJIT (which owns the code) and the entry's address.
pub struct CompiledApp {
    /// Owns the compiled code; only kept alive.
    _jit: Jit,
    entry: u64,
    /// Parse + optimise + compile time in ms.
    pub compile_ms: f64,
}

impl CompiledApp {
    /// Compiles `bitcode` at `level` and finds `bf_app_main`.
    pub fn new(name: &str, bitcode: &[u8], level: OptLevel) -> Result<CompiledApp, JitError> {
        let mut jit = Jit::new(&abi_symbols())?;
        let (entry, compile_ms) = compile(&mut jit, name, bitcode, level, "bf_app_main")?;
        Ok(CompiledApp { _jit: jit, entry, compile_ms })
    }

    /// Runs the app once.
    pub fn run(&mut self) -> AppRun {
        // SAFETY: `bf_app_main` is `extern "C" fn() -> i32` by the app ABI, compiled by
        // this JIT, which stays alive as long as `self`.
        let main: extern "C" fn() -> i32 = unsafe { std::mem::transmute(self.entry as usize) };
        measure(|| main())
    }
}

/// One embedded app: its name, its bitcode and its natively compiled entry.
pub struct App {
    /// The app's name (crate name).
    pub name: &'static str,
    /// Self-contained bitcode from `apps/build-bitcode.sh`.
    pub bitcode: &'static [u8],
    /// The same source compiled into the kernel (AOT baseline).
    pub native: fn() -> i32,
}

// `pub static APPS: &[App]`, generated by build.rs from apps/apps.list.
include!(concat!(env!("OUT_DIR"), "/apps.rs"));

/// Runs through the tiered engine per app; the last one is reported as the hot run.
const TIERED_RUNS: usize = 4;

/// The whole-module JIT tiers: t1 = O1, t2 = O3.
const JIT_TIERS: [(&str, OptLevel); 2] = [("t1", OptLevel::O1), ("t2", OptLevel::O3)];

/// [`TIERED_RUNS`] runs of an app through the tiered engine.
struct TieredRuns {
    /// The last (hot) run.
    last: AppRun,
    /// Whether every run passed its own check.
    all_passed: bool,
    /// Tier-ups over all runs.
    tier_ups: u32,
    /// The last run that made a tier-up (0: none).
    hot_after_run: usize,
    /// TSC ticks from the loaded app's first run to the end of that run.
    time_to_hot_ticks: u64,
    /// The profile after the last run.
    profile: Vec<super::tiered::FunctionReport>,
}

/// Loads `bitcode` into the tiered engine (default policy, tier-ups logged), runs it
/// [`TIERED_RUNS`] times and unloads it.
fn run_tiered(name: &str, bitcode: &[u8]) -> Result<TieredRuns, JitError> {
    let mut tiered =
        super::tiered::TieredApp::load(name, bitcode, &abi_symbols(), super::tiered::TierPolicy::DEFAULT, true)?;
    // Load to first instruction: lowering for tier 0 plus the load-time module (data,
    // slots, trampolines, stubs); compare jit.compile_ms.<name>.t1, the whole module.
    println!("METRIC app.{name}.tiered_load_ms {:.2} ms", tiered.t0_prepare_ms + tiered.t1_compile_ms);
    let started = tsc::rdtsc();
    let mut last = AppRun { status: -1, section_cycles: 0 };
    let mut all_passed = true;
    // Hot from the end of the last run that made a tier-up.
    let (mut hot_after_run, mut time_to_hot_ticks) = (0, 0);
    for run in 1..=TIERED_RUNS {
        let before = tiered.tier_ups();
        last = tiered.run();
        all_passed &= last.status == 0;
        if tiered.tier_ups() > before {
            (hot_after_run, time_to_hot_ticks) = (run, tsc::rdtsc() - started);
        }
    }
    let runs = TieredRuns {
        last,
        all_passed,
        tier_ups: tiered.tier_ups(),
        hot_after_run,
        time_to_hot_ticks,
        profile: tiered.report(),
    };
    tiered.unload();
    Ok(runs)
}

/// Runs `bitcode` once wholly in tier 0 ([`super::tiered::TierPolicy::INTERP_ONLY`]).
fn run_interpreted(name: &str, bitcode: &[u8]) -> Result<AppRun, JitError> {
    use super::tiered::{TierPolicy, TieredApp};
    let mut app = TieredApp::load(name, bitcode, &abi_symbols(), TierPolicy::INTERP_ONLY, false)?;
    println!(
        "apps: {name} in tier 0: {} of {} functions interpreted ({:.1} ms to scalarise and lower)",
        app.interpreted,
        app.report().len(),
        app.t0_prepare_ms
    );
    let run = app.run();
    let native: Vec<String> = app.report().into_iter().filter(|f| f.calls > 0 && f.tier != 0).map(|f| f.name).collect();
    if !native.is_empty() {
        println!("apps: {name} in tier 0: not interpreted but called: {}", native.join(", "));
    }
    app.unload();
    Ok(run)
}

/// The runs of the suite besides AOT, in order; `--tiers=` picks some.
pub const SUITE_TIERS: [&str; 5] = ["interp", "t1", "t2", "profiled", "tiered"];

/// Runs each named app (`all` = every app) natively (AOT), then the runs `tiers` names
/// (`all` or a list from [`SUITE_TIERS`]): wholly interpreted (tier 0), at t1 (O1), at
/// t2 (O3), at O3 with profiling (its cost: `profile_overhead_pct`) and through the
/// tiered engine; prints the results, the profile and `METRIC app.*` lines.
/// Returns false if any run failed its own check or any tier could not compile.
pub fn run_suite(selection: &str, tiers: &str) -> bool {
    let runs = |t: &str| tiers == "all" || tiers.split(',').any(|s| s == t);
    let mut ok = true;
    let mut rows = Vec::new();
    let mut overheads: Vec<f64> = Vec::new();
    for app in APPS.iter().filter(|a| selection == "all" || selection.split(',').any(|s| s == a.name)) {
        println!("apps: {} ({} bytes of bitcode)", app.name, app.bitcode.len());
        let aot = run_native(app.native);
        let mut cycles = vec![("aot", aot.section_cycles, aot.status)];
        if runs("interp") {
            match run_interpreted(app.name, app.bitcode) {
                Ok(run) => cycles.push(("interp", run.section_cycles, run.status)),
                Err(e) => {
                    println!("apps: {} does not load into the interpreter: {e}", app.name);
                    ok = false;
                }
            }
        }
        let mut t2_plain = 0;
        for (tier, level) in JIT_TIERS.into_iter().filter(|(t, _)| runs(t)) {
            match CompiledApp::new(app.name, app.bitcode, level) {
                Ok(mut compiled) => {
                    let run = compiled.run();
                    println!("METRIC jit.compile_ms.{}.{tier} {:.2} ms", app.name, compiled.compile_ms);
                    cycles.push((tier, run.section_cycles, run.status));
                    t2_plain = run.section_cycles;
                }
                Err(e) => {
                    println!("apps: {} does not compile at {tier}: {e}", app.name);
                    ok = false;
                }
            }
        }
        // What profiling costs: the instrumented module at O3, never promoted, against
        // the plain O3 build.
        let profiled = runs("profiled").then(|| {
            super::tiered::TieredApp::load_at(
                app.name,
                app.bitcode,
                &abi_symbols(),
                super::tiered::TierPolicy::NEVER,
                false,
                OptLevel::O3,
            )
        });
        match profiled {
            None => {}
            Some(Ok(mut profiled)) => {
                let run = profiled.run();
                ok &= run.status == 0;
                profiled.unload();
                if t2_plain > 0 {
                    let pct = 100.0 * (run.section_cycles as f64 - t2_plain as f64) / t2_plain as f64;
                    println!("METRIC app.{}.profile_overhead_pct {pct:.1} %", app.name);
                    overheads.push(pct);
                }
            }
            Some(Err(e)) => {
                println!("apps: {} does not compile with profiling: {e}", app.name);
                ok = false;
            }
        }
        match runs("tiered").then(|| run_tiered(app.name, app.bitcode)) {
            None => {}
            Some(Ok(t)) => {
                ok &= t.all_passed;
                cycles.push(("tiered", t.last.section_cycles, t.last.status));
                println!("METRIC app.{}.tier_ups {} tier-ups", app.name, t.tier_ups);
                println!("METRIC app.{}.time_to_hot_ms {:.1} ms", app.name, tsc::ticks_to_ms(t.time_to_hot_ticks));
                println!(
                    "apps: {} hot after {} run(s) in the tiered engine ({} tier-ups)",
                    app.name, t.hot_after_run, t.tier_ups
                );
                super::checks::print_profile(&t.profile);
            }
            Some(Err(e)) => {
                println!("apps: {} does not load into the tiered engine: {e}", app.name);
                ok = false;
            }
        }
        let get = |t: &str| cycles.iter().find(|c| c.0 == t).map_or(0, |c| c.1);
        if get("interp") > 0 && get("t2") > 0 {
            println!("METRIC app.{}.interp_to_t2_speedup {:.1} x", app.name, get("interp") as f64 / get("t2") as f64);
        }
        if get("interp") > 0 && get("aot") > 0 {
            println!("METRIC app.{}.interp_over_aot {:.1} x", app.name, get("interp") as f64 / get("aot") as f64);
        }
        for (tier, c, status) in &cycles {
            println!("METRIC app.{}.{tier}_cycles {c} cycles", app.name);
            if *status != 0 {
                println!("apps: {} FAILED its own check at {tier} (status {status})", app.name);
                ok = false;
            }
        }
        rows.push((app.name, cycles));
    }
    println!(
        "apps: {:<10} {:>14} {:>16} {:>14} {:>14} {:>14} {:>8} {:>10}",
        "app", "aot", "interp", "t1", "t2", "tiered(hot)", "t2/aot", "interp/t2"
    );
    for (name, cycles) in &rows {
        let get = |t: &str| cycles.iter().find(|c| c.0 == t).map_or(0, |c| c.1);
        let ratio = |a: u64, b: u64| if b > 0 && a > 0 { format!("{:.2}", a as f64 / b as f64) } else { "-".into() };
        println!(
            "apps: {:<10} {:>14} {:>16} {:>14} {:>14} {:>14} {:>8} {:>10}",
            name,
            get("aot"),
            get("interp"),
            get("t1"),
            get("t2"),
            get("tiered"),
            ratio(get("t2"), get("aot")),
            ratio(get("interp"), get("t2"))
        );
    }
    if !overheads.is_empty() {
        overheads.sort_by(|a, b| a.total_cmp(b));
        println!("METRIC profile.overhead_pct {:.1} %", overheads[overheads.len() / 2]);
    }
    println!("apps: suite {}", if ok { "passed" } else { "FAILED" });
    ok
}

/// Runs external bitcode that follows the app ABI (e.g. C from `clang-22 -emit-llvm`,
/// put in the image by `make disk APP=…`): t1, t2, wholly interpreted, then the tiered
/// engine with its profile. There is no AOT copy of such an app. Returns false if it cannot be compiled
/// or its own check fails.
pub fn run_external(bitcode: &[u8]) -> bool {
    let mut ok = true;
    for (tier, level) in JIT_TIERS {
        match CompiledApp::new("app", bitcode, level) {
            Ok(mut compiled) => {
                let run = compiled.run();
                println!("METRIC jit.compile_ms.app.{tier} {:.2} ms", compiled.compile_ms);
                println!("METRIC app.app.{tier}_cycles {} cycles", run.section_cycles);
                println!("apps: external app at {tier}: status {}, {} cycles", run.status, run.section_cycles);
                ok &= run.status == 0;
            }
            Err(e) => {
                println!("apps: the external app cannot run: {e}");
                return false;
            }
        }
    }
    match run_interpreted("app", bitcode) {
        Ok(run) => {
            println!("METRIC app.app.interp_cycles {} cycles", run.section_cycles);
            println!("apps: external app interpreted: status {}, {} cycles", run.status, run.section_cycles);
            ok &= run.status == 0;
        }
        Err(e) => {
            println!("apps: the external app does not load into the interpreter: {e}");
            ok = false;
        }
    }
    match run_tiered("app", bitcode) {
        Ok(t) => {
            ok &= t.all_passed;
            println!("METRIC app.app.tiered_cycles {} cycles", t.last.section_cycles);
            println!(
                "apps: external app tiered: status {}, {} cycles, {} tier-ups",
                t.last.status, t.last.section_cycles, t.tier_ups
            );
            super::checks::print_profile(&t.profile);
        }
        Err(e) => {
            println!("apps: the external app does not load into the tiered engine: {e}");
            ok = false;
        }
    }
    println!("apps: external app {}", if ok { "passed" } else { "FAILED" });
    ok
}
