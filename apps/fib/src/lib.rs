//! `fib`: naive recursive Fibonacci — a benchmark of calls and returns.
//!
//! Computes fib(27) … fib(31) recursively (about 9.5 million calls)
//! and checks their sum.
#![no_std]

use bf_app_abi::{opaque, print, print_u64, print_verdict, timed};

/// The first `n` whose Fibonacci number is computed.
pub const FIRST: u32 = 27;
/// The last `n` whose Fibonacci number is computed.
pub const LAST: u32 = 31;
/// fib(27) + … + fib(31).
pub const EXPECTED_SUM: u64 = 196_418 + 317_811 + 514_229 + 832_040 + 1_346_269;

/// The `n`-th Fibonacci number (fib(0) = 0, fib(1) = 1), the slow way.
#[inline(never)]
pub fn fib(n: u32) -> u64 {
    if n < 2 { u64::from(n) } else { fib(n - 1) + fib(n - 2) }
}

/// Runs the app: 0 when the sum is right, 1 otherwise.
pub fn run() -> i32 {
    let first = opaque(FIRST);
    let mut values = [0u64; (LAST - FIRST + 1) as usize];
    timed(|| {
        for (slot, n) in values.iter_mut().zip(first..=LAST) {
            *slot = opaque(fib(n));
        }
    });
    let sum: u64 = values.iter().sum();
    print("fib: fib(27..=31) =");
    for v in values {
        print(" ");
        print_u64(v);
    }
    print(" checksum ");
    print_u64(sum);
    let passed = sum == EXPECTED_SUM;
    print_verdict(passed);
    if passed { 0 } else { 1 }
}

bf_app_abi::app_entry!(run);
