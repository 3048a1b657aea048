//! PCI configuration space through configuration mechanism 1 (ports 0xCF8/0xCFC):
//! enumeration of every bus, device and function, BAR decoding, and the command
//! register (I/O, memory and bus-master enables).
//!
//! Enough for the block drivers to find virtio-blk, IDE and AHCI controllers; no
//! interrupts are routed (devices are polled, BRIEF §3).

use x86_64::instructions::port::Port;

/// Address port of configuration mechanism 1.
const CONFIG_ADDRESS: u16 = 0xCF8;
/// Data port of configuration mechanism 1.
const CONFIG_DATA: u16 = 0xCFC;

/// Command register bit: respond to I/O-space accesses.
pub const COMMAND_IO: u16 = 1 << 0;
/// Command register bit: respond to memory-space accesses.
pub const COMMAND_MEMORY: u16 = 1 << 1;
/// Command register bit: the device may master the bus (DMA).
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;

/// A PCI function's address: bus, device (0–31) and function (0–7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciAddress {
    /// Bus number.
    pub bus: u8,
    /// Device number, 0–31.
    pub device: u8,
    /// Function number, 0–7.
    pub function: u8,
}

impl core::fmt::Display for PciAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}.{}", self.bus, self.device, self.function)
    }
}

/// The CONFIG_ADDRESS value for a register of a function (`offset` is rounded down to
/// a dword).
pub fn config_address(at: PciAddress, offset: u8) -> u32 {
    (1 << 31)
        | (u32::from(at.bus) << 16)
        | (u32::from(at.device & 0x1f) << 11)
        | (u32::from(at.function & 0x7) << 8)
        | u32::from(offset & 0xfc)
}

/// Reads the configuration dword at `offset` (a multiple of 4).
pub fn read32(at: PciAddress, offset: u8) -> u32 {
    let mut address = Port::<u32>::new(CONFIG_ADDRESS);
    let mut data = Port::<u32>::new(CONFIG_DATA);
    // SAFETY: configuration mechanism 1 is present on every PC chipset QEMU emulates;
    // writing an enabled address and reading the data port has no other effect. The
    // kernel runs on one core with interrupts off, so the address/data pair is atomic.
    unsafe {
        address.write(config_address(at, offset));
        data.read()
    }
}

/// Writes the configuration dword at `offset` (a multiple of 4).
pub fn write32(at: PciAddress, offset: u8, value: u32) {
    let mut address = Port::<u32>::new(CONFIG_ADDRESS);
    let mut data = Port::<u32>::new(CONFIG_DATA);
    // SAFETY: as in `read32`; callers only write registers whose meaning they know
    // (command register, BAR sizing with the old value restored).
    unsafe {
        address.write(config_address(at, offset));
        data.write(value);
    }
}

/// What a base address register describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bar {
    /// Not implemented (all zero).
    None,
    /// An I/O-port range starting at this port.
    Io(u16),
    /// A memory range at this physical address (`wide`: a 64-bit BAR that uses the
    /// next register too).
    Memory {
        /// Physical base address.
        base: u64,
        /// Whether the BAR is 64 bits wide (it takes two registers).
        wide: bool,
        /// Whether the range is prefetchable.
        prefetchable: bool,
    },
}

/// Decodes a BAR from its register `low` and, for 64-bit memory BARs, the next
/// register `high`.
pub fn decode_bar(low: u32, high: u32) -> Bar {
    if low == 0 {
        return Bar::None;
    }
    if low & 1 == 1 {
        return Bar::Io((low & 0xffff_fffc) as u16);
    }
    let prefetchable = low & 0x8 != 0;
    match (low >> 1) & 0x3 {
        0x2 => Bar::Memory { base: (u64::from(high) << 32) | u64::from(low & 0xffff_fff0), wide: true, prefetchable },
        _ => Bar::Memory { base: u64::from(low & 0xffff_fff0), wide: false, prefetchable },
    }
}

/// One function found by [`enumerate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciFunction {
    /// Where it is.
    pub address: PciAddress,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Class code.
    pub class: u8,
    /// Subclass.
    pub subclass: u8,
    /// Programming interface.
    pub prog_if: u8,
}

impl PciFunction {
    fn read(address: PciAddress) -> Option<Self> {
        let id = read32(address, 0x00);
        let vendor = id as u16;
        if vendor == 0xffff {
            return None;
        }
        let class = read32(address, 0x08);
        Some(PciFunction {
            address,
            vendor,
            device: (id >> 16) as u16,
            class: (class >> 24) as u8,
            subclass: (class >> 16) as u8,
            prog_if: (class >> 8) as u8,
        })
    }

    /// Decodes BAR `index` (0–5) of a type-0 header.
    pub fn bar(&self, index: u8) -> Bar {
        let offset = 0x10 + 4 * index;
        let low = read32(self.address, offset);
        let high = if index < 5 && low & 0x7 == 0x4 { read32(self.address, offset + 4) } else { 0 };
        decode_bar(low, high)
    }

    /// Sets `bits` in the command register (e.g. [`COMMAND_IO`] | [`COMMAND_BUS_MASTER`]).
    pub fn enable(&self, bits: u16) {
        let reg = read32(self.address, 0x04);
        // Bits 16–31 are the status register, whose set bits are cleared by writing 1:
        // write them as zero.
        write32(self.address, 0x04, (reg & 0xffff) | u32::from(bits));
    }
}

/// Calls `found` for every function on every bus (brute force over 256 buses, 32
/// devices; functions 1–7 only for multi-function devices).
pub fn enumerate(mut found: impl FnMut(PciFunction)) {
    for bus in 0..=255u8 {
        for device in 0..32u8 {
            let first = PciAddress { bus, device, function: 0 };
            let Some(f0) = PciFunction::read(first) else { continue };
            found(f0);
            let header_type = (read32(first, 0x0c) >> 16) as u8;
            if header_type & 0x80 == 0 {
                continue;
            }
            for function in 1..8u8 {
                if let Some(f) = PciFunction::read(PciAddress { bus, device, function }) {
                    found(f);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_decoded() {
        assert_eq!(decode_bar(0, 0), Bar::None);
        assert_eq!(decode_bar(0xc041, 0), Bar::Io(0xc040));
        assert_eq!(decode_bar(0xfebf_1000, 0), Bar::Memory { base: 0xfebf_1000, wide: false, prefetchable: false });
        assert_eq!(decode_bar(0xfe00_000c, 0x1), Bar::Memory { base: 0x1_fe00_0000, wide: true, prefetchable: true });
    }

    #[test]
    fn config_addresses_follow_mechanism_1() {
        let at = PciAddress { bus: 1, device: 4, function: 2 };
        assert_eq!(config_address(at, 0x10), 0x8001_2210);
        assert_eq!(config_address(at, 0x13), 0x8001_2210);
        assert_eq!(at.to_string(), "1:4.2");
    }
}
