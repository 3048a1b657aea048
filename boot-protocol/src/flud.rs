//! The FLUD image header: one 512-byte sector at LBA 9 describing the kernel payload.
//!
//! Layout (little-endian), see `docs/boot-protocol.md`:
//! magic `FLUD`, version, header size, flags, header CRC32, payload size, load address,
//! entry point, payload CRC32, module count, kernel image size, a 6-entry module table
//! and a 256-byte command line.

use crate::LOAD_ADDR;

/// Header magic, ASCII `FLUD`.
pub const MAGIC: [u8; 4] = *b"FLUD";
/// The only header version this code reads and writes.
pub const VERSION: u16 = 1;
/// Size of the encoded header in bytes (one sector).
pub const HEADER_SIZE: usize = 512;
/// Most modules a header can describe.
pub const MAX_MODULES: usize = 6;
/// Longest module name, in bytes.
pub const MODULE_NAME_LEN: usize = 16;
/// Longest command line, in bytes (one more byte holds the terminating NUL).
pub const CMDLINE_MAX: usize = 255;

const OFF_VERSION: usize = 0x004;
const OFF_HEADER_SIZE: usize = 0x006;
const OFF_FLAGS: usize = 0x008;
const OFF_HEADER_CRC: usize = 0x00C;
const OFF_PAYLOAD_SIZE: usize = 0x010;
const OFF_LOAD_ADDR: usize = 0x018;
const OFF_ENTRY: usize = 0x020;
const OFF_PAYLOAD_CRC: usize = 0x028;
const OFF_MODULE_COUNT: usize = 0x02C;
const OFF_KERNEL_SIZE: usize = 0x030;
const OFF_MODULES: usize = 0x040;
const MODULE_ENTRY_SIZE: usize = 32;
const OFF_CMDLINE: usize = 0x100;

/// A named blob inside the payload (for example the boot-test pattern, or app bitcode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Module {
    /// Offset of the module's first byte from the start of the payload.
    pub offset: u64,
    /// Size of the module in bytes.
    pub size: u64,
    /// ASCII name, NUL-padded.
    pub name: [u8; MODULE_NAME_LEN],
}

impl Module {
    /// Builds a module entry; fails if the name is longer than [`MODULE_NAME_LEN`] or not ASCII.
    pub fn new(name: &str, offset: u64, size: u64) -> Result<Self, FludError> {
        if name.len() > MODULE_NAME_LEN || !name.is_ascii() || name.is_empty() {
            return Err(FludError::BadModuleName);
        }
        let mut bytes = [0u8; MODULE_NAME_LEN];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Ok(Self { offset, size, name: bytes })
    }

    /// The module's name without its NUL padding.
    pub fn name(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(MODULE_NAME_LEN);
        core::str::from_utf8(&self.name[..len]).unwrap_or("")
    }
}

/// The decoded FLUD header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FludHeader {
    /// Header flags; none are defined in version 1.
    pub flags: u32,
    /// Payload size in bytes.
    pub payload_size: u64,
    /// Physical address of payload byte 0.
    pub load_addr: u64,
    /// Physical address of the kernel's 64-bit entry point.
    pub entry: u64,
    /// CRC-32/IEEE of the payload.
    pub payload_crc32: u32,
    /// Size of the kernel's memory image from `load_addr`, BSS included. Modules start at
    /// or after it. It may exceed `payload_size`: the BSS tail is not stored.
    pub kernel_size: u64,
    /// Number of valid entries in `modules`.
    pub module_count: u32,
    /// Module table; entries past `module_count` are zero.
    pub modules: [Module; MAX_MODULES],
    /// Command line bytes (without the terminating NUL).
    pub cmdline: [u8; CMDLINE_MAX + 1],
    /// Length of the command line in bytes.
    pub cmdline_len: usize,
}

/// Why a header could not be built or accepted. The messages match stage2's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FludError {
    /// The buffer is shorter than one sector.
    Truncated,
    /// The magic is not `FLUD`.
    BadSignature,
    /// Version or header size not supported.
    UnsupportedVersion,
    /// The header CRC does not match.
    HeaderChecksum,
    /// Load address, payload size, entry point or module table inconsistent.
    BadLayout,
    /// The payload CRC does not match.
    PayloadChecksum,
    /// The command line is too long or not ASCII.
    BadCmdline,
    /// A module name is empty, too long or not ASCII.
    BadModuleName,
    /// More than [`MAX_MODULES`] modules.
    TooManyModules,
}

