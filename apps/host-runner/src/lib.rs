//! Runs the BareFlow apps natively (the AOT baseline): the app crates are ordinary
//! dependencies and their `run()` is called directly.
//!
//! The host side of the app ABI is [`host`]: text goes to stdout (through `print!`, so
//! the test harness captures it) and into a per-thread copy [`run_app`] returns, the
//! cycle counter is `rdtsc`, and the section markers record timestamps per thread.
//! The five `extern "C"` symbols themselves must be defined in the final binary:
//! [`define_host_functions!`] does that (a definition inside this library could be left
//! out by a linker that scans archives once).

use std::cell::{Cell, RefCell};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An app: its name and its entry point.
#[derive(Clone, Copy, Debug)]
pub struct App {
    /// The crate's name.
    pub name: &'static str,
    /// `run()`: 0 when the app's own check passed.
    pub run: fn() -> i32,
}

/// Every app, in the order of `apps/README.md`.
pub const APPS: &[App] = &[
    App { name: "fib", run: fib::run },
    App { name: "sieve", run: sieve::run },
    App { name: "matmul", run: matmul::run },
    App { name: "sha256", run: sha256::run },
    App { name: "quicksort", run: quicksort::run },
    App { name: "nbody", run: nbody::run },
    App { name: "tinyllama", run: tinyllama::run },
];

/// The app called `name`.
pub fn find(name: &str) -> Option<&'static App> {
    APPS.iter().find(|a| a.name == name)
}

/// What the section markers recorded during one run.
#[derive(Clone, Copy, Debug, Default)]
struct Section {
    begins: u32,
    ends: u32,
    begin_tsc: u64,
    end_tsc: u64,
}

thread_local! {
    static SECTION: Cell<Section> = const { Cell::new(Section { begins: 0, ends: 0, begin_tsc: 0, end_tsc: 0 }) };
    static OUTPUT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The host functions' behaviour; [`define_host_functions!`] exports them under the
/// ABI's names.
pub mod host {
    use super::{OUTPUT, SECTION};

    /// `bf_print`.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes (or `len` must be 0).
    pub unsafe fn print(ptr: *const u8, len: usize) {
        if len == 0 {
            return;
        }
        // SAFETY: guaranteed by the caller.
        let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
        let text = String::from_utf8_lossy(bytes);
        print!("{text}");
        OUTPUT.with(|o| o.borrow_mut().push_str(&text));
    }

    /// `bf_print_u64`.
    pub fn print_u64(value: u64) {
        print!("{value}");
        OUTPUT.with(|o| o.borrow_mut().push_str(&value.to_string()));
    }

    /// `bf_cycles`: the time-stamp counter.
    pub fn cycles() -> u64 {
        // SAFETY: rdtsc is available on every x86-64 CPU.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// `bf_section_begin`.
    pub fn section_begin() {
        let t = cycles();
        SECTION.with(|s| {
            let mut v = s.get();
            v.begins += 1;
            v.begin_tsc = t;
            s.set(v);
        });
    }

    /// `bf_section_end`.
    pub fn section_end() {
        let t = cycles();
        SECTION.with(|s| {
            let mut v = s.get();
            v.ends += 1;
            v.end_tsc = t;
            s.set(v);
        });
    }
}

/// Defines the five app-ABI symbols (`bf_print`, `bf_print_u64`, `bf_cycles`,
/// `bf_section_begin`, `bf_section_end`) in the invoking crate, forwarding to [`host`].
/// Invoke it once in the binary (or test) that runs apps.
#[macro_export]
macro_rules! define_host_functions {
    () => {
        /// App ABI: writes `len` bytes of text.
        ///
        /// # Safety
        /// `ptr` must point to `len` readable bytes (the app passes a slice it owns).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn bf_print(ptr: *const u8, len: usize) {
            // SAFETY: guaranteed by the caller.
            unsafe { $crate::host::print(ptr, len) }
        }
        /// App ABI: writes a decimal number.
        #[unsafe(no_mangle)]
        pub extern "C" fn bf_print_u64(value: u64) {
            $crate::host::print_u64(value)
        }
        /// App ABI: the cycle counter.
        #[unsafe(no_mangle)]
        pub extern "C" fn bf_cycles() -> u64 {
            $crate::host::cycles()
        }
        /// App ABI: the timed section starts.
        #[unsafe(no_mangle)]
        pub extern "C" fn bf_section_begin() {
            $crate::host::section_begin()
        }
        /// App ABI: the timed section ends.
        #[unsafe(no_mangle)]
        pub extern "C" fn bf_section_end() {
            $crate::host::section_end()
        }
    };
}

/// The result of one run of an app.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// `run()`'s return value.
    pub status: i32,
    /// TSC ticks between `bf_section_begin` and `bf_section_end`.
    pub section_cycles: u64,
    /// How often `bf_section_begin` was called (must be 1).
    pub begins: u32,
    /// How often `bf_section_end` was called (must be 1).
    pub ends: u32,
    /// Everything the app printed.
    pub output: String,
    /// Wall-clock time of the whole run.
    pub wall: Duration,
}

/// Serialises [`run_app`]: an app's static buffers admit one run at a time (a second,
/// concurrent run would panic in `Scratch::with`), and timings are cleaner alone.
static RUN_LOCK: Mutex<()> = Mutex::new(());

/// Runs `app` once on this thread and reports what it did. Runs from several threads
/// take turns.
pub fn run_app(app: &App) -> Outcome {
    let _turn = RUN_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    SECTION.with(|s| s.set(Section::default()));
    OUTPUT.with(|o| o.borrow_mut().clear());
    let start = Instant::now();
    let status = (app.run)();
    let wall = start.elapsed();
    let section = SECTION.with(|s| s.get());
    Outcome {
        status,
        section_cycles: section.end_tsc.saturating_sub(section.begin_tsc),
        begins: section.begins,
        ends: section.ends,
        output: OUTPUT.with(|o| o.take()),
        wall,
    }
}

/// TSC ticks per second, measured against the monotonic clock over `window`.
pub fn tsc_hz(window: Duration) -> f64 {
    let (t0, c0) = (Instant::now(), host::cycles());
    while t0.elapsed() < window {}
    let (t1, c1) = (Instant::now(), host::cycles());
    (c1 - c0) as f64 / (t1 - t0).as_secs_f64()
}
