//! The whole disk image: where everything goes, assembling it, writing it out.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, ensure};
use boot_protocol::flud::crc32;
use boot_protocol::{FLUD_HEADER_LBA, PAYLOAD_LBA, SCRATCH_SECTORS, SECTOR_SIZE, STAGE2_LBA, STAGE2_SECTORS};

use crate::fat::format_fat16;
use crate::kernel_elf::{KernelImage, load_kernel_elf};
use crate::mbr::{PARTITION_TYPE_BOOT_DATA, PartitionEntry, STATUS_ACTIVE, fat16_partition_type, patch_mbr};
use crate::payload::{MIB, ModuleInput, Payload, align_up, build_payload};

/// Sectors per MiB: the FAT partition starts on a multiple of this.
pub const SECTORS_PER_MIB: u64 = MIB / SECTOR_SIZE as u64;
/// Largest stage2, in bytes (LBA 1–8).
pub const STAGE2_MAX_SIZE: usize = STAGE2_SECTORS as usize * SECTOR_SIZE;
/// The signature stage1 checks at bytes 2–5 of stage2.
pub const STAGE2_SIGNATURE: &[u8; 4] = b"BFS2";
/// Default size of the FAT16 partition, in MiB.
pub const DEFAULT_FAT_MIB: u32 = 32;
/// Smallest FAT16 partition, in MiB (fatfs formats anything smaller as FAT12).
pub const MIN_FAT_MIB: u32 = 5;
/// Largest FAT16 partition, in MiB (65524 clusters of 32 KiB, the largest portable cluster).
pub const MAX_FAT_MIB: u32 = 2047;

/// Where the parts of the image go, in sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskLayout {
    /// Sectors the payload occupies from [`PAYLOAD_LBA`] (the last one zero-padded).
    pub payload_sectors: u64,
    /// First sector of the FAT16 partition: the first 1 MiB boundary after the payload.
    pub fat_first_lba: u64,
    /// Sectors of the FAT16 partition.
    pub fat_sectors: u64,
}

impl DiskLayout {
    /// The layout for a payload of `payload_size` bytes and a FAT16 partition of `fat_mib` MiB.
    pub fn new(payload_size: u64, fat_mib: u32) -> Result<Self> {
        ensure!(
            (MIN_FAT_MIB..=MAX_FAT_MIB).contains(&fat_mib),
            "a FAT16 partition of {fat_mib} MiB is not possible; use {MIN_FAT_MIB} to {MAX_FAT_MIB} MiB"
        );
        let payload_sectors = payload_size.div_ceil(SECTOR_SIZE as u64);
        // The self-test scratch area (zeros) always fits between payload and FAT16.
        let fat_first_lba = align_up(PAYLOAD_LBA + payload_sectors + SCRATCH_SECTORS, SECTORS_PER_MIB);
        let layout = DiskLayout { payload_sectors, fat_first_lba, fat_sectors: u64::from(fat_mib) * SECTORS_PER_MIB };
        ensure!(
            layout.total_sectors() <= u64::from(u32::MAX),
            "the image would have {} sectors; an MBR addresses at most 2^32 - 1",
            layout.total_sectors()
        );
        Ok(layout)
    }

    /// First sector after the payload.
    pub fn payload_end_lba(&self) -> u64 {
        PAYLOAD_LBA + self.payload_sectors
    }

    /// Sectors of the whole image (it ends where the FAT16 partition ends).
    pub fn total_sectors(&self) -> u64 {
        self.fat_first_lba + self.fat_sectors
    }

    /// Bytes of the whole image.
    pub fn total_bytes(&self) -> u64 {
        self.total_sectors() * SECTOR_SIZE as u64
    }

