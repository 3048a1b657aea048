//! Boot-time checks the tests select on the command line.
//!
//! * `bf.fault=page|gp|ud|div` — raise that CPU exception on purpose, to show the
//!   exception path reports and halts;
//! * the `pattern` module, when the image carries one, is verified word by word.

use boot_protocol::flud::FludHeader;

use crate::kprintln;
use boot_protocol::pattern::{PATTERN_MODULE, first_mismatch};

/// Address used for the deliberate page fault: above the 4 GiB stage2 maps.
pub const UNMAPPED_ADDRESS: u64 = 0x0000_0040_dead_b000;

/// Raises the exception named by `kind`; returns if the name is unknown.
pub fn raise_fault(kind: &str) {
    crate::kprintln!("selftest: raising a deliberate {} fault", kind);
    // Each arm deliberately faults; the exception handler reports the fault and stops
    // the machine, so execution never continues past it.
    match kind {
        // SAFETY: a read of an unmapped address: a page fault, reported and fatal.
        "page" => unsafe {
            core::ptr::read_volatile(UNMAPPED_ADDRESS as *const u64);
        },
        // SAFETY: a read of a non-canonical address: #GP, reported and fatal.
        "gp" => unsafe {
            core::ptr::read_volatile(0x8000_0000_0000_0000u64 as *const u64);
        },
        // SAFETY: an undefined instruction: #UD, reported and fatal.
        "ud" => unsafe { core::arch::asm!("ud2") },
        // SAFETY: a division by zero in registers the asm declares clobbered: #DE,
        // reported and fatal.
        "div" => unsafe {
            core::arch::asm!("xor edx, edx", "xor ecx, ecx", "mov eax, 1", "div ecx", out("eax") _, out("ecx") _, out("edx") _)
        },
        _ => crate::kprintln!("selftest: unknown fault kind '{}' (page, gp, ud, div)", kind),
    }
}

