//! File-descriptor syscalls of the console on fds 0–2 (Rust std checks them at
//! start-up). Descriptors from 3 on belong to the file system: these handlers pass them
//! to [`super::fs`], which also owns every path syscall.

use super::errno::{EBADF, EFAULT, EINVAL, ENOENT, ENOTTY, ESPIPE, Errno};
use super::{Platform, SysResult, user};

/// The console's file descriptors: stdin, stdout, stderr.
const CONSOLE_FDS: core::ops::RangeInclusive<u64> = 0..=2;

/// Most iovecs `writev` takes (Linux's IOV_MAX).
const IOV_MAX: u64 = 1024;

/// Most pollfds `poll` takes here.
const POLL_MAX: u64 = 1024;

/// What `readlink("/proc/self/exe")` answers: the kernel ELF, as `make disk` names it.
pub const SELF_EXE: &[u8] = b"/boot/kernel.elf";

fn console_fd(fd: u64) -> Result<(), Errno> {
    if CONSOLE_FDS.contains(&fd) { Ok(()) } else { Err(EBADF) }
}

/// `read(fd, buf, count)`: console input on fds 0–2 (never blocks; 0 = no input).
pub fn read(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if !CONSOLE_FDS.contains(&a[0]) {
        return super::fs::read(p, a);
    }
    console_fd(a[0])?;
    let buf = user::bytes_mut(p, a[1], a[2])?;
    Ok(p.console_read(buf) as u64)
}

/// `write(fd, buf, count)`: fds 0–2 go to the console (COM1 and VGA).
pub fn write(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if !CONSOLE_FDS.contains(&a[0]) {
        return super::fs::write(p, a);
    }
    console_fd(a[0])?;
    let buf = user::bytes(p, a[1], a[2])?;
    p.console_write(a[0], buf);
    Ok(a[2])
}

/// `writev(fd, iov, iovcnt)`: every iovec checked before anything is written.
pub fn writev(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if !CONSOLE_FDS.contains(&a[0]) {
        return super::fs::writev(p, a);
    }
    console_fd(a[0])?;
    if a[2] > IOV_MAX {
        return Err(EINVAL);
    }
    let iov = user::bytes(p, a[1], a[2] * 16)?;
    let mut total = 0u64;
    for v in iov.chunks_exact(16) {
        let (base, len) = iovec(v);
        user::bytes(p, base, len)?;
        total = total.checked_add(len).ok_or(EINVAL)?;
    }
    for v in iov.chunks_exact(16) {
        let (base, len) = iovec(v);
        let bytes = user::bytes(p, base, len)?;
        p.console_write(a[0], bytes);
    }
    Ok(total)
}

fn iovec(v: &[u8]) -> (u64, u64) {
    (u64::from_le_bytes(v[0..8].try_into().unwrap()), u64::from_le_bytes(v[8..16].try_into().unwrap()))
}

/// `close(fd)`: the console stays open (closing it would lose every later message).
pub fn close(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if !CONSOLE_FDS.contains(&a[0]) {
        return super::fs::close(p, a);
    }
    console_fd(a[0]).map(|_| 0)
}

/// Linux's `struct stat` on x86-64 (144 bytes).
#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct Stat {
    /// Device.
    pub st_dev: u64,
    /// Inode.
    pub st_ino: u64,
    /// Link count.
    pub st_nlink: u64,
    /// Type and permissions.
    pub st_mode: u32,
    /// Owner.
    pub st_uid: u32,
    /// Group.
    pub st_gid: u32,
    /// Padding.
    pub pad0: u32,
    /// Device number of a device file.
    pub st_rdev: u64,
    /// Size in bytes.
    pub st_size: i64,
    /// Preferred I/O size.
    pub st_blksize: i64,
    /// 512-byte blocks.
    pub st_blocks: i64,
    /// Access, modification and change times (seconds, nanoseconds).
    pub st_times: [i64; 6],
    /// Reserved.
    pub reserved: [i64; 3],
}

/// `S_IFCHR`: a character device.
pub const S_IFCHR: u32 = 0o020000;

/// What `fstat` reports for console descriptor `fd`.
pub fn console_stat(fd: u64) -> Stat {
    Stat {
        st_dev: 5,
        st_ino: fd + 1,
        st_nlink: 1,
        st_mode: S_IFCHR | 0o620,
        st_rdev: (4 << 8) | 64, // ttyS0
        st_blksize: 1024,
        ..Stat::default()
    }
}

/// `fstat(fd, statbuf)`: the console is a character device.
pub fn fstat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if !CONSOLE_FDS.contains(&a[0]) {
        return super::fs::fstat(p, a);
    }
    console_fd(a[0])?;
    user::write(p, a[1], &console_stat(a[0]))?;
    Ok(0)
}