    /// The partition table: the active boot-data partition from LBA 1 up to the FAT
    /// partition, then the FAT16 partition. Call only on a layout from [`DiskLayout::new`].
    pub fn partition_entries(&self) -> [PartitionEntry; 4] {
        let fat_sectors = self.fat_sectors as u32;
        [
            PartitionEntry {
                status: STATUS_ACTIVE,
                kind: PARTITION_TYPE_BOOT_DATA,
                first_lba: STAGE2_LBA as u32,
                sectors: (self.fat_first_lba - STAGE2_LBA) as u32,
            },
            PartitionEntry {
                status: 0,
                kind: fat16_partition_type(fat_sectors),
                first_lba: self.fat_first_lba as u32,
                sectors: fat_sectors,
            },
            PartitionEntry::default(),
            PartitionEntry::default(),
        ]
    }
}

/// Checks stage2: 1 to 4096 bytes, with `BFS2` at bytes 2–5 (stage1 checks it).
pub fn check_stage2(stage2: &[u8]) -> Result<()> {
    ensure!(
        !stage2.is_empty() && stage2.len() <= STAGE2_MAX_SIZE,
        "stage2 is {} bytes; it must be 1 to {STAGE2_MAX_SIZE} bytes (LBA 1–8)",
        stage2.len()
    );
    ensure!(
        stage2.get(2..6) == Some(&STAGE2_SIGNATURE[..]),
        "stage2 lacks the signature `BFS2` at bytes 2–5, which stage1 checks"
    );
    Ok(())
}

/// The disk signature of an image: derived from its FLUD header (which holds the payload
/// CRC), so the same inputs give the same image; never zero.
pub fn disk_signature(header_sector: &[u8]) -> u32 {
    crc32(header_sector).max(1)
}

/// Everything the image is built from.
#[derive(Clone, Debug)]
pub struct ImageInputs {
    /// stage1: a 512-byte MBR template ending `0x55 0xAA`, bytes 440–509 zero.
    pub stage1: Vec<u8>,
    /// stage2: at most 4096 bytes.
    pub stage2: Vec<u8>,
    /// The kernel ELF file.
    pub kernel_elf: Vec<u8>,
    /// Kernel command line.
    pub cmdline: String,
    /// Modules in payload order.
    pub modules: Vec<ModuleInput>,
    /// Size of the FAT16 partition in MiB.
    pub fat_mib: u32,
}

/// A fully assembled image, held in memory except the FAT partition's zero tail.
#[derive(Clone, Debug)]
pub struct DiskImage {
    /// Where the parts go.
    pub layout: DiskLayout,
    /// LBA 0 with disk signature and partition table.
    pub mbr: [u8; SECTOR_SIZE],
    /// stage2, unpadded.
    pub stage2: Vec<u8>,
    /// The encoded FLUD header (LBA 9).
    pub header_sector: [u8; SECTOR_SIZE],
    /// The payload and its decoded header.
    pub payload: Payload,
    /// The kernel the payload was built from (its file image is also in the payload).
    pub kernel: KernelSummary,
    /// The first bytes of the FAT16 partition, the rest of it being zero: the freshly
    /// formatted file system's metadata, or the previous image's partition up to its last
    /// non-zero sector when [`crate::keep_fat::keep_partition_of`] kept it.
    pub fat_metadata: Vec<u8>,
    /// The disk signature written at byte 440.
    pub disk_signature: u32,
}

/// Figures about the kernel that went into the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSummary {
    /// Entry point.
    pub entry: u64,
    /// Number of `PT_LOAD` segments.
    pub segment_count: usize,
    /// Bytes stored in the payload.
    pub file_image_size: u64,
    /// Bytes of memory it occupies from the load address, BSS included.
    pub memory_size: u64,
}

impl From<&KernelImage> for KernelSummary {
    fn from(kernel: &KernelImage) -> Self {
        KernelSummary {
            entry: kernel.entry,
            segment_count: kernel.segment_count,
            file_image_size: kernel.file_image.len() as u64,
            memory_size: kernel.memory_size,
        }
    }
}

