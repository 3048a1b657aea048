//! PCI configuration space through configuration mechanism 1 (ports 0xCF8/0xCFC):
//! enumeration of every bus, device and function, BAR decoding, and the command
//! register (I/O, memory and bus-master enables).
//!
//! Enough for the block drivers to find virtio-blk, IDE and AHCI controllers; no
//! interrupts are routed (devices are polled, BRIEF §3).

use bitflags::bitflags;
use core::mem::{offset_of, size_of};
use x86_64::instructions::port::Port;

/// Address port of configuration mechanism 1.
const CONFIG_ADDRESS: u16 = 0xCF8;
/// Data port of configuration mechanism 1.
const CONFIG_DATA: u16 = 0xCFC;

bitflags! {
    /// The command register (configuration offset 0x04).
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Command: u16 {
        /// Respond to I/O-space accesses.
        const IO = 1 << 0;
        /// Respond to memory-space accesses.
        const MEMORY = 1 << 1;
        /// The device may master the bus (DMA).
        const BUS_MASTER = 1 << 2;
    }
}

/// The first 64 bytes of a function's configuration space with a type-0 header (PCI
/// Local Bus 3.0 §6.1): the layout the offsets below are taken from. Configuration
/// space is reached through ports, a dword at a time, never as memory.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Header {
    /// Vendor ID (0xFFFF: no function here).
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Command register.
    pub command: Command,
    /// Status register (its error bits are cleared by writing 1).
    pub status: u16,
    /// Revision ID.
    pub revision: u8,
    /// Programming interface.
    pub prog_if: u8,
    /// Subclass.
    pub subclass: u8,
    /// Class code.
    pub class: u8,
    /// Cache line size.
    pub cache_line_size: u8,
    /// Latency timer.
    pub latency_timer: u8,
    /// Header type; bit 7: a multi-function device.
    pub header_type: u8,
    /// Built-in self test.
    pub bist: u8,
    /// Base address registers 0–5.
    pub bars: [u32; 6],
    /// CardBus CIS pointer.
    pub cardbus_cis: u32,
    /// Subsystem vendor ID.
    pub subsystem_vendor: u16,
    /// Subsystem ID.
    pub subsystem: u16,
    /// Expansion ROM base address.
    pub expansion_rom: u32,
    /// Capabilities pointer.
    pub capabilities: u8,
    /// Reserved.
    pub reserved: [u8; 7],
    /// Interrupt line.
    pub interrupt_line: u8,
    /// Interrupt pin.
    pub interrupt_pin: u8,
    /// Minimum grant.
    pub min_grant: u8,
    /// Maximum latency.
    pub max_latency: u8,
}

const _: () = {
    assert!(offset_of!(Header, command) == 0x04);
    assert!(offset_of!(Header, revision) == 0x08);
    assert!(offset_of!(Header, cache_line_size) == 0x0c);
    assert!(offset_of!(Header, bars) == 0x10);
    assert!(offset_of!(Header, capabilities) == 0x34);
    assert!(size_of::<Header>() == 0x40);
};

/// The configuration dword that holds `Header` field at byte `offset`.
const fn dword_of(offset: usize) -> u8 {
    (offset & !3) as u8
}

/// The dword holding vendor and device IDs.
const ID: u8 = dword_of(offset_of!(Header, vendor));
/// The dword holding the command (low half) and status (high half) registers.
const COMMAND_STATUS: u8 = dword_of(offset_of!(Header, command));
/// The dword holding revision, prog-if, subclass and class.
const CLASS: u8 = dword_of(offset_of!(Header, revision));
/// The dword holding cache line size, latency timer, header type and BIST.
const HEADER_TYPE: u8 = dword_of(offset_of!(Header, header_type));
/// The first BAR's dword.
const BAR0: u8 = dword_of(offset_of!(Header, bars));

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
        let [vendor, device] = split16(read32(address, ID));
        if vendor == 0xffff {
            return None;
        }
        let [_revision, prog_if, subclass, class] = read32(address, CLASS).to_le_bytes();
        Some(PciFunction { address, vendor, device, class, subclass, prog_if })
    }

    /// Decodes BAR `index` (0–5) of a type-0 header.
    pub fn bar(&self, index: u8) -> Bar {
        assert!(index < 6, "a type-0 header has six BARs");
        let offset = BAR0 + 4 * index;
        let low = read32(self.address, offset);
        let high = if index < 5 && low & 0x7 == 0x4 { read32(self.address, offset + 4) } else { 0 };
        decode_bar(low, high)
    }

    /// Sets `bits` in the command register (e.g. [`Command::IO`] | [`Command::BUS_MASTER`]).
    pub fn enable(&self, bits: Command) {
        let [command, _status] = split16(read32(self.address, COMMAND_STATUS));
        // The high half is the status register, whose set bits are cleared by writing
        // 1: write it as zero.
        write32(self.address, COMMAND_STATUS, u32::from(command | bits.bits()));
    }
}

/// The low and high halves of a configuration dword (e.g. vendor and device ID).
fn split16(dword: u32) -> [u16; 2] {
    [dword as u16, (dword >> 16) as u16]
}

/// Calls `found` for every function on every bus (brute force over 256 buses, 32
/// devices; functions 1–7 only for multi-function devices).
pub fn enumerate(mut found: impl FnMut(PciFunction)) {
    for bus in 0..=255u8 {
        for device in 0..32u8 {
            let first = PciAddress { bus, device, function: 0 };
            let Some(f0) = PciFunction::read(first) else { continue };
            found(f0);
            let [_, _, header_type, _] = read32(first, HEADER_TYPE).to_le_bytes();
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

    #[test]
    fn header_dwords_come_from_the_type0_layout() {
        assert_eq!((ID, COMMAND_STATUS, CLASS, HEADER_TYPE, BAR0), (0x00, 0x04, 0x08, 0x0c, 0x10));
        assert_eq!(split16(0x1001_1af4), [0x1af4, 0x1001]);
        assert_eq!((Command::IO | Command::BUS_MASTER).bits(), 0b101);
    }
}
