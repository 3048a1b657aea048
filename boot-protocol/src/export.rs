//! The export runtime's header: the contract between the tiny `no_std` runtime of an
//! exported image (`export-runtime/`) and the kernel's linker that places an app
//! behind it (`crates/export`, docs/shrink.md).
//!
//! The runtime is a flat binary loaded at [`LOAD_ADDR`]; its first
//! [`RUNTIME_HEADER_SIZE`] bytes are this header (little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | `0x00` | 8 | a jump to the runtime's start code (the payload's entry is [`LOAD_ADDR`]) |
//! | `0x08` | 4 | magic `BFRT` |
//! | `0x0C` | 4 | version ([`RUNTIME_VERSION`]) |
//! | `0x10` | 8 | `image_end`: the address after the runtime's last file byte |
//! | `0x18` | 8 | `memory_end`: the address after the runtime's BSS; an app goes at or after it |
//! | `0x20` | 8 × 16 | the addresses of the runtime's symbols, in the order of [`RUNTIME_SYMBOLS`] (unused slots 0) |
//! | `0xA0` | 8 | `app_entry`: the app's `bf_app_main` (the linker fills it in) |
//! | `0xA8` | 32 | `app_name`: the app's name, NUL-padded (the linker) |
//! | `0xC8` | 4 | `flags`: [`FLAG_TRIMMED`] (the linker) |
//! | `0xCC` | 4 | functions exported with code (the linker) |
//! | `0xD0` | 4 | functions trimmed to a cold-path stub (the linker) |
//! | `0xD4` | 4 | reserved, zero |
//! | `0xD8` | 8 | `bss_start`: the app's zero-initialised data, which the image does not store (the linker) |
//! | `0xE0` | 8 | `bss_end`: the runtime zeroes `bss_start..bss_end` before it calls the app (the linker) |
//! | `0xE8` | 24 | reserved, zero |
//!
//! The runtime's start code runs in long mode as stage2 leaves it (identity-mapped
//! 4 GiB, interrupts off, RDI = the boot-info block), sets up its own stack, zeroes
//! its BSS, enables SSE, prints a banner and calls `app_entry` between the app's own
//! section markers.

use crate::LOAD_ADDR;

/// `BFRT`: the runtime header's magic.
pub const RUNTIME_MAGIC: [u8; 4] = *b"BFRT";
/// The only version of the header.
pub const RUNTIME_VERSION: u32 = 1;
/// Size of the header in bytes.
pub const RUNTIME_HEADER_SIZE: usize = 0x100;
/// Slots of the symbol table.
pub const RUNTIME_SYMBOL_SLOTS: usize = 16;
/// Longest app name, in bytes.
pub const APP_NAME_LEN: usize = 32;
/// Flag: functions the profile never saw run were replaced by cold-path stubs.
pub const FLAG_TRIMMED: u32 = 1;

/// The symbols the runtime defines for an app, in the order of the header's table:
/// the app ABI's five host functions, the cold-path stub trimmed functions call
/// (`bf_cold_path(name: *const u8)`, a NUL-terminated name; it never returns) and the
/// memory functions LLVM's code generator calls.
pub const RUNTIME_SYMBOLS: [&str; 11] = [
    "bf_print",
    "bf_print_u64",
    "bf_cycles",
    "bf_section_begin",
    "bf_section_end",
    "bf_cold_path",
    "memcpy",
    "memmove",
    "memset",
    "memcmp",
    "bcmp",
];

const OFF_MAGIC: usize = 0x08;
const OFF_VERSION: usize = 0x0C;
const OFF_IMAGE_END: usize = 0x10;
const OFF_MEMORY_END: usize = 0x18;
const OFF_SYMBOLS: usize = 0x20;
const OFF_APP_ENTRY: usize = 0xA0;
// The symbol slots end where the app's entry begins.
const _: () = assert!(OFF_SYMBOLS + 8 * RUNTIME_SYMBOL_SLOTS == OFF_APP_ENTRY);
const OFF_APP_NAME: usize = 0xA8;
const OFF_FLAGS: usize = 0xC8;
const OFF_EXPORTED: usize = 0xCC;
const OFF_TRIMMED: usize = 0xD0;
const OFF_BSS_START: usize = 0xD8;
const OFF_BSS_END: usize = 0xE0;

/// Why a runtime image or an app description is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeError {
    /// Shorter than its header, or than its own `image_end` says.
    Truncated,
    /// No `BFRT` magic at offset 8.
    BadMagic,
    /// A version this code does not know.
    UnsupportedVersion,
    /// `image_end`/`memory_end` or a symbol address lies outside the runtime.
    BadLayout,
    /// An app name that is empty, too long or not ASCII.
    BadAppName,
}

impl core::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RuntimeError::Truncated => "the export runtime is truncated",
            RuntimeError::BadMagic => "the export runtime lacks its BFRT header",
            RuntimeError::UnsupportedVersion => "the export runtime's header version is not 1",
            RuntimeError::BadLayout => "the export runtime's header describes addresses outside it",
            RuntimeError::BadAppName => "an app name must be 1 to 32 ASCII characters",
        })
    }
}

