//! File syscalls over the FAT16 volume at `/` ([`crate::fs`]).
//!
//! Handlers check and translate user memory and flags, then call [`crate::fs::Files`]
//! through [`Platform::files`]. Descriptors 0–2 stay the console ([`super::io`] sends
//! descriptors from 3 on here). These handlers allocate (paths, directory listings,
//! `fatfs` internals) through the program's allocator: allowed, because no file syscall
//! is ever made from inside malloc, and a `brk`/`mmap` that malloc makes meanwhile nests
//! safely (`arch::x86_64::syscall`). The memory handlers must never allocate.

use super::errno::*;
use super::io::{self, Stat};
use super::{Platform, SysResult, user};
use crate::fs::{DirEnt, Files, Meta, path::AT_FDCWD};

/// `AT_FDCWD` as the path layer takes it.
pub const AT_FDCWD_I64: i64 = AT_FDCWD;
/// `AT_EMPTY_PATH`: operate on the descriptor itself.
pub const AT_EMPTY_PATH: u64 = 0x1000;
/// `AT_REMOVEDIR`: `unlinkat` removes a directory.
pub const AT_REMOVEDIR: u64 = 0x200;
/// `AT_SYMLINK_NOFOLLOW` (accepted; FAT has no links).
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
/// `RENAME_NOREPLACE`.
pub const RENAME_NOREPLACE: u64 = 1;
/// `S_IFREG`.
pub const S_IFREG: u32 = 0o100000;
/// `S_IFDIR`.
pub const S_IFDIR: u32 = 0o040000;
/// The device number files report (`st_dev`): 8:1, "the first disk's first partition".
const FS_DEV: u64 = (8 << 8) | 1;
/// Preferred I/O size reported to the program (std and glibc size buffers from it).
const BLKSIZE: i64 = 64 * 1024;
/// Most iovecs `readv`/`writev` take (Linux's IOV_MAX).
const IOV_MAX: u64 = 1024;

fn files(p: &mut dyn Platform) -> &mut Files {
    crate::fs::set_now(p.realtime_ns() / 1_000_000_000);
    p.files()
}

fn dirfd(a: u64) -> i64 {
    a as i32 as i64 // the kernel reads dirfd as an int: AT_FDCWD is -100 in 32 bits
}

fn path<'a>(p: &dyn Platform, addr: u64) -> Result<&'a [u8], Errno> {
    user::c_string(p, addr, user::PATH_MAX)
}

fn none(r: Result<(), Errno>) -> SysResult {
    r.map(|()| 0)
}

/// Linux's `struct stat` for a file-system entry.
pub fn stat_of(m: &Meta) -> Stat {
    Stat {
        st_dev: FS_DEV,
        st_ino: m.ino,
        st_nlink: if m.is_dir { 2 } else { 1 },
        st_mode: if m.is_dir { S_IFDIR | 0o755 } else { S_IFREG | 0o644 },
        st_size: m.size as i64,
        st_blksize: BLKSIZE,
        st_blocks: m.size.div_ceil(512) as i64,
        st_times: [m.atime, 0, m.mtime, 0, m.mtime, 0],
        ..Stat::default()
    }
}

/// `read` on a file descriptor (3 and up).
pub fn read(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let buf = user::bytes_mut(p, a[1], a[2])?;
    files(p).read(a[0], buf, None).map(|n| n as u64)
}

/// `write` on a file descriptor.
pub fn write(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let buf = user::bytes(p, a[1], a[2])?;
    files(p).write(a[0], buf, None).map(|n| n as u64)
}

fn offset(o: u64) -> Result<u64, Errno> {
    if (o as i64) < 0 { Err(EINVAL) } else { Ok(o) }
}

/// `pread64(fd, buf, count, offset)`: the console cannot seek.
pub fn pread64(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[0] <= 2 {
        return Err(ESPIPE);
    }
    let buf = user::bytes_mut(p, a[1], a[2])?;
    files(p).read(a[0], buf, Some(offset(a[3])?)).map(|n| n as u64)
}

/// `pwrite64(fd, buf, count, offset)`.
pub fn pwrite64(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[0] <= 2 {
        return Err(ESPIPE);
    }
    let buf = user::bytes(p, a[1], a[2])?;
    files(p).write(a[0], buf, Some(offset(a[3])?)).map(|n| n as u64)
}