/// Assembles an image in memory from its inputs.
pub fn assemble(inputs: &ImageInputs) -> Result<DiskImage> {
    crate::mbr::check_stage1(&inputs.stage1)?;
    check_stage2(&inputs.stage2)?;
    let kernel = load_kernel_elf(&inputs.kernel_elf).context("bad kernel ELF")?;
    let payload = build_payload(&kernel, &inputs.modules, &inputs.cmdline)?;
    let layout = DiskLayout::new(payload.header.payload_size, inputs.fat_mib)?;
    let header_sector = payload.header.encode();
    let disk_signature = disk_signature(&header_sector);
    let mbr = patch_mbr(&inputs.stage1, disk_signature, &layout.partition_entries())?;
    let fat_metadata = format_fat16(layout.fat_sectors as u32, layout.fat_first_lba as u32, disk_signature)?;
    Ok(DiskImage {
        layout,
        mbr,
        stage2: inputs.stage2.clone(),
        header_sector,
        payload,
        kernel: KernelSummary::from(&kernel),
        fat_metadata,
        disk_signature,
    })
}

impl DiskImage {
    /// Writes the image from LBA 0 through the end of the FAT partition's metadata and
    /// returns the number of bytes written. The rest of the FAT partition is zero and is
    /// not written: the caller extends the file to [`DiskLayout::total_bytes`].
    pub fn write_to<W: Write>(&self, out: &mut W) -> Result<u64> {
        let sector = SECTOR_SIZE as u64;
        let stage2_padding = vec![0u8; STAGE2_MAX_SIZE - self.stage2.len()];
        let payload_padding = self.layout.payload_sectors * sector - self.payload.bytes.len() as u64;
        let gap_before_fat = (self.layout.fat_first_lba - self.layout.payload_end_lba()) * sector;
        let zeros_before_fat = vec![0u8; (payload_padding + gap_before_fat) as usize];
        // (byte offset where the piece must start, bytes)
        let pieces: [(u64, &[u8]); 7] = [
            (0, &self.mbr),
            (STAGE2_LBA * sector, &self.stage2),
            (STAGE2_LBA * sector + self.stage2.len() as u64, &stage2_padding),
            (FLUD_HEADER_LBA * sector, &self.header_sector),
            (PAYLOAD_LBA * sector, &self.payload.bytes),
            (PAYLOAD_LBA * sector + self.payload.bytes.len() as u64, &zeros_before_fat),
            (self.layout.fat_first_lba * sector, &self.fat_metadata),
        ];
        let mut written = 0u64;
        for (start, bytes) in pieces {
            debug_assert_eq!(written, start, "image pieces out of place");
            out.write_all(bytes)?;
            written += bytes.len() as u64;
        }
        Ok(written)
    }

