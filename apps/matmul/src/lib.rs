//! `matmul`: dense `f64` matrix multiplication, C = A·B with 320×320 matrices — a
//! benchmark of floating-point loops that vectorise.
//!
//! The inputs are small multiples of 1/4 and 1/8, so every product and every partial
//! sum is exact in `f64`: the result does not depend on the order of the additions, and
//! the checksums are compared exactly.
#![no_std]

use bf_app_abi::{Scratch, opaque, print, print_f64, print_verdict, timed};

/// The matrices are `N`×`N`, row-major.
pub const N: usize = 320;
/// `Σ C[i][j]` (computed exactly with integers in Python).
pub const EXPECTED_SUM: f64 = -13.343_75;
/// `Σ C[i][j]·((i + 2j) mod 7)`, a checksum that notices misplaced elements.
pub const EXPECTED_WEIGHTED: f64 = 133.75;

/// The three matrices.
struct Matrices {
    a: [f64; N * N],
    b: [f64; N * N],
    c: [f64; N * N],
}

static MATRICES: Scratch<Matrices> = Scratch::new(Matrices { a: [0.0; N * N], b: [0.0; N * N], c: [0.0; N * N] });

/// Fills A and B with their deterministic patterns.
#[inline(never)]
pub fn fill_inputs(a: &mut [f64], b: &mut [f64], n: usize) {
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = (((i * 3 + j * 5) % 11) as f64 - 5.0) * 0.25;
            b[i * n + j] = (((i * 7 + j * 2) % 13) as f64 - 6.0) * 0.125;
        }
    }
}

/// `c = a · b` for `n`×`n` row-major matrices (i-k-j loop order: the inner loop runs
/// along rows of `b` and `c`).
#[inline(never)]
pub fn matmul(c: &mut [f64], a: &[f64], b: &[f64], n: usize) {
    assert!(a.len() >= n * n && b.len() >= n * n && c.len() >= n * n);
    c[..n * n].fill(0.0);
    for i in 0..n {
        let c_row = &mut c[i * n..(i + 1) * n];
        for k in 0..n {
            let aik = a[i * n + k];
            let b_row = &b[k * n..(k + 1) * n];
            for (cij, &bkj) in c_row.iter_mut().zip(b_row) {
                *cij += aik * bkj;
            }
        }
    }
}

/// `(Σ c[i][j], Σ c[i][j]·((i + 2j) mod 7))`.
#[inline(never)]
pub fn checksums(c: &[f64], n: usize) -> (f64, f64) {
    let mut sum = 0.0;
    let mut weighted = 0.0;
    for i in 0..n {
        for j in 0..n {
            let v = c[i * n + j];
            sum += v;
            weighted += v * ((i + 2 * j) % 7) as f64;
        }
    }
    (sum, weighted)
}

/// Runs the app: 0 when both checksums are right, 1 if the sum is wrong, 2 if only the
/// weighted sum is.
pub fn run() -> i32 {
    let n = opaque(N);
    let (sum, weighted) = MATRICES.with(|m| {
        fill_inputs(&mut m.a, &mut m.b, n);
        timed(|| matmul(&mut m.c, &m.a, &m.b, n));
        checksums(&m.c, n)
    });
    print("matmul: 320x320 f64, sum(C) = ");
    print_f64(sum, 5);
    print(" checksum ");
    print_f64(weighted, 5);
    let status = if sum != EXPECTED_SUM {
        1
    } else if weighted != EXPECTED_WEIGHTED {
        2
    } else {
        0
    };
    print_verdict(status == 0);
    status
}

bf_app_abi::app_entry!(run);