/// Outcome of the pattern check.
pub enum PatternCheck {
    /// The image has no pattern module.
    Absent,
    /// Every word matched.
    Verified {
        /// The module's size.
        bytes: u64,
    },
    /// A word differs.
    Mismatch {
        /// Byte offset of the first word that differs.
        offset: u64,
    },
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

/// Where the self-test may write: the [`boot_protocol::SCRATCH_SECTORS`] sectors right
/// before the FAT16 partition (MBR entry 2), if they lie after the payload.
pub fn scratch_area(mbr: &[u8], payload_end_lba: u64) -> Option<u64> {
    let entry = &mbr[446 + 16..446 + 32];
    let fat_first = u64::from(u32::from_le_bytes(entry[8..12].try_into().unwrap()));
    let start = fat_first.checked_sub(boot_protocol::SCRATCH_SECTORS)?;
    (entry[4] == 0x06 && start >= payload_end_lba).then_some(start)
}

/// `bf.disk=selftest`: on the boot disk, checks LBA 0's 0x55AA, writes the scratch
/// pattern to the scratch area, reads it back, flushes, and measures reading 8 MiB
/// (`METRIC disk.read_mib_s.<driver>`). Reports on COM1; never halts.
pub fn disk_selftest(header: &FludHeader) {
    match run_disk_selftest(header) {
        Ok(()) => kprintln!("disk: selftest passed"),
        Err(why) => kprintln!("disk: selftest FAILED: {}", why),
    }
}

fn run_disk_selftest(header: &FludHeader) -> Result<(), alloc_free::Why> {
    use crate::arch::x86_64::tsc;
    use crate::drivers::block::dma::DmaBuffer;
    use crate::drivers::block::{BlockDevice, SECTOR_SIZE, boot_disk};
    use alloc_free::Why;
    use boot_protocol::{SCRATCH_SECTORS, scratch_byte};

    let disk = boot_disk().ok_or(Why::Text("no boot disk"))?;
    let mut disk = disk.lock();
    let name = disk.driver_name();
    const CHUNK: usize = 64 * 1024;
    let mut buffer = DmaBuffer::new(CHUNK / 4096).ok_or(Why::Text("out of memory"))?;
    let buf = buffer.bytes();

    disk.read_sectors(0, &mut buf[..SECTOR_SIZE]).map_err(|e| Why::Block("reading LBA 0", e))?;
    if buf[510..512] != [0x55, 0xAA] {
        return Err(Why::Text("LBA 0 lacks the 0x55AA signature"));
    }
    kprintln!("disk: selftest on {}: LBA 0 ends in 0x55aa", name);

    let last = disk.sector_count();
    match disk.read_sectors(last, &mut buf[..SECTOR_SIZE]) {
        Err(e) => kprintln!("disk: selftest read past the last sector refused: {}", e),
        Ok(()) => return Err(Why::Text("a read past the last sector succeeded")),
    }

    let payload_end = boot_protocol::PAYLOAD_LBA + header.payload_size.div_ceil(SECTOR_SIZE as u64);
    let scratch = scratch_area(&buf[..SECTOR_SIZE], payload_end).ok_or(Why::Text("the image has no scratch area"))?;
    let bytes = SCRATCH_SECTORS as usize * SECTOR_SIZE;
    for (i, b) in buf[..bytes].iter_mut().enumerate() {
        *b = scratch_byte((i / SECTOR_SIZE) as u64, i % SECTOR_SIZE);
    }
    let start = tsc::rdtsc();
    disk.write_sectors(scratch, &buf[..bytes]).map_err(|e| Why::Block("writing the scratch area", e))?;
    let write_ms = tsc::ticks_to_ms(tsc::rdtsc() - start);
    buf[..bytes].fill(0);
    disk.read_sectors(scratch, &mut buf[..bytes]).map_err(|e| Why::Block("reading the scratch area back", e))?;
    if let Some(i) = (0..bytes).find(|&i| buf[i] != scratch_byte((i / SECTOR_SIZE) as u64, i % SECTOR_SIZE)) {
        kprintln!("disk: selftest read-back differs at byte {} of the scratch area (LBA {})", i, scratch);
        return Err(Why::Text("read-back mismatch"));
    }
    kprintln!("disk: selftest wrote {} sectors at LBA {} and read them back: ok", SCRATCH_SECTORS, scratch);
    let start = tsc::rdtsc();
    disk.flush().map_err(|e| Why::Block("flushing", e))?;
    let flush_ms = tsc::ticks_to_ms(tsc::rdtsc() - start);
    kprintln!("disk: selftest flush ok");

    let total = (8u64 << 20).min(disk.sector_count() * SECTOR_SIZE as u64) as usize;
    let start = tsc::rdtsc();
    let mut done = 0;
    while done < total {
        let n = CHUNK.min(total - done);
        disk.read_sectors((done / SECTOR_SIZE) as u64, &mut buf[..n]).map_err(|e| Why::Block("reading 8 MiB", e))?;
        done += n;
    }
    let read_ms = tsc::ticks_to_ms(tsc::rdtsc() - start);
    let mib = total as f64 / (1024.0 * 1024.0);
    let mib_s = if read_ms > 0.0 { mib / (read_ms / 1000.0) } else { 0.0 };
    kprintln!("METRIC disk.read_mib_s.{} {:.1} MiB/s", name, mib_s);
    kprintln!("METRIC disk.write_32k_ms.{} {:.2} ms", name, write_ms);
    kprintln!("METRIC disk.flush_ms.{} {:.2} ms", name, flush_ms);
    Ok(())
}

/// Failure reasons of the disk self-test, printable without allocation.
mod alloc_free {
    use crate::drivers::block::BlockError;

    /// Why the disk self-test failed.
    pub enum Why {
        /// A fixed message.
        Text(&'static str),
        /// A block operation failed while doing this.
        Block(&'static str, BlockError),
    }

    impl core::fmt::Display for Why {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                Why::Text(t) => f.write_str(t),
                Why::Block(what, e) => write!(f, "{what}: {e}"),
            }
        }
    }
}

// The dead-code map's calibration probes (docs/shrink.md): two functions of two pages
// each, page-aligned in their own section. The first is called right after the page
// tables start recording (its first page must show as touched); the second is never
// called (neither of its pages may show as touched). `tests/tests/deadcode.rs`
// finds them with `mkimage deadcode --symbols`.
core::arch::global_asm!(
    ".pushsection .text.bf_dead_code_probes, \"ax\", @progbits",
    ".p2align 12",
    ".globl bf_dead_code_probe_called",
    ".type bf_dead_code_probe_called, @function",
    "bf_dead_code_probe_called:",
    "    ret",
    "    .fill 8191, 1, 0xcc",
    ".size bf_dead_code_probe_called, 8192",
    ".globl bf_dead_code_probe_uncalled",
    ".type bf_dead_code_probe_uncalled, @function",
    "bf_dead_code_probe_uncalled:",
    "    ret",
    "    .fill 8191, 1, 0xcc",
    ".size bf_dead_code_probe_uncalled, 8192",
    ".popsection",
);

unsafe extern "C" {
    fn bf_dead_code_probe_called();
}

/// Calls the dead-code map's first probe (a `ret` at the start of two pages).
pub fn dead_code_probe_called() {
    // SAFETY: the probe is a plain `ret`, defined above.
    unsafe { bf_dead_code_probe_called() }
}
