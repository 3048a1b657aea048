//! The FAT16 data partition: formatting it with `fatfs`, and reading back its summary.

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

use anyhow::{Context, Result, ensure};
use boot_protocol::SECTOR_SIZE;
use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};

use crate::mbr::{CHS_HEADS, CHS_SECTORS_PER_TRACK};

/// The volume label of the data partition, space-padded to 11 bytes.
pub const VOLUME_LABEL: [u8; 11] = *b"BAREFLOW   ";

/// Offset of the BPB's "hidden sectors" field (sectors before the partition).
pub(crate) const BPB_HIDDEN_SECTORS_OFFSET: usize = 0x1C;

/// Formats a FAT16 file system of `sectors` sectors for a partition starting at
/// `first_lba` and returns its first bytes (boot sector, FATs, root directory); every
/// byte of the partition past them is zero.
pub fn format_fat16(sectors: u32, first_lba: u32, volume_id: u32) -> Result<Vec<u8>> {
    let mut cursor = Cursor::new(Vec::new());
    let options = FormatVolumeOptions::new()
        .fat_type(FatType::Fat16)
        .total_sectors(sectors)
        .bytes_per_sector(SECTOR_SIZE as u16)
        .heads(CHS_HEADS as u16)
        .sectors_per_track(CHS_SECTORS_PER_TRACK as u16)
        .volume_id(volume_id)
        .volume_label(VOLUME_LABEL);
    fatfs::format_volume(&mut cursor, options)
        .with_context(|| format!("cannot format a FAT16 file system of {sectors} sectors ({} MiB)", sectors / 2048))?;
    let mut metadata = cursor.into_inner();
    ensure!(metadata.len() >= SECTOR_SIZE, "fatfs wrote no boot sector");
    // fatfs always writes 0 here; DOS-lineage readers expect the partition's start LBA.
    metadata[BPB_HIDDEN_SECTORS_OFFSET..BPB_HIDDEN_SECTORS_OFFSET + 4].copy_from_slice(&first_lba.to_le_bytes());
    let fat_type = FileSystem::new(Cursor::new(&mut metadata), FsOptions::new())
        .context("fatfs cannot read back the file system it formatted")?
        .fat_type();
    ensure!(
        fat_type == FatType::Fat16,
        "a {} MiB partition does not hold a FAT16 file system ({fat_type:?} instead); choose another --fat-mib",
        sectors / 2048
    );
    Ok(metadata)
}

/// What `mkimage info` reports about the data partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FatSummary {
    /// FAT type as fatfs reads it (`Fat16` for a good image).
    pub fat_type: FatType,
    /// Volume label from the boot sector, trailing spaces removed.
    pub volume_label: String,
    /// Volume serial number.
    pub volume_id: u32,
    /// Number of data clusters.
    pub total_clusters: u32,
    /// Number of free data clusters.
    pub free_clusters: u32,
    /// Cluster size in bytes.
    pub cluster_size: u32,
    /// The BPB's hidden-sectors field (should be the partition's start LBA).
    pub hidden_sectors: u32,
}

/// Reads the summary of the FAT file system in `len` bytes of `disk` from `start`.
/// Never writes to `disk`.
pub fn inspect_fat<D: Read + Seek>(disk: D, start: u64, len: u64) -> Result<FatSummary> {
    let mut partition = ReadOnlySlice { inner: disk, start, len, position: 0 };
    let mut boot_sector = [0u8; SECTOR_SIZE];
    partition.read_exact(&mut boot_sector).context("cannot read the FAT partition's boot sector")?;
    partition.seek(SeekFrom::Start(0))?;
    let hidden_sectors =
        u32::from_le_bytes(boot_sector[BPB_HIDDEN_SECTORS_OFFSET..BPB_HIDDEN_SECTORS_OFFSET + 4].try_into().unwrap());
    let fs =
        FileSystem::new(partition, FsOptions::new()).context("the FAT partition holds no valid FAT file system")?;
    let stats = fs.stats().context("cannot read the FAT partition's allocation table")?;
    Ok(FatSummary {
        fat_type: fs.fat_type(),
        volume_label: fs.volume_label().trim_end().to_string(),
        volume_id: fs.volume_id(),
        total_clusters: stats.total_clusters(),
        free_clusters: stats.free_clusters(),
        cluster_size: stats.cluster_size(),
        hidden_sectors,
    })
}

