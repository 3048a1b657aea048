//! `sieve`: the sieve of Eratosthenes — a benchmark of byte loads and stores.
//!
//! Marks the composites below 5,000,000 in a static byte array, then counts and sums
//! the primes.
#![no_std]

use bf_app_abi::{Scratch, opaque, print, print_u64, print_verdict, timed};

/// The sieve covers `0..LIMIT`.
pub const LIMIT: usize = 5_000_000;
/// π(5,000,000).
pub const EXPECTED_COUNT: u64 = 348_513;
/// The sum of the primes below 5,000,000.
pub const EXPECTED_SUM: u64 = 838_596_693_108;

/// `is_composite[n] != 0` once [`sieve`] has run.
static IS_COMPOSITE: Scratch<[u8; LIMIT]> = Scratch::new([0; LIMIT]);

/// Marks every composite `n < flags.len()` with 1 (and 0 and 1 as non-prime), primes
/// with 0.
#[inline(never)]
pub fn sieve(flags: &mut [u8]) {
    flags.fill(0);
    let n = flags.len();
    for f in flags.iter_mut().take(2) {
        *f = 1;
    }
    let mut p = 2;
    while p * p < n {
        if flags[p] == 0 {
            let mut m = p * p;
            while m < n {
                flags[m] = 1;
                m += p;
            }
        }
        p += 1;
    }
}

/// The number and the sum of the primes marked by [`sieve`].
#[inline(never)]
pub fn count_and_sum(flags: &[u8]) -> (u64, u64) {
    let mut count = 0;
    let mut sum = 0;
    for (n, &f) in flags.iter().enumerate() {
        if f == 0 {
            count += 1;
            sum += n as u64;
        }
    }
    (count, sum)
}

/// Runs the app: 0 when count and sum are right, 1 if the count is wrong, 2 if only the
/// sum is.
pub fn run() -> i32 {
    let limit = opaque(LIMIT);
    let (count, sum) = IS_COMPOSITE.with(|flags| {
        let flags = &mut flags[..limit];
        timed(|| {
            sieve(flags);
            let (count, sum) = count_and_sum(flags);
            (opaque(count), opaque(sum))
        })
    });
    print("sieve: primes below 5000000: ");
    print_u64(count);
    print(" checksum ");
    print_u64(sum);
    let status = if count != EXPECTED_COUNT {
        1
    } else if sum != EXPECTED_SUM {
        2
    } else {
        0
    };
    print_verdict(status == 0);
    status
}

bf_app_abi::app_entry!(run);