/// `lseek(fd, offset, whence)`: the console cannot seek.
pub fn lseek(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if !CONSOLE_FDS.contains(&a[0]) {
        return super::fs::lseek(p, a);
    }
    console_fd(a[0])?;
    Err(ESPIPE)
}

/// `ioctl(fd, request, arg)`: the console is a serial line, not a terminal here, and
/// files take no ioctls.
pub fn ioctl(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if !CONSOLE_FDS.contains(&a[0]) && !p.files().is_open(a[0]) {
        return Err(EBADF);
    }
    Err(ENOTTY)
}

const POLLIN: u16 = 0x1;
const POLLOUT: u16 = 0x4;
const POLLNVAL: u16 = 0x20;

/// `poll(fds, nfds, timeout)`: the console and files are always writable; stdin
/// reports input only as readable (it never blocks); unknown fds are `POLLNVAL`.
pub fn poll(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[1] > POLL_MAX {
        return Err(EINVAL);
    }
    let fds = user::bytes_mut(p, a[0], a[1] * 8)?;
    let mut ready = 0;
    for pfd in fds.chunks_exact_mut(8) {
        let fd = i32::from_le_bytes(pfd[0..4].try_into().unwrap());
        let events = u16::from_le_bytes(pfd[4..6].try_into().unwrap());
        let revents = match fd {
            f if f < 0 => 0,
            0..=2 => events & (POLLIN | POLLOUT),
            f if p.files().is_open(f as u64) => events & (POLLIN | POLLOUT),
            _ => POLLNVAL,
        };
        pfd[6..8].copy_from_slice(&revents.to_le_bytes());
        ready += (revents != 0) as u64;
    }
    Ok(ready)
}

const F_GETFD: u64 = 1;
const F_SETFD: u64 = 2;
const F_GETFL: u64 = 3;
const F_SETFL: u64 = 4;
const O_RDWR: u64 = 2;

/// `fcntl(fd, cmd, arg)`: descriptor flags of the console and of files (`F_GETFL`
/// reports the access mode and `O_APPEND`; `F_SETFL` sets `O_APPEND`).
pub fn fcntl(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if !CONSOLE_FDS.contains(&a[0]) {
        let files = p.files();
        return match a[1] {
            F_GETFD | F_SETFD => files.status_flags(a[0]).map(|_| 0),
            F_GETFL => files.status_flags(a[0]),
            F_SETFL => files.set_status_flags(a[0], a[2]).map(|()| 0),
            _ => Err(EINVAL),
        };
    }
    match a[1] {
        F_GETFD | F_SETFD | F_SETFL => Ok(0),
        F_GETFL => Ok(O_RDWR),
        _ => Err(EINVAL),
    }
}

