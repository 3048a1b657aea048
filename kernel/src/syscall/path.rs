//! Path calls over the FAT16 volume at `/` ([`crate::fs`]): everything that names a
//! file by path — `openat`, `newfstatat`, `statx`, `faccessat`, `mkdirat`, `unlinkat`,
//! `renameat2`, `truncate`, `readlink`, `getcwd`, `chdir` and their older forms.
//!
//! Handlers check and translate user memory and flags, turn a `dirfd` into the
//! directory it names through the descriptor table ([`super::fd`]) and call
//! [`crate::fs::Files`]; `openat` puts what it opened in the table. These handlers
//! allocate (paths, `fatfs` internals) through the program's allocator: allowed,
//! because no path call is ever made from inside malloc, and a `brk`/`mmap` that
//! malloc makes meanwhile nests safely (`arch::x86_64::syscall`). The memory handlers
//! must never allocate.

use linux_abi::errno::{EFAULT, EINVAL, ENOENT, ERANGE, Errno};
use linux_abi::fcntl::{AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, O_WRONLY, RENAME_NOREPLACE};
use linux_abi::limits::PATH_MAX;
use linux_abi::stat::{STATX_BASIC_STATS, STATX_BTIME, Stat, Statx, StatxTimestamp};

use super::fd::{self, stat_of};
use super::{Platform, SysResult, user};
use crate::fs::path::AT_FDCWD as CWD;

/// What `readlink("/proc/self/exe")` answers: the kernel ELF, as `make disk` names it.
pub const SELF_EXE: &[u8] = b"/boot/kernel.elf";

/// `AT_FDCWD` as a syscall argument.
const AT_FDCWD_ARG: u64 = AT_FDCWD as i64 as u64;

fn path<'a>(p: &dyn Platform, addr: u64) -> Result<&'a [u8], Errno> {
    user::c_string(p, addr, PATH_MAX)
}

fn none(r: Result<(), Errno>) -> SysResult {
    r.map(|()| 0)
}

/// `openat(dirfd, path, flags, mode)`: a file or directory object on the lowest free
/// descriptor.
pub fn openat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[1])?;
    let base = fd::base(p, a[0], path)?;
    let handle = fd::files(p).open(base, path, a[2])?;
    fd::install(p, handle)
}

/// `open(path, flags, mode)`.
pub fn open(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    openat(p, [AT_FDCWD_ARG, a[0], a[1], a[2], 0, 0])
}

/// `newfstatat(dirfd, path, statbuf, flags)`; `""` with `AT_EMPTY_PATH` is `fstat`.
pub fn newfstatat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[1])?;
    if path.is_empty() && a[3] & AT_EMPTY_PATH != 0 {
        let object = fd::get(p, a[0])?;
        user::bytes_mut(p, a[2], size_of::<Stat>() as u64)?;
        let (st, _) = object.stat(p)?;
        user::write(p, a[2], &st)?;
        return Ok(0);
    }
    user::bytes_mut(p, a[2], size_of::<Stat>() as u64)?;
    let base = fd::base(p, a[0], path)?;
    let m = fd::files(p).stat(base, path)?;
    user::write(p, a[2], &stat_of(&m))?;
    Ok(0)
}

/// `stat(path, statbuf)` and `lstat` (no links on FAT).
pub fn stat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    newfstatat(p, [AT_FDCWD_ARG, a[0], a[1], 0, 0, 0])
}

/// `struct statx` from a `struct stat` and the creation time: the basic fields and the
/// birth time, whole seconds.
fn statx_of(s: &Stat, btime: i64) -> Statx {
    let at = |secs: i64| StatxTimestamp { tv_sec: secs, ..StatxTimestamp::default() };
    Statx {
        stx_mask: STATX_BASIC_STATS | STATX_BTIME,
        stx_blksize: s.st_blksize as u32,
        stx_nlink: s.st_nlink as u32,
        stx_mode: s.st_mode as u16,
        stx_ino: s.st_ino,
        stx_size: s.st_size as u64,
        stx_blocks: s.st_blocks as u64,
        stx_atime: at(s.st_times[0]),
        stx_btime: at(btime),
        stx_ctime: at(s.st_times[4]),
        stx_mtime: at(s.st_times[2]),
        stx_rdev_major: (s.st_rdev >> 8) as u32,
        stx_rdev_minor: (s.st_rdev & 0xff) as u32,
        stx_dev_major: (s.st_dev >> 8) as u32,
        stx_dev_minor: (s.st_dev & 0xff) as u32,
        ..Statx::default()
    }
}

/// `statx(dirfd, path, flags, mask, statxbuf)`: the basic fields and the birth time.
pub fn statx(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[1])?;
    user::bytes_mut(p, a[4], size_of::<Statx>() as u64)?;
    let (st, btime) = if path.is_empty() && a[2] & AT_EMPTY_PATH != 0 {
        let object = fd::get(p, a[0])?;
        object.stat(p)?
    } else {
        let base = fd::base(p, a[0], path)?;
        let m = fd::files(p).stat(base, path)?;
        (stat_of(&m), m.ctime)
    };
    user::write(p, a[4], &statx_of(&st, btime))?;
    Ok(0)
}

