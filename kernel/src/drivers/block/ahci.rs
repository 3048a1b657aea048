//! AHCI (SATA) host bus adapters: q35's ICH9 controller and most real machines.

use super::{BlockDevice, BlockError};
use crate::drivers::pci::{self, PciFunction};
use crate::kprintln;

/// Whether a PCI function is an AHCI controller (class 01h, subclass 06h, prog-if 01h).
pub fn matches(f: &PciFunction) -> bool {
    f.class == 0x01 && f.subclass == 0x06 && f.prog_if == 0x01
}

/// A SATA disk on one AHCI port.
pub struct AhciDisk {
    function: PciFunction,
    port: u8,
    sectors: u64,
}

impl AhciDisk {
    /// Where the controller sits on PCI.
    pub fn pci_address(&self) -> pci::PciAddress {
        self.function.address
    }
    /// The port number.
    pub fn port(&self) -> u8 {
        self.port
    }
}

/// Brings up every port of controller `f` that has a SATA disk and hands each to `found`.
pub fn probe(f: PciFunction, _found: impl FnMut(AhciDisk)) {
    kprintln!("disk: AHCI controller {} found; the AHCI driver is not implemented yet", f.address);
}

impl BlockDevice for AhciDisk {
    fn driver_name(&self) -> &'static str {
        "ahci"
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