/// `readlink(path, buf, size)`: `/proc/self/exe` names the kernel ELF; files and
/// directories are not links (`EINVAL`).
pub fn readlink(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let path = user::c_string(p, a[0], user::PATH_MAX)?;
    if a[2] == 0 || a[2] > i32::MAX as u64 {
        return Err(EINVAL);
    }
    if path != b"/proc/self/exe" {
        // FAT has no symbolic links: an existing path is "not a link" (what
        // `realpath`, behind `std::fs::canonicalize`, expects), anything else ENOENT.
        let exists = p.files().stat(super::fs::AT_FDCWD_I64, path).is_ok();
        return Err(if exists { EINVAL } else { ENOENT });
    }
    let n = (SELF_EXE.len() as u64).min(a[2]);
    let buf = user::bytes_mut(p, a[1], n).map_err(|_| EFAULT)?;
    buf.copy_from_slice(&SELF_EXE[..n as usize]);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::dispatch;
    use crate::syscall::mock::MockPlatform;

    #[test]
    fn write_reaches_the_console_and_checks_fd_and_buffer() {
        let mut p = MockPlatform::new();
        let msg = p.read_only_buffer(b"hello\n");
        assert_eq!(dispatch(&mut p, 1, [1, msg, 6, 0, 0, 0]), 6);
        assert_eq!(p.text(1), "hello\n");
        assert_eq!(dispatch(&mut p, 1, [7, msg, 6, 0, 0, 0]), -9, "EBADF");
        assert_eq!(dispatch(&mut p, 1, [2, 0x10, 6, 0, 0, 0]), -14, "EFAULT");
        assert_eq!(dispatch(&mut p, 1, [2, msg, 7, 0, 0, 0]), -14, "one byte too long");
        assert_eq!(dispatch(&mut p, 1, [2, u64::MAX, 2, 0, 0, 0]), -14, "overflow");
        assert_eq!(dispatch(&mut p, 1, [2, 0, 0, 0, 0, 0]), 0, "empty write");
    }

    #[test]
    fn writev_checks_every_iovec_before_writing() {
        let mut p = MockPlatform::new();
        let a = p.read_only_buffer(b"ab");
        let b = p.read_only_buffer(b"cde");
        let mut iov = Vec::new();
        for (base, len) in [(a, 2u64), (b, 3)] {
            iov.extend_from_slice(&base.to_le_bytes());
            iov.extend_from_slice(&len.to_le_bytes());
        }
        let good = p.read_only_buffer(&iov);
        assert_eq!(dispatch(&mut p, 20, [1, good, 2, 0, 0, 0]), 5);
        assert_eq!(p.text(1), "abcde");
        iov[16..24].copy_from_slice(&0x20u64.to_le_bytes());
        let bad = p.read_only_buffer(&iov);
        assert_eq!(dispatch(&mut p, 20, [1, bad, 2, 0, 0, 0]), -14);
        assert_eq!(p.text(1), "abcde", "nothing of a bad writev is written");
        assert_eq!(dispatch(&mut p, 20, [1, good, 5000, 0, 0, 0]), -22, "iovcnt > IOV_MAX");
    }

    #[test]
    fn read_returns_console_input() {
        let mut p = MockPlatform::new();
        p.input = b"xy".to_vec();
        let buf = p.buffer(8);
        assert_eq!(dispatch(&mut p, 0, [0, buf, 8, 0, 0, 0]), 2);
        assert_eq!(p.peek(buf, 2), b"xy");
        assert_eq!(dispatch(&mut p, 0, [0, buf, 8, 0, 0, 0]), 0, "end of input");
        let ro = p.read_only_buffer(b"....");
        assert_eq!(dispatch(&mut p, 0, [0, ro, 4, 0, 0, 0]), -14, "read into read-only memory");
    }

    #[test]
    fn console_is_a_character_device_and_paths_do_not_exist_without_a_volume() {
        let mut p = MockPlatform::new();
        let st = p.buffer(size_of::<Stat>());
        assert_eq!(dispatch(&mut p, 5, [1, st, 0, 0, 0, 0]), 0);
        let mode = u32::from_le_bytes(p.peek(st + 24, 4).try_into().unwrap());
        assert_eq!(mode & 0o170000, S_IFCHR);
        assert_eq!(dispatch(&mut p, 5, [3, st, 0, 0, 0, 0]), -9);
        assert_eq!(dispatch(&mut p, 5, [1, 8, 0, 0, 0, 0]), -14);
        let empty = p.read_only_buffer(b"\0");
        assert_eq!(dispatch(&mut p, 262, [2, empty, st, super::super::fs::AT_EMPTY_PATH, 0, 0]), 0);
        let path = p.read_only_buffer(b"/etc/passwd\0");
        assert_eq!(dispatch(&mut p, 262, [u64::MAX - 99, path, st, 0, 0, 0]), -2);
        assert_eq!(dispatch(&mut p, 257, [u64::MAX - 99, path, 0, 0, 0, 0]), -2);
        assert_eq!(dispatch(&mut p, 257, [u64::MAX - 99, 0x1000, 0, 0, 0, 0]), -14);
        assert_eq!(dispatch(&mut p, 8, [1, 0, 0, 0, 0, 0]), -29, "ESPIPE");
        assert_eq!(dispatch(&mut p, 16, [1, 0x5401, 0, 0, 0, 0]), -25, "TCGETS: ENOTTY");
        assert_eq!(dispatch(&mut p, 3, [2, 0, 0, 0, 0, 0]), 0);
        assert_eq!(dispatch(&mut p, 3, [9, 0, 0, 0, 0, 0]), -9);
    }

    #[test]
    fn poll_marks_unknown_fds_invalid() {
        let mut p = MockPlatform::new();
        let mut fds = Vec::new();
        for (fd, ev) in [(0i32, 0u16), (1, POLLOUT), (7, POLLIN), (-1, POLLIN)] {
            fds.extend_from_slice(&fd.to_le_bytes());
            fds.extend_from_slice(&ev.to_le_bytes());
            fds.extend_from_slice(&0u16.to_le_bytes());
        }
        let buf = p.writable_copy(&fds);
        assert_eq!(dispatch(&mut p, 7, [buf, 4, 0, 0, 0, 0]), 2);
        let out = p.peek(buf, 32);
        let revents = |i: usize| u16::from_le_bytes([out[i * 8 + 6], out[i * 8 + 7]]);
        assert_eq!([revents(0), revents(1), revents(2), revents(3)], [0, POLLOUT, POLLNVAL, 0]);
        assert_eq!(dispatch(&mut p, 7, [buf, 5, 0, 0, 0, 0]), -14);
        assert_eq!(dispatch(&mut p, 7, [buf, 1 << 40, 0, 0, 0, 0]), -22);
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
