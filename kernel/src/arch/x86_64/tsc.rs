//! Time-stamp counter: reading it, and calibrating its rate against the PIT.

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

/// PIT input clock in Hz.
const PIT_HZ: u64 = 1_193_182;
/// Calibration window in PIT ticks (about 20 ms).
const CALIBRATION_TICKS: u16 = 23_864;
/// Spin limit while waiting for the PIT, so a missing PIT cannot hang the boot.
const PIT_SPIN_LIMIT: u64 = 200_000_000;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects and CR4.TSD is clear at CPL 0.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// How the TSC rate was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalibrationSource {
    /// Counted against PIT channel 2.
    Pit,
    /// The PIT never reached terminal count; CPUID leaf 0x16's base frequency was used.
    CpuidFallback,
}

/// Measures the TSC rate with PIT channel 2 in one-shot mode (polled, interrupts off)
/// and stores it for [`tsc_hz`].
pub fn calibrate() -> (u64, CalibrationSource) {
    let mut gate: Port<u8> = Port::new(0x61);
    let mut command: Port<u8> = Port::new(0x43);
    let mut channel2: Port<u8> = Port::new(0x42);
    // SAFETY: ports 0x42/0x43/0x61 are the PIT and the system control port B on every PC;
    // interrupts are off and nothing else uses channel 2.
    let measured = unsafe {
        let old = gate.read();
        gate.write((old & !0x02) | 0x01); // speaker off, gate on
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write((CALIBRATION_TICKS & 0xff) as u8);
        channel2.write((CALIBRATION_TICKS >> 8) as u8);
        let start = rdtsc();
        let mut spins = 0u64;
        while gate.read() & 0x20 == 0 && spins < PIT_SPIN_LIMIT {
            spins += 1;
        }
        let end = rdtsc();
        gate.write(old);
        (spins < PIT_SPIN_LIMIT).then(|| (end - start) * PIT_HZ / CALIBRATION_TICKS as u64)
    };
    let (hz, source) = match measured {
        Some(hz) if hz > 0 => (hz, CalibrationSource::Pit),
        _ => {
            // CPUID is always available in long mode.
            let mhz = core::arch::x86_64::__cpuid(0x16).eax as u64;
            ((if mhz == 0 { 1000 } else { mhz }) * 1_000_000, CalibrationSource::CpuidFallback)
        }
    };
    TSC_HZ.store(hz, Ordering::Relaxed);
    (hz, source)
}

/// The calibrated TSC rate in Hz (0 before [`calibrate`]).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts a TSC delta to milliseconds, as a float for reporting.
pub fn ticks_to_ms(ticks: u64) -> f64 {
    let hz = tsc_hz();
    if hz == 0 { 0.0 } else { ticks as f64 * 1000.0 / hz as f64 }
}