fn read_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn read_u64(b: &[u8], off: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(bytes)
}

/// The runtime's own part of the header, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeHeader {
    /// The address after the runtime's last file byte.
    pub image_end: u64,
    /// The address after the runtime's BSS.
    pub memory_end: u64,
    /// The addresses of [`RUNTIME_SYMBOLS`], in that order.
    pub symbols: [u64; RUNTIME_SYMBOLS.len()],
}

impl RuntimeHeader {
    /// Decodes and checks the header at the start of the runtime image `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, RuntimeError> {
        if bytes.len() < RUNTIME_HEADER_SIZE {
            return Err(RuntimeError::Truncated);
        }
        if bytes[OFF_MAGIC..OFF_MAGIC + 4] != RUNTIME_MAGIC {
            return Err(RuntimeError::BadMagic);
        }
        if read_u32(bytes, OFF_VERSION) != RUNTIME_VERSION {
            return Err(RuntimeError::UnsupportedVersion);
        }
        let image_end = read_u64(bytes, OFF_IMAGE_END);
        let memory_end = read_u64(bytes, OFF_MEMORY_END);
        let mut symbols = [0u64; RUNTIME_SYMBOLS.len()];
        for (i, s) in symbols.iter_mut().enumerate() {
            *s = read_u64(bytes, OFF_SYMBOLS + 8 * i);
        }
        let file_end = LOAD_ADDR + bytes.len() as u64;
        if image_end != file_end {
            return Err(if image_end > file_end { RuntimeError::Truncated } else { RuntimeError::BadLayout });
        }
        let code = LOAD_ADDR + RUNTIME_HEADER_SIZE as u64..image_end;
        if memory_end < image_end || symbols.iter().any(|s| !code.contains(s)) {
            return Err(RuntimeError::BadLayout);
        }
        Ok(RuntimeHeader { image_end, memory_end, symbols })
    }

    /// The address of the runtime symbol `name`, if the runtime defines it.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        RUNTIME_SYMBOLS.iter().position(|s| *s == name).map(|i| self.symbols[i])
    }
}

/// What the linker writes into the header about the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppRecord<'a> {
    /// The address of the app's `bf_app_main`.
    pub entry: u64,
    /// The app's name (the `<name>` of `app.<name>.exported_cycles`).
    pub name: &'a str,
    /// [`FLAG_TRIMMED`] or 0.
    pub flags: u32,
    /// Functions exported with code.
    pub exported: u32,
    /// Functions replaced by cold-path stubs.
    pub trimmed: u32,
    /// The app's BSS (not stored in the image; the runtime zeroes it): first byte.
    pub bss_start: u64,
    /// One past its last byte.
    pub bss_end: u64,
}

impl AppRecord<'_> {
    /// Writes the record into the header at the start of `runtime` (a copy of the
    /// runtime image).
    pub fn write_to(&self, runtime: &mut [u8]) -> Result<(), RuntimeError> {
        if self.name.is_empty() || self.name.len() > APP_NAME_LEN || !self.name.is_ascii() {
            return Err(RuntimeError::BadAppName);
        }
        if runtime.len() < RUNTIME_HEADER_SIZE {
            return Err(RuntimeError::Truncated);
        }
        runtime[OFF_APP_ENTRY..OFF_APP_ENTRY + 8].copy_from_slice(&self.entry.to_le_bytes());
        let name = &mut runtime[OFF_APP_NAME..OFF_APP_NAME + APP_NAME_LEN];
        name.fill(0);
        name[..self.name.len()].copy_from_slice(self.name.as_bytes());
        runtime[OFF_FLAGS..OFF_FLAGS + 4].copy_from_slice(&self.flags.to_le_bytes());
        runtime[OFF_EXPORTED..OFF_EXPORTED + 4].copy_from_slice(&self.exported.to_le_bytes());
        runtime[OFF_TRIMMED..OFF_TRIMMED + 4].copy_from_slice(&self.trimmed.to_le_bytes());
        runtime[OFF_BSS_START..OFF_BSS_START + 8].copy_from_slice(&self.bss_start.to_le_bytes());
        runtime[OFF_BSS_END..OFF_BSS_END + 8].copy_from_slice(&self.bss_end.to_le_bytes());
        Ok(())
    }

    /// Reads the record back from a runtime image's header (an exported payload).
    pub fn read_from(runtime: &[u8]) -> Option<AppRecord<'_>> {
        if runtime.len() < RUNTIME_HEADER_SIZE || runtime[OFF_MAGIC..OFF_MAGIC + 4] != RUNTIME_MAGIC {
            return None;
        }
        let name = &runtime[OFF_APP_NAME..OFF_APP_NAME + APP_NAME_LEN];
        let len = name.iter().position(|&b| b == 0).unwrap_or(APP_NAME_LEN);
        Some(AppRecord {
            entry: read_u64(runtime, OFF_APP_ENTRY),
            name: core::str::from_utf8(&name[..len]).ok()?,
            flags: read_u32(runtime, OFF_FLAGS),
            exported: read_u32(runtime, OFF_EXPORTED),
            trimmed: read_u32(runtime, OFF_TRIMMED),
            bss_start: read_u64(runtime, OFF_BSS_START),
            bss_end: read_u64(runtime, OFF_BSS_END),
        })
    }
}

