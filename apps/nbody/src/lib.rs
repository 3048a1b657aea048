//! `nbody`: the Computer Language Benchmarks Game's n-body simulation (the Sun and the
//! four gas giants, symplectic Euler steps of 0.01 days) — a benchmark of `f64`
//! arithmetic with square roots and divisions.
//!
//! The operations are those of the benchmark's C program, in the same order, and
//! `sqrt` is the correctly rounded SSE2 instruction, so the energies are bit-identical
//! to the reference (a Python transcription gave the expected values): -0.169075164
//! before, -0.169087605 after 1,000 steps (the benchmark's published output) and
//! -0.169079859 after the 100,000 steps run here.
#![no_std]
// The initial state is written with the benchmark's digits; the compiler rounds them
// to the nearest `f64`, as the C compiler does.
#![allow(clippy::excessive_precision)]

use bf_app_abi::math::{round_to_i64, sqrt_f64};
use bf_app_abi::{opaque, print, print_f64, print_u64, print_verdict, timed};

/// Steps simulated.
pub const STEPS: u32 = 100_000;
/// Step length in days.
pub const DT: f64 = 0.01;
/// The energy before the first step, rounded to 9 decimals, times 10^9.
pub const EXPECTED_INITIAL_NANO: i64 = -169_075_164;
/// The energy after [`STEPS`] steps, rounded to 9 decimals, times 10^9.
pub const EXPECTED_FINAL_NANO: i64 = -169_079_859;
/// The exact bits of the energy after [`STEPS`] steps (`-0x1.5a468a93fef25p-3`).
pub const EXPECTED_FINAL_BITS: u64 = 0xbfc5_a468_a93f_ef25;

const PI: f64 = core::f64::consts::PI; // the benchmark's 3.141592653589793
const SOLAR_MASS: f64 = 4.0 * PI * PI;
const DAYS_PER_YEAR: f64 = 365.24;

/// One body: position, velocity, mass.
#[derive(Clone, Copy, Debug)]
pub struct Body {
    /// Position (AU).
    pub x: f64,
    /// Position (AU).
    pub y: f64,
    /// Position (AU).
    pub z: f64,
    /// Velocity (AU/day).
    pub vx: f64,
    /// Velocity (AU/day).
    pub vy: f64,
    /// Velocity (AU/day).
    pub vz: f64,
    /// Mass (solar masses × 4π²).
    pub mass: f64,
}

const fn body(p: [f64; 3], v: [f64; 3], mass: f64) -> Body {
    Body {
        x: p[0],
        y: p[1],
        z: p[2],
        vx: v[0] * DAYS_PER_YEAR,
        vy: v[1] * DAYS_PER_YEAR,
        vz: v[2] * DAYS_PER_YEAR,
        mass: mass * SOLAR_MASS,
    }
}

/// The Sun, Jupiter, Saturn, Uranus and Neptune (the benchmark's initial state).
pub const INITIAL: [Body; 5] = [
    body([0.0; 3], [0.0; 3], 1.0),
    body(
        [4.841_431_442_464_720_90e0, -1.160_320_044_027_428_39e0, -1.036_220_444_711_231_09e-1],
        [1.660_076_642_744_036_94e-3, 7.699_011_184_197_404_25e-3, -6.904_600_169_720_630_23e-5],
        9.547_919_384_243_266_09e-4,
    ),
    body(
        [8.343_366_718_244_579_87e0, 4.124_798_564_124_304_79e0, -4.035_234_171_143_213_81e-1],
        [-2.767_425_107_268_624_11e-3, 4.998_528_012_349_172_38e-3, 2.304_172_975_737_639_29e-5],
        2.858_859_806_661_308_12e-4,
    ),
    body(
        [1.289_436_956_213_913_10e1, -1.511_115_140_169_863_12e1, -2.233_075_788_926_557_34e-1],
        [2.964_601_375_647_616_18e-3, 2.378_471_739_594_809_50e-3, -2.965_895_685_402_375_56e-5],
        4.366_244_043_351_562_98e-5,
    ),
    body(
        [1.537_969_711_485_091_65e1, -2.591_931_460_998_796_41e1, 1.792_587_729_503_711_81e-1],
        [2.680_677_724_903_893_22e-3, 1.628_241_700_382_422_95e-3, -9.515_922_545_197_158_70e-5],
        5.151_389_020_466_114_51e-5,
    ),
];

/// Gives the Sun the momentum that makes the system's total momentum zero.
#[inline(never)]
pub fn offset_momentum(bodies: &mut [Body; 5]) {
    let (mut px, mut py, mut pz) = (0.0, 0.0, 0.0);
    for b in bodies.iter() {
        px += b.vx * b.mass;
        py += b.vy * b.mass;
        pz += b.vz * b.mass;
    }
    bodies[0].vx = -px / SOLAR_MASS;
    bodies[0].vy = -py / SOLAR_MASS;
    bodies[0].vz = -pz / SOLAR_MASS;
}

/// The system's total energy (kinetic minus potential).
#[inline(never)]
pub fn energy(bodies: &[Body; 5]) -> f64 {
    let mut e = 0.0;
    for (i, b) in bodies.iter().enumerate() {
        e += 0.5 * b.mass * (b.vx * b.vx + b.vy * b.vy + b.vz * b.vz);
        for c in &bodies[i + 1..] {
            let (dx, dy, dz) = (b.x - c.x, b.y - c.y, b.z - c.z);
            e -= (b.mass * c.mass) / sqrt_f64(dx * dx + dy * dy + dz * dz);
        }
    }
    e
}

/// One step of `dt`: velocities from the pairwise forces, then positions.
#[inline(never)]
pub fn advance(bodies: &mut [Body; 5], dt: f64) {
    for i in 0..bodies.len() {
        let (left, right) = bodies.split_at_mut(i + 1);
        let b = &mut left[i];
        for c in right.iter_mut() {
            let (dx, dy, dz) = (b.x - c.x, b.y - c.y, b.z - c.z);
            let distance = sqrt_f64(dx * dx + dy * dy + dz * dz);
            let mag = dt / (distance * distance * distance);
            b.vx -= dx * c.mass * mag;
            b.vy -= dy * c.mass * mag;
            b.vz -= dz * c.mass * mag;
            c.vx += dx * b.mass * mag;
            c.vy += dy * b.mass * mag;
            c.vz += dz * b.mass * mag;
        }
    }
    for b in bodies.iter_mut() {
        b.x += dt * b.vx;
        b.y += dt * b.vy;
        b.z += dt * b.vz;
    }
}

/// Runs the app: 0 when the energies are right, 1 if the initial energy is wrong, 2 if
/// the final energy's digits are, 3 if only its last bits are.
pub fn run() -> i32 {
    let mut bodies = INITIAL;
    offset_momentum(&mut bodies);
    let initial = energy(&bodies);
    let steps = opaque(STEPS);
    timed(|| {
        for _ in 0..steps {
            advance(&mut bodies, DT);
        }
    });
    let fin = energy(&bodies);
    print("nbody: energy ");
    print_f64(initial, 9);
    print(" -> ");
    print_f64(fin, 9);
    print(" after 100000 steps, checksum (bits) ");
    print_u64(fin.to_bits());
    let status = if round_to_i64(initial * 1e9) != EXPECTED_INITIAL_NANO {
        1
    } else if round_to_i64(fin * 1e9) != EXPECTED_FINAL_NANO {
        2
    } else if fin.to_bits() != EXPECTED_FINAL_BITS {
        3
    } else {
        0
    };
    print_verdict(status == 0);
    status
}

bf_app_abi::app_entry!(run);