impl core::fmt::Display for FludError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FludError::Truncated => "FLUD: header truncated",
            FludError::BadSignature => "FLUD: bad signature",
            FludError::UnsupportedVersion => "FLUD: unsupported header version",
            FludError::HeaderChecksum => "FLUD: header checksum mismatch",
            FludError::BadLayout => "FLUD: bad image layout",
            FludError::PayloadChecksum => "FLUD: payload checksum mismatch",
            FludError::BadCmdline => "FLUD: command line too long or not ASCII",
            FludError::BadModuleName => "FLUD: bad module name",
            FludError::TooManyModules => "FLUD: too many modules",
        })
    }
}

impl core::error::Error for FludError {}

fn read_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn read_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn read_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// CRC-32/IEEE of `data` (the checksum stage2 computes).
pub fn crc32(data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(data);
    h.finalize()
}

impl FludHeader {
    /// A header for a payload of `payload_size` bytes loaded at [`LOAD_ADDR`].
    pub fn new(payload_size: u64, entry: u64, payload_crc32: u32, kernel_size: u64) -> Self {
        Self {
            flags: 0,
            payload_size,
            load_addr: LOAD_ADDR,
            entry,
            payload_crc32,
            kernel_size,
            module_count: 0,
            modules: [Module::default(); MAX_MODULES],
            cmdline: [0; CMDLINE_MAX + 1],
            cmdline_len: 0,
        }
    }

    /// Sets the kernel command line (ASCII, at most [`CMDLINE_MAX`] bytes, no NUL).
    pub fn set_cmdline(&mut self, cmdline: &str) -> Result<(), FludError> {
        if cmdline.len() > CMDLINE_MAX || !cmdline.is_ascii() || cmdline.contains('\0') {
            return Err(FludError::BadCmdline);
        }
        self.cmdline = [0; CMDLINE_MAX + 1];
        self.cmdline[..cmdline.len()].copy_from_slice(cmdline.as_bytes());
        self.cmdline_len = cmdline.len();
        Ok(())
    }

    /// The command line as a string slice.
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// Appends a module entry.
    pub fn push_module(&mut self, module: Module) -> Result<(), FludError> {
        let n = self.module_count as usize;
        if n >= MAX_MODULES {
            return Err(FludError::TooManyModules);
        }
        self.modules[n] = module;
        self.module_count += 1;
        Ok(())
    }

    /// The valid module entries.
    pub fn modules(&self) -> &[Module] {
        &self.modules[..(self.module_count as usize).min(MAX_MODULES)]
    }