/// `faccessat(dirfd, path, mode)` and `faccessat2(…, flags)`: everything that exists
/// is readable and writable (FAT keeps no permissions).
pub fn faccessat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[1])?;
    let base = fd::base(p, a[0], path)?;
    fd::files(p).stat(base, path).map(|_| 0)
}

/// `access(path, mode)`.
pub fn access(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    faccessat(p, [AT_FDCWD_ARG, a[0], a[1], 0, 0, 0])
}

/// `mkdirat(dirfd, path, mode)`.
pub fn mkdirat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[1])?;
    let base = fd::base(p, a[0], path)?;
    none(fd::files(p).mkdir(base, path))
}

/// `mkdir(path, mode)`.
pub fn mkdir(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    mkdirat(p, [AT_FDCWD_ARG, a[0], a[1], 0, 0, 0])
}

/// `unlinkat(dirfd, path, flags)`: `AT_REMOVEDIR` removes an empty directory.
pub fn unlinkat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[2] & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    let path = path(p, a[1])?;
    let base = fd::base(p, a[0], path)?;
    none(fd::files(p).unlink(base, path, a[2] & AT_REMOVEDIR != 0))
}

/// `unlink(path)`.
pub fn unlink(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    unlinkat(p, [AT_FDCWD_ARG, a[0], 0, 0, 0, 0])
}

/// `rmdir(path)`.
pub fn rmdir(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    unlinkat(p, [AT_FDCWD_ARG, a[0], AT_REMOVEDIR, 0, 0, 0])
}

/// `renameat2(olddirfd, old, newdirfd, new, flags)`: `RENAME_NOREPLACE` is supported;
/// `RENAME_EXCHANGE` and `RENAME_WHITEOUT` are `EINVAL`.
pub fn renameat2(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[4] & !RENAME_NOREPLACE != 0 {
        return Err(EINVAL);
    }
    let old = path(p, a[1])?;
    let new = path(p, a[3])?;
    let old_base = fd::base(p, a[0], old)?;
    let new_base = fd::base(p, a[2], new)?;
    none(fd::files(p).rename(old_base, old, new_base, new, a[4] & RENAME_NOREPLACE != 0))
}

/// `renameat(olddirfd, old, newdirfd, new)`.
pub fn renameat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    renameat2(p, [a[0], a[1], a[2], a[3], 0, 0])
}

/// `rename(old, new)`.
pub fn rename(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    renameat2(p, [AT_FDCWD_ARG, a[0], AT_FDCWD_ARG, a[1], 0, 0])
}

/// `truncate(path, length)`.
pub fn truncate(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[0])?;
    if (a[1] as i64) < 0 {
        return Err(EINVAL);
    }
    let f = fd::files(p);
    let handle = f.open(CWD, path, O_WRONLY)?;
    let r = f.truncate(handle, a[1]);
    f.close(handle)?;
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
    none(fd::files(p).chdir(path))
}

