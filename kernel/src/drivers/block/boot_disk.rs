//! Finding the disk the machine booted from, and keeping it for the rest of the kernel.
//!
//! [`probe`] runs once in `kernel_start`, before glibc and without heap: it walks PCI
//! for virtio-blk and AHCI controllers, tries the legacy IDE ports, and reads LBA 0 and
//! LBA 9 of every disk it finds. The boot disk is the one whose LBA 9 equals, byte for
//! byte, the FLUD header stage2 loaded (it holds the payload's size and CRC32, so it
//! tells images apart) and whose LBA 0 ends in 0x55AA. The BIOS drive number from the
//! boot info is reported beside it (BIOS numbers do not name controllers). The chosen
//! driver lives in a static ([`boot_disk`]); the others are dropped, which stops their
//! devices and frees their DMA memory.

use spin::{Mutex, Once};
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout};

use super::ahci::{self, AhciDisk};
use super::ata::{self, AtaDisk};
use super::bios::BiosDisk;
use super::virtio::VirtioBlk;
use super::{BlockDevice, BlockError, SECTOR_SIZE};
use crate::drivers::pci;
use crate::kprintln;

/// A disk behind one of the kernel's drivers (an enum, not a `Box<dyn>`, so probing
/// needs no heap).
pub enum Disk {
    /// virtio-blk on PCI.
    Virtio(VirtioBlk),
    /// ATA PIO on a legacy IDE channel.
    Ata(AtaDisk),
    /// A SATA disk on an AHCI port.
    Ahci(AhciDisk),
    /// The BIOS boot drive through INT 13h (the fallback).
    Bios(BiosDisk),
}

impl Disk {
    fn device(&mut self) -> &mut dyn BlockDevice {
        match self {
            Disk::Virtio(d) => d,
            Disk::Ata(d) => d,
            Disk::Ahci(d) => d,
            Disk::Bios(d) => d,
        }
    }

    fn device_ref(&self) -> &dyn BlockDevice {
        match self {
            Disk::Virtio(d) => d,
            Disk::Ata(d) => d,
            Disk::Ahci(d) => d,
            Disk::Bios(d) => d,
        }
    }

    /// Where the device is, e.g. `0:4.0` or `primary master` or `0:31.2 port 0`.
    pub fn location(&self) -> Location {
        match self {
            Disk::Virtio(d) => Location::Pci(d.pci_address(), None),
            Disk::Ata(d) => Location::Ide(d.channel(), d.slave()),
            Disk::Ahci(d) => Location::Pci(d.pci_address(), Some(d.port())),
            Disk::Bios(d) => Location::Bios(d.drive()),
        }
    }
}

/// Where a disk is attached, for messages.
#[derive(Clone, Copy, Debug)]
pub enum Location {
    /// A PCI function, with the AHCI port when there is one.
    Pci(pci::PciAddress, Option<u8>),
    /// A legacy IDE channel (0 primary, 1 secondary) and master/slave.
    Ide(u8, bool),
    /// A BIOS drive number.
    Bios(u8),
}

impl core::fmt::Display for Location {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Location::Pci(at, None) => write!(f, "{at}"),
            Location::Pci(at, Some(port)) => write!(f, "{at} port {port}"),
            Location::Bios(drive) => write!(f, "drive {drive:#04x}"),
            Location::Ide(channel, slave) => write!(
                f,
                "{} {}",
                if *channel == 0 { "primary" } else { "secondary" },
                if *slave { "slave" } else { "master" }
            ),
        }
    }
}

impl BlockDevice for Disk {
    fn driver_name(&self) -> &'static str {
        self.device_ref().driver_name()
    }
    fn sector_count(&self) -> u64 {
        self.device_ref().sector_count()
    }
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.device().read_sectors(lba, buf)
    }
    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.device().write_sectors(lba, buf)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.device().flush()
    }
}

static BOOT_DISK: Once<Mutex<Disk>> = Once::new();

/// The disk the machine booted from, once [`probe`] found it; `None` when no driver
/// handles it (e.g. a USB stick) or the kernel runs as a Linux program.
pub fn boot_disk() -> Option<&'static Mutex<Disk>> {
    BOOT_DISK.get()
}

/// How a disk compares with what stage2 loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// LBA 0 ends in 0x55AA and LBA 9 is the loaded FLUD header.
    BootDisk,
    /// LBA 0 has no boot signature.
    NoMbr,
    /// LBA 9 differs from the loaded FLUD header (another disk).
    OtherHeader,
}

/// A master boot record (LBA 0), as far as the boot-disk match reads it.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable)]
pub struct Mbr {
    /// Stage 1's code.
    pub boot_code: [u8; 440],
    /// The disk signature (printed to tell disks apart).
    pub disk_signature: U32,
    /// Reserved (copy protection).
    pub reserved: [u8; 2],
    /// The four primary partition entries.
    pub partitions: [[u8; 16]; 4],
    /// 0x55, 0xAA on a bootable disk.
    pub boot_signature: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<Mbr>() == SECTOR_SIZE);

/// The boot signature that ends an MBR.
const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];

/// Compares a disk's LBA 0 and LBA 9 with the FLUD header stage2 loaded.
pub fn compare(lba0: &[u8], lba9: &[u8], loaded_header: &[u8]) -> Match {
    if Mbr::ref_from_prefix(lba0).map_or(true, |(mbr, _)| mbr.boot_signature != BOOT_SIGNATURE) {
        Match::NoMbr
    } else if lba9 != loaded_header {
        Match::OtherHeader
    } else {
        Match::BootDisk
    }
}