    /// Finds a module by name.
    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules().iter().find(|m| m.name() == name)
    }

    /// Encodes the header into one sector, header CRC included.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[..4].copy_from_slice(&MAGIC);
        b[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&VERSION.to_le_bytes());
        b[OFF_HEADER_SIZE..OFF_HEADER_SIZE + 2].copy_from_slice(&(HEADER_SIZE as u16).to_le_bytes());
        b[OFF_FLAGS..OFF_FLAGS + 4].copy_from_slice(&self.flags.to_le_bytes());
        b[OFF_PAYLOAD_SIZE..OFF_PAYLOAD_SIZE + 8].copy_from_slice(&self.payload_size.to_le_bytes());
        b[OFF_LOAD_ADDR..OFF_LOAD_ADDR + 8].copy_from_slice(&self.load_addr.to_le_bytes());
        b[OFF_ENTRY..OFF_ENTRY + 8].copy_from_slice(&self.entry.to_le_bytes());
        b[OFF_PAYLOAD_CRC..OFF_PAYLOAD_CRC + 4].copy_from_slice(&self.payload_crc32.to_le_bytes());
        b[OFF_MODULE_COUNT..OFF_MODULE_COUNT + 4].copy_from_slice(&self.module_count.to_le_bytes());
        b[OFF_KERNEL_SIZE..OFF_KERNEL_SIZE + 8].copy_from_slice(&self.kernel_size.to_le_bytes());
        for (i, m) in self.modules().iter().enumerate() {
            let o = OFF_MODULES + i * MODULE_ENTRY_SIZE;
            b[o..o + 8].copy_from_slice(&m.offset.to_le_bytes());
            b[o + 8..o + 16].copy_from_slice(&m.size.to_le_bytes());
            b[o + 16..o + 32].copy_from_slice(&m.name);
        }
        b[OFF_CMDLINE..OFF_CMDLINE + self.cmdline_len].copy_from_slice(&self.cmdline[..self.cmdline_len]);
        let crc = crc32(&b);
        b[OFF_HEADER_CRC..OFF_HEADER_CRC + 4].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header the way stage2 does (signature, version, header CRC,
    /// layout). The payload CRC is checked separately by [`FludHeader::verify_payload`].
    pub fn decode(bytes: &[u8]) -> Result<Self, FludError> {
        if bytes.len() < HEADER_SIZE {
            return Err(FludError::Truncated);
        }
        let b = &bytes[..HEADER_SIZE];
        if b[..4] != MAGIC {
            return Err(FludError::BadSignature);
        }
        if read_u16(b, OFF_VERSION) != VERSION || read_u16(b, OFF_HEADER_SIZE) as usize != HEADER_SIZE {
            return Err(FludError::UnsupportedVersion);
        }
        let mut zeroed = [0u8; HEADER_SIZE];
        zeroed.copy_from_slice(b);
        zeroed[OFF_HEADER_CRC..OFF_HEADER_CRC + 4].fill(0);
        if crc32(&zeroed) != read_u32(b, OFF_HEADER_CRC) {
            return Err(FludError::HeaderChecksum);
        }
        let mut h = FludHeader::new(
            read_u64(b, OFF_PAYLOAD_SIZE),
            read_u64(b, OFF_ENTRY),
            read_u32(b, OFF_PAYLOAD_CRC),
            read_u64(b, OFF_KERNEL_SIZE),
        );
        h.flags = read_u32(b, OFF_FLAGS);
        h.load_addr = read_u64(b, OFF_LOAD_ADDR);
        let module_count = read_u32(b, OFF_MODULE_COUNT);
        if module_count as usize > MAX_MODULES {
            return Err(FludError::BadLayout);
        }
        for i in 0..module_count as usize {
            let o = OFF_MODULES + i * MODULE_ENTRY_SIZE;
            let mut name = [0u8; MODULE_NAME_LEN];
            name.copy_from_slice(&b[o + 16..o + 32]);
            h.push_module(Module { offset: read_u64(b, o), size: read_u64(b, o + 8), name })?;
        }
        let cmd = &b[OFF_CMDLINE..OFF_CMDLINE + CMDLINE_MAX + 1];
        let len = cmd.iter().position(|&c| c == 0).ok_or(FludError::BadCmdline)?;
        if !cmd[..len].is_ascii() {
            return Err(FludError::BadCmdline);
        }
        h.cmdline[..len].copy_from_slice(&cmd[..len]);
        h.cmdline_len = len;
        h.check_layout()?;
        Ok(h)
    }

    /// The layout rules stage2 enforces, plus module bounds: every module lies inside the
    /// payload and starts at or after the kernel's memory image (BSS included), so nothing
    /// the kernel zeroes overlaps a module. `kernel_size` may exceed `payload_size`: the
    /// BSS tail past the kernel's last file byte is not stored in the payload.
    pub fn check_layout(&self) -> Result<(), FludError> {
        let end = self.load_addr.checked_add(self.payload_size).ok_or(FludError::BadLayout)?;
        let ok = self.load_addr == LOAD_ADDR
            && self.payload_size > 0
            && self.payload_size < (1 << 32)
            && self.entry >= self.load_addr
            && self.entry < end
            && self.modules().iter().all(|m| {
                m.offset >= self.kernel_size && m.offset.checked_add(m.size).is_some_and(|e| e <= self.payload_size)
            });
        if ok { Ok(()) } else { Err(FludError::BadLayout) }
    }

    /// Checks the payload CRC.
    pub fn verify_payload(&self, payload: &[u8]) -> Result<(), FludError> {
        if payload.len() as u64 != self.payload_size || crc32(payload) != self.payload_crc32 {
            return Err(FludError::PayloadChecksum);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FludHeader {
        let mut h = FludHeader::new(0x20_0000, LOAD_ADDR + 0x1234, 0xDEAD_BEEF, 0x10_0000);
        h.set_cmdline("bf.test=boot app.arg=1").unwrap();
        h.push_module(Module::new("pattern", 0x10_0000, 0x10_0000).unwrap()).unwrap();
        h
    }

    #[test]
    fn round_trip() {
        let h = sample();
        let bytes = h.encode();
        assert_eq!(&bytes[..4], b"FLUD");
        let d = FludHeader::decode(&bytes).unwrap();
        assert_eq!(d, h);
        assert_eq!(d.cmdline(), "bf.test=boot app.arg=1");
        assert_eq!(d.module("pattern").unwrap().size, 0x10_0000);
        assert!(d.module("missing").is_none());
    }

    #[test]
    fn fixed_offsets_match_the_assembly_side() {
        let b = sample().encode();
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 1);
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 512);
        assert_eq!(u64::from_le_bytes(b[0x10..0x18].try_into().unwrap()), 0x20_0000);
        assert_eq!(u64::from_le_bytes(b[0x18..0x20].try_into().unwrap()), 0x10_0000);
        assert_eq!(u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()), 0x10_1234);
        assert_eq!(u32::from_le_bytes(b[0x28..0x2C].try_into().unwrap()), 0xDEAD_BEEF);
        assert_eq!(&b[0x100..0x104], b"bf.t");
        assert_eq!(&b[0x50..0x57], b"pattern");
    }

    #[test]
    fn every_corruption_is_named() {
        let good = sample().encode();
        let mut bad = good;
        bad[0] = b'X';
        assert_eq!(FludHeader::decode(&bad), Err(FludError::BadSignature));
        let mut bad = good;
        bad[4] = 2;
        assert_eq!(FludHeader::decode(&bad), Err(FludError::UnsupportedVersion));
        let mut bad = good;
        bad[0x101] ^= 1;
        assert_eq!(FludHeader::decode(&bad), Err(FludError::HeaderChecksum));
        assert_eq!(FludHeader::decode(&good[..100]), Err(FludError::Truncated));
        let mut h = sample();
        h.entry = LOAD_ADDR + h.payload_size;
        assert_eq!(FludHeader::decode(&h.encode()), Err(FludError::BadLayout));
        let mut h = sample();
        h.load_addr = 0x20_0000;
        assert_eq!(FludHeader::decode(&h.encode()), Err(FludError::BadLayout));
    }

    #[test]
    fn bss_may_extend_past_the_payload_but_not_into_a_module() {
        // No modules: the payload stops at the kernel's last file byte, its BSS goes on.
        let h = FludHeader::new(0x3010, LOAD_ADDR, 0, 0x8000);
        assert_eq!(FludHeader::decode(&h.encode()).unwrap().kernel_size, 0x8000);
        // A module inside the kernel's BSS would be zeroed by the kernel.
        let mut h = FludHeader::new(0x9000, LOAD_ADDR, 0, 0x8000);
        h.push_module(Module::new("m", 0x7000, 0x1000).unwrap()).unwrap();
        assert_eq!(FludHeader::decode(&h.encode()), Err(FludError::BadLayout));
        // A module past the payload end is rejected too.
        let mut h = FludHeader::new(0x9000, LOAD_ADDR, 0, 0x8000);
        h.push_module(Module::new("m", 0x8000, 0x1001).unwrap()).unwrap();
        assert_eq!(FludHeader::decode(&h.encode()), Err(FludError::BadLayout));
    }

    #[test]
    fn payload_crc_is_checked() {
        let payload = [7u8; 100];
        let h = FludHeader::new(100, LOAD_ADDR, crc32(&payload), 100);
        assert!(h.verify_payload(&payload).is_ok());
        let mut flipped = payload;
        flipped[50] ^= 0x10;
        assert_eq!(h.verify_payload(&flipped), Err(FludError::PayloadChecksum));
    }

    #[test]
    fn crc_is_ieee() {
        // The standard check value of CRC-32/IEEE.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn limits_are_enforced() {
        let mut h = sample();
        assert_eq!(h.set_cmdline(&"x".repeat(256)), Err(FludError::BadCmdline));
        assert!(h.set_cmdline(&"x".repeat(255)).is_ok());
        assert_eq!(Module::new("a-name-that-is-too-long", 0, 0), Err(FludError::BadModuleName));
        for _ in 1..MAX_MODULES {
            h.push_module(Module::new("m", 0x10_0000, 0).unwrap()).unwrap();
        }
        assert_eq!(h.push_module(Module::new("m", 0, 0).unwrap()), Err(FludError::TooManyModules));
    }
}
