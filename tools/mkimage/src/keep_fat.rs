//! `mkimage build --keep-fat`: carrying the FAT16 partition of the image being replaced
//! (the kernel's `/BOOT.LOG`, its snapshots under `/SNAPSHOT`) over into the new image,
//! so that rebuilding the image does not lose what the kernel wrote.
//!
//! The old partition is kept only when the old file is a BareFlow image (an MBR whose
//! entry 1 is the boot partition and entry 2 a FAT16 partition) whose partition 2 has
//! exactly the new partition's size and holds a readable FAT16 file system. Otherwise
//! the new image keeps its freshly formatted partition and [`KeepFat::Fresh`] says why:
//! the old file never makes a build fail.
//!
//! The bytes are copied as they are (volume label and serial number included), except
//! the boot sector's hidden-sectors field, which is set to the partition's new first
//! LBA: the partition moves when the payload grows or shrinks past a MiB boundary.

use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use boot_protocol::{SECTOR_SIZE, STAGE2_LBA};
use fatfs::FatType;

use crate::fat::{BPB_HIDDEN_SECTORS_OFFSET, inspect_fat};
use crate::image::{DiskImage, DiskLayout, SECTORS_PER_MIB};
use crate::mbr::{PARTITION_TYPE_BOOT_DATA, PARTITION_TYPE_FAT16, PARTITION_TYPE_FAT16_SMALL, read_partition_table};

/// What [`keep_partition_of`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeepFat {
    /// The old image's FAT16 partition went into the new image.
    Kept {
        /// The old image.
        from: PathBuf,
        /// Size of the partition in sectors.
        sectors: u64,
    },
    /// The new image keeps its freshly formatted partition.
    Fresh {
        /// Why the old partition was not kept.
        reason: String,
    },
}

impl KeepFat {
    /// Whether the old partition was kept.
    pub fn is_kept(&self) -> bool {
        matches!(self, KeepFat::Kept { .. })
    }
}

impl fmt::Display for KeepFat {
    /// `kept the FAT16 partition of build/bareflow.img (32 MiB)` or
    /// `fresh FAT16 partition (<reason>)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepFat::Kept { from, sectors } => {
                write!(f, "kept the FAT16 partition of {} ({})", from.display(), size_text(*sectors))
            }
            KeepFat::Fresh { reason } => write!(f, "fresh FAT16 partition ({reason})"),
        }
    }
}

/// `32 MiB`, or `12345 sectors` for a size that is not a whole number of MiB.
fn size_text(sectors: u64) -> String {
    if sectors.is_multiple_of(SECTORS_PER_MIB) {
        format!("{} MiB", sectors / SECTORS_PER_MIB)
    } else {
        format!("{sectors} sectors")
    }
}

/// Puts the FAT16 partition of the image file `old` into `image` in place of its freshly
/// formatted one when it can be kept (see the module documentation); otherwise leaves
/// `image` unchanged. Call it before writing `image` over `old`. Never fails: the
/// outcome says what happened.
pub fn keep_partition_of(image: &mut DiskImage, old: &Path) -> KeepFat {
    match read_partition(old, &image.layout) {
        Ok(bytes) => {
            image.fat_metadata = bytes;
            KeepFat::Kept { from: old.to_path_buf(), sectors: image.layout.fat_sectors }
        }
        Err(reason) => KeepFat::Fresh { reason },
    }
}

