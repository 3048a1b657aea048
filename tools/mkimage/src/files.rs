//! Files on an image's FAT16 partition, from the host (`mkimage fs ls|cat|put|rm`): so
//! users and tests can read what the kernel wrote (e.g. `/BOOT.LOG`) and prepare files
//! for it. Goes through `fatfs`, like the kernel; a write unmounts cleanly (dirty flag
//! cleared) before the image is closed.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use boot_protocol::SECTOR_SIZE;
use fatfs::{FileSystem, FsOptions};

use crate::fat::seek_in_window;
use crate::mbr::{PARTITION_TYPE_FAT16, PARTITION_TYPE_FAT16_SMALL, read_partition_table};

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The (long) name.
    pub name: String,
    /// A directory.
    pub is_dir: bool,
    /// Size in bytes (0 for directories).
    pub size: u64,
}

/// A byte window of the image file: the FAT16 partition.
pub(crate) struct Partition {
    file: File,
    start: u64,
    len: u64,
    position: u64,
}

impl Read for Partition {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.position) as usize);
        self.file.seek(SeekFrom::Start(self.start + self.position))?;
        let n = self.file.read(&mut buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Write for Partition {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.position) as usize);
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write past the partition's end"));
        }
        self.file.seek(SeekFrom::Start(self.start + self.position))?;
        let n = self.file.write(&buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Partition {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        seek_in_window(&mut self.position, self.len, to)
    }
}

/// Opens `image` and finds its FAT16 partition (the MBR's first entry of type 0x06 or
/// 0x04): the file, the partition's byte offset and length.
fn locate(image: &Path, writable: bool) -> Result<(File, u64, u64)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(writable)
        .open(image)
        .with_context(|| format!("cannot open {}", image.display()))?;
    let mut mbr = [0u8; SECTOR_SIZE];
    file.read_exact(&mut mbr).context("cannot read the MBR")?;
    let table = read_partition_table(&mbr)?;
    let Some((entry, _, _)) =
        table.entries.iter().find(|(e, _, _)| [PARTITION_TYPE_FAT16, PARTITION_TYPE_FAT16_SMALL].contains(&e.kind))
    else {
        bail!("{} has no FAT16 partition", image.display());
    };
    let start = u64::from(entry.first_lba) * SECTOR_SIZE as u64;
    let len = u64::from(entry.sectors) * SECTOR_SIZE as u64;
    Ok((file, start, len))
}

/// Mounts the FAT16 partition of `image` ([`locate`]).
pub(crate) fn mount(image: &Path, writable: bool) -> Result<FileSystem<Partition>> {
    let (file, start, len) = locate(image, writable)?;
    let part = Partition { file, start, len, position: 0 };
    FileSystem::new(part, FsOptions::new()).context("the FAT16 partition holds no valid FAT file system")
}

fn trim(path: &str) -> &str {
    path.trim_matches('/')
}

/// Lists the directory `path` (`/` for the root), `.` and `..` left out.
pub fn list(image: &Path, path: &str) -> Result<Vec<Listed>> {
    let fs = mount(image, false)?;
    let root = fs.root_dir();
    let dir = if trim(path).is_empty() { root } else { root.open_dir(trim(path)).with_context(|| path.to_string())? };
    let mut out = Vec::new();
    for e in dir.iter() {
        let e = e?;
        let name = e.file_name();
        if name != "." && name != ".." {
            out.push(Listed { size: if e.is_dir() { 0 } else { e.len() }, is_dir: e.is_dir(), name });
        }
    }
    Ok(out)
}

/// The contents of the file `path`.
pub fn cat(image: &Path, path: &str) -> Result<Vec<u8>> {
    let fs = mount(image, false)?;
    let mut f = fs.root_dir().open_file(trim(path)).with_context(|| path.to_string())?;
    let mut out = Vec::new();
    f.read_to_end(&mut out)?;
    Ok(out)
}

/// Writes `bytes` as the file `path` (created or replaced; missing directories on the
/// way are created, as `/PROGRAMS` for `/PROGRAMS/FLOATS.BC`).
pub fn put(image: &Path, path: &str, bytes: &[u8]) -> Result<()> {
    let fs = mount(image, true)?;
    let mut created_dirs = false;
    {
        let parts: Vec<&str> = trim(path).split('/').filter(|p| !p.is_empty()).collect();
        for n in 1..parts.len() {
            let dir = parts[..n].join("/");
            if fs.root_dir().open_dir(&dir).is_err() {
                fs.root_dir().create_dir(&dir).with_context(|| format!("{path}: cannot create the directory {dir}"))?;
                created_dirs = true;
            }
        }
        let mut f = fs.root_dir().create_file(trim(path)).with_context(|| path.to_string())?;
        f.truncate()?;
        f.write_all(bytes).with_context(|| format!("{path}: cannot write {} bytes", bytes.len()))?;
        f.flush()?;
    }
    fs.unmount()?;
    if created_dirs {
        repair_dot_entries(image)?;
    }
    Ok(())
}

