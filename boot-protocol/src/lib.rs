//! BareFlow's boot protocol, shared by the image tool (host) and the kernel.
//!
//! * [`flud`] — the one-sector FLUD image header that stage2 verifies before it
//!   loads the kernel payload;
//! * [`bootinfo`] — the block stage2 hands to the kernel in `RDI`;
//! * [`pattern`] — the known content of the boot-test module the kernel verifies;
//! * [`export`] — the header of the runtime an exported image runs its app on;
//! * [`mbr`] — the MBR's partition table (entries, CHS addresses).
//!
//! The assembly side of the protocol (stage1, stage2) uses the same offsets; they are
//! written out in `docs/boot-protocol.md` and pinned by the unit tests here.
#![no_std]

pub mod bootinfo;
pub mod export;
pub mod flud;
pub mod mbr;
pub mod pattern;

/// Size of one disk sector, in bytes.
pub const SECTOR_SIZE: usize = 512;
/// LBA of stage2's first sector.
pub const STAGE2_LBA: u64 = 1;
/// Number of sectors reserved for stage2 (4 KiB).
pub const STAGE2_SECTORS: u64 = 8;
/// LBA of the FLUD header.
pub const FLUD_HEADER_LBA: u64 = 9;
/// LBA of the first payload sector.
pub const PAYLOAD_LBA: u64 = 10;
/// Sectors reserved for disk self-tests right before the FAT16 partition (after the
/// payload, inside the boot-data partition): the image tool leaves them zero and keeps
/// them out of the payload, so the kernel's `bf.disk=selftest` may overwrite them.
pub const SCRATCH_SECTORS: u64 = 64;

/// The byte at offset `byte` of scratch sector `sector` (counted from the area's
/// start) that the disk self-test writes, so the host can check it landed on the image.
pub const fn scratch_byte(sector: u64, byte: usize) -> u8 {
    (pattern::pattern_word(sector * 64 + (byte / 8) as u64) >> ((byte % 8) * 8)) as u8
}

/// Physical address the payload is loaded to (and the kernel ELF is linked at).
pub const LOAD_ADDR: u64 = 0x10_0000;

/// Where the kernel links the AOT apps' zero-initialised statics (`linker.ld`'s
/// `.aot_bss`): a window the kernel maps to frames only while an AOT app runs, so the
/// ~11 MB of the apps' arrays cost no memory the rest of the time. It is a `PT_LOAD`
/// segment without file bytes: the image tool leaves it out of the flat image and its
/// memory size, and stage2 never touches it. Below 2 GiB (the AOT code reaches it
/// RIP-relative from the kernel's text), above the RAM of a small machine; on a machine
/// with RAM here, the kernel keeps the window's frames out of use.
pub const AOT_WINDOW: core::ops::Range<u64> = 0x7000_0000..0x7400_0000;
