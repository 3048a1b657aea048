//! `mkimage info`: decodes an image and checks it the way stage1 and stage2 would.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use boot_protocol::flud::{FludHeader, HEADER_SIZE, crc32};
use boot_protocol::{FLUD_HEADER_LBA, PAYLOAD_LBA, SECTOR_SIZE, STAGE2_LBA};
use fatfs::FatType;

use crate::fat::{FatSummary, inspect_fat};
use crate::image::STAGE2_SIGNATURE;
use crate::mbr::{
    PARTITION_TYPE_BOOT_DATA, PARTITION_TYPE_FAT16, PARTITION_TYPE_FAT16_SMALL, PartitionTable, STATUS_ACTIVE,
    read_partition_table,
};

/// Everything `mkimage info` found out about an image.
#[derive(Clone, Debug)]
pub struct ImageReport {
    /// Size of the image file.
    pub image_bytes: u64,
    /// Disk signature and partition table.
    pub partitions: PartitionTable,
    /// The decoded FLUD header.
    pub header: FludHeader,
    /// CRC32 of the payload bytes as found on disk.
    pub payload_crc32: u32,
    /// The FAT partition's file system, if it could be read.
    pub fat: Option<FatSummary>,
    /// For an image the kernel exported (docs/shrink.md): the app its runtime carries.
    /// Such an image has no FAT16 partition.
    pub export: Option<ExportedApp>,
    /// Every inconsistency found; empty for a good image.
    pub problems: Vec<String>,
}

/// The app record of an exported image's runtime header (`boot_protocol::export`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedApp {
    /// The app's name.
    pub name: String,
    /// Whether never-executed functions were trimmed to cold-path stubs.
    pub trimmed_mode: bool,
    /// Functions exported with code.
    pub exported: u32,
    /// Functions trimmed.
    pub trimmed: u32,
    /// The app's entry address.
    pub entry: u64,
    /// Bytes of the app's BSS (zeroed by the runtime, not stored).
    pub bss_bytes: u64,
}

impl ImageReport {
    /// Whether the image passed every check.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads and checks the image at `path`. Fails outright when the image cannot be
/// decoded at all (no MBR, no valid FLUD header, truncated); lesser faults are listed in
/// [`ImageReport::problems`].
pub fn inspect_image(path: &Path) -> Result<ImageReport> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let image_bytes = file.metadata()?.len();
    let boot_area_bytes = PAYLOAD_LBA * SECTOR_SIZE as u64;
    ensure!(
        image_bytes >= boot_area_bytes,
        "{} is {image_bytes} bytes, too short to hold an MBR, stage2 and a FLUD header ({boot_area_bytes} bytes)",
        path.display()
    );
    let mut boot_area = vec![0u8; boot_area_bytes as usize];
    file.read_exact(&mut boot_area)?;
    let mbr: &[u8; SECTOR_SIZE] = boot_area[..SECTOR_SIZE].try_into().unwrap();
    let partitions = read_partition_table(mbr)?;
    let header_start = FLUD_HEADER_LBA as usize * SECTOR_SIZE;
    let header = FludHeader::decode(&boot_area[header_start..header_start + HEADER_SIZE])
        .map_err(|e| anyhow::anyhow!("LBA {FLUD_HEADER_LBA}: {e}"))?;

    let payload_start = PAYLOAD_LBA * SECTOR_SIZE as u64;
    let payload_end = payload_start + header.payload_size;
    if payload_end > image_bytes {
        bail!(
            "the FLUD header's payload ({} bytes from LBA {PAYLOAD_LBA}) runs past the end of the {image_bytes}-byte image",
            header.payload_size
        );
    }
    let mut payload = vec![0u8; header.payload_size as usize];
    file.seek(SeekFrom::Start(payload_start))?;
    file.read_exact(&mut payload)?;
    let payload_crc32 = crc32(&payload);
    let export = boot_protocol::export::AppRecord::read_from(&payload).map(|record| ExportedApp {
        name: record.name.to_string(),
        trimmed_mode: record.flags & boot_protocol::export::FLAG_TRIMMED != 0,
        exported: record.exported,
        trimmed: record.trimmed,
        entry: record.entry,
        bss_bytes: record.bss_end.saturating_sub(record.bss_start),
    });
    drop(payload);

