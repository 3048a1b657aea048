//! The kernel's host side of the app ABI (`apps/README.md`): the functions apps call
//! (`bf_print`, `bf_print_u64`, `bf_cycles`, `bf_section_begin`, `bf_section_end`),
//! the line-aware log the engine's messages go through, and timing a run.
//!
//! The ABI functions are `#[no_mangle]`, so the natively compiled (AOT) copies of the
//! apps linked into the kernel call the same functions the JIT-compiled copies get as
//! absolute symbols ([`abi_symbols`]).

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::HostSymbol;
use super::tiered::Log;
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

/// The tiered engine's log: its messages through [`log_line`]; tier-ups reported when
/// `tier_ups` is set (failures always are).
pub const fn engine_log(tier_ups: bool) -> Log {
    Log { line: log_line, tier_ups }
}

/// App ABI: writes `len` bytes of text.
///
/// # Safety
/// `ptr` must be null or point to `len` readable bytes (the app passes text it owns).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bf_print(ptr: *const u8, len: usize) {
    if ptr.is_null() || len == 0 {
        return;
    }
    // SAFETY: the caller passes a pointer to `len` readable bytes (the function's
    // contract).
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

/// Runs `run` (one run of an app, returning its status) and reads the timed section it
/// reported through the ABI; prints the engine messages held back until then.
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

/// Runs `entry`, an AOT app's entry, with its zero-initialised statics (`statics`, its
/// part of the on-demand window: `linker.ld`'s `.aot_bss`) backed by zeroed frames on
/// bare metal for the call, and freed after it (`mm::vmem::map_aot_statics`). Natively
/// Linux maps them. If memory is short the app does not run: status 127, and a line
/// that says why.
pub fn with_aot_statics(statics: std::ops::Range<u64>, entry: impl FnOnce() -> i32) -> i32 {
    if !crate::platform::bare_metal::ACTIVE.load(Ordering::Relaxed) {
        return entry();
    }
    if !crate::mm::vmem::map_aot_statics(statics.clone()) {
        println!(
            "aot: not enough memory for the app's statics ({} KiB): the AOT run is skipped",
            (statics.end - statics.start) >> 10
        );
        return 127;
    }
    let status = entry();
    crate::mm::vmem::unmap_aot_statics(statics);
    status
}
