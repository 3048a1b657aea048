//! Block devices: one small trait that every disk driver implements and the FAT16
//! layer (`crate::fs`) reads and writes through.
//!
//! Drivers are polled (interrupts stay off, BRIEF §3). Memory is identity-mapped, so a
//! buffer's virtual address is the physical address a DMA engine needs.

pub mod ahci;
pub mod ata;
pub mod bios;
pub mod boot_disk;
pub mod dma;
pub mod virtio;

pub use boot_disk::{Disk, boot_disk};

/// Bytes per sector: every device here is addressed in 512-byte sectors.
pub const SECTOR_SIZE: usize = 512;

/// Why a block operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The request reaches past the device's last sector.
    OutOfRange,
    /// The buffer is not a whole number of sectors.
    BadLength,
    /// The device reported an error (driver-specific status).
    Device(u32),
    /// The device did not answer in time.
    Timeout,
    /// The device is write-protected or the driver cannot write.
    ReadOnly,
}

impl core::fmt::Display for BlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BlockError::OutOfRange => write!(f, "request past the end of the device"),
            BlockError::BadLength => write!(f, "buffer is not a whole number of sectors"),
            BlockError::Device(status) => write!(f, "device error (status {status:#x})"),
            BlockError::Timeout => write!(f, "device timed out"),
            BlockError::ReadOnly => write!(f, "device is read-only"),
        }
    }
}

/// A disk addressed in 512-byte sectors.
pub trait BlockDevice: Send {
    /// Short name of the driver, e.g. `virtio-blk`, `ata-pio`, `ahci`, `bios-int13`.
    fn driver_name(&self) -> &'static str;
    /// Number of sectors on the device.
    fn sector_count(&self) -> u64;
    /// Reads `buf.len() / 512` sectors starting at `lba` into `buf`.
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Writes `buf.len() / 512` sectors starting at `lba` from `buf`.
    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError>;
    /// Makes every completed write durable (a cache flush on the device).
    fn flush(&mut self) -> Result<(), BlockError>;
}

/// Checks a request against the device size and the sector granularity; drivers call
/// this before touching hardware.
pub fn check_request(dev_sectors: u64, lba: u64, len: usize) -> Result<u64, BlockError> {
    if !len.is_multiple_of(SECTOR_SIZE) {
        return Err(BlockError::BadLength);
    }
    let count = (len / SECTOR_SIZE) as u64;
    match lba.checked_add(count) {
        Some(end) if end <= dev_sectors => Ok(count),
        _ => Err(BlockError::OutOfRange),
    }
}

/// Splits a request of `len` bytes (whole sectors) starting at sector `lba` into pieces
/// of at most `max_bytes` (a whole number of sectors: a driver's bounce buffer) and
/// calls `transfer(first_sector, byte_range_in_request)` for each, in order, stopping
/// at the first error.
pub fn for_each_piece(
    lba: u64,
    len: usize,
    max_bytes: usize,
    mut transfer: impl FnMut(u64, core::ops::Range<usize>) -> Result<(), BlockError>,
) -> Result<(), BlockError> {
    debug_assert!(max_bytes >= SECTOR_SIZE && max_bytes.is_multiple_of(SECTOR_SIZE));
    let mut start = 0;
    while start < len {
        let end = (start + max_bytes).min(len);
        transfer(lba + (start / SECTOR_SIZE) as u64, start..end)?;
        start = end;
    }
    Ok(())
}

/// A block device in memory: host unit tests of the file system use it.
pub struct RamDisk {
    /// The disk's bytes (a whole number of sectors).
    pub bytes: Vec<u8>,
}

impl RamDisk {
    /// A zeroed disk of `sectors` sectors.
    pub fn new(sectors: u64) -> Self {
        RamDisk { bytes: vec![0; sectors as usize * SECTOR_SIZE] }
    }
}

impl BlockDevice for RamDisk {
    fn driver_name(&self) -> &'static str {
        "ramdisk"
    }
    fn sector_count(&self) -> u64 {
        (self.bytes.len() / SECTOR_SIZE) as u64
    }
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.sector_count(), lba, buf.len())?;
        let start = lba as usize * SECTOR_SIZE;
        buf.copy_from_slice(&self.bytes[start..start + buf.len()]);
        Ok(())
    }
    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(self.sector_count(), lba, buf.len())?;
        let start = lba as usize * SECTOR_SIZE;
        self.bytes[start..start + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

/// A [`RamDisk`] that several owners share: a test keeps one handle to read, corrupt or
/// copy the bytes while the sector cache or a mounted volume owns another.
#[derive(Clone)]
pub struct SharedRamDisk(pub std::sync::Arc<std::sync::Mutex<RamDisk>>);

impl SharedRamDisk {
    /// A zeroed shared disk of `sectors` sectors.
    pub fn new(sectors: u64) -> Self {
        Self::from(RamDisk::new(sectors))
    }
}

impl From<RamDisk> for SharedRamDisk {
    fn from(disk: RamDisk) -> Self {
        SharedRamDisk(std::sync::Arc::new(std::sync::Mutex::new(disk)))
    }
}

impl BlockDevice for SharedRamDisk {
    fn driver_name(&self) -> &'static str {
        "ramdisk"
    }
    fn sector_count(&self) -> u64 {
        self.0.lock().unwrap().sector_count()
    }
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.0.lock().unwrap().read_sectors(lba, buf)
    }
    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.0.lock().unwrap().write_sectors(lba, buf)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_against_size_and_granularity() {
        assert_eq!(check_request(100, 0, 1024), Ok(2));
        assert_eq!(check_request(100, 99, 512), Ok(1));
        assert_eq!(check_request(100, 99, 1024), Err(BlockError::OutOfRange));
        assert_eq!(check_request(100, u64::MAX, 512), Err(BlockError::OutOfRange));
        assert_eq!(check_request(100, 0, 100), Err(BlockError::BadLength));
    }

    #[test]
    fn requests_are_split_into_bounce_buffer_pieces() {
        let mut pieces = Vec::new();
        for_each_piece(100, 5 * SECTOR_SIZE, 2 * SECTOR_SIZE, |sector, range| {
            pieces.push((sector, range));
            Ok(())
        })
        .unwrap();
        assert_eq!(pieces, [(100, 0..1024), (102, 1024..2048), (104, 2048..2560)]);
        let mut calls = 0;
        let failed = for_each_piece(0, 4 * SECTOR_SIZE, SECTOR_SIZE, |sector, _| {
            calls += 1;
            if sector == 1 { Err(BlockError::Timeout) } else { Ok(()) }
        });
        assert_eq!((failed, calls), (Err(BlockError::Timeout), 2), "stops at the first error");
    }

    #[test]
    fn ram_disk_round_trip() {
        let mut d = RamDisk::new(8);
        let data = [7u8; 1024];
        d.write_sectors(3, &data).unwrap();
        let mut back = [0u8; 1024];
        d.read_sectors(3, &mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(d.read_sectors(7, &mut back), Err(BlockError::OutOfRange));
    }
}