/// Offsets of the header's fields, for the runtime's assembly (pinned by a test).
pub mod offsets {
    /// `image_end`.
    pub const IMAGE_END: usize = super::OFF_IMAGE_END;
    /// `memory_end`.
    pub const MEMORY_END: usize = super::OFF_MEMORY_END;
    /// The symbol table.
    pub const SYMBOLS: usize = super::OFF_SYMBOLS;
    /// `app_entry`.
    pub const APP_ENTRY: usize = super::OFF_APP_ENTRY;
    /// `app_name`.
    pub const APP_NAME: usize = super::OFF_APP_NAME;
    /// `flags`.
    pub const FLAGS: usize = super::OFF_FLAGS;
    /// Functions exported.
    pub const EXPORTED: usize = super::OFF_EXPORTED;
    /// Functions trimmed.
    pub const TRIMMED: usize = super::OFF_TRIMMED;
    /// The app's BSS start.
    pub const BSS_START: usize = super::OFF_BSS_START;
    /// The app's BSS end.
    pub const BSS_END: usize = super::OFF_BSS_END;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime image of `len` bytes with a valid header.
    fn runtime(len: usize) -> [u8; 0x400] {
        let mut b = [0u8; 0x400];
        b[..2].copy_from_slice(&[0xEB, 0x7E]);
        b[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(b"BFRT");
        b[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&1u32.to_le_bytes());
        b[OFF_IMAGE_END..OFF_IMAGE_END + 8].copy_from_slice(&(LOAD_ADDR + len as u64).to_le_bytes());
        b[OFF_MEMORY_END..OFF_MEMORY_END + 8].copy_from_slice(&(LOAD_ADDR + 0x2000).to_le_bytes());
        for i in 0..RUNTIME_SYMBOLS.len() {
            let at = LOAD_ADDR + 0x100 + 16 * i as u64;
            b[OFF_SYMBOLS + 8 * i..OFF_SYMBOLS + 8 * i + 8].copy_from_slice(&at.to_le_bytes());
        }
        b
    }

    #[test]
    fn decodes_a_runtime_and_finds_its_symbols() {
        let b = runtime(0x400);
        let h = RuntimeHeader::decode(&b).unwrap();
        assert_eq!(h.memory_end, LOAD_ADDR + 0x2000);
        assert_eq!(h.symbol("bf_print"), Some(LOAD_ADDR + 0x100));
        assert_eq!(h.symbol("bcmp"), Some(LOAD_ADDR + 0x100 + 160));
        assert_eq!(h.symbol("printf"), None);
    }

    #[test]
    fn refuses_bad_runtimes() {
        let mut b = runtime(0x400);
        assert_eq!(RuntimeHeader::decode(&b[..0x80]), Err(RuntimeError::Truncated));
        assert_eq!(RuntimeHeader::decode(&b[..0x300]), Err(RuntimeError::Truncated));
        b[OFF_SYMBOLS + 2] = 0;
        assert_eq!(RuntimeHeader::decode(&b), Err(RuntimeError::BadLayout));
        let mut b = runtime(0x400);
        b[OFF_VERSION] = 2;
        assert_eq!(RuntimeHeader::decode(&b), Err(RuntimeError::UnsupportedVersion));
        b[OFF_MAGIC] = b'X';
        assert_eq!(RuntimeHeader::decode(&b), Err(RuntimeError::BadMagic));
    }

    #[test]
    fn app_record_round_trips() {
        let mut b = runtime(0x400);
        let record = AppRecord {
            entry: LOAD_ADDR + 0x3000,
            name: "tinyllama",
            flags: FLAG_TRIMMED,
            exported: 9,
            trimmed: 4,
            bss_start: LOAD_ADDR + 0x4000,
            bss_end: LOAD_ADDR + 0x9000,
        };
        record.write_to(&mut b).unwrap();
        assert_eq!(AppRecord::read_from(&b), Some(record));
        let long = AppRecord { name: "a-name-that-is-longer-than-32-bytes", ..record };
        assert_eq!(long.write_to(&mut b), Err(RuntimeError::BadAppName));
    }

    #[test]
    fn offsets_are_the_documented_ones() {
        assert_eq!(
            (offsets::IMAGE_END, offsets::MEMORY_END, offsets::SYMBOLS, offsets::APP_ENTRY, offsets::APP_NAME),
            (0x10, 0x18, 0x20, 0xA0, 0xA8)
        );
        assert_eq!((offsets::FLAGS, offsets::EXPORTED, offsets::TRIMMED), (0xC8, 0xCC, 0xD0));
        assert_eq!((offsets::BSS_START, offsets::BSS_END), (0xD8, 0xE0));
    }
}
