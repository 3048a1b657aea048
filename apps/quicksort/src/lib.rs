//! `quicksort`: sorts 300,000 pseudo-random `u32` — a benchmark of compares, swaps and
//! unpredictable branches.
//!
//! Hoare partitioning around a median of three, recursion on the smaller side,
//! insertion sort below 16 elements. The result is checked to be sorted, to hold the
//! same values (sum) and against a position-weighted checksum computed in Python.
#![no_std]

use bf_app_abi::rng::SplitMix64;
use bf_app_abi::{Scratch, opaque, print, print_u64, print_verdict, timed};

/// Elements sorted.
pub const LEN: usize = 300_000;
/// Seed of the [`SplitMix64`] stream (one `next_u32` per element).
pub const SEED: u64 = 0x514f_5254;
/// `Σ sorted[i]·(i + 1)`, wrapping in 64 bits.
pub const EXPECTED_CHECKSUM: u64 = 18_018_416_105_235_970_062;

/// Slices shorter than this are left to [`insertion_sort`].
const SMALL: usize = 16;

static DATA: Scratch<[u32; LEN]> = Scratch::new([0; LEN]);

/// Sorts a short slice by insertion.
#[inline(never)]
pub fn insertion_sort(v: &mut [u32]) {
    for i in 1..v.len() {
        let x = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > x {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
}

/// Hoare partition of `v` (at least 3 elements) around the median of its first,
/// middle and last elements. Returns `k` with `1 <= k < v.len()` such that every
/// element of `v[..k]` is `<=` every element of `v[k..]`.
#[inline(never)]
pub fn partition(v: &mut [u32]) -> usize {
    let last = v.len() - 1;
    let mid = last / 2;
    if v[mid] < v[0] {
        v.swap(mid, 0);
    }
    if v[last] < v[0] {
        v.swap(last, 0);
    }
    if v[last] < v[mid] {
        v.swap(last, mid);
    }
    let pivot = v[mid];
    let (mut i, mut j) = (0, last);
    loop {
        while v[i] < pivot {
            i += 1;
        }
        while v[j] > pivot {
            j -= 1;
        }
        if i >= j {
            return j + 1;
        }
        v.swap(i, j);
        i += 1;
        j -= 1;
    }
}

/// Sorts `v` in ascending order.
#[inline(never)]
pub fn quicksort(mut v: &mut [u32]) {
    while v.len() >= SMALL {
        let k = partition(v);
        let (left, right) = v.split_at_mut(k);
        // Recurse into the smaller side, loop on the larger: O(log n) stack.
        if left.len() < right.len() {
            quicksort(left);
            v = right;
        } else {
            quicksort(right);
            v = left;
        }
    }
    insertion_sort(v);
}

/// Whether `v` is in ascending order.
#[inline(never)]
pub fn is_sorted(v: &[u32]) -> bool {
    v.windows(2).all(|w| w[0] <= w[1])
}

/// `(Σ v[i], Σ v[i]·(i + 1))`, wrapping in 64 bits.
#[inline(never)]
pub fn checksums(v: &[u32]) -> (u64, u64) {
    let mut sum = 0u64;
    let mut weighted = 0u64;
    for (i, &x) in v.iter().enumerate() {
        sum = sum.wrapping_add(u64::from(x));
        weighted = weighted.wrapping_add(u64::from(x).wrapping_mul(i as u64 + 1));
    }
    (sum, weighted)
}

/// Fills `v` from a [`SplitMix64`] stream seeded with `seed`.
#[inline(never)]
pub fn fill(v: &mut [u32], seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for x in v {
        *x = rng.next_u32();
    }
}

/// Runs the app: 0 when the output is right, 1 if it is not sorted, 2 if it lost or
/// gained values, 3 if the checksum is wrong.
pub fn run() -> i32 {
    let (sorted, sum_before, (sum_after, checksum)) = DATA.with(|data| {
        fill(data, opaque(SEED));
        let (sum_before, _) = checksums(data);
        timed(|| quicksort(data));
        (is_sorted(data), sum_before, checksums(data))
    });
    print("quicksort: 300000 u32 sorted: ");
    print(if sorted { "yes" } else { "no" });
    print(" checksum ");
    print_u64(checksum);
    let status = if !sorted {
        1
    } else if sum_after != sum_before {
        2
    } else if checksum != EXPECTED_CHECKSUM {
        3
    } else {
        0
    };
    print_verdict(status == 0);
    status
}

bf_app_abi::app_entry!(run);