fn iovecs(p: &dyn Platform, addr: u64, count: u64, writable: bool) -> Result<Vec<(u64, u64)>, Errno> {
    if count > IOV_MAX {
        return Err(EINVAL);
    }
    let raw = user::bytes(p, addr, count * 16)?;
    let mut v = Vec::with_capacity(count as usize);
    for c in raw.chunks_exact(16) {
        let base = u64::from_le_bytes(c[0..8].try_into().unwrap());
        let len = u64::from_le_bytes(c[8..16].try_into().unwrap());
        if writable {
            user::bytes_mut(p, base, len)?;
        } else {
            user::bytes(p, base, len)?;
        }
        v.push((base, len));
    }
    Ok(v)
}

/// `readv(fd, iov, iovcnt)`: console or file; stops at the first short read.
pub fn readv(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let iov = iovecs(p, a[1], a[2], true)?;
    let mut total = 0u64;
    for (base, len) in iov {
        let buf = user::bytes_mut(p, base, len)?;
        let n = if a[0] <= 2 { p.console_read(buf) } else { files(p).read(a[0], buf, None)? };
        total += n as u64;
        if (n as u64) < len {
            break;
        }
    }
    Ok(total)
}

/// `writev(fd, iov, iovcnt)` on a file: every iovec checked before anything is written.
pub fn writev(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let iov = iovecs(p, a[1], a[2], false)?;
    let mut total = 0u64;
    for (base, len) in iov {
        let buf = user::bytes(p, base, len)?;
        match files(p).write(a[0], buf, None) {
            Ok(n) => {
                total += n as u64;
                if (n as u64) < len {
                    break;
                }
            }
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(total)
}

/// `close` of a file descriptor.
pub fn close(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    none(files(p).close(a[0]))
}

/// `lseek(fd, offset, whence)` on a file or directory descriptor.
pub fn lseek(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    files(p).lseek(a[0], a[1] as i64, a[2])
}

/// `fstat(fd, statbuf)` on a file descriptor.
pub fn fstat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    user::bytes_mut(p, a[1], size_of::<Stat>() as u64)?;
    let m = files(p).fstat(a[0])?;
    user::write(p, a[1], &stat_of(&m))?;
    Ok(0)
}

/// `openat(dirfd, path, flags, mode)`.
pub fn openat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[1])?;
    files(p).open(dirfd(a[0]), path, a[2])
}

/// `open(path, flags, mode)`.
pub fn open(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    openat(p, [AT_FDCWD as u64, a[0], a[1], a[2], 0, 0])
}

/// `newfstatat(dirfd, path, statbuf, flags)`; `""` with `AT_EMPTY_PATH` is `fstat`.
pub fn newfstatat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[1])?;
    if path.is_empty() && a[3] & AT_EMPTY_PATH != 0 {
        return if a[0] <= 2 { io::fstat(p, [a[0], a[2], 0, 0, 0, 0]) } else { fstat(p, [a[0], a[2], 0, 0, 0, 0]) };
    }
    user::bytes_mut(p, a[2], size_of::<Stat>() as u64)?;
    let m = files(p).stat(dirfd(a[0]), path)?;
    user::write(p, a[2], &stat_of(&m))?;
    Ok(0)
}

/// `stat(path, statbuf)` and `lstat` (no links on FAT).
pub fn stat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    newfstatat(p, [AT_FDCWD as u64, a[0], a[1], 0, 0, 0])
}

/// `STATX_BASIC_STATS | STATX_BTIME`: what `statx` fills.
const STATX_FILLED: u32 = 0x7ff | 0x800;

fn statx_of(s: &Stat, btime: i64) -> [u8; 256] {
    let mut b = [0u8; 256];
    let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &STATX_FILLED.to_le_bytes());
    put(4, &(s.st_blksize as u32).to_le_bytes());
    put(16, &(s.st_nlink as u32).to_le_bytes());
    put(28, &(s.st_mode as u16).to_le_bytes());
    put(32, &s.st_ino.to_le_bytes());
    put(40, &(s.st_size as u64).to_le_bytes());
    put(48, &(s.st_blocks as u64).to_le_bytes());
    for (at, secs) in [(64, s.st_times[0]), (80, btime), (96, s.st_times[4]), (112, s.st_times[2])] {
        put(at, &secs.to_le_bytes());
    }
    put(128, &((s.st_rdev >> 8) as u32).to_le_bytes());
    put(132, &((s.st_rdev & 0xff) as u32).to_le_bytes());
    put(136, &((s.st_dev >> 8) as u32).to_le_bytes());
    put(140, &((s.st_dev & 0xff) as u32).to_le_bytes());
    b
}

