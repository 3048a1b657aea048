//! Descriptor calls: everything that takes a file descriptor — `read`, `write`, their
//! vector and positioned forms, `lseek`, `fstat`, `getdents64`, `ioctl`, `poll`,
//! `fcntl`, `fsync`, `ftruncate`, `fchdir`, `close` and `dup`. Each finds the object
//! in the descriptor table ([`super::fd`]) and calls it; what happens depends on the
//! object (console, file, directory), never on the descriptor's number.
//!
//! Nothing here allocates: glibc may write an error message from inside `malloc`.

use linux_abi::dirent::{DIRENT64_NAME_OFFSET, DT_DIR, DT_REG};
use linux_abi::errno::{EBADF, EINVAL, ENOTDIR, ESPIPE, Errno};
use linux_abi::fcntl::{F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETFL, O_CLOEXEC};
use linux_abi::limits::IOV_MAX;
use linux_abi::poll::{POLLFD_SIZE, POLLNVAL};
use linux_abi::stat::Stat;

use super::fd::{self, MAX_DESCRIPTORS, ObjectRef};
use super::{Platform, SysResult, user};

/// Most pollfds `poll` takes here.
const POLL_MAX: u64 = 1024;

/// Size of `struct iovec`.
const IOVEC_SIZE: u64 = 16;

fn offset(o: u64) -> Result<u64, Errno> {
    if (o as i64) < 0 { Err(EINVAL) } else { Ok(o) }
}

fn seekable(object: &ObjectRef) -> Result<(), Errno> {
    if object.seekable() { Ok(()) } else { Err(ESPIPE) }
}

fn iovec(v: &[u8]) -> (u64, u64) {
    (u64::from_le_bytes(v[0..8].try_into().unwrap()), u64::from_le_bytes(v[8..16].try_into().unwrap()))
}

/// The `count` iovecs at `addr`, each checked readable (or writable): nothing is read
/// or written unless every one is good.
fn iovecs<'a>(p: &dyn Platform, addr: u64, count: u64, writable: bool) -> Result<&'a [u8], Errno> {
    if count > IOV_MAX {
        return Err(EINVAL);
    }
    let raw = user::bytes(p, addr, count * IOVEC_SIZE)?;
    let mut total = 0u64;
    for v in raw.chunks_exact(IOVEC_SIZE as usize) {
        let (base, len) = iovec(v);
        if writable {
            user::bytes_mut(p, base, len)?;
        } else {
            user::bytes(p, base, len)?;
        }
        total = total.checked_add(len).ok_or(EINVAL)?;
    }
    Ok(raw)
}

/// `read(fd, buf, count)`: console input never blocks (0 = no input).
pub fn read(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    let buf = user::bytes_mut(p, a[1], a[2])?;
    object.read(p, buf, None).map(|n| n as u64)
}

/// `write(fd, buf, count)`: the console's descriptors reach COM1 and VGA.
pub fn write(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    let buf = user::bytes(p, a[1], a[2])?;
    object.write(p, buf, None).map(|n| n as u64)
}

/// `pread64(fd, buf, count, offset)`: `ESPIPE` on the console.
pub fn pread64(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    seekable(&object)?;
    let buf = user::bytes_mut(p, a[1], a[2])?;
    object.read(p, buf, Some(offset(a[3])?)).map(|n| n as u64)
}

/// `pwrite64(fd, buf, count, offset)`.
pub fn pwrite64(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    seekable(&object)?;
    let buf = user::bytes(p, a[1], a[2])?;
    object.write(p, buf, Some(offset(a[3])?)).map(|n| n as u64)
}

/// `readv(fd, iov, iovcnt)`: stops at the first short read.
pub fn readv(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    let iov = iovecs(p, a[1], a[2], true)?;
    let mut total = 0u64;
    for v in iov.chunks_exact(IOVEC_SIZE as usize) {
        let (base, len) = iovec(v);
        let buf = user::bytes_mut(p, base, len)?;
        let n = object.read(p, buf, None)? as u64;
        total += n;
        if n < len {
            break;
        }
    }
    Ok(total)
}