/// Checks one candidate; keeps it as the boot disk if it matches and none was found yet.
fn consider(disk: Disk, loaded_header: &[u8], found: &mut u32) {
    *found += 1;
    let mut disk = disk;
    let name = disk.driver_name();
    let location = disk.location();
    let sectors = disk.sector_count();
    kprintln!("disk: {} {}, {} sectors ({} MiB)", name, location, sectors, sectors / 2048);
    if BOOT_DISK.get().is_some() {
        return;
    }
    let mut sector0 = [0u8; SECTOR_SIZE];
    let mut sector9 = [0u8; SECTOR_SIZE];
    let read = disk
        .read_sectors(0, &mut sector0)
        .and_then(|()| disk.read_sectors(boot_protocol::FLUD_HEADER_LBA, &mut sector9));
    if let Err(e) = read {
        kprintln!("disk: {} {}: reading LBA 0 and 9 failed: {}", name, location, e);
        return;
    }
    match compare(&sector0, &sector9, loaded_header) {
        Match::BootDisk => {
            let signature = Mbr::ref_from_bytes(&sector0).map_or(0, |mbr| mbr.disk_signature.get());
            kprintln!(
                "disk: boot disk is {} {}, {} sectors (FLUD header at LBA 9 matches, disk signature {:#010x})",
                name,
                location,
                sectors,
                signature
            );
            BOOT_DISK.call_once(|| Mutex::new(disk));
        }
        Match::NoMbr => kprintln!("disk: {} {}: no MBR boot signature, not the boot disk", name, location),
        Match::OtherHeader => kprintln!("disk: {} {}: another FLUD header at LBA 9, not the boot disk", name, location),
    }
}

/// Probes every controller the kernel has a driver for and picks the boot disk.
///
/// `loaded_header` is the 512-byte FLUD header stage2 loaded; `bios_drive` the BIOS
/// drive number it booted from. When no driver finds the boot disk, the BIOS's INT 13h
/// is tried on `bios_drive` unless `no_bios`. Prints one line per disk and one
/// verdict; never fails.
pub fn probe(loaded_header: &[u8], bios_drive: u8, no_bios: bool) {
    let mut found = 0;
    let mut ahci_controllers = [None; 4];
    let mut ide_native = false;
    let mut virtio = [None; 8];
    pci::enumerate(|f| {
        if VirtioBlk::matches(&f) {
            if let Some(slot) = virtio.iter_mut().find(|s| s.is_none()) {
                *slot = Some(f);
            }
        } else if ahci::matches(&f) {
            if let Some(slot) = ahci_controllers.iter_mut().find(|s| s.is_none()) {
                *slot = Some(f);
            }
        } else if ata::matches(&f) && !ata::compatibility_mode(&f) {
            ide_native = true;
        }
    });
    for f in virtio.into_iter().flatten() {
        match VirtioBlk::new(f) {
            Ok(d) => consider(Disk::Virtio(d), loaded_header, &mut found),
            Err(e) => kprintln!("disk: virtio-blk {}: {}", f.address, e),
        }
    }
    for f in ahci_controllers.into_iter().flatten() {
        ahci::probe(f, |d| consider(Disk::Ahci(d), loaded_header, &mut found));
    }
    if ide_native {
        kprintln!("disk: an IDE controller in native-PCI mode is not supported (legacy ports only)");
    }
    ata::probe_legacy(|d| consider(Disk::Ata(d), loaded_header, &mut found));
    if BOOT_DISK.get().is_none() && !no_bios {
        kprintln!("disk: no driver found the boot disk; trying BIOS INT 13h on drive {:#04x}", bios_drive);
        match BiosDisk::new(bios_drive) {
            Ok(d) => consider(Disk::Bios(d), loaded_header, &mut found),
            Err(e) => kprintln!("disk: bios-int13 drive {:#04x}: {}", bios_drive, e),
        }
    }
    if BOOT_DISK.get().is_none() {
        kprintln!(
            "disk: no boot disk found (BIOS drive {:#04x}; {} disks probed, none holds this boot's FLUD header): \
             running without a disk",
            bios_drive,
            found
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_disk_is_matched_by_mbr_and_flud_header() {
        let mut mbr = [0u8; 512];
        let header = [7u8; 512];
        assert_eq!(compare(&mbr, &header, &header), Match::NoMbr);
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        assert_eq!(compare(&mbr, &header, &header), Match::BootDisk);
        assert_eq!(compare(&mbr, &[8u8; 512], &header), Match::OtherHeader);
        assert_eq!(compare(&mbr[..511], &header, &header), Match::NoMbr, "a short sector is no MBR");
    }

    #[test]
    fn the_mbr_view_reads_the_disk_signature() {
        let mut sector = [0u8; 512];
        sector[440..444].copy_from_slice(&[0x3d, 0xdb, 0x75, 0x37]);
        sector[446 + 16 + 4] = 0x06;
        let mbr = Mbr::ref_from_bytes(&sector).unwrap();
        assert_eq!(mbr.disk_signature.get(), 0x3775_db3d);
        assert_eq!(mbr.partitions[1][4], 0x06);
    }
}
