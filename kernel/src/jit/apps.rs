//! Running applications (bitcode following the app ABI, `apps/README.md`) in JIT tiers
//! and measuring their timed sections.
//!
//! The host side of the ABI lives here: `bf_print`, `bf_print_u64`, `bf_cycles`,
//! `bf_section_begin`, `bf_section_end`. They are `#[no_mangle]`, so the natively
//! compiled (AOT) copies of the apps linked into the kernel call the same functions the
//! JIT-compiled copies get as absolute symbols.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{HostSymbol, Jit, JitError, OptLevel, compile};
use crate::arch::x86_64::tsc;

/// TSC at `bf_section_begin` and `bf_section_end` of the current run.
static SECTION_BEGIN: AtomicU64 = AtomicU64::new(0);
static SECTION_END: AtomicU64 = AtomicU64::new(0);

/// App ABI: writes `len` bytes of text.
#[unsafe(no_mangle)]
pub extern "C" fn bf_print(ptr: *const u8, len: usize) {
    if ptr.is_null() || len == 0 {
        return;
    }
    // SAFETY: the app passes a pointer to `len` bytes it owns.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    let _ = std::io::stdout().write_all(bytes);
}

/// App ABI: writes a decimal number.
#[unsafe(no_mangle)]
pub extern "C" fn bf_print_u64(value: u64) {
    print!("{value}");
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
        HostSymbol { name: "memcmp", address: libc::memcmp as *const () as u64 },
        HostSymbol { name: "bcmp", address: libc::memcmp as *const () as u64 },
    ];
    v.extend(super::selftest::host_symbols().into_iter().filter(|s| s.name.starts_with("mem")));
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
    let (b, e) = (SECTION_BEGIN.load(Ordering::Relaxed), SECTION_END.load(Ordering::Relaxed));
    AppRun { status, section_cycles: e.saturating_sub(b) }
}

/// Runs a natively compiled app entry (the AOT baseline).
pub fn run_native(entry: fn() -> i32) -> AppRun {
    measure(entry)
}

/// A JIT-compiled app: its LLJIT (which owns the code) and the entry's address.
pub struct CompiledApp {
    jit: Jit,
    entry: u64,
    /// Parse + optimise + compile time in ms.
    pub compile_ms: f64,
}

impl CompiledApp {
    /// Compiles `bitcode` at `level` and finds `bf_app_main`.
    pub fn new(name: &str, bitcode: &[u8], level: OptLevel) -> Result<CompiledApp, JitError> {
        let mut jit = Jit::new(&abi_symbols())?;
        let (entry, compile_ms) = compile(&mut jit, name, bitcode, level, "bf_app_main")?;
        Ok(CompiledApp { jit, entry, compile_ms })
    }

    /// Runs the app once.
    pub fn run(&mut self) -> AppRun {
        // SAFETY: `bf_app_main` is `extern "C" fn() -> i32` by the app ABI, compiled by
        // this JIT, which stays alive as long as `self`.
        let main: extern "C" fn() -> i32 = unsafe { std::mem::transmute(self.entry as usize) };
        let _ = &self.jit;
        measure(|| main())
    }
}
