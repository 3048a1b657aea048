//! Floating-point helpers without libm.
//!
//! `sqrt` uses the SSE2 instructions through `core::arch` (baseline x86-64, correctly
//! rounded), so the JIT-compiled and the native copies of an app give bit-identical
//! results. `exp` and `sin`/`cos` are plain Rust (range reduction + polynomial) using only
//! `+ - * /` and integer conversions: no call can become a libm call, and no step depends
//! on the CPU's optional features. They are accurate to a few ulp, which is all the apps
//! need; they are deterministic, which is what the checksums need.

// The polynomial and reduction constants are written as fdlibm and Cephes publish them;
// the compiler rounds them to the nearest representable value, as C compilers do.
#![allow(clippy::excessive_precision)]

use core::arch::x86_64::{_mm_cvtsd_f64, _mm_cvtss_f32, _mm_set_sd, _mm_set_ss, _mm_sqrt_sd, _mm_sqrt_ss};

/// Square root (SSE2 `sqrtsd`).
#[inline]
pub fn sqrt_f64(x: f64) -> f64 {
    // SAFETY: SSE2 is part of the x86-64 baseline.
    unsafe {
        let v = _mm_set_sd(x);
        _mm_cvtsd_f64(_mm_sqrt_sd(v, v))
    }
}

/// Square root (SSE `sqrtss`).
#[inline]
pub fn sqrt_f32(x: f32) -> f32 {
    // SAFETY: SSE is part of the x86-64 baseline.
    unsafe { _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(x))) }
}

/// Rounds to the nearest integer, halves away from zero. `|x|` must be below 2^62.
#[inline]
pub fn round_to_i64(x: f64) -> i64 {
    let t = x as i64; // truncates toward zero
    let frac = x - t as f64; // exact for |x| < 2^52; 0 beyond
    if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// `e^x` in single precision (Cephes' `expf` polynomial). Returns `+inf` above 88 and
/// 0 below -87 (no subnormal results).
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_375;
    const LN2_LO: f32 = -2.121_944_4e-4;
    if x > 88.0 {
        return f32::INFINITY;
    }
    if x < -87.0 {
        return 0.0;
    }
    if x.is_nan() {
        return x;
    }
    let t = x * LOG2E;
    let k = if t >= 0.0 { (t + 0.5) as i32 } else { (t - 0.5) as i32 };
    let kf = k as f32;
    let r = x - kf * LN2_HI - kf * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    // k is in [-126, 127] here, so 2^k is a normal float.
    y * f32::from_bits(((k + 127) as u32) << 23)
}

/// `e^x` in double precision (Taylor series after reduction by ln 2). Returns `+inf`
/// above 709 and 0 below -708.
pub fn exp_f64(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
    if x > 709.0 {
        return f64::INFINITY;
    }
    if x < -708.0 {
        return 0.0;
    }
    if x.is_nan() {
        return x;
    }
    let k = round_to_i64(x * core::f64::consts::LOG2_E);
    let kf = k as f64;
    let r = x - kf * LN2_HI - kf * LN2_LO; // |r| <= ln2/2
    // sum_{n=0}^{13} r^n / n!, Horner form.
    let mut y = 1.0;
    let mut n = 13;
    while n > 0 {
        y = 1.0 + y * r / n as f64;
        n -= 1;
    }
    y * f64::from_bits(((k + 1023) as u64) << 52)
}

/// `(sin x, cos x)` for moderate `|x|` (accurate up to a few thousand radians):
/// reduction by π/2 (Cody–Waite, two constants), then Taylor series on [-π/4, π/4].
pub fn sin_cos_f64(x: f64) -> (f64, f64) {
    const PIO2_1: f64 = 1.570_796_326_734_125_614_17e0;
    const PIO2_1T: f64 = 6.077_100_506_506_192_249_32e-11;
    let k = round_to_i64(x * core::f64::consts::FRAC_2_PI);
    let kf = k as f64;
    let r = x - kf * PIO2_1 - kf * PIO2_1T;
    let r2 = r * r;
    // sin r = r - r^3/3! + ... + r^17/17!; cos r = 1 - r^2/2! + ... + r^18/18!
    let mut s = 1.0;
    let mut c = 1.0;
    let mut n = 17;
    while n > 1 {
        s = 1.0 - s * r2 / ((n * (n - 1)) as f64);
        c = 1.0 - c * r2 / (((n + 1) * n) as f64);
        n -= 2;
    }
    let c = 1.0 - c * r2 * 0.5;
    let s = s * r;
    match k & 3 {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqrt_is_exact() {
        assert_eq!(sqrt_f64(2.0), 2f64.sqrt());
        assert_eq!(sqrt_f32(2.0), 2f32.sqrt());
        assert_eq!(sqrt_f64(1e300).to_bits(), 1e300f64.sqrt().to_bits());
    }

    #[test]
    fn round_halves_away_from_zero() {
        assert_eq!(round_to_i64(2.5), 3);
        assert_eq!(round_to_i64(-2.5), -3);
        assert_eq!(round_to_i64(2.4999), 2);
        assert_eq!(round_to_i64(-0.2), 0);
        assert_eq!(round_to_i64(0.49999999999999994), 0);
    }

    #[test]
    fn exp_is_close() {
        for i in -870..=880 {
            let x = i as f32 * 0.1;
            let want = (x as f64).exp();
            let got = exp_f32(x) as f64;
            assert!(((got - want) / want).abs() < 4e-7, "exp_f32({x}) = {got}, want {want}");
        }
        for i in -6980..=6990 {
            let x = i as f64 * 0.1013;
            let want = x.exp();
            let got = exp_f64(x);
            assert!(((got - want) / want).abs() < 4e-16, "exp_f64({x}) = {got}, want {want}");
        }
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f64(0.0), 1.0);
    }

    #[test]
    fn sin_cos_are_close() {
        for i in -4000..=4000 {
            let x = i as f64 * 0.0173;
            let (s, c) = sin_cos_f64(x);
            assert!((s - x.sin()).abs() < 1e-15, "sin({x}) = {s}, want {}", x.sin());
            assert!((c - x.cos()).abs() < 1e-15, "cos({x}) = {c}, want {}", x.cos());
        }
    }
}
