//! The BareFlow application ABI (see `apps/README.md`).
//!
//! An app is a `no_std` crate exposing `pub fn run() -> i32` (0 = its own check passed).
//! Compiled to bitcode (the JIT's input), it also exports
//! `extern "C" fn bf_app_main() -> i32`, which calls `run()`. Either way it talks to the
//! world only through the five host functions in [`sys`], which the embedding program
//! defines (the kernel with `#[no_mangle]`, `apps/host-runner` for native tests, a small
//! `.ll` file for `lli`).
//!
//! This crate holds the declarations, safe wrappers around them ([`print`],
//! [`print_u64`], [`cycles`], [`timed`]…) and what every app needs without a heap or
//! libm: [`Scratch`] (a static buffer lent out safely), [`rng::SplitMix64`] (deterministic
//! inputs) and [`math`] (sqrt through SSE2, exp, sin/cos in plain Rust).
//!
//! With the `panic-handler` feature it also provides the `#[panic_handler]` for the
//! bitcode build: it prints `bf-app panic: <message> at <file>:<line>` and then faults on
//! purpose (see [`panic_trap`]).
#![cfg_attr(not(test), no_std)]

pub mod math;
pub mod rng;

/// Defines the bitcode build's entry point `bf_app_main` (only with the app's
/// `bitcode` feature), calling the given `fn() -> i32`:
/// `bf_app_abi::app_entry!(run);`
#[macro_export]
macro_rules! app_entry {
    ($run:path) => {
        /// Entry point of the bitcode build (the app ABI): runs the app once.
        #[cfg(feature = "bitcode")]
        #[unsafe(no_mangle)]
        pub extern "C" fn bf_app_main() -> i32 {
            $run()
        }
    };
}

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// The host functions, exactly as the embedding program must define them.
///
/// Prefer the safe wrappers ([`print`], [`print_u64`], [`cycles`], [`timed`]).
pub mod sys {
    unsafe extern "C" {
        /// Writes `len` bytes of text starting at `ptr` (no newline is added).
        pub fn bf_print(ptr: *const u8, len: usize);
        /// Writes `value` in decimal.
        pub fn bf_print_u64(value: u64);
        /// The host's cycle counter (rdtsc).
        pub fn bf_cycles() -> u64;
        /// The app's timed section starts (called exactly once per run).
        pub fn bf_section_begin();
        /// The app's timed section ends (called exactly once per run).
        pub fn bf_section_end();
    }
}

/// Writes `text` (no newline is added).
#[inline]
pub fn print(text: &str) {
    print_bytes(text.as_bytes());
}

/// Writes raw bytes (meant to be UTF-8 text).
#[inline]
pub fn print_bytes(bytes: &[u8]) {
    // SAFETY: the pointer and length describe a live slice.
    unsafe { sys::bf_print(bytes.as_ptr(), bytes.len()) }
}

/// Writes `value` in decimal.
#[inline]
pub fn print_u64(value: u64) {
    // SAFETY: no preconditions.
    unsafe { sys::bf_print_u64(value) }
}

/// Writes a signed decimal number.
pub fn print_i64(value: i64) {
    if value < 0 {
        print("-");
    }
    print_u64(value.unsigned_abs());
}

/// Writes `bytes` as lowercase hexadecimal, two digits per byte.
pub fn print_hex(bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        for (i, b) in chunk.iter().enumerate() {
            buf[2 * i] = DIGITS[usize::from(b >> 4)];
            buf[2 * i + 1] = DIGITS[usize::from(b & 15)];
        }
        print_bytes(&buf[..2 * chunk.len()]);
    }
}

