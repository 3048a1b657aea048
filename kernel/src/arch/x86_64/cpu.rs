//! CPU state checks: long mode (EFER.LMA, CS.L) and the SIMD features enabled at entry.

use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// What the kernel found out about the mode it runs in.
#[derive(Clone, Copy, Debug)]
pub struct LongModeState {
    /// EFER.LMA: the CPU reports long mode active.
    pub efer_lma: bool,
    /// The L bit of the code-segment descriptor CS selects: 64-bit code.
    pub cs_long: bool,
    /// The CS selector.
    pub cs: u16,
}

impl LongModeState {
    /// Both conditions for running 64-bit code hold.
    pub fn verified(&self) -> bool {
        self.efer_lma && self.cs_long
    }
}

/// Reads EFER.LMA and the L bit of the descriptor CS points at (via SGDT).
pub fn long_mode_state() -> LongModeState {
    let efer_lma = Efer::read().contains(EferFlags::LONG_MODE_ACTIVE);
    let cs = {
        use x86_64::instructions::segmentation::{CS, Segment};
        CS::get_reg().0
    };
    let gdtr = x86_64::instructions::tables::sgdt();
    let index = (cs >> 3) as u64;
    let cs_long = if (index * 8 + 7) <= gdtr.limit as u64 {
        // SAFETY: the descriptor lies inside the limit the GDTR reports, and the GDT is
        // identity-mapped; reading 8 bytes of it has no side effect.
        let descriptor = unsafe { core::ptr::read_volatile(gdtr.base.as_ptr::<u64>().add(index as usize)) };
        descriptor & (1 << 53) != 0
    } else {
        false
    };
    LongModeState { efer_lma, cs_long, cs }
}

/// SIMD features present in the CPU and enabled by the entry code.
#[derive(Clone, Copy, Debug)]
pub struct SimdState {
    /// SSE enabled (CR4.OSFXSR and CR0.EM clear).
    pub sse: bool,
    /// CR4.OSXSAVE set.
    pub xsave: bool,
    /// AVX state enabled in XCR0.
    pub avx: bool,
    /// AVX-512 state enabled in XCR0.
    pub avx512: bool,
    /// XCR0 as programmed (0 without XSAVE).
    pub xcr0: u64,
    /// Bytes an XSAVE area needs for the enabled state (512 for FXSAVE without XSAVE).
    pub xsave_area_bytes: u32,
}

/// Reads back what the entry code enabled.
pub fn simd_state() -> SimdState {
    let cr0 = Cr0::read();
    let cr4 = Cr4::read();
    let sse = cr4.contains(Cr4Flags::OSFXSR) && !cr0.contains(Cr0Flags::EMULATE_COPROCESSOR);
    let xsave = cr4.contains(Cr4Flags::OSXSAVE);
    let (xcr0, xsave_area_bytes) = if xsave {
        // SAFETY: CR4.OSXSAVE is set, so XGETBV is allowed; CPUID is always available in
        // long mode.
        unsafe { (_xgetbv(0), __cpuid_count(0xd, 0).ebx) }
    } else {
        (0, 512)
    };
    SimdState { sse, xsave, avx: xcr0 & 0x4 != 0, avx512: xcr0 & 0xe0 == 0xe0, xcr0, xsave_area_bytes }
}

/// The CPU's brand string (CPUID 0x8000_0002..4), trimmed; empty if not reported.
pub fn brand_string(buf: &mut [u8; 48]) -> &str {
    // CPUID is always available in long mode.
    if __cpuid(0x8000_0000).eax < 0x8000_0004 {
        return "";
    }
    for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
        let r = __cpuid(leaf);
        for (j, reg) in [r.eax, r.ebx, r.ecx, r.edx].into_iter().enumerate() {
            buf[i * 16 + j * 4..i * 16 + j * 4 + 4].copy_from_slice(&reg.to_le_bytes());
        }
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(48);
    core::str::from_utf8(&buf[..len]).unwrap_or("").trim()
}

/// Stops this CPU for good: interrupts off, `hlt` forever.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Whether the CPU has RDRAND (CPUID.1:ECX bit 30).
pub fn has_rdrand() -> bool {
    __cpuid(1).ecx & (1 << 30) != 0
}

/// CPUID.1:EDX, which Linux passes to programs as AT_HWCAP.
pub fn hwcap() -> u64 {
    __cpuid(1).edx as u64
}