    let mut problems = Vec::new();
    let stage2_start = STAGE2_LBA as usize * SECTOR_SIZE;
    if boot_area[stage2_start + 2..stage2_start + 6] != STAGE2_SIGNATURE[..] {
        problems.push("stage2 (LBA 1) lacks the `BFS2` signature at bytes 2–5; stage1 would stop with BF1:S".into());
    }
    if payload_crc32 != header.payload_crc32 {
        problems.push(format!(
            "payload checksum mismatch: the header says {:#010x}, the payload's CRC32 is {payload_crc32:#010x}",
            header.payload_crc32
        ));
    }
    let [(boot, _, _), (fat_entry, _, _), ..] = partitions.entries;
    let payload_last_lba = PAYLOAD_LBA + header.payload_size.div_ceil(SECTOR_SIZE as u64) - 1;
    if boot.status != STATUS_ACTIVE || boot.kind != PARTITION_TYPE_BOOT_DATA || boot.first_lba as u64 != STAGE2_LBA {
        problems.push(format!(
            "partition 1 should be active, type {PARTITION_TYPE_BOOT_DATA:#04x}, from LBA {STAGE2_LBA}; it is status \
             {:#04x}, type {:#04x}, from LBA {}",
            boot.status, boot.kind, boot.first_lba
        ));
    } else if boot.sectors == 0 || boot.last_lba() < payload_last_lba {
        problems.push(format!(
            "partition 1 (LBA {}..{}) does not cover the payload (up to LBA {payload_last_lba})",
            boot.first_lba,
            boot.last_lba()
        ));
    }
    let fat = if export.is_some() && fat_entry.is_empty() {
        None // an exported image has no file system
    } else if ![PARTITION_TYPE_FAT16, PARTITION_TYPE_FAT16_SMALL].contains(&fat_entry.kind) || fat_entry.sectors == 0 {
        problems.push(format!("partition 2 is not a FAT16 partition (type {:#04x})", fat_entry.kind));
        None
    } else {
        let start = u64::from(fat_entry.first_lba) * SECTOR_SIZE as u64;
        let len = u64::from(fat_entry.sectors) * SECTOR_SIZE as u64;
        if boot.sectors != 0 && boot.last_lba() >= u64::from(fat_entry.first_lba) {
            problems.push("partitions 1 and 2 overlap".into());
        }
        if start + len > image_bytes {
            problems.push(format!(
                "partition 2 (LBA {}..{}) runs past the end of the {image_bytes}-byte image",
                fat_entry.first_lba,
                fat_entry.last_lba()
            ));
        }
        match inspect_fat(&mut file, start, len) {
            Ok(summary) => {
                if summary.fat_type != FatType::Fat16 {
                    problems.push(format!("partition 2 holds {:?}, not FAT16", summary.fat_type));
                }
                Some(summary)
            }
            Err(error) => {
                problems.push(format!("partition 2: {error:#}"));
                None
            }
        }
    };
    Ok(ImageReport { image_bytes, partitions, header, payload_crc32, fat, export, problems })
}

impl fmt::Display for ImageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        writeln!(f, "image: {} bytes ({} sectors)", self.image_bytes, self.image_bytes / SECTOR_SIZE as u64)?;
        writeln!(f, "MBR: disk signature {:#010x}", self.partitions.disk_signature)?;
        for (i, (entry, chs_start, chs_end)) in self.partitions.entries.iter().enumerate() {
            if entry.is_empty() {
                writeln!(f, "  partition {}: empty", i + 1)?;
                continue;
            }
            writeln!(
                f,
                "  partition {}: status {:#04x}{}, type {:#04x}, LBA {}..{} ({} sectors), CHS {}..{}",
                i + 1,
                entry.status,
                if entry.status == STATUS_ACTIVE { " (active)" } else { "" },
                entry.kind,
                entry.first_lba,
                entry.last_lba(),
                entry.sectors,
                chs_start,
                chs_end
            )?;
        }
        writeln!(f, "FLUD header (LBA {FLUD_HEADER_LBA}): version 1, flags {:#x}", h.flags)?;
        writeln!(f, "  payload size  {} bytes (LBA {PAYLOAD_LBA}..)", h.payload_size)?;
        writeln!(f, "  load address  {:#x}", h.load_addr)?;
        writeln!(f, "  entry point   {:#x}", h.entry)?;
        writeln!(f, "  kernel size   {} bytes (BSS included)", h.kernel_size)?;
        let crc_verdict = if self.payload_crc32 == h.payload_crc32 { "ok" } else { "MISMATCH" };
        writeln!(f, "  payload CRC32 {:#010x} ({crc_verdict})", h.payload_crc32)?;
        writeln!(f, "  modules       {}", h.module_count)?;
        for m in h.modules() {
            writeln!(f, "    {:<16} offset {:#x}, {} bytes", m.name(), m.offset, m.size)?;
        }
        writeln!(f, "  cmdline       {:?}", h.cmdline())?;
        match &self.fat {
            Some(fat) => writeln!(
                f,
                "FAT partition: {:?}, label {:?}, volume id {:#010x}, {} clusters of {} bytes ({} free), hidden sectors {}",
                fat.fat_type,
                fat.volume_label,
                fat.volume_id,
                fat.total_clusters,
                fat.cluster_size,
                fat.free_clusters,
                fat.hidden_sectors
            )?,
            None if self.export.is_some() => writeln!(f, "FAT partition: none (an exported image)")?,
            None => writeln!(f, "FAT partition: unreadable")?,
        }
        if let Some(app) = &self.export {
            writeln!(
                f,
                "exported app: {} ({}, {} functions exported, {} trimmed), entry {:#x}, BSS {} bytes",
                app.name,
                if app.trimmed_mode { "trimmed" } else { "full" },
                app.exported,
                app.trimmed,
                app.entry,
                app.bss_bytes
            )?;
        }
        if self.problems.is_empty() {
            writeln!(f, "image ok")
        } else {
            for problem in &self.problems {
                writeln!(f, "PROBLEM: {problem}")?;
            }
            Ok(())
        }
    }
}