    /// Writes the image file at `path` (through a temporary file renamed into place, so
    /// a failed build never leaves a half-written image behind).
    pub fn write_file(&self, path: &Path) -> Result<()> {
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".partial");
        let temporary = Path::new(&temporary);
        let result = (|| -> Result<()> {
            let mut out = BufWriter::new(File::create(temporary)?);
            self.write_to(&mut out)?;
            let file = out.into_inner().map_err(|e| e.into_error())?;
            // The rest of the FAT partition is zero: extend the file (sparse where possible).
            file.set_len(self.layout.total_bytes())?;
            file.sync_all()?;
            Ok(())
        })();
        if let Err(error) = result {
            let _ = fs::remove_file(temporary);
            return Err(error).with_context(|| format!("cannot write {}", temporary.display()));
        }
        fs::rename(temporary, path)
            .with_context(|| format!("cannot rename {} to {}", temporary.display(), path.display()))
    }

    /// Human-readable summary of the image, then the build figures as `METRIC` lines.
    pub fn summary(&self, output: &Path) -> String {
        use std::fmt::Write as _;
        let header = &self.payload.header;
        let layout = &self.layout;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "mkimage: wrote {} ({} bytes, {} sectors)",
            output.display(),
            layout.total_bytes(),
            layout.total_sectors()
        );
        let _ = writeln!(
            s,
            "  kernel    entry {:#x}, {} PT_LOAD segments, {} bytes stored, {} bytes in memory (BSS included)",
            self.kernel.entry, self.kernel.segment_count, self.kernel.file_image_size, self.kernel.memory_size
        );
        for m in header.modules() {
            let _ = writeln!(s, "  module    {:<16} offset {:#x}, {} bytes", m.name(), m.offset, m.size);
        }
        let _ = writeln!(s, "  cmdline   {:?}", header.cmdline());
        let _ = writeln!(
            s,
            "  payload   {} bytes at LBA {}..{}, CRC32 {:#010x}",
            header.payload_size,
            PAYLOAD_LBA,
            layout.payload_end_lba() - 1,
            header.payload_crc32
        );
        for (i, p) in layout.partition_entries().iter().take(2).enumerate() {
            let _ = writeln!(
                s,
                "  partition {} type {:#04x}{} LBA {}..{} ({} sectors)",
                i + 1,
                p.kind,
                if p.status == STATUS_ACTIVE { " active," } else { "," },
                p.first_lba,
                p.last_lba(),
                p.sectors
            );
        }
        let _ = writeln!(s, "  disk signature {:#010x}, FAT16 label BAREFLOW", self.disk_signature);
        let _ = writeln!(s, "METRIC image.bytes {} bytes", layout.total_bytes());
        let _ = writeln!(s, "METRIC image.payload_bytes {} bytes", header.payload_size);
        let _ = writeln!(s, "METRIC kernel.image_bytes {} bytes", header.kernel_size);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_partition_starts_on_the_next_mib() {
        let small = DiskLayout::new(1, 32).unwrap();
        assert_eq!(small.payload_sectors, 1);
        assert_eq!(small.fat_first_lba, 2048);
        assert_eq!(small.total_sectors(), 2048 + 65536);
        // Payload plus scratch area ending exactly on a MiB boundary: the FAT partition
        // starts right there.
        let exact = DiskLayout::new((2048 - PAYLOAD_LBA - SCRATCH_SECTORS) * 512, 32).unwrap();
        assert_eq!(exact.payload_end_lba() + SCRATCH_SECTORS, 2048);
        assert_eq!(exact.fat_first_lba, 2048);
        let one_more = DiskLayout::new((2048 - PAYLOAD_LBA - SCRATCH_SECTORS) * 512 + 1, 32).unwrap();
        assert_eq!(one_more.fat_first_lba, 4096);
    }

    #[test]
    fn partition_entries_cover_the_disk() {
        let layout = DiskLayout::new(60 << 20, 32).unwrap();
        let [boot, fat, empty3, empty4] = layout.partition_entries();
        assert_eq!((boot.status, boot.kind, boot.first_lba), (0x80, 0xDA, 1));
        assert_eq!(boot.last_lba() + 1, u64::from(fat.first_lba));
        assert!(boot.last_lba() >= layout.payload_end_lba() - 1);
        assert_eq!((fat.status, fat.kind, fat.sectors), (0, 0x06, 65536));
        assert_eq!(fat.first_lba % 2048, 0);
        assert_eq!(fat.last_lba() + 1, layout.total_sectors());
        assert!(empty3.is_empty() && empty4.is_empty());
        assert_eq!(DiskLayout::new(1, 16).unwrap().partition_entries()[1].kind, 0x04);
        assert!(DiskLayout::new(1, MIN_FAT_MIB - 1).is_err());
        assert!(DiskLayout::new(1, MAX_FAT_MIB + 1).is_err());
    }

    #[test]
    fn stage2_is_checked() {
        let mut stage2 = vec![0xEB, 0x04];
        stage2.extend_from_slice(b"BFS2");
        assert!(check_stage2(&stage2).is_ok());
        stage2.resize(4096, 0);
        assert!(check_stage2(&stage2).is_ok());
        stage2.push(0);
        assert!(check_stage2(&stage2).unwrap_err().to_string().contains("4097 bytes"));
        assert!(check_stage2(&[]).is_err());
        assert!(check_stage2(b"\xEB\x04XXXX").unwrap_err().to_string().contains("BFS2"));
    }

    #[test]
    fn disk_signature_is_never_zero() {
        assert_ne!(disk_signature(&[0; 512]), 0);
        assert_eq!(disk_signature(&[1; 512]), disk_signature(&[1; 512]));
        assert_ne!(disk_signature(&[1; 512]), disk_signature(&[2; 512]));
    }
}