/// The FAT16 partition of the image file `old`, ready to go where `layout` puts the
/// partition (hidden sectors set to its first LBA, trailing zero sectors left out, as
/// [`DiskImage::fat_metadata`] holds it), or why it cannot be kept.
pub fn read_partition(old: &Path, layout: &DiskLayout) -> Result<Vec<u8>, String> {
    let name = old.display();
    let mut file = match File::open(old) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(format!("{name} does not exist")),
        Err(e) => return Err(format!("cannot open {name}: {e}")),
    };
    let not_an_image = |why: String| format!("{name} is not a BareFlow image: {why}");
    let mut mbr = [0u8; SECTOR_SIZE];
    match file.read_exact(&mut mbr) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(not_an_image("it is shorter than one sector".into()));
        }
        Err(e) => return Err(format!("cannot read {name}: {e}")),
    }
    let table = read_partition_table(&mbr).map_err(|_| not_an_image("no MBR boot signature".into()))?;
    let [(boot, _, _), (fat, _, _), ..] = table.entries;
    if boot.kind != PARTITION_TYPE_BOOT_DATA || u64::from(boot.first_lba) != STAGE2_LBA {
        return Err(not_an_image(format!(
            "partition 1 is not the boot partition (type {:#04x} from LBA {})",
            boot.kind, boot.first_lba
        )));
    }
    if ![PARTITION_TYPE_FAT16, PARTITION_TYPE_FAT16_SMALL].contains(&fat.kind) || fat.sectors == 0 {
        return Err(not_an_image(format!("partition 2 is not a FAT16 partition (type {:#04x})", fat.kind)));
    }
    let (old_sectors, new_sectors) = (u64::from(fat.sectors), layout.fat_sectors);
    if old_sectors != new_sectors {
        return Err(format!(
            "size differs: the FAT16 partition of {name} is {}, the new one {}",
            size_text(old_sectors),
            size_text(new_sectors)
        ));
    }
    let sector = SECTOR_SIZE as u64;
    let (start, len) = (u64::from(fat.first_lba) * sector, new_sectors * sector);
    let file_len = file.metadata().map_err(|e| format!("cannot read {name}: {e}"))?.len();
    if start + len > file_len {
        return Err(format!(
            "{name} is truncated: its FAT16 partition ends at byte {}, the file at byte {file_len}",
            start + len
        ));
    }
    let mut bytes = vec![0u8; len as usize];
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read the FAT16 partition of {name}: {e}"))?;
    match inspect_fat(Cursor::new(bytes.as_slice()), 0, len) {
        Ok(summary) if summary.fat_type == FatType::Fat16 => {}
        Ok(summary) => return Err(format!("partition 2 of {name} holds {:?}, not FAT16", summary.fat_type)),
        Err(e) => return Err(format!("the FAT16 partition of {name} is unreadable: {e:#}")),
    }
    let hidden = BPB_HIDDEN_SECTORS_OFFSET..BPB_HIDDEN_SECTORS_OFFSET + 4;
    bytes[hidden].copy_from_slice(&(layout.fat_first_lba as u32).to_le_bytes());
    let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
    bytes.truncate(used.next_multiple_of(SECTOR_SIZE));
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::elf;

    use crate::files;
    use crate::image::{ImageInputs, STAGE2_SIGNATURE, assemble};
    use crate::inspect::inspect_image;
    use crate::kernel_elf::tests::tiny_elf;
    use crate::mbr::BOOT_SIGNATURE;
    use crate::payload::ModuleInput;

    /// Inputs of a small image: a FAT16 partition of `fat_mib` MiB, and a module of
    /// `module_bytes` bytes (none for 0).
    fn inputs(fat_mib: u32, module_bytes: usize) -> ImageInputs {
        let mut stage1 = vec![0u8; SECTOR_SIZE];
        stage1[510..].copy_from_slice(&BOOT_SIGNATURE);
        let mut stage2 = vec![0xEB, 0x04];
        stage2.extend_from_slice(STAGE2_SIGNATURE);
        let modules = if module_bytes == 0 {
            Vec::new()
        } else {
            vec![ModuleInput { name: "app".into(), bytes: vec![0x5A; module_bytes] }]
        };
        ImageInputs {
            stage1,
            stage2,
            kernel_elf: tiny_elf(elf::EM_X86_64, elf::ET_EXEC, true),
            cmdline: "bf.test=keep".into(),
            modules,
            fat_mib,
        }
    }

    fn temporary(label: &str) -> PathBuf {
        std::env::temp_dir().join(format!("mkimage-keep-{label}-{}.img", std::process::id()))
    }

    /// Writes an image with an 8 MiB partition holding `/BOOT.LOG` at `path`.
    fn old_image_with_a_file(path: &Path) -> DiskImage {
        let old = assemble(&inputs(8, 0)).unwrap();
        old.write_file(path).unwrap();
        files::put(path, "/BOOT.LOG", b"boot 1 10.0 ms\n").unwrap();
        old
    }

    #[test]
    fn a_partition_of_the_same_size_is_kept_with_its_files() {
        let img = temporary("kept");
        let old = old_image_with_a_file(&img);
        // A 2 MiB module moves the partition two MiB further.
        let mut new = assemble(&inputs(8, 2 << 20)).unwrap();
        assert!(new.layout.fat_first_lba > old.layout.fat_first_lba);
        let outcome = keep_partition_of(&mut new, &img);
        assert!(outcome.is_kept());
        assert_eq!(outcome.to_string(), format!("kept the FAT16 partition of {} (8 MiB)", img.display()));
        assert_eq!(new.fat_metadata.len() % SECTOR_SIZE, 0);
        assert!(new.fat_metadata.len() < 8 << 20, "the zero tail is left out");
        new.write_file(&img).unwrap();

        assert_eq!(files::cat(&img, "/BOOT.LOG").unwrap(), b"boot 1 10.0 ms\n");
        let report = inspect_image(&img).unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.header.module_count, 1, "the new payload");
        let fat = report.fat.unwrap();
        assert_eq!(fat.hidden_sectors, new.layout.fat_first_lba as u32);
        assert_eq!(fat.volume_label, "BAREFLOW");
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn a_partition_of_another_size_is_not_kept() {
        let img = temporary("resized");
        old_image_with_a_file(&img);
        let mut new = assemble(&inputs(16, 0)).unwrap();
        let fresh = new.fat_metadata.clone();
        let outcome = keep_partition_of(&mut new, &img);
        assert_eq!(
            outcome.to_string(),
            format!(
                "fresh FAT16 partition (size differs: the FAT16 partition of {} is 8 MiB, the new one 16 MiB)",
                img.display()
            )
        );
        assert_eq!(new.fat_metadata, fresh);
        new.write_file(&img).unwrap();
        assert!(files::list(&img, "/").unwrap().is_empty());
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn missing_garbage_truncated_or_damaged_files_give_a_fresh_partition() {
        let img = temporary("garbage");
        let mut new = assemble(&inputs(8, 0)).unwrap();
        let fresh = new.fat_metadata.clone();
        let reason = |new: &mut DiskImage| {
            let outcome = keep_partition_of(new, &img);
            assert!(!outcome.is_kept());
            assert_eq!(new.fat_metadata, fresh);
            let text = outcome.to_string();
            assert!(text.starts_with("fresh FAT16 partition ("), "{text}");
            text
        };

        let _ = std::fs::remove_file(&img);
        assert!(reason(&mut new).contains("does not exist"));
        std::fs::write(&img, b"not an image at all\n".repeat(1000)).unwrap();
        assert!(reason(&mut new).contains("not a BareFlow image: no MBR boot signature"));
        std::fs::write(&img, b"tiny").unwrap();
        assert!(reason(&mut new).contains("shorter than one sector"));
        // An MBR with a FAT16 partition, but as entry 1: not a BareFlow image.
        let other = files::tests::image("keep-other");
        std::fs::rename(&other, &img).unwrap();
        assert!(reason(&mut new).contains("partition 1 is not the boot partition"));

        old_image_with_a_file(&img);
        let file = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        let full = file.metadata().unwrap().len();
        file.set_len(full - 512).unwrap();
        assert!(reason(&mut new).contains("is truncated"));
        file.set_len(full).unwrap();
        // The partition's boot sector wiped out.
        let mut bytes = std::fs::read(&img).unwrap();
        let start = new.layout.fat_first_lba as usize * SECTOR_SIZE;
        bytes[start..start + SECTOR_SIZE].fill(0);
        std::fs::write(&img, bytes).unwrap();
        assert!(reason(&mut new).contains("is unreadable"));

        let dir = std::env::temp_dir();
        let outcome = keep_partition_of(&mut new, &dir);
        assert!(outcome.to_string().contains("cannot read"), "{outcome}");
        let _ = std::fs::remove_file(img);
    }
}