/// `statx(dirfd, path, flags, mask, statxbuf)`: the basic fields and the birth time.
pub fn statx(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[1])?;
    let out = user::bytes_mut(p, a[4], 256)?;
    let (st, btime) = if path.is_empty() && a[2] & AT_EMPTY_PATH != 0 {
        if a[0] <= 2 {
            (io::console_stat(a[0]), 0)
        } else {
            let m = files(p).fstat(a[0])?;
            (stat_of(&m), m.ctime)
        }
    } else {
        let m = files(p).stat(dirfd(a[0]), path)?;
        (stat_of(&m), m.ctime)
    };
    out.copy_from_slice(&statx_of(&st, btime));
    Ok(0)
}

/// `d_type` of a directory and of a regular file.
const DT_DIR: u8 = 4;
const DT_REG: u8 = 8;

/// `getdents64(fd, dirp, count)`: `struct linux_dirent64` records.
pub fn getdents64(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let buf = user::bytes_mut(p, a[1], a[2])?;
    let f = files(p);
    let mut index = f.dir_position(a[0]);
    let mut used = 0usize;
    let mut too_small = false;
    let n = f.read_dir(a[0], |e: &DirEnt| {
        let reclen = (19 + e.name.len() + 1).next_multiple_of(8);
        if used + reclen > buf.len() {
            too_small = used == 0;
            return false;
        }
        index += 1;
        let r = &mut buf[used..used + reclen];
        r.fill(0);
        r[0..8].copy_from_slice(&e.ino.to_le_bytes());
        r[8..16].copy_from_slice(&(index as i64).to_le_bytes());
        r[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
        r[18] = if e.is_dir { DT_DIR } else { DT_REG };
        r[19..19 + e.name.len()].copy_from_slice(e.name.as_bytes());
        used += reclen;
        true
    })?;
    if n == 0 && too_small {
        return Err(EINVAL);
    }
    Ok(used as u64)
}

/// `mkdirat(dirfd, path, mode)`.
pub fn mkdirat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[1])?;
    none(files(p).mkdir(dirfd(a[0]), path))
}

/// `mkdir(path, mode)`.
pub fn mkdir(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    mkdirat(p, [AT_FDCWD as u64, a[0], a[1], 0, 0, 0])
}

/// `unlinkat(dirfd, path, flags)`: `AT_REMOVEDIR` removes an empty directory.
pub fn unlinkat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[2] & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    let path = path(p, a[1])?;
    none(files(p).unlink(dirfd(a[0]), path, a[2] & AT_REMOVEDIR != 0))
}

/// `unlink(path)`.
pub fn unlink(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    unlinkat(p, [AT_FDCWD as u64, a[0], 0, 0, 0, 0])
}

/// `rmdir(path)`.
pub fn rmdir(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    unlinkat(p, [AT_FDCWD as u64, a[0], AT_REMOVEDIR, 0, 0, 0])
}

/// `renameat2(olddirfd, old, newdirfd, new, flags)`: `RENAME_NOREPLACE` is supported;
/// `RENAME_EXCHANGE` and `RENAME_WHITEOUT` are `EINVAL`.
pub fn renameat2(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[4] & !RENAME_NOREPLACE != 0 {
        return Err(EINVAL);
    }
    let old = path(p, a[1])?;
    let new = path(p, a[3])?;
    none(files(p).rename(dirfd(a[0]), old, dirfd(a[2]), new, a[4] & RENAME_NOREPLACE != 0))
}

/// `renameat(olddirfd, old, newdirfd, new)`.
pub fn renameat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    renameat2(p, [a[0], a[1], a[2], a[3], 0, 0])
}

/// `rename(old, new)`.
pub fn rename(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    renameat2(p, [AT_FDCWD as u64, a[0], AT_FDCWD as u64, a[1], 0, 0])
}