/// `writev(fd, iov, iovcnt)`: every iovec checked before anything is written; stops at
/// the first short write (an error after some bytes were written ends it quietly).
pub fn writev(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    let iov = iovecs(p, a[1], a[2], false)?;
    let mut total = 0u64;
    for v in iov.chunks_exact(IOVEC_SIZE as usize) {
        let (base, len) = iovec(v);
        let buf = user::bytes(p, base, len)?;
        match object.write(p, buf, None) {
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

/// `close(fd)`: the console stays open on 0–2 (closing it would lose every later
/// message); a file is closed when its last descriptor is.
pub fn close(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    fd::close(p, a[0]).map(|()| 0)
}

/// `lseek(fd, offset, whence)`: the console cannot seek; a directory's position is an
/// entry index (`rewinddir`, `seekdir`).
pub fn lseek(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    seekable(&object)?;
    object.lseek(p, a[1] as i64, a[2])
}

/// `fstat(fd, statbuf)`: the console is a character device.
pub fn fstat(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    user::bytes_mut(p, a[1], size_of::<Stat>() as u64)?;
    let (st, _) = object.stat(p)?;
    user::write(p, a[1], &st)?;
    Ok(0)
}

/// `getdents64(fd, dirp, count)`: `struct linux_dirent64` records.
pub fn getdents64(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    let buf = user::bytes_mut(p, a[1], a[2])?;
    let mut index = object.dir_position(p);
    let mut used = 0usize;
    let mut too_small = false;
    let n = object.read_dir(p, &mut |e| {
        let reclen = (DIRENT64_NAME_OFFSET + e.name.len() + 1).next_multiple_of(8);
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
        r[DIRENT64_NAME_OFFSET..DIRENT64_NAME_OFFSET + e.name.len()].copy_from_slice(e.name.as_bytes());
        used += reclen;
        true
    })?;
    if n == 0 && too_small {
        return Err(EINVAL);
    }
    Ok(used as u64)
}

/// `ioctl(fd, request, arg)`: the console is a serial line, not a terminal here, and
/// files take no ioctls (`ENOTTY`).
pub fn ioctl(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    object.ioctl(p, a[1], a[2])
}

/// `poll(fds, nfds, timeout)`: every open object is ready for what it can do now (stdin
/// reports input only as readable: it never blocks); unknown fds are `POLLNVAL`.
pub fn poll(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[1] > POLL_MAX {
        return Err(EINVAL);
    }
    let fds = user::bytes_mut(p, a[0], a[1] * POLLFD_SIZE)?;
    let mut ready = 0;
    for pfd in fds.chunks_exact_mut(POLLFD_SIZE as usize) {
        let fd = i32::from_le_bytes(pfd[0..4].try_into().unwrap());
        let events = u16::from_le_bytes(pfd[4..6].try_into().unwrap());
        let revents = match u64::try_from(fd) {
            Err(_) => 0, // negative: ignored
            Ok(fd) => fd::get(p, fd).map_or(POLLNVAL, |o| o.poll(events)),
        };
        pfd[6..8].copy_from_slice(&revents.to_le_bytes());
        ready += (revents != 0) as u64;
    }
    Ok(ready)
}

/// `fcntl(fd, cmd, arg)`: descriptor flags (there is no `exec`, so close-on-exec is
/// accepted and means nothing), status flags (`F_GETFL` reports the access mode and
/// `O_APPEND`; `F_SETFL` sets `O_APPEND`) and `F_DUPFD`.
pub fn fcntl(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    match a[1] {
        F_GETFD | F_SETFD => Ok(0),
        F_GETFL => object.status_flags(p),
        F_SETFL => object.set_status_flags(p, a[2]).map(|()| 0),
        F_DUPFD | F_DUPFD_CLOEXEC => {
            if a[2] >= MAX_DESCRIPTORS as u64 {
                return Err(EINVAL);
            }
            p.descriptors().insert(a[2], object)
        }
        _ => Err(EINVAL),
    }
}

/// `fsync(fd)` and `fdatasync(fd)`: everything of the file and all metadata durable;
/// `EINVAL` on the console, as Linux answers for a serial line.
pub fn fsync(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    object.fsync(p).map(|()| 0)
}

/// `ftruncate(fd, length)`.
pub fn ftruncate(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    let len = offset(a[1])?;
    object.truncate(p, len).map(|()| 0)
}

/// `fchdir(fd)`: the directory open on `fd` becomes the working directory.
pub fn fchdir(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let dir = fd::get(p, a[0])?.directory().ok_or(ENOTDIR)?;
    fd::files(p).fchdir(dir).map(|()| 0)
}

/// `dup(fd)`: a second descriptor, the lowest free, for the same object.
pub fn dup(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let object = fd::get(p, a[0])?;
    p.descriptors().insert(0, object)
}

/// `dup3(oldfd, newfd, flags)`: `newfd` refers to `oldfd`'s object; what it referred to
/// is closed first (errors ignored, as on Linux). `flags` may only be `O_CLOEXEC`.
pub fn dup3(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let [old, new, flags, ..] = a;
    if flags & !O_CLOEXEC != 0 || old == new {
        return Err(EINVAL);
    }
    let object = fd::get(p, old)?;
    if new >= MAX_DESCRIPTORS as u64 {
        return Err(EBADF);
    }
    if let Some(previous) = p.descriptors().replace(new, object)? {
        let _ = fd::drop_object(p, previous);
    }
    Ok(new)
}

/// `dup2(oldfd, newfd)`: `dup3` without flags, and `oldfd == newfd` is allowed.
pub fn dup2(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[0] == a[1] {
        fd::get(p, a[0])?;
        return Ok(a[1]);
    }
    dup3(p, [a[0], a[1], 0, 0, 0, 0])
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use linux_abi::poll::{POLLIN, POLLOUT};
    use linux_abi::stat::S_IFCHR;

    use super::*;
    use crate::syscall::dispatch;
    use crate::syscall::fd::Object;
    use crate::syscall::testing::MockPlatform;

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
        assert_eq!(dispatch(&mut p, 262, [2, empty, st, linux_abi::fcntl::AT_EMPTY_PATH, 0, 0]), 0);
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
    fn dup_shares_the_object_and_dup2_replaces_the_target() {
        let mut p = MockPlatform::new();
        let msg = p.read_only_buffer(b"x");
        assert_eq!(dispatch(&mut p, 32, [2, 0, 0, 0, 0, 0]), 3, "dup: lowest free");
        assert_eq!(dispatch(&mut p, 1, [3, msg, 1, 0, 0, 0]), 1);
        assert_eq!(p.text(2), "x", "the copy writes where stderr writes");
        assert_eq!(dispatch(&mut p, 3, [3, 0, 0, 0, 0, 0]), 0);
        assert_eq!(dispatch(&mut p, 3, [3, 0, 0, 0, 0, 0]), -9, "a console copy on 3 closes");
        assert_eq!(dispatch(&mut p, 33, [1, 9, 0, 0, 0, 0]), 9, "dup2");
        assert_eq!(dispatch(&mut p, 1, [9, msg, 1, 0, 0, 0]), 1);
        assert_eq!(p.text(1), "x");
        assert_eq!(dispatch(&mut p, 33, [9, 9, 0, 0, 0, 0]), 9, "dup2 onto itself");
        assert_eq!(dispatch(&mut p, 33, [5, 5, 0, 0, 0, 0]), -9);
        assert_eq!(dispatch(&mut p, 292, [9, 9, 0, 0, 0, 0]), -22, "dup3 onto itself");
        assert_eq!(dispatch(&mut p, 292, [9, 4, 1, 0, 0, 0]), -22, "unknown dup3 flag");
        assert_eq!(dispatch(&mut p, 292, [9, 4096, 0, 0, 0, 0]), -9, "beyond the table");
        assert_eq!(dispatch(&mut p, 72, [1, F_DUPFD, 20, 0, 0, 0]), 20);
        assert_eq!(dispatch(&mut p, 72, [1, F_DUPFD, 1 << 20, 0, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 32, [77, 0, 0, 0, 0, 0]), -9);
    }

    #[test]
    fn a_shared_object_is_released_by_its_last_descriptor() {
        struct Counted(Rc<Cell<u32>>);
        impl Object for Counted {
            fn read(&self, _: &mut dyn Platform, _: &mut [u8], _: Option<u64>) -> Result<usize, Errno> {
                Ok(0)
            }
            fn write(&self, _: &mut dyn Platform, _: &[u8], _: Option<u64>) -> Result<usize, Errno> {
                Ok(0)
            }
            fn stat(&self, _: &mut dyn Platform) -> Result<(Stat, i64), Errno> {
                Ok((Stat::default(), 0))
            }
            fn status_flags(&self, _: &mut dyn Platform) -> Result<u64, Errno> {
                Ok(0)
            }
            fn release(&self, _: &mut dyn Platform) -> Result<(), Errno> {
                self.0.set(self.0.get() + 1);
                Ok(())
            }
        }
        let mut p = MockPlatform::new();
        let released = Rc::new(Cell::new(0));
        let object = ObjectRef::new(Counted(released.clone()));
        let a = p.descriptors.insert(0, object.clone()).unwrap();
        let b = p.descriptors.insert(0, object).unwrap();
        assert_eq!(dispatch(&mut p, 3, [a, 0, 0, 0, 0, 0]), 0);
        assert_eq!(released.get(), 0, "descriptor {b} still refers to it");
        assert_eq!(dispatch(&mut p, 3, [b, 0, 0, 0, 0, 0]), 0);
        assert_eq!(released.get(), 1);
        assert_eq!(dispatch(&mut p, 3, [b, 0, 0, 0, 0, 0]), -9);
        let msg = p.read_only_buffer(b"y");
        assert_eq!(dispatch(&mut p, 3, [1, 0, 0, 0, 0, 0]), 0);
        assert_eq!(dispatch(&mut p, 1, [1, msg, 1, 0, 0, 0]), 1, "the console survives close on 0-2");
    }
}