/// `readlink(path, buf, size)`: `/proc/self/exe` names the kernel ELF; files and
/// directories are not links (`EINVAL`).
pub fn readlink(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = path(p, a[0])?;
    if a[2] == 0 || a[2] > i32::MAX as u64 {
        return Err(EINVAL);
    }
    if path != b"/proc/self/exe" {
        // FAT has no symbolic links: an existing path is "not a link" (what
        // `realpath`, behind `std::fs::canonicalize`, expects), anything else ENOENT.
        let exists = p.files().stat(CWD, path).is_ok();
        return Err(if exists { EINVAL } else { ENOENT });
    }
    let n = (SELF_EXE.len() as u64).min(a[2]);
    let buf = user::bytes_mut(p, a[1], n).map_err(|_| EFAULT)?;
    buf.copy_from_slice(&SELF_EXE[..n as usize]);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use linux_abi::fcntl::{AT_EMPTY_PATH, AT_REMOVEDIR};
    use linux_abi::stat::S_IFREG;

    use super::SELF_EXE;
    use crate::drivers::block::SharedRamDisk;
    use crate::syscall::dispatch;
    use crate::syscall::testing::MockPlatform;

    const AT_FDCWD: u64 = -100i64 as u64;
    const O_WRONLY: u64 = 1;
    const O_RDWR: u64 = 2;
    const O_CREAT: u64 = 0o100;
    const O_TRUNC: u64 = 0o1000;
    const O_APPEND: u64 = 0o2000;
    const O_DIRECTORY: u64 = 0o200000;

    fn mounted() -> (MockPlatform, SharedRamDisk) {
        let disk = SharedRamDisk::formatted(8);
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
        assert_eq!((size, mode & 0o170000), (4, S_IFREG));
        let sx = p.buffer(256);
        assert_eq!(dispatch(&mut p, 332, [AT_FDCWD, path, 0, 0x7ff, sx, 0]), 0);
        assert_eq!(u64::from_le_bytes(p.peek(sx + 40, 8).try_into().unwrap()), 4);
        let empty = cstr(&p, "");
        assert_eq!(dispatch(&mut p, 332, [fd, empty, AT_EMPTY_PATH, 0x7ff, sx, 0]), 0);
        assert_eq!(dispatch(&mut p, 332, [1, empty, AT_EMPTY_PATH, 0x7ff, sx, 0]), 0, "console statx");
        assert_eq!(dispatch(&mut p, 262, [fd, empty, st, AT_EMPTY_PATH, 0, 0]), 0);
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
    fn statx_fills_the_same_bytes_as_before_the_struct() {
        let (mut p, _disk) = mounted();
        let path = cstr(&p, "/f");
        let fd = dispatch(&mut p, 257, [AT_FDCWD, path, O_WRONLY | O_CREAT, 0, 0, 0]) as u64;
        let msg = p.read_only_buffer(&[7u8; 1000]);
        assert_eq!(dispatch(&mut p, 1, [fd, msg, 1000, 0, 0, 0]), 1000);
        let (st, sx) = (p.buffer(144), p.buffer(256));
        assert_eq!(dispatch(&mut p, 5, [fd, st, 0, 0, 0, 0]), 0);
        assert_eq!(dispatch(&mut p, 332, [AT_FDCWD, path, 0, 0x7ff, sx, 0]), 0);
        let (s, x) = (p.peek(st, 144), p.peek(sx, 256));
        let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        assert_eq!(u32_at(&x, 0), 0xfff, "mask: basic stats and btime");
        assert_eq!(u32_at(&x, 4) as u64, u64_at(&s, 56), "blksize");
        assert_eq!(u32_at(&x, 16) as u64, u64_at(&s, 16), "nlink");
        assert_eq!(u16::from_le_bytes([x[28], x[29]]) as u32, u32_at(&s, 24), "mode");
        assert_eq!(u64_at(&x, 32), u64_at(&s, 8), "ino");
        assert_eq!(u64_at(&x, 40), 1000, "size");
        assert_eq!(u64_at(&x, 48), u64_at(&s, 64), "blocks");
        assert_eq!(u64_at(&x, 64), u64_at(&s, 72), "atime");
        assert_eq!(u64_at(&x, 112), u64_at(&s, 88), "mtime");
        assert_eq!(u64_at(&x, 96), u64_at(&s, 104), "ctime");
        assert_eq!((u32_at(&x, 136), u32_at(&x, 140)), (8, 1), "dev 8:1");
        assert!(x[144..].iter().all(|&b| b == 0));
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
        assert_eq!(dispatch(&mut p, 263, [AT_FDCWD, d, AT_REMOVEDIR, 0, 0, 0]), -39, "ENOTEMPTY");
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
    fn dirfds_must_be_open_directories_and_dup_shares_the_position() {
        let (mut p, _disk) = mounted();
        let (file, rel) = (cstr(&p, "/file"), cstr(&p, "x"));
        let fd = dispatch(&mut p, 257, [AT_FDCWD, file, O_RDWR | O_CREAT, 0, 0, 0]) as u64;
        let st = p.buffer(144);
        assert_eq!(dispatch(&mut p, 262, [fd, rel, st, 0, 0, 0]), -20, "a file as dirfd: ENOTDIR");
        assert_eq!(dispatch(&mut p, 262, [1, rel, st, 0, 0, 0]), -20, "the console as dirfd: ENOTDIR");
        assert_eq!(dispatch(&mut p, 262, [40, rel, st, 0, 0, 0]), -9, "nothing open: EBADF");
        assert_eq!(dispatch(&mut p, 262, [40, file, st, 0, 0, 0]), 0, "absolute paths ignore dirfd");
        assert_eq!(dispatch(&mut p, 81, [fd, 0, 0, 0, 0, 0]), -20, "fchdir to a file");
        let copy = dispatch(&mut p, 32, [fd, 0, 0, 0, 0, 0]) as u64;
        let msg = p.read_only_buffer(b"abcdef");
        assert_eq!(dispatch(&mut p, 1, [fd, msg, 6, 0, 0, 0]), 6);
        assert_eq!(dispatch(&mut p, 8, [copy, 0, 1, 0, 0, 0]), 6, "the copy shares the position");
        assert_eq!(dispatch(&mut p, 3, [fd, 0, 0, 0, 0, 0]), 0);
        let unlink = |p: &mut MockPlatform| dispatch(p, 87, [file, 0, 0, 0, 0, 0]);
        assert_eq!(unlink(&mut p), -16, "still open through the copy: EBUSY");
        assert_eq!(dispatch(&mut p, 3, [copy, 0, 0, 0, 0, 0]), 0);
        assert_eq!(unlink(&mut p), 0, "the last close closed the file");
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

    #[test]
    fn readlink_names_the_kernel() {
        let mut p = MockPlatform::new();
        let path = p.read_only_buffer(b"/proc/self/exe\0");
        let buf = p.buffer(64);
        let n = dispatch(&mut p, 89, [path, buf, 64, 0, 0, 0]);
        assert_eq!(p.peek(buf, n as usize), SELF_EXE);
        assert_eq!(dispatch(&mut p, 89, [path, buf, 0, 0, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 89, [path, 0x30, 64, 0, 0, 0]), -14);
    }
}