/// Repairs the directories `fatfs` 0.3 creates: it writes a long-name entry in front of
/// `.` and of `..` (`[LFN][.][LFN][..]`), which `fsck.fat` rejects ("Expected a valid
/// '.' entry in this slot"). Every sector of the partition that starts so is rewritten
/// as `[.][..]` followed by two deleted slots (the kernel repairs its own directories
/// the same way in `fs::cache`).
fn repair_dot_entries(image: &Path) -> Result<()> {
    const LFN_ATTR: u8 = 0x0F;
    let (mut file, start, len) = locate(image, true)?;
    let mut part = vec![0u8; len as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut part)?;
    let is_lfn = |e: &[u8]| e[11] == LFN_ATTR && e[0] == 0x41;
    for (i, d) in part.chunks_exact_mut(SECTOR_SIZE).enumerate() {
        if is_lfn(&d[0..32]) && &d[32..43] == b".          " && is_lfn(&d[64..96]) && &d[96..107] == b"..         " {
            d.copy_within(32..64, 0);
            d.copy_within(96..128, 32);
            // Deleted (0xE5), not free (0): entries may follow.
            d[64..128].fill(0);
            d[64] = 0xE5;
            d[96] = 0xE5;
            file.seek(SeekFrom::Start(start + (i * SECTOR_SIZE) as u64))?;
            file.write_all(d)?;
        }
    }
    Ok(())
}

/// Removes the file or empty directory `path`.
pub fn remove(image: &Path, path: &str) -> Result<()> {
    let fs = mount(image, true)?;
    fs.root_dir().remove(trim(path)).with_context(|| path.to_string())?;
    fs.unmount()?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fat::format_fat16;

    /// A 1 MiB gap, then an 8 MiB FAT16 partition named in the MBR.
    pub(crate) fn image(label: &str) -> std::path::PathBuf {
        let mut bytes = vec![0u8; 1 << 20];
        bytes[446 + 4] = PARTITION_TYPE_FAT16_SMALL;
        bytes[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
        bytes[446 + 12..446 + 16].copy_from_slice(&(8 * 2048u32).to_le_bytes());
        bytes[510] = 0x55;
        bytes[511] = 0xAA;
        let mut fat = format_fat16(8 * 2048, 2048, 1).unwrap();
        fat.resize(8 << 20, 0);
        bytes.extend_from_slice(&fat);
        let path = std::env::temp_dir().join(format!("mkimage-fs-{label}-{}.img", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn put_cat_ls_rm_round_trip() {
        let img = image("roundtrip");
        assert!(list(&img, "/").unwrap().is_empty());
        put(&img, "/BOOT.LOG", b"boot 1 10.0 ms\n").unwrap();
        put(&img, "config.txt", &vec![b'x'; 5000]).unwrap();
        put(&img, "/BOOT.LOG", b"boot 1 10.0 ms\nboot 2 11.0 ms\n").unwrap(); // replaced
        assert_eq!(cat(&img, "/BOOT.LOG").unwrap(), b"boot 1 10.0 ms\nboot 2 11.0 ms\n");
        let mut names = list(&img, "/").unwrap();
        names.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            names,
            [
                Listed { name: "BOOT.LOG".into(), is_dir: false, size: 30 },
                Listed { name: "config.txt".into(), is_dir: false, size: 5000 }
            ]
        );
        remove(&img, "config.txt").unwrap();
        assert!(cat(&img, "config.txt").is_err());
        assert!(remove(&img, "config.txt").is_err());
        put(&img, "/new/FILE.BC", b"x").unwrap(); // the directory made on the way
        assert_eq!(cat(&img, "/new/FILE.BC").unwrap(), b"x");

        // The partition is clean for fsck.fat after the writes.
        let bytes = std::fs::read(&img).unwrap();
        let part = img.with_extension("fat16");
        std::fs::write(&part, &bytes[1 << 20..]).unwrap();
        let out = std::process::Command::new("fsck.fat").arg("-n").arg(&part).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && !text.contains("Dirty"), "{text}");
        let _ = std::fs::remove_file(part);
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn an_image_without_fat16_is_refused() {
        let img = image("nofat");
        let mut bytes = std::fs::read(&img).unwrap();
        bytes[446 + 4] = 0x83;
        std::fs::write(&img, bytes).unwrap();
        assert!(list(&img, "/").unwrap_err().to_string().contains("no FAT16 partition"));
        let _ = std::fs::remove_file(img);
    }
}
