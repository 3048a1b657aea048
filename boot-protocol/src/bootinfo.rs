//! The boot-info block stage2 leaves at physical `0x9000` and passes to the kernel in `RDI`.

/// `BFBI` read as a little-endian u32.
pub const BOOT_INFO_MAGIC: u32 = u32::from_le_bytes(*b"BFBI");
/// The only boot-info version.
pub const BOOT_INFO_VERSION: u16 = 1;
/// Physical address stage2 writes the block to.
pub const BOOT_INFO_ADDR: u64 = 0x9000;
/// Most E820 entries stage2 stores.
pub const MAX_E820_ENTRIES: usize = 128;

/// How stage2 got the A20 line enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum A20Method {
    /// It was already on (QEMU, most modern machines).
    AlreadyOn = 0,
    /// BIOS INT 15h AX=2401h.
    Bios = 1,
    /// "Fast A20", system control port 0x92.
    Fast = 2,
    /// The 8042 keyboard controller's output port.
    KeyboardController = 3,
}

impl A20Method {
    /// Human-readable name, as stage2 prints it ("already on", "BIOS", ...).
    pub fn describe(self) -> &'static str {
        match self {
            A20Method::AlreadyOn => "already on",
            A20Method::Bios => "BIOS INT 15h",
            A20Method::Fast => "fast A20 (port 0x92)",
            A20Method::KeyboardController => "8042 keyboard controller",
        }
    }
}

/// The block itself. `#[repr(C)]` with explicit field order: the offsets are part of the
/// protocol (see `docs/boot-protocol.md`) and pinned by a unit test.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u32,
    /// [`BOOT_INFO_VERSION`].
    pub version: u16,
    /// `size_of::<BootInfo>()`.
    pub size: u16,
    /// BIOS drive number the machine booted from.
    pub boot_drive: u8,
    /// See [`A20Method`]; kept raw so a bad value cannot be undefined behaviour.
    pub a20_method: u8,
    /// Number of E820 entries at `e820_addr`.
    pub e820_count: u16,
    /// Physical address of the E820 entries.
    pub e820_addr: u32,
    /// TSC at stage1's first instruction.
    pub tsc_stage1: u64,
    /// TSC before stage2 reads the first payload sector.
    pub tsc_load_start: u64,
    /// TSC once the whole payload is at its load address.
    pub tsc_load_end: u64,
    /// TSC after the payload CRC check.
    pub tsc_verified: u64,
    /// TSC just before stage2 jumps to the kernel.
    pub tsc_stage2_exit: u64,
    /// Physical address of the copy of the FLUD header.
    pub flud_header_addr: u32,
    /// Sectors per INT 13h read that the BIOS accepted.
    pub sectors_per_read: u16,
    /// VGA text cursor at hand-off: row in the high byte, column in the low byte.
    pub vga_cursor: u16,
}

/// One entry of the BIOS E820 memory map, as INT 15h EAX=E820h returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct E820Entry {
    /// Physical base address.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// Region type; see [`E820Entry::kind_name`].
    pub kind: u32,
    /// ACPI 3.0 extended attributes (bit 0 clear = ignore the entry).
    pub ext_attributes: u32,
}

/// E820 type of usable RAM.
pub const E820_USABLE: u32 = 1;

impl E820Entry {
    /// Human-readable name of the region type.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            1 => "usable",
            2 => "reserved",
            3 => "ACPI reclaimable",
            4 => "ACPI NVS",
            5 => "bad memory",
            _ => "other",
        }
    }
}

impl BootInfo {
    /// Whether magic, version and size are what this kernel understands.
    pub fn is_valid(&self) -> bool {
        self.magic == BOOT_INFO_MAGIC
            && self.version == BOOT_INFO_VERSION
            && self.size as usize == core::mem::size_of::<BootInfo>()
            && self.e820_count as usize <= MAX_E820_ENTRIES
    }

    /// How A20 was enabled, if the value is known.
    pub fn a20(&self) -> Option<A20Method> {
        Some(match self.a20_method {
            0 => A20Method::AlreadyOn,
            1 => A20Method::Bios,
            2 => A20Method::Fast,
            3 => A20Method::KeyboardController,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_docs_and_stage2() {
        assert_eq!(size_of::<BootInfo>(), 64);
        assert_eq!(offset_of!(BootInfo, boot_drive), 0x08);
        assert_eq!(offset_of!(BootInfo, a20_method), 0x09);
        assert_eq!(offset_of!(BootInfo, e820_count), 0x0A);
        assert_eq!(offset_of!(BootInfo, e820_addr), 0x0C);
        assert_eq!(offset_of!(BootInfo, tsc_stage1), 0x10);
        assert_eq!(offset_of!(BootInfo, tsc_load_start), 0x18);
        assert_eq!(offset_of!(BootInfo, tsc_load_end), 0x20);
        assert_eq!(offset_of!(BootInfo, tsc_verified), 0x28);
        assert_eq!(offset_of!(BootInfo, tsc_stage2_exit), 0x30);
        assert_eq!(offset_of!(BootInfo, flud_header_addr), 0x38);
        assert_eq!(offset_of!(BootInfo, sectors_per_read), 0x3C);
        assert_eq!(offset_of!(BootInfo, vga_cursor), 0x3E);
        assert_eq!(size_of::<E820Entry>(), 24);
        assert_eq!(BOOT_INFO_MAGIC.to_le_bytes(), *b"BFBI");
    }
}