/// `fsync(fd)` and `fdatasync(fd)`: everything of the file and all metadata durable.
pub fn fsync(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[0] <= 2 {
        return Err(EINVAL); // as Linux answers for a serial console
    }
    none(files(p).fsync(a[0]))
}

/// `ftruncate(fd, length)`.
pub fn ftruncate(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[0] <= 2 {
        return Err(EINVAL);
    }
    none(files(p).truncate(a[0], offset(a[1])?))
}

/// `truncate(path, length)`.
pub fn truncate(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[0])?;
    let len = offset(a[1])?;
    let f = files(p);
    let fd = f.open(AT_FDCWD, path, crate::fs::flags::O_WRONLY)?;
    let r = f.truncate(fd, len);
    f.close(fd)?;
    none(r)
}

/// `getcwd(buf, size)`: returns the length with the NUL.
pub fn getcwd(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let cwd = p.files().cwd();
    let need = cwd.len() as u64 + 1;
    if a[1] == 0 {
        return Err(EINVAL);
    }
    if a[1] < need {
        return Err(ERANGE);
    }
    let out = user::bytes_mut(p, a[0], need)?;
    out[..cwd.len()].copy_from_slice(cwd.as_bytes());
    out[cwd.len()] = 0;
    Ok(need)
}

/// `chdir(path)`.
pub fn chdir(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[0])?;
    none(files(p).chdir(path))
}

/// `fchdir(fd)`.
pub fn fchdir(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    none(files(p).fchdir(a[0]))
}

/// `faccessat(dirfd, path, mode)` and `faccessat2(…, flags)`: everything that exists
/// is readable and writable (FAT keeps no permissions).
pub fn faccessat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[1])?;
    files(p).stat(dirfd(a[0]), path).map(|_| 0)
}

/// `access(path, mode)`.
pub fn access(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    faccessat(p, [AT_FDCWD as u64, a[0], a[1], 0, 0, 0])
}

#[cfg(test)]
mod tests {
    use crate::fs::tests::SharedDisk;
    use crate::syscall::dispatch;
    use crate::syscall::mock::MockPlatform;

    const AT_FDCWD: u64 = -100i64 as u64;
    const O_WRONLY: u64 = 1;
    const O_RDWR: u64 = 2;
    const O_CREAT: u64 = 0o100;
    const O_TRUNC: u64 = 0o1000;
    const O_APPEND: u64 = 0o2000;
    const O_DIRECTORY: u64 = 0o200000;

    fn mounted() -> (MockPlatform, SharedDisk) {
        let disk = SharedDisk::formatted(8);
        let mut p = MockPlatform::new();
        p.files = disk.mount();
        (p, disk)
    }

    fn cstr(p: &MockPlatform, s: &str) -> u64 {
        p.read_only_buffer(format!("{s}\0").as_bytes())
    }

