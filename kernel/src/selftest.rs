//! Boot-time checks the tests select on the command line.
//!
//! * `bf.fault=page|gp|ud|div` — raise that CPU exception on purpose, to show the
//!   exception path reports and halts;
//! * the `pattern` module, when the image carries one, is verified word by word.

use boot_protocol::flud::FludHeader;
use boot_protocol::pattern::{PATTERN_MODULE, first_mismatch};

/// Address used for the deliberate page fault: above the 4 GiB stage2 maps.
pub const UNMAPPED_ADDRESS: u64 = 0x0000_0040_dead_b000;

/// Raises the exception named by `kind`; returns if the name is unknown.
pub fn raise_fault(kind: &str) {
    crate::kprintln!("selftest: raising a deliberate {} fault", kind);
    match kind {
        // SAFETY (all arms): these deliberately fault; the exception handler reports the
        // fault and stops the machine, so execution never continues past them.
        "page" => unsafe {
            core::ptr::read_volatile(UNMAPPED_ADDRESS as *const u64);
        },
        "gp" => unsafe {
            // A non-canonical address.
            core::ptr::read_volatile(0x8000_0000_0000_0000u64 as *const u64);
        },
        "ud" => unsafe { core::arch::asm!("ud2") },
        "div" => unsafe { core::arch::asm!("xor edx, edx", "xor ecx, ecx", "mov eax, 1", "div ecx", out("eax") _, out("ecx") _, out("edx") _) },
        _ => crate::kprintln!("selftest: unknown fault kind '{}' (page, gp, ud, div)", kind),
    }
}

/// Outcome of the pattern check.
pub enum PatternCheck {
    /// The image has no pattern module.
    Absent,
    /// Every word matched.
    Verified { bytes: u64 },
    /// Word `index` differs.
    Mismatch { offset: u64 },
}

/// Verifies the pattern module in memory.
pub fn check_pattern(header: &FludHeader) -> PatternCheck {
    let Some(module) = header.module(PATTERN_MODULE) else { return PatternCheck::Absent };
    let base = header.load_addr + module.offset;
    let words = (module.size / 8) as usize;
    // SAFETY: stage2 loaded the whole payload, module included (its bounds were checked
    // against the payload size when the header was decoded), to identity-mapped memory
    // the kernel reserved; the module is 4 KiB aligned.
    let slice = unsafe { core::slice::from_raw_parts(base as *const u64, words) };
    match first_mismatch(slice) {
        None => PatternCheck::Verified { bytes: module.size },
        Some(i) => PatternCheck::Mismatch { offset: i as u64 * 8 },
    }
}
