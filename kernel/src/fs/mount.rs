//! Mounting: the MBR's FAT16 entry on the boot disk → a checked [`Volume`].
//!
//! A volume that fails any check is refused with a reason (the kernel then runs without
//! files, never panics): no MBR signature or FAT16 entry, a partition past the disk's
//! end, a boot sector without 0x55AA or with a bad BIOS parameter block (what `fatfs`
//! validates), a FAT type other than FAT16, a file system larger than its partition, a
//! first FAT whose media/end-of-chain entries are wrong, or an unreadable root directory.

use std::cell::RefCell;
use std::rc::Rc;

use super::Volume;
use super::cache::{PartitionIo, SectorCache};
use crate::drivers::block::{BlockDevice, SECTOR_SIZE};

/// MBR partition types of a FAT16 partition (≥ 32 MiB, and the small-partition type).
pub const FAT16_TYPES: [u8; 2] = [0x06, 0x04];

/// Why a disk's file system was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountError(pub String);

impl core::fmt::Display for MountError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(why: impl Into<String>) -> Result<T, MountError> {
    Err(MountError(why.into()))
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

/// Finds the first FAT16 entry in the MBR of `device` and mounts it.
pub fn mount_disk(mut device: Box<dyn BlockDevice>) -> Result<Volume, MountError> {
    let mut mbr = [0u8; SECTOR_SIZE];
    if let Err(e) = device.read_sectors(0, &mut mbr) {
        return refuse(format!("cannot read the MBR: {e}"));
    }
    if mbr[510..512] != [0x55, 0xAA] {
        return refuse("the disk has no MBR (signature 0x55AA missing)");
    }
    let entry = (0..4).map(|i| &mbr[446 + 16 * i..446 + 16 * (i + 1)]).find(|e| FAT16_TYPES.contains(&e[4]));
    let Some(e) = entry else { return refuse("the MBR has no FAT16 partition (type 0x06 or 0x04)") };
    let (first, sectors) = (u32_at(e, 8) as u64, u32_at(e, 12) as u64);
    if first == 0 || sectors == 0 || first + sectors > device.sector_count() {
        return refuse(format!(
            "the FAT16 partition (LBA {first}, {sectors} sectors) does not fit the disk ({} sectors)",
            device.sector_count()
        ));
    }
    mount_partition(device, first, sectors)
}

/// Mounts the FAT16 file system in `sectors` sectors of `device` from `first_lba`.
pub fn mount_partition(device: Box<dyn BlockDevice>, first_lba: u64, sectors: u64) -> Result<Volume, MountError> {
    let driver = device.driver_name();
    let cache = Rc::new(RefCell::new(SectorCache::new(device, first_lba, sectors)));
    let mut boot = [0u8; SECTOR_SIZE];
    if let Err(e) = cache.borrow_mut().read_at(0, &mut boot) {
        return refuse(format!("cannot read the boot sector: {e}"));
    }
    if boot[510..512] != [0x55, 0xAA] {
        return refuse("boot sector signature 0x55AA missing");
    }
    if u16_at(&boot, 0x0B) != SECTOR_SIZE as u16 {
        return refuse(format!("{} bytes per sector (only 512 is supported)", u16_at(&boot, 0x0B)));
    }
    let total = match u16_at(&boot, 0x13) {
        0 => u32_at(&boot, 0x20) as u64,
        n => n as u64,
    };
    if total > sectors {
        return refuse(format!("the file system ({total} sectors) is larger than its partition ({sectors} sectors)"));
    }
    let options = fatfs::FsOptions::new().time_provider(&super::CLOCK).update_accessed_date(false);
    let fs = match fatfs::FileSystem::new(PartitionIo::new(cache.clone()), options) {
        Ok(fs) => fs,
        Err(e) => return refuse(format!("bad BIOS parameter block: {e}")),
    };
    if fs.fat_type() != fatfs::FatType::Fat16 {
        return refuse(format!("the file system is {:?}, not FAT16", fs.fat_type()));
    }
    let reserved = u16_at(&boot, 0x0E) as u64;
    let media = boot[0x15];
    let mut fat = [0u8; 4];
    if let Err(e) = cache.borrow_mut().read_at(reserved * SECTOR_SIZE as u64, &mut fat) {
        return refuse(format!("cannot read the FAT: {e}"));
    }
    let (fat0, fat1) = (u16_at(&fat, 0), u16_at(&fat, 2));
    if fat0 != 0xFF00 | media as u16 || fat1 & 0x3FFF != 0x3FFF {
        return refuse(format!(
            "the FAT is corrupted (entries 0 and 1 are {fat0:#06x} {fat1:#06x}, expected {:#06x} 0xffff)",
            0xFF00 | media as u16
        ));
    }
    for e in fs.root_dir().iter() {
        if let Err(e) = e {
            return refuse(format!("the root directory is unreadable: {e}"));
        }
    }
    let was_dirty = fs.read_status_flags().map(|f| f.dirty()).unwrap_or(true);
    Ok(Volume { fs: Box::into_raw(Box::new(fs)), cache, driver, first_lba, sectors, was_dirty })
}