    #[test]
    fn files_through_the_syscall_table() {
        let (mut p, disk) = mounted();
        let path = cstr(&p, "/log.txt");
        let fd = dispatch(&mut p, 257, [AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, 0o666, 0, 0]);
        assert_eq!(fd, 3);
        let msg = p.read_only_buffer(b"line 1\n");
        assert_eq!(dispatch(&mut p, 1, [3, msg, 7, 0, 0, 0]), 7);
        assert_eq!(dispatch(&mut p, 1, [1, msg, 7, 0, 0, 0]), 7, "the console still works");
        assert_eq!(p.text(1), "line 1\n");
        assert_eq!(dispatch(&mut p, 74, [3, 0, 0, 0, 0, 0]), 0, "fsync");
        assert_eq!(dispatch(&mut p, 3, [3, 0, 0, 0, 0, 0]), 0);
        assert_eq!(dispatch(&mut p, 3, [3, 0, 0, 0, 0, 0]), -9, "EBADF after close");
        // Append through writev, then read back with pread and readv.
        let fd = dispatch(&mut p, 2, [path, O_WRONLY | O_APPEND, 0, 0, 0, 0]) as u64;
        let (a, b) = (p.read_only_buffer(b"line "), p.read_only_buffer(b"2\n"));
        let mut iov = Vec::new();
        for (base, len) in [(a, 5u64), (b, 2)] {
            iov.extend_from_slice(&base.to_le_bytes());
            iov.extend_from_slice(&len.to_le_bytes());
        }
        let iov = p.read_only_buffer(&iov);
        assert_eq!(dispatch(&mut p, 20, [fd, iov, 2, 0, 0, 0]), 7);
        dispatch(&mut p, 3, [fd, 0, 0, 0, 0, 0]);
        let fd = dispatch(&mut p, 257, [AT_FDCWD, path, O_RDWR, 0, 0, 0]) as u64;
        let buf = p.buffer(64);
        assert_eq!(dispatch(&mut p, 17, [fd, buf, 64, 5, 0, 0]), 9);
        assert_eq!(p.peek(buf, 9), b"1\nline 2\n");
        assert_eq!(dispatch(&mut p, 8, [fd, 0, 2, 0, 0, 0]), 14, "SEEK_END");
        assert_eq!(dispatch(&mut p, 8, [fd, 0, 0, 0, 0, 0]), 0);
        assert_eq!(dispatch(&mut p, 0, [fd, buf, 4, 0, 0, 0]), 4);
        assert_eq!(dispatch(&mut p, 17, [fd, buf, 4, -1i64 as u64, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 77, [fd, 4, 0, 0, 0, 0]), 0, "ftruncate");
        // fstat, statx and newfstatat agree.
        let st = p.buffer(144);
        assert_eq!(dispatch(&mut p, 5, [fd, st, 0, 0, 0, 0]), 0);
        let size = i64::from_le_bytes(p.peek(st + 48, 8).try_into().unwrap());
        let mode = u32::from_le_bytes(p.peek(st + 24, 4).try_into().unwrap());
        assert_eq!((size, mode & 0o170000), (4, super::S_IFREG));
        let sx = p.buffer(256);
        assert_eq!(dispatch(&mut p, 332, [AT_FDCWD, path, 0, 0x7ff, sx, 0]), 0);
        assert_eq!(u64::from_le_bytes(p.peek(sx + 40, 8).try_into().unwrap()), 4);
        let empty = cstr(&p, "");
        assert_eq!(dispatch(&mut p, 332, [fd, empty, super::AT_EMPTY_PATH, 0x7ff, sx, 0]), 0);
        assert_eq!(dispatch(&mut p, 332, [1, empty, super::AT_EMPTY_PATH, 0x7ff, sx, 0]), 0, "console statx");
        assert_eq!(dispatch(&mut p, 262, [fd, empty, st, super::AT_EMPTY_PATH, 0, 0]), 0);
        assert_eq!(dispatch(&mut p, 3, [fd, 0, 0, 0, 0, 0]), 0);
        let missing = cstr(&p, "/nope");
        assert_eq!(dispatch(&mut p, 262, [AT_FDCWD, missing, st, 0, 0, 0]), -2);
        assert_eq!(dispatch(&mut p, 257, [AT_FDCWD, missing, 0, 0, 0, 0]), -2);
        assert_eq!(dispatch(&mut p, 257, [AT_FDCWD, 0x1000, 0, 0, 0, 0]), -14);
        assert_eq!(dispatch(&mut p, 0, [9, buf, 4, 0, 0, 0]), -9);
        assert!(p.files.unmount());
        assert!(disk.fsck().0);
    }

    #[test]
    fn directories_through_the_syscall_table() {
        let (mut p, _disk) = mounted();
        let (d, sub, file) = (cstr(&p, "/d"), cstr(&p, "/d/sub"), cstr(&p, "/d/f"));
        assert_eq!(dispatch(&mut p, 258, [AT_FDCWD, d, 0o777, 0, 0, 0]), 0);
        assert_eq!(dispatch(&mut p, 83, [d, 0o777, 0, 0, 0, 0]), -17, "EEXIST");
        assert_eq!(dispatch(&mut p, 83, [sub, 0o777, 0, 0, 0, 0]), 0);
        let fd = dispatch(&mut p, 2, [file, O_WRONLY | O_CREAT, 0, 0, 0, 0]) as u64;
        dispatch(&mut p, 3, [fd, 0, 0, 0, 0, 0]);
        let dfd = dispatch(&mut p, 257, [AT_FDCWD, d, O_DIRECTORY, 0, 0, 0]) as u64;
        let buf = p.buffer(4096);
        let n = dispatch(&mut p, 217, [dfd, buf, 4096, 0, 0, 0]) as usize;
        let raw = p.peek(buf, n);
        let mut names = Vec::new();
        let mut at = 0;
        while at < raw.len() {
            let reclen = u16::from_le_bytes([raw[at + 16], raw[at + 17]]) as usize;
            let name: Vec<u8> = raw[at + 19..at + reclen].iter().copied().take_while(|&c| c != 0).collect();
            names.push((String::from_utf8(name).unwrap(), raw[at + 18]));
            at += reclen;
        }
        assert_eq!(names, [(".".into(), 4), ("..".into(), 4), ("sub".into(), 4), ("f".into(), 8)]);
        assert_eq!(dispatch(&mut p, 217, [dfd, buf, 4096, 0, 0, 0]), 0, "end of directory");
        assert_eq!(dispatch(&mut p, 8, [dfd, 0, 0, 0, 0, 0]), 0, "rewinddir");
        assert_eq!(dispatch(&mut p, 217, [dfd, buf, 10, 0, 0, 0]), -22, "buffer too small");
        // Relative paths against a directory descriptor and the working directory.
        let rel = cstr(&p, "f");
        let st = p.buffer(144);
        assert_eq!(dispatch(&mut p, 262, [dfd, rel, st, 0, 0, 0]), 0);
        assert_eq!(dispatch(&mut p, 80, [d, 0, 0, 0, 0, 0]), 0, "chdir");
        let cwd = p.buffer(64);
        assert_eq!(dispatch(&mut p, 79, [cwd, 64, 0, 0, 0, 0]), 3);
        assert_eq!(p.peek(cwd, 3), b"/d\0");
        assert_eq!(dispatch(&mut p, 79, [cwd, 2, 0, 0, 0, 0]), -34, "ERANGE");
        let renamed = cstr(&p, "g");
        assert_eq!(dispatch(&mut p, 264, [AT_FDCWD, rel, AT_FDCWD, renamed, 0, 0]), 0);
        let sub_rel = cstr(&p, "sub");
        assert_eq!(dispatch(&mut p, 316, [AT_FDCWD, renamed, AT_FDCWD, sub_rel, 1, 0]), -17);
        assert_eq!(dispatch(&mut p, 263, [AT_FDCWD, d, super::AT_REMOVEDIR, 0, 0, 0]), -39, "ENOTEMPTY");
        assert_eq!(dispatch(&mut p, 87, [renamed, 0, 0, 0, 0, 0]), 0, "unlink");
        assert_eq!(dispatch(&mut p, 84, [sub, 0, 0, 0, 0, 0]), 0, "rmdir");
        let root = cstr(&p, "/");
        assert_eq!(dispatch(&mut p, 80, [root, 0, 0, 0, 0, 0]), 0);
        dispatch(&mut p, 3, [dfd, 0, 0, 0, 0, 0]);
        assert_eq!(dispatch(&mut p, 84, [d, 0, 0, 0, 0, 0]), 0);
        assert_eq!(dispatch(&mut p, 21, [d, 0, 0, 0, 0, 0]), -2, "access");
        let buf = p.buffer(64);
        assert_eq!(dispatch(&mut p, 89, [root, buf, 64, 0, 0, 0]), -22, "readlink of a directory: not a link");
        assert_eq!(dispatch(&mut p, 89, [d, buf, 64, 0, 0, 0]), -2, "readlink of nothing");
    }

    #[test]
    fn without_a_volume_paths_do_not_exist() {
        let mut p = MockPlatform::new();
        let path = cstr(&p, "/BOOT.LOG");
        assert_eq!(dispatch(&mut p, 257, [AT_FDCWD, path, 0, 0, 0, 0]), -2);
        assert_eq!(dispatch(&mut p, 257, [AT_FDCWD, path, O_WRONLY | O_CREAT, 0, 0, 0]), -30, "EROFS");
        assert_eq!(dispatch(&mut p, 83, [path, 0, 0, 0, 0, 0]), -30);
        assert_eq!(dispatch(&mut p, 87, [path, 0, 0, 0, 0, 0]), -2);
        assert_eq!(dispatch(&mut p, 3, [5, 0, 0, 0, 0, 0]), -9);
    }
}
