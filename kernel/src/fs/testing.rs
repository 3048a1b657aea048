//! Host-test helpers of the file-system layer — [`SharedRamDisk`], an in-memory disk with
//! a FAT16 partition that a test can mount, snapshot, corrupt and `fsck` — and the
//! file-system layer's own tests over it.

use std::io::Cursor;

use linux_abi::fcntl::*;

use super::*;
use crate::drivers::block::{RamDisk, SECTOR_SIZE, SharedRamDisk};

/// Where the test partition starts (1 MiB, as `mkimage` aligns it).
pub const PART_LBA: u64 = 2048;

/// The file-system tests' helpers on a shared RAM disk.
impl SharedRamDisk {
    /// A disk with an MBR whose FAT16 entry (type 0x06) holds a fresh `mib` MiB volume.
    pub fn formatted(mib: u64) -> Self {
        let sectors = mib * 2048;
        let mut disk = RamDisk::new(PART_LBA + sectors);
        let mbr = &mut disk.bytes[..SECTOR_SIZE];
        mbr[446 + 4] = 0x06;
        mbr[446 + 8..446 + 12].copy_from_slice(&(PART_LBA as u32).to_le_bytes());
        mbr[446 + 12..446 + 16].copy_from_slice(&(sectors as u32).to_le_bytes());
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        let part = &mut disk.bytes[PART_LBA as usize * SECTOR_SIZE..];
        let opts = fatfs::FormatVolumeOptions::new().fat_type(fatfs::FatType::Fat16).total_sectors(sectors as u32);
        fatfs::format_volume(Cursor::new(part), opts).unwrap();
        SharedRamDisk::from(disk)
    }

    /// A copy of the disk's bytes right now (what a power cut would leave).
    pub fn snapshot(&self) -> SharedRamDisk {
        SharedRamDisk::from(RamDisk { bytes: self.0.lock().unwrap().bytes.clone() })
    }

    /// Mounts the disk's FAT16 partition.
    pub fn mount(&self) -> Files {
        let mut f = Files::new();
        f.attach(mount_disk(Box::new(self.clone())).expect("mount"));
        f
    }