/// Writes `value` with `decimals` (at most 9) digits after the point, rounded half away
/// from zero, e.g. `print_f64(-0.1690751638, 9)` writes `-0.169075164`.
///
/// Meant for results of moderate size: `|value| * 10^decimals` must fit in a `u64`.
pub fn print_f64(value: f64, decimals: u32) {
    let decimals = decimals.min(9);
    let scale = 10u64.pow(decimals);
    let scaled = math::round_to_i64(value * scale as f64);
    if scaled < 0 {
        print("-");
    }
    let magnitude = scaled.unsigned_abs();
    print_u64(magnitude / scale);
    if decimals > 0 {
        print(".");
        let mut frac = magnitude % scale;
        let mut digits = [b'0'; 9];
        for d in digits[..decimals as usize].iter_mut().rev() {
            *d = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        print_bytes(&digits[..decimals as usize]);
    }
}

/// Writes ` ok` or ` FAIL` and a newline: the end of an app's result line.
pub fn print_verdict(passed: bool) {
    print(if passed { " ok\n" } else { " FAIL\n" });
}

/// The host's cycle counter.
#[inline]
pub fn cycles() -> u64 {
    // SAFETY: no preconditions.
    unsafe { sys::bf_cycles() }
}

/// Runs `work` as the app's timed section: `bf_section_begin` before, `bf_section_end`
/// after. Call it exactly once per run.
///
/// The host functions are opaque to the optimiser, so work that writes memory stays
/// inside the section; pass a result computed only in registers through [`opaque`]
/// before returning it, so that it cannot be sunk past `bf_section_end`.
#[inline(never)]
pub fn timed<R>(work: impl FnOnce() -> R) -> R {
    // SAFETY: no preconditions.
    unsafe { sys::bf_section_begin() };
    let result = work();
    // SAFETY: no preconditions.
    unsafe { sys::bf_section_end() };
    result
}

/// Returns `value` after passing it through memory with volatile accesses, so the
/// optimiser can neither constant-fold through it nor move its computation across the
/// surrounding side effects (a `black_box` without inline assembly, which a bitcode
/// interpreter or a JIT without an assembly parser would have to special-case).
///
/// For scalars only (integers, floats, thin pointers: at most 8 bytes, checked at
/// compile time): a larger value would become a volatile load of a first-class
/// aggregate, which LLVM's own interpreter, for one, cannot execute.
#[inline(always)]
pub fn opaque<T: Copy>(value: T) -> T {
    const { assert!(core::mem::size_of::<T>() <= 8, "opaque() is for scalars") };
    let mut slot = core::mem::MaybeUninit::<T>::uninit();
    // SAFETY: `slot` is a live, aligned local; it is initialised by the write before
    // the read.
    unsafe {
        core::ptr::write_volatile(slot.as_mut_ptr(), value);
        core::ptr::read_volatile(slot.as_ptr())
    }
}

/// A statically allocated value lent out as `&mut T`, one borrower at a time: how apps
/// get large buffers without a heap.
///
/// ```ignore
/// static GRID: Scratch<[u8; 1 << 20]> = Scratch::new([0; 1 << 20]);
/// GRID.with(|grid| grid.fill(1));
/// ```
///
/// A zero initialiser puts the buffer in `.bss` (a `zeroinitializer` in the bitcode).
/// [`Scratch::with`] panics if the value is already lent out (a re-entrant or concurrent
/// run of the same app).
pub struct Scratch<T> {
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is exclusive: `with` hands out `&mut T` only while it holds
// `busy`, which it takes with an atomic swap. `T: Send` because the value may be used
// from whichever thread calls `with`.
unsafe impl<T: Send> Sync for Scratch<T> {}

impl<T> Scratch<T> {
    /// A scratch cell holding `value`.
    pub const fn new(value: T) -> Self {
        Scratch { busy: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    /// Lends the value to `f` exclusively. Panics if it is already lent out.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        if self.busy.swap(true, Ordering::Acquire) {
            panic!("scratch buffer already in use");
        }
        // SAFETY: `busy` was false and is now ours: no other reference to the value
        // exists until we release it below.
        let result = f(unsafe { &mut *self.value.get() });
        self.busy.store(false, Ordering::Release);
        result
    }
}

/// FNV-1a, 64 bits: the checksum apps print for sequences of bytes.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(pub u64);

impl Fnv1a {
    /// The FNV-1a offset basis.
    pub const fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    /// Mixes in `bytes`.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mixes in the little-endian bytes of `value`.
    pub fn u32(&mut self, value: u32) {
        self.bytes(&value.to_le_bytes());
    }

    /// Mixes in the little-endian bytes of `value`.
    pub fn u64(&mut self, value: u64) {
        self.bytes(&value.to_le_bytes());
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a panicking app faults: a non-canonical x86-64 address, so the access raises
/// #GP (SIGSEGV in a Linux process) whatever the page tables hold.
pub const PANIC_TRAP_ADDRESS: usize = 0xdead_0000_0000_0000;

/// Stops the app for good after a panic, without inline assembly: a volatile load from
/// [`PANIC_TRAP_ADDRESS`] (#GP), then an endless loop should the host resume it.
pub fn panic_trap() -> ! {
    // SAFETY: volatile accesses may target memory outside any Rust allocation; this
    // one is meant to fault.
    unsafe { core::ptr::read_volatile(core::ptr::with_exposed_provenance::<u8>(PANIC_TRAP_ADDRESS)) };
    #[allow(clippy::empty_loop)]
    loop {}
}

#[cfg(all(feature = "panic-handler", not(test)))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    print("bf-app panic: ");
    match info.message().as_str() {
        Some(message) => print(message),
        None => print("(formatted message)"),
    }
    if let Some(location) = info.location() {
        print(" at ");
        print(location.file());
        print(":");
        print_u64(u64::from(location.line()));
    }
    print("\n");
    panic_trap()
}

/// rustc still names `rust_eh_personality` as the personality routine of some
/// functions in a `panic=abort` build (the landing pads are gone, the reference stays),
/// so without this definition the bitcode would import it. Nothing unwinds, so nothing
/// calls it.
#[cfg(all(feature = "panic-handler", not(test)))]
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

#[cfg(test)]
mod tests {
    //! Unit tests with a capturing host.
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static OUT: RefCell<String> = const { RefCell::new(String::new()) };
    }

    #[unsafe(no_mangle)]
    extern "C" fn bf_print(ptr: *const u8, len: usize) {
        // SAFETY: the ABI passes a live slice.
        let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
        OUT.with(|o| o.borrow_mut().push_str(std::str::from_utf8(bytes).unwrap()));
    }

    #[unsafe(no_mangle)]
    extern "C" fn bf_print_u64(value: u64) {
        OUT.with(|o| o.borrow_mut().push_str(&value.to_string()));
    }

    #[unsafe(no_mangle)]
    extern "C" fn bf_cycles() -> u64 {
        7
    }

    #[unsafe(no_mangle)]
    extern "C" fn bf_section_begin() {
        OUT.with(|o| o.borrow_mut().push('['));
    }

    #[unsafe(no_mangle)]
    extern "C" fn bf_section_end() {
        OUT.with(|o| o.borrow_mut().push(']'));
    }

    fn take() -> String {
        OUT.with(|o| std::mem::take(&mut *o.borrow_mut()))
    }

    #[test]
    fn prints_numbers() {
        print_i64(-42);
        print(" ");
        print_hex(&[0x00, 0xab, 0x7f]);
        print(" ");
        print_f64(-0.1690751638, 9);
        print(" ");
        print_f64(2.5, 0);
        print(" ");
        print_f64(1.0625, 3);
        print(" ");
        print_f64(-0.0000000001, 9);
        assert_eq!(take(), "-42 00ab7f -0.169075164 3 1.063 0.000000000");
    }

    #[test]
    fn timed_brackets_work() {
        let r = timed(|| {
            print("x");
            opaque(3) + cycles()
        });
        assert_eq!(r, 10);
        assert_eq!(take(), "[x]");
    }

    #[test]
    fn scratch_lends_once() {
        static CELL: Scratch<[u32; 4]> = Scratch::new([0; 4]);
        CELL.with(|c| c[1] = 5);
        assert_eq!(CELL.with(|c| c[1]), 5);
    }

    #[test]
    fn fnv1a_matches_reference() {
        let mut h = Fnv1a::new();
        h.bytes(b"a");
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
    }
}