/// A window of `len` bytes from `start` of a readable stream, which refuses writes
/// (fatfs wants a writable device even to read).
struct ReadOnlySlice<D> {
    inner: D,
    start: u64,
    len: u64,
    position: u64,
}

impl<D: Read + Seek> Read for ReadOnlySlice<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.len.saturating_sub(self.position);
        let want = buf.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        self.inner.seek(SeekFrom::Start(self.start + self.position))?;
        let n = self.inner.read(&mut buf[..want])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl<D> Seek for ReadOnlySlice<D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        seek_in_window(&mut self.position, self.len, to)
    }
}

/// `Seek::seek` for a byte window of `len` bytes whose position is `position`: moves
/// it (past the end is allowed, before the start is an error) and returns it.
pub(crate) fn seek_in_window(position: &mut u64, len: u64, to: SeekFrom) -> io::Result<u64> {
    let target = match to {
        SeekFrom::Start(offset) => Some(offset),
        SeekFrom::Current(delta) => position.checked_add_signed(delta),
        SeekFrom::End(delta) => len.checked_add_signed(delta),
    };
    *position = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
    Ok(*position)
}

impl<D> Write for ReadOnlySlice<D> {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "mkimage opens the FAT partition read-only"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(mib: u32, first_lba: u32) -> Vec<u8> {
        let sectors = mib * 2048;
        let mut bytes = format_fat16(sectors, first_lba, 0x1234_5678).unwrap();
        assert!(bytes.len() < (sectors as usize) * SECTOR_SIZE);
        bytes.resize(sectors as usize * SECTOR_SIZE, 0);
        bytes
    }

    #[test]
    fn formats_and_reads_back_fat16() {
        let bytes = partition(32, 4096);
        let summary = inspect_fat(Cursor::new(&bytes), 0, bytes.len() as u64).unwrap();
        assert_eq!(summary.fat_type, FatType::Fat16);
        assert_eq!(summary.volume_label, "BAREFLOW");
        assert_eq!(summary.volume_id, 0x1234_5678);
        assert_eq!(summary.hidden_sectors, 4096);
        assert_eq!(summary.free_clusters, summary.total_clusters);
        assert!((4085..65525).contains(&summary.total_clusters), "{summary:?}");
    }

    #[test]
    fn reads_a_partition_inside_a_disk() {
        let mut disk = vec![0xEEu8; 1 << 20];
        disk.extend_from_slice(&partition(8, 2048));
        let summary = inspect_fat(Cursor::new(&disk), 1 << 20, 8 << 20).unwrap();
        assert_eq!(summary.volume_label, "BAREFLOW");
        assert!(inspect_fat(Cursor::new(&disk), 0, 8 << 20).is_err());
    }

    #[test]
    fn formatting_is_reproducible() {
        assert_eq!(format_fat16(65536, 2048, 7).unwrap(), format_fat16(65536, 2048, 7).unwrap());
    }

    #[test]
    fn fat16_size_limits() {
        use crate::image::{MAX_FAT_MIB, MIN_FAT_MIB};
        assert!(format_fat16(MIN_FAT_MIB * 2048, 2048, 7).is_ok());
        assert!(format_fat16(MAX_FAT_MIB * 2048, 2048, 7).is_ok());
        assert!(format_fat16((MIN_FAT_MIB - 1) * 2048, 2048, 7).unwrap_err().to_string().contains("Fat12 instead"));
        assert!(format_fat16((MAX_FAT_MIB + 1) * 2048, 2048, 7).is_err());
    }
}