    /// Changes the partition's bytes at `offset`.
    pub fn poke(&self, offset: usize, bytes: &[u8]) {
        let at = PART_LBA as usize * SECTOR_SIZE + offset;
        self.0.lock().unwrap().bytes[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// Runs `fsck.fat -n` on the partition; returns (clean, output). Clean: no
    /// complaint at all, the dirty bit included.
    pub fn fsck(&self) -> (bool, String) {
        let (ok, text) = self.fsck_raw();
        (ok && !text.contains("Dirty bit"), text)
    }

    /// Runs `fsck.fat -n`; returns (exit status 0, output).
    pub fn fsck_raw(&self) -> (bool, String) {
        let bytes = self.0.lock().unwrap().bytes[PART_LBA as usize * SECTOR_SIZE..].to_vec();
        let path = std::env::temp_dir().join(format!(
            "bareflow-fsck-{}-{:?}.img",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, bytes).unwrap();
        let out = std::process::Command::new("fsck.fat").arg("-n").arg(&path).output().expect("run fsck.fat");
        let _ = std::fs::remove_file(&path);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }
}

fn put(f: &mut Files, path: &str, data: &[u8]) {
    let fd = f.open(path::AT_FDCWD, path.as_bytes(), O_WRONLY | O_CREAT | O_TRUNC).unwrap();
    assert_eq!(f.write(fd, data, None).unwrap(), data.len());
    f.close(fd).unwrap();
}

fn get(f: &mut Files, path: &str) -> Result<Vec<u8>, Errno> {
    let fd = f.open(path::AT_FDCWD, path.as_bytes(), O_RDONLY)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 3000];
    loop {
        let n = f.read(fd, &mut buf, None)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    f.close(fd)?;
    Ok(out)
}

fn names(f: &mut Files, path: &str) -> Vec<String> {
    let fd = f.open(path::AT_FDCWD, path.as_bytes(), O_RDONLY | O_DIRECTORY).unwrap();
    let mut v = Vec::new();
    f.read_dir(fd, |e| {
        v.push(e.name.clone());
        true
    })
    .unwrap();
    f.close(fd).unwrap();
    v
}

const CWD: i64 = path::AT_FDCWD;

#[test]
fn create_overwrite_append_and_read_back() {
    let disk = SharedRamDisk::formatted(8);
    let mut f = disk.mount();
    put(&mut f, "/hello.txt", b"first version, long");
    put(&mut f, "/hello.txt", b"second");
    assert_eq!(get(&mut f, "/hello.txt").unwrap(), b"second");
    let fd = f.open(CWD, b"/hello.txt", O_WRONLY | O_APPEND).unwrap();
    f.lseek(fd, 0, 0).unwrap();
    f.write(fd, b" + more", None).unwrap();
    f.close(fd).unwrap();
    assert_eq!(get(&mut f, "hello.txt").unwrap(), b"second + more");
    // Long names and case-insensitive lookup, as FAT does.
    put(&mut f, "/A Long File Name.data", &[7u8; 10_000]);
    assert_eq!(get(&mut f, "/a long file name.DATA").unwrap(), vec![7u8; 10_000]);
    assert_eq!(f.stat(CWD, b"/A Long File Name.data").unwrap().size, 10_000);
    // pread/pwrite leave the position alone; a write past the end fills with zeros.
    let fd = f.open(CWD, b"/hello.txt", O_RDWR).unwrap();
    let mut two = [0u8; 2];
    assert_eq!(f.read(fd, &mut two, Some(7)).unwrap(), 2);
    assert_eq!(&two, b"+ ");
    f.write(fd, b"XY", Some(20)).unwrap();
    assert_eq!(f.read(fd, &mut two, None).unwrap(), 2);
    assert_eq!(&two, b"se");
    assert_eq!(f.fstat(fd).unwrap().size, 22);
    f.truncate(fd, 6).unwrap();
    f.close(fd).unwrap();
    assert_eq!(get(&mut f, "/hello.txt").unwrap(), b"second");
    // A growing truncate and a write past the end both fill the gap with zeros.
    put(&mut f, "/grow.bin", b"ab");
    let fd = f.open(CWD, b"/grow.bin", O_RDWR).unwrap();
    f.truncate(fd, 5000).unwrap();
    f.write(fd, b"Z", Some(9000)).unwrap();
    f.close(fd).unwrap();
    let grown = get(&mut f, "/grow.bin").unwrap();
    assert_eq!(grown.len(), 9001);
    assert_eq!(&grown[..2], b"ab");
    assert!(grown[2..9000].iter().all(|&b| b == 0), "the gaps read as zeros");
    assert_eq!(grown[9000], b'Z');
    f.unlink(CWD, b"/grow.bin", false).unwrap();
    assert!(f.unmount());
    let mut again = disk.mount();
    assert_eq!(get(&mut again, "/hello.txt").unwrap(), b"second");
    assert!(!again.volume().unwrap().was_dirty);
    assert!(again.unmount());
    let (clean, out) = disk.fsck();
    assert!(clean, "{out}");
}

#[test]
fn directories_rename_and_delete() {
    let disk = SharedRamDisk::formatted(8);
    let mut f = disk.mount();
    f.mkdir(CWD, b"/a").unwrap();
    f.mkdir(CWD, b"/a/b").unwrap();
    assert_eq!(f.mkdir(CWD, b"/a/b").unwrap_err(), EEXIST);
    assert_eq!(f.mkdir(CWD, b"/x/y").unwrap_err(), ENOENT);
    put(&mut f, "/a/b/c.txt", b"deep");
    put(&mut f, "/a/other", b"o");
    let mut n = names(&mut f, "/a");
    n.sort();
    assert_eq!(n, [".", "..", "b", "other"]);
    assert_eq!(names(&mut f, "/"), [".", "..", "a"]);
    // chdir + relative paths.
    f.chdir(b"/a/b").unwrap();
    assert_eq!(f.cwd(), "/a/b");
    assert_eq!(get(&mut f, "c.txt").unwrap(), b"deep");
    assert_eq!(get(&mut f, "../other").unwrap(), b"o");
    f.chdir(b"/").unwrap();
    // rename: same directory, across directories, replacing a file.
    f.rename(CWD, b"/a/b/c.txt", CWD, b"/a/c2.txt", false).unwrap();
    assert_eq!(get(&mut f, "/a/b/c.txt").unwrap_err(), ENOENT);
    assert_eq!(get(&mut f, "/a/c2.txt").unwrap(), b"deep");
    f.rename(CWD, b"/a/c2.txt", CWD, b"/a/other", false).unwrap();
    assert_eq!(get(&mut f, "/a/other").unwrap(), b"deep");
    put(&mut f, "/a/third", b"3");
    assert_eq!(f.rename(CWD, b"/a/third", CWD, b"/a/other", true).unwrap_err(), EEXIST);
    assert_eq!(f.rename(CWD, b"/a/third", CWD, b"/a/b", false).unwrap_err(), EISDIR);
    assert_eq!(f.rename(CWD, b"/a", CWD, b"/a/b/inside", false).unwrap_err(), EINVAL);
    assert_eq!(f.rename(CWD, b"/nope", CWD, b"/a/x", false).unwrap_err(), ENOENT);
    f.mkdir(CWD, b"/a/b/nested").unwrap();
    put(&mut f, "/a/b/nested/leaf", b"leaf");
    put(&mut f, "/a/b/top", b"top");
    f.rename(CWD, b"/a/b", CWD, b"/moved", false).unwrap();
    assert!(f.stat(CWD, b"/moved").unwrap().is_dir);
    assert_eq!(f.stat(CWD, b"/a/b").unwrap_err(), ENOENT);
    assert_eq!(get(&mut f, "/moved/nested/leaf").unwrap(), b"leaf");
    assert_eq!(get(&mut f, "/moved/top").unwrap(), b"top");
    f.unlink(CWD, b"/moved/nested/leaf", false).unwrap();
    f.unlink(CWD, b"/moved/nested", true).unwrap();
    // Removing: the wrong kind, non-empty directories, open files.
    assert_eq!(f.unlink(CWD, b"/a", false).unwrap_err(), EISDIR);
    assert_eq!(f.unlink(CWD, b"/a/other", true).unwrap_err(), ENOTDIR);
    assert_eq!(f.unlink(CWD, b"/a", true).unwrap_err(), ENOTEMPTY);
    let fd = f.open(CWD, b"/a/other", O_RDONLY).unwrap();
    assert_eq!(f.unlink(CWD, b"/a/other", false).unwrap_err(), EBUSY);
    f.close(fd).unwrap();
    f.unlink(CWD, b"/a/other", false).unwrap();
    f.unlink(CWD, b"/a/third", false).unwrap();
    f.unlink(CWD, b"/a", true).unwrap();
    assert_eq!(f.stat(CWD, b"/a").unwrap_err(), ENOENT);
    assert_eq!(f.unlink(CWD, b"/a", true).unwrap_err(), ENOENT);
    assert!(f.unmount());
    let (clean, out) = disk.fsck();
    assert!(clean, "{out}");
}

#[test]
fn open_flags_and_errors_follow_linux() {
    let disk = SharedRamDisk::formatted(8);
    let mut f = disk.mount();
    assert_eq!(f.open(CWD, b"/missing", O_RDONLY).unwrap_err(), ENOENT);
    assert_eq!(f.open(CWD, b"/missing/x", O_RDONLY | O_CREAT).unwrap_err(), ENOENT);
    put(&mut f, "/file", b"abc");
    assert_eq!(f.open(CWD, b"/file", O_WRONLY | O_CREAT | O_EXCL).unwrap_err(), EEXIST);
    assert_eq!(f.open(CWD, b"/file", O_RDONLY | O_DIRECTORY).unwrap_err(), ENOTDIR);
    assert_eq!(f.open(CWD, b"/file/", O_RDONLY).unwrap_err(), ENOTDIR);
    assert_eq!(f.open(CWD, b"/file/x", O_RDONLY).unwrap_err(), ENOTDIR);
    assert_eq!(f.open(CWD, b"/", O_WRONLY).unwrap_err(), EISDIR);
    assert_eq!(f.open(CWD, b"/a:b", O_WRONLY | O_CREAT).unwrap_err(), EINVAL);
    f.mkdir(CWD, b"/d").unwrap();
    assert_eq!(f.open(CWD, b"/d", O_RDWR).unwrap_err(), EISDIR);
    let dfd = f.open(CWD, b"/d", O_RDONLY).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(f.read(dfd, &mut buf, None).unwrap_err(), EISDIR);
    // openat relative to a directory descriptor.
    let inner = f.open(dfd as i64, b"in", O_WRONLY | O_CREAT).unwrap();
    f.close(inner).unwrap();
    assert!(f.stat(CWD, b"/d/in").is_ok());
    f.close(dfd).unwrap();
    let ro = f.open(CWD, b"/file", O_RDONLY).unwrap();
    assert_eq!(f.write(ro, b"x", None).unwrap_err(), EBADF);
    let wo = f.open(CWD, b"/file", O_WRONLY).unwrap();
    assert_eq!(f.read(wo, &mut buf, None).unwrap_err(), EBADF);
    f.close(ro).unwrap();
    f.close(wo).unwrap();
    assert_eq!(f.close(wo).unwrap_err(), EBADF);
    assert_eq!(f.close(1).unwrap_err(), EBADF);
    // Descriptors are reused lowest first.
    let a = f.open(CWD, b"/file", O_RDONLY).unwrap();
    assert_eq!(a, FIRST_HANDLE);
    f.close(a).unwrap();
    // Without a volume: nothing exists and nothing can be created.
    assert!(f.unmount());
    assert_eq!(f.open(CWD, b"/file", O_RDONLY).unwrap_err(), ENOENT);
    assert_eq!(f.open(CWD, b"/new", O_WRONLY | O_CREAT).unwrap_err(), EROFS);
    assert_eq!(f.mkdir(CWD, b"/new").unwrap_err(), EROFS);
    assert_eq!(f.stat(CWD, b"/").unwrap_err(), ENOENT);
}

#[test]
fn filling_the_disk_is_enospc_and_leaves_earlier_files_intact() {
    let disk = SharedRamDisk::formatted(5);
    let mut f = disk.mount();
    let early: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
    put(&mut f, "/early.bin", &early);
    f.mkdir(CWD, b"/dir").unwrap();
    put(&mut f, "/dir/small", b"small");
    let fd = f.open(CWD, b"/fill.bin", O_WRONLY | O_CREAT | O_TRUNC).unwrap();
    let chunk = vec![0xEEu8; 64 * 1024];
    let mut written = 0u64;
    let err = loop {
        match f.write(fd, &chunk, None) {
            Ok(n) => written += n as u64,
            Err(e) => break e,
        }
        assert!(written < 64 << 20, "the disk never filled");
    };
    assert_eq!(err, ENOSPC);
    assert!(written > 4 << 20, "only {written} bytes fit");
    assert_eq!(f.space().unwrap().1, 0);
    assert_eq!(f.fstat(fd).unwrap().size, written);
    f.close(fd).unwrap();
    // Creating more fails the same way, and nothing earlier was hurt.
    let more = f.open(CWD, b"/more", O_WRONLY | O_CREAT).unwrap();
    assert_eq!(f.write(more, b"x", None).unwrap_err(), ENOSPC);
    f.close(more).unwrap();
    assert_eq!(get(&mut f, "/early.bin").unwrap(), early);
    assert!(f.unmount());
    let mut again = disk.mount();
    assert_eq!(get(&mut again, "/early.bin").unwrap(), early);
    assert_eq!(get(&mut again, "/dir/small").unwrap(), b"small");
    assert_eq!(again.stat(CWD, b"/fill.bin").unwrap().size, written);
    // Deleting the big file gives the space back.
    again.unlink(CWD, b"/fill.bin", false).unwrap();
    put(&mut again, "/after", &chunk);
    assert!(again.unmount());
    let (clean, out) = disk.fsck();
    assert!(clean, "{out}");
}

#[test]
fn a_power_cut_during_a_large_write_keeps_earlier_files() {
    let disk = SharedRamDisk::formatted(8);
    let mut f = disk.mount();
    put(&mut f, "/BOOT.LOG", b"boot 1\n");
    let fd = f.open(CWD, b"/big.bin", O_WRONLY | O_CREAT | O_TRUNC).unwrap();
    for _ in 0..20 {
        f.write(fd, &[0x5Au8; 32 * 1024], None).unwrap();
    }
    // The power goes: the disk holds whatever reached it, the volume is still dirty.
    let cut = disk.snapshot();
    drop(f);
    let mut after = cut.mount();
    assert!(after.volume().unwrap().was_dirty);
    assert_eq!(get(&mut after, "/BOOT.LOG").unwrap(), b"boot 1\n");
    let fd = after.open(CWD, b"/BOOT.LOG", O_WRONLY | O_APPEND).unwrap();
    after.write(fd, b"boot 2\n", None).unwrap();
    after.close(fd).unwrap();
    assert!(after.unmount());
    let mut third = cut.mount();
    assert_eq!(get(&mut third, "/BOOT.LOG").unwrap(), b"boot 1\nboot 2\n");
    // Every write syscall left the file consistent: its size is what was written.
    assert_eq!(third.stat(CWD, b"/big.bin").unwrap().size, 20 * 32 * 1024);
    assert!(third.unmount());
    // The only complaint: the dirty bit, which fatfs keeps once set at mount (a crash
    // inside a write syscall can leave orphaned clusters that only fsck reclaims).
    let (_, out) = cut.fsck_raw(); // exit status 1: the dirty bit
    let complaints: Vec<&str> = out
        .lines()
        .filter(|l| {
            !l.starts_with("fsck.fat") && !l.contains("Leaving filesystem unchanged") && !l.contains(" files, ")
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(complaints.len(), 2, "{out}");
    assert!(complaints[0].starts_with("Dirty bit is set") && complaints[1].contains("removing dirty bit"), "{out}");
}

#[test]
fn corrupted_volumes_are_refused_with_a_reason() {
    let refused = |edit: &dyn Fn(&SharedRamDisk)| {
        let disk = SharedRamDisk::formatted(8);
        edit(&disk);
        mount_disk(Box::new(disk)).err().expect("must be refused").0
    };
    assert!(refused(&|d| d.poke(510, &[0, 0])).contains("0x55AA missing"));
    assert!(refused(&|d| d.poke(0x0B, &[0, 1])).contains("256 bytes per sector"));
    assert!(refused(&|d| d.poke(0x0D, &[3])).contains("bad BIOS parameter block"));
    // The first FAT sector overwritten with garbage.
    let fat = refused(&|d| d.poke(512, &[0x12, 0x34, 0x56, 0x78]));
    assert!(fat.contains("FAT is corrupted"), "{fat}");
    let no_part = {
        let disk = SharedRamDisk::formatted(8);
        disk.0.lock().unwrap().bytes[446 + 4] = 0x83;
        mount_disk(Box::new(disk)).err().unwrap().0
    };
    assert!(no_part.contains("no FAT16 partition"), "{no_part}");
}

#[test]
fn dos_time_round_trips() {
    for t in [315_532_800u64, 1_700_000_000, 1_709_251_199, 4_102_444_800] {
        let dt = dos_date_time(t);
        assert_eq!(unix_seconds(&dt), t as i64, "{t}: {dt:?}");
    }
    let dt = dos_date_time(1_700_000_000); // 2023-11-14 22:13:20 UTC
    assert_eq!((dt.date.year, dt.date.month, dt.date.day, dt.time.hour, dt.time.min), (2023, 11, 14, 22, 13));
}
