//! What stage2 handed over: the boot-info block, the E820 map, the FLUD header and its
//! command line, the boot-time figures derived from the TSC stamps, and the kernel's own
//! build id.

use boot_protocol::bootinfo::{BootInfo, E820Entry, MAX_E820_ENTRIES};
use boot_protocol::flud::{FludHeader, HEADER_SIZE};

use crate::arch::x86_64::tsc;

/// Reads the boot-info block at `addr`, if it carries the right magic, version and size.
///
/// # Safety
/// `addr` must be the pointer stage2 passed in RDI (identity-mapped low memory).
pub unsafe fn boot_info(addr: u64) -> Option<BootInfo> {
    if addr == 0 || !addr.is_multiple_of(8) || addr >= 0x10_0000 {
        return None;
    }
    // SAFETY: the caller guarantees `addr` points at stage2's block in low memory; it is
    // 8-byte aligned and BootInfo is plain old data.
    let info = unsafe { core::ptr::read_volatile(addr as *const BootInfo) };
    info.is_valid().then_some(info)
}

/// The E820 entries stage2 stored.
///
/// # Safety
/// `info` must be a validated block from [`boot_info`].
pub unsafe fn e820_map(info: &BootInfo) -> &'static [E820Entry] {
    let count = (info.e820_count as usize).min(MAX_E820_ENTRIES);
    // SAFETY: stage2 stored `count` 24-byte entries at `e820_addr` in low memory, which
    // the kernel keeps reserved for its whole life.
    unsafe { core::slice::from_raw_parts(info.e820_addr as usize as *const E820Entry, count) }
}

/// Decodes (and so re-checks) the copy of the FLUD header stage2 left in low memory.
///
/// # Safety
/// `info` must be a validated block from [`boot_info`].
pub unsafe fn flud_header(info: &BootInfo) -> Result<FludHeader, boot_protocol::flud::FludError> {
    // SAFETY: stage2 copied the 512-byte header to `flud_header_addr` in low memory.
    let bytes = unsafe { core::slice::from_raw_parts(info.flud_header_addr as usize as *const u8, HEADER_SIZE) };
    FludHeader::decode(bytes)
}

/// Boot-time figures, in milliseconds and MiB/s.
#[derive(Clone, Copy, Debug)]
pub struct BootFigures {
    /// stage1's first instruction → kernel entry.
    pub stage1_to_kernel_ms: f64,
    /// Reading and placing the payload.
    pub load_ms: f64,
    /// Payload load throughput.
    pub load_mib_s: f64,
    /// stage2's payload CRC check.
    pub crc_ms: f64,
}

/// Derives the figures from the TSC stamps (needs a calibrated TSC).
pub fn figures(info: &BootInfo, kernel_entry_tsc: u64, payload_bytes: u64) -> BootFigures {
    let load_ms = tsc::ticks_to_ms(info.tsc_load_end.wrapping_sub(info.tsc_load_start));
    BootFigures {
        stage1_to_kernel_ms: tsc::ticks_to_ms(kernel_entry_tsc.wrapping_sub(info.tsc_stage1)),
        load_ms,
        load_mib_s: if load_ms > 0.0 { payload_bytes as f64 / (1024.0 * 1024.0) / (load_ms / 1000.0) } else { 0.0 },
        crc_ms: tsc::ticks_to_ms(info.tsc_verified.wrapping_sub(info.tsc_load_end)),
    }
}

/// Kernel options on the command line: words starting with `bf.`; the rest will be the
/// application's arguments.
pub fn kernel_option<'a>(cmdline: &'a str, name: &str) -> Option<&'a str> {
    cmdline.split_ascii_whitespace().find_map(|word| {
        let rest = word.strip_prefix("bf.")?.strip_prefix(name)?;
        if rest.is_empty() { Some("") } else { rest.strip_prefix('=') }
    })
}

/// The descriptor of a GNU build-id note (`namesz`, `descsz`, `type` = 3, `"GNU\0"`,
/// then the id); empty if `note` is not one.
pub fn build_id_of_note(note: &[u8]) -> &[u8] {
    let word = |at: usize| note.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    let (Some(namesz), Some(descsz), Some(3)) = (word(0), word(4), word(8)) else { return &[] };
    let desc = 12 + namesz.next_multiple_of(4);
    if note.get(12..12 + namesz) != Some(b"GNU\0".as_slice()) {
        return &[];
    }
    note.get(desc..desc + descsz).unwrap_or(&[])
}

#[cfg(not(test))]
unsafe extern "C" {
    /// Start of the GNU build-id note (linker.ld).
    static __bf_build_id_start: u8;
    /// End of the GNU build-id note (linker.ld).
    static __bf_build_id_end: u8;
}

/// This kernel's GNU build id (`ld --build-id=sha1`, 20 bytes): what snapshots are keyed
/// by. The same on bare metal and as a Linux program.
#[cfg(not(test))]
pub fn build_id() -> &'static [u8] {
    let (start, end) = (&raw const __bf_build_id_start, &raw const __bf_build_id_end);
    // SAFETY: linker.ld puts both symbols around the `.note.gnu.build-id` section, in
    // the kernel's read-only image (loaded by stage2, or mapped by Linux), which lives
    // as long as the program.
    let note = unsafe { core::slice::from_raw_parts(start, (end as usize).saturating_sub(start as usize)) };
    build_id_of_note(note)
}

/// Unit tests link no kernel image and so have no build id.
#[cfg(test)]
pub fn build_id() -> &'static [u8] {
    &[]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_gnu_build_id_note_gives_its_descriptor() {
        let mut note = vec![4, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0];
        note.extend_from_slice(b"GNU\0");
        note.extend_from_slice(&[0xaa, 0xbb, 0xcc]);
        assert_eq!(super::build_id_of_note(&note), [0xaa, 0xbb, 0xcc]);
        assert!(super::build_id_of_note(&note[..18]).is_empty(), "a cut descriptor");
        note[8] = 1;
        assert!(super::build_id_of_note(&note).is_empty(), "not a build-id note");
        assert!(super::build_id_of_note(&[]).is_empty());
    }

    use super::kernel_option;

    #[test]
    fn options_are_found_by_exact_name() {
        let cmd = "bf.fault=page app arg bf.verbose bf.faulty=1";
        assert_eq!(kernel_option(cmd, "fault"), Some("page"));
        assert_eq!(kernel_option(cmd, "verbose"), Some(""));
        assert_eq!(kernel_option(cmd, "faulty"), Some("1"));
        assert_eq!(kernel_option(cmd, "app"), None);
        assert_eq!(kernel_option("", "fault"), None);
    }
}
