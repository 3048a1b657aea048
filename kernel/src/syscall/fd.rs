//! The descriptor table: a program's file descriptors and the open objects behind them
//! (the model is hermit-os's `src/fd`: one `ObjectInterface` for every kind of object).
//!
//! Every open object — the console on descriptors 0–2, a file, a directory — implements
//! [`Object`], and the [`Table`] maps descriptor numbers to objects. The descriptor
//! calls ([`super::descriptor`]: `read`, `write`, `fstat`, `close`, `dup`, …) look the
//! object up and call it; the path calls ([`super::path`]: `openat`, `newfstatat`,
//! `mkdirat`, …) resolve paths in the file system and put what they open in the table.
//! Both use this module, neither imports the other. Another kind of object (a pipe, a
//! socket) is one more `impl Object`.
//!
//! Files and directories are handles of [`crate::fs::Files`], which keeps their state
//! (position, status flags, directory listing); the objects here only carry the handle.
//! After `dup`, two descriptors share one object — its position and flags, as on Linux
//! — and [`Object::release`] closes the handle when the last of them is closed.

use std::rc::Rc;

use linux_abi::errno::{EBADF, EINVAL, EISDIR, EMFILE, ENOTDIR, ENOTTY, ESPIPE, Errno};
use linux_abi::fcntl::{AT_FDCWD, O_RDWR};
use linux_abi::poll::{POLLIN, POLLOUT};
use linux_abi::stat::{S_IFCHR, S_IFDIR, S_IFREG, Stat};

use super::{Platform, SysResult};
use crate::fs::{self, DirEnt, Files, Meta};

/// Most descriptors open at once (the `RLIMIT_NOFILE` that `prlimit64` reports).
pub const MAX_DESCRIPTORS: usize = 1024;

/// The console's descriptors: stdin, stdout, stderr.
pub const CONSOLE_FDS: core::ops::RangeInclusive<u64> = 0..=2;

/// An open object a descriptor refers to. The defaults answer what Linux answers for
/// an object that lacks the operation.
pub trait Object {
    /// `read`; `at` is `pread64`'s offset (the position is then left alone).
    fn read(&self, p: &mut dyn Platform, buf: &mut [u8], at: Option<u64>) -> Result<usize, Errno>;

    /// `write`; `at` is `pwrite64`'s offset.
    fn write(&self, p: &mut dyn Platform, buf: &[u8], at: Option<u64>) -> Result<usize, Errno>;

    /// Whether the object has a position: if not, `lseek`, `pread64` and `pwrite64`
    /// are `ESPIPE` before anything else is checked.
    fn seekable(&self) -> bool {
        true
    }

    /// `lseek`: returns the new position.
    fn lseek(&self, _p: &mut dyn Platform, _offset: i64, _whence: u64) -> Result<u64, Errno> {
        Err(ESPIPE)
    }

    /// `fstat`: the `struct stat`, and the creation time (Unix seconds) for `statx`.
    fn stat(&self, p: &mut dyn Platform) -> Result<(Stat, i64), Errno>;

    /// `getdents64`: hands the next directory entries to `fit` until it returns false;
    /// returns how many it took.
    fn read_dir(&self, _p: &mut dyn Platform, _fit: &mut dyn FnMut(&DirEnt) -> bool) -> Result<usize, Errno> {
        Err(ENOTDIR)
    }

    /// The index of the entry the next [`Object::read_dir`] starts at.
    fn dir_position(&self, _p: &mut dyn Platform) -> usize {
        0
    }

    /// `ioctl(request, arg)`.
    fn ioctl(&self, _p: &mut dyn Platform, _request: u64, _arg: u64) -> SysResult {
        Err(ENOTTY)
    }

    /// `poll`: which of `events` are ready now (nothing here ever blocks).
    fn poll(&self, events: u16) -> u16 {
        events & (POLLIN | POLLOUT)
    }

    /// `fcntl(F_GETFL)`: the access mode and status flags.
    fn status_flags(&self, p: &mut dyn Platform) -> Result<u64, Errno>;

    /// `fcntl(F_SETFL)`: the status flags the object keeps (others are ignored).
    fn set_status_flags(&self, _p: &mut dyn Platform, _flags: u64) -> Result<(), Errno> {
        Ok(())
    }

    /// `fsync`/`fdatasync`.
    fn fsync(&self, _p: &mut dyn Platform) -> Result<(), Errno> {
        Err(EINVAL)
    }

    /// `ftruncate`.
    fn truncate(&self, _p: &mut dyn Platform, _len: u64) -> Result<(), Errno> {
        Err(EINVAL)
    }

    /// The file-system handle of a directory: what relative paths of the `*at` calls
    /// and `fchdir` start from. `None` for everything else (`ENOTDIR`).
    fn directory(&self) -> Option<u64> {
        None
    }

    /// Whether `close(fd)` leaves this object on descriptor `fd` (and succeeds).
    fn survives_close(&self, _fd: u64) -> bool {
        false
    }

    /// The last descriptor of the object was closed: give its resources back.
    fn release(&self, _p: &mut dyn Platform) -> Result<(), Errno> {
        Ok(())
    }
}

/// A reference to an open object, as a descriptor holds it. The console's objects are
/// statics, so the table is built in a `const` and the console's descriptor calls
/// never allocate (glibc may write an error message from inside `malloc`); objects
/// opened later are reference-counted, shared by the descriptors `dup` makes.
#[derive(Clone)]
pub enum ObjectRef {
    /// An object that lives forever (the console).
    Static(&'static dyn Object),
    /// An object shared by every descriptor that refers to it.
    Shared(Rc<dyn Object>),
}

impl core::ops::Deref for ObjectRef {
    type Target = dyn Object;

    fn deref(&self) -> &(dyn Object + 'static) {
        match self {
            ObjectRef::Static(o) => *o,
            ObjectRef::Shared(o) => &**o,
        }
    }
}

impl ObjectRef {
    /// Wraps a newly opened object.
    pub fn new(object: impl Object + 'static) -> Self {
        ObjectRef::Shared(Rc::new(object))
    }

    /// Whether this is the last reference (the caller's copy, out of the table).
    fn is_last(&self) -> bool {
        match self {
            ObjectRef::Static(_) => false,
            ObjectRef::Shared(o) => Rc::strong_count(o) == 1,
        }
    }
}

/// The console as descriptors 0–2 see it: `fd` says which stream output belongs to.
pub struct Console {
    fd: u64,
}

/// The console objects of descriptors 0, 1 and 2.
static CONSOLE: [Console; 3] = [Console { fd: 0 }, Console { fd: 1 }, Console { fd: 2 }];

/// What `fstat` reports for console descriptor `fd`: a character device (ttyS0).
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

impl Object for Console {
    /// Console input without blocking; 0 means no input.
    fn read(&self, p: &mut dyn Platform, buf: &mut [u8], _at: Option<u64>) -> Result<usize, Errno> {
        Ok(p.console_read(buf))
    }
    /// To the console (COM1 and VGA), all of it.
    fn write(&self, p: &mut dyn Platform, buf: &[u8], _at: Option<u64>) -> Result<usize, Errno> {
        p.console_write(self.fd, buf);
        Ok(buf.len())
    }
    fn seekable(&self) -> bool {
        false
    }
    fn stat(&self, _p: &mut dyn Platform) -> Result<(Stat, i64), Errno> {
        Ok((console_stat(self.fd), 0))
    }
    fn status_flags(&self, _p: &mut dyn Platform) -> Result<u64, Errno> {
        Ok(O_RDWR)
    }
    /// The console stays open on 0–2: closing it would lose every later message.
    fn survives_close(&self, fd: u64) -> bool {
        CONSOLE_FDS.contains(&fd)
    }
}

/// The device number files report (`st_dev`): 8:1, "the first disk's first partition".
const FS_DEV: u64 = (8 << 8) | 1;
/// Preferred I/O size reported to the program (std and glibc size buffers from it).
const BLKSIZE: i64 = 64 * 1024;

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

/// The file system, its clock set to now (for the time stamps `fatfs` writes).
pub fn files(p: &mut dyn Platform) -> &mut Files {
    fs::set_now(p.realtime_ns() / 1_000_000_000);
    p.files()
}

/// An open regular file: a handle of the file system.
pub struct File(pub u64);

impl Object for File {
    fn read(&self, p: &mut dyn Platform, buf: &mut [u8], at: Option<u64>) -> Result<usize, Errno> {
        files(p).read(self.0, buf, at)
    }
    fn write(&self, p: &mut dyn Platform, buf: &[u8], at: Option<u64>) -> Result<usize, Errno> {
        files(p).write(self.0, buf, at)
    }
    fn lseek(&self, p: &mut dyn Platform, offset: i64, whence: u64) -> Result<u64, Errno> {
        files(p).lseek(self.0, offset, whence)
    }
    fn stat(&self, p: &mut dyn Platform) -> Result<(Stat, i64), Errno> {
        let m = files(p).fstat(self.0)?;
        Ok((stat_of(&m), m.ctime))
    }
    fn status_flags(&self, p: &mut dyn Platform) -> Result<u64, Errno> {
        files(p).status_flags(self.0)
    }
    /// `O_APPEND` only.
    fn set_status_flags(&self, p: &mut dyn Platform, flags: u64) -> Result<(), Errno> {
        files(p).set_status_flags(self.0, flags)
    }
    /// The file's data, its directory entry and all metadata reach the disk.
    fn fsync(&self, p: &mut dyn Platform) -> Result<(), Errno> {
        files(p).fsync(self.0)
    }
    fn truncate(&self, p: &mut dyn Platform, len: u64) -> Result<(), Errno> {
        files(p).truncate(self.0, len)
    }
    fn release(&self, p: &mut dyn Platform) -> Result<(), Errno> {
        files(p).close(self.0)
    }
}

/// An open directory: a handle of the file system.
pub struct Directory(pub u64);

impl Object for Directory {
    fn read(&self, _p: &mut dyn Platform, _buf: &mut [u8], _at: Option<u64>) -> Result<usize, Errno> {
        Err(EISDIR)
    }
    fn write(&self, _p: &mut dyn Platform, _buf: &[u8], _at: Option<u64>) -> Result<usize, Errno> {
        Err(EISDIR)
    }
    /// `rewinddir`/`seekdir`: the position is an entry index.
    fn lseek(&self, p: &mut dyn Platform, offset: i64, whence: u64) -> Result<u64, Errno> {
        files(p).lseek(self.0, offset, whence)
    }
    fn stat(&self, p: &mut dyn Platform) -> Result<(Stat, i64), Errno> {
        let m = files(p).fstat(self.0)?;
        Ok((stat_of(&m), m.ctime))
    }
    /// `.` and `..` first, as on Linux.
    fn read_dir(&self, p: &mut dyn Platform, fit: &mut dyn FnMut(&DirEnt) -> bool) -> Result<usize, Errno> {
        files(p).read_dir(self.0, fit)
    }
    fn dir_position(&self, p: &mut dyn Platform) -> usize {
        p.files().dir_position(self.0)
    }
    fn status_flags(&self, p: &mut dyn Platform) -> Result<u64, Errno> {
        files(p).status_flags(self.0)
    }
    /// All metadata reaches the disk.
    fn fsync(&self, p: &mut dyn Platform) -> Result<(), Errno> {
        files(p).fsync(self.0)
    }
    fn directory(&self) -> Option<u64> {
        Some(self.0)
    }
    fn release(&self, p: &mut dyn Platform) -> Result<(), Errno> {
        files(p).close(self.0)
    }
}

/// A program's descriptors: slot `n` holds the object of descriptor `n`. Descriptors
/// 0–2 start as the console.
pub struct Table {
    slots: [Option<ObjectRef>; MAX_DESCRIPTORS],
}

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    /// The console on 0–2, nothing else open.
    pub const fn new() -> Self {
        let mut slots = [const { None }; MAX_DESCRIPTORS];
        let mut fd = 0;
        while fd < CONSOLE.len() {
            // `forget`: the `None` replaced has nothing to drop, but a `const fn` may not
            // run a destructor at all.
            core::mem::forget(slots[fd].replace(ObjectRef::Static(&CONSOLE[fd])));
            fd += 1;
        }
        Table { slots }
    }

    fn slot(&mut self, fd: u64) -> Result<&mut Option<ObjectRef>, Errno> {
        usize::try_from(fd).ok().and_then(|i| self.slots.get_mut(i)).ok_or(EBADF)
    }

    /// The object of descriptor `fd` (`EBADF` if none).
    pub fn get(&self, fd: u64) -> Result<ObjectRef, Errno> {
        usize::try_from(fd).ok().and_then(|i| self.slots.get(i)).and_then(|s| s.clone()).ok_or(EBADF)
    }

    /// Puts `object` on the lowest free descriptor ≥ `min` and returns it (`EMFILE` if
    /// none is free).
    pub fn insert(&mut self, min: u64, object: ObjectRef) -> Result<u64, Errno> {
        let start = usize::try_from(min).unwrap_or(usize::MAX).min(MAX_DESCRIPTORS);
        let i = self.slots[start..].iter().position(|s| s.is_none()).ok_or(EMFILE)? + start;
        self.slots[i] = Some(object);
        Ok(i as u64)
    }

    /// Puts `object` on descriptor `fd`, returning what was there (`dup2`; `EBADF` if
    /// `fd` is beyond the table).
    pub fn replace(&mut self, fd: u64, object: ObjectRef) -> Result<Option<ObjectRef>, Errno> {
        Ok(self.slot(fd)?.replace(object))
    }

    /// Takes the object off descriptor `fd` (`EBADF` if none).
    pub fn remove(&mut self, fd: u64) -> Result<ObjectRef, Errno> {
        self.slot(fd)?.take().ok_or(EBADF)
    }
}

/// The object of descriptor `fd`.
pub fn get(p: &mut dyn Platform, fd: u64) -> Result<ObjectRef, Errno> {
    p.descriptors().get(fd)
}

/// Lets go of `object`, which was taken off a descriptor: releases it if no other
/// descriptor refers to it.
pub fn drop_object(p: &mut dyn Platform, object: ObjectRef) -> Result<(), Errno> {
    if object.is_last() { object.release(p) } else { Ok(()) }
}

/// `close(fd)`: the object leaves the descriptor (unless it survives closing there) and
/// is released when it was the last reference.
pub fn close(p: &mut dyn Platform, fd: u64) -> Result<(), Errno> {
    if get(p, fd)?.survives_close(fd) {
        return Ok(());
    }
    let object = p.descriptors().remove(fd)?;
    drop_object(p, object)
}

/// Gives a file system handle `openat` returned a descriptor: a [`Directory`] or a
/// [`File`] object on the lowest free number. Closes the handle if the table is full.
pub fn install(p: &mut dyn Platform, handle: u64) -> Result<u64, Errno> {
    let object =
        if p.files().is_dir(handle) { ObjectRef::new(Directory(handle)) } else { ObjectRef::new(File(handle)) };
    match p.descriptors().insert(0, object.clone()) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let _ = drop_object(p, object);
            Err(e)
        }
    }
}

/// What a path relative to `dirfd` starts from, as the file system takes it:
/// [`fs::path::AT_FDCWD`] for the working directory (and for absolute paths, which
/// ignore `dirfd`), else the handle of the directory open on `dirfd` (`EBADF` if
/// nothing is open there, `ENOTDIR` if it is not a directory).
pub fn base(p: &mut dyn Platform, dirfd: u64, path: &[u8]) -> Result<i64, Errno> {
    let dirfd = dirfd as i32; // the kernel reads dirfd as an int: AT_FDCWD is -100 in 32 bits
    if dirfd == AT_FDCWD || path.first() == Some(&b'/') {
        return Ok(fs::path::AT_FDCWD);
    }
    let fd = u64::try_from(dirfd).map_err(|_| EBADF)?;
    get(p, fd)?.directory().map(|h| h as i64).ok_or(ENOTDIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_on_0_to_2_and_new_descriptors_take_the_lowest_free_number() {
        let mut t = Table::new();
        for fd in CONSOLE_FDS {
            assert!(t.get(fd).unwrap().survives_close(fd));
        }
        assert_eq!(t.get(3).err(), Some(EBADF));
        assert_eq!(t.get(u64::MAX).err(), Some(EBADF));
        let a = t.insert(0, ObjectRef::new(File(7))).unwrap();
        let b = t.insert(0, ObjectRef::new(File(8))).unwrap();
        assert_eq!((a, b), (3, 4));
        t.remove(3).unwrap();
        assert_eq!(t.insert(0, ObjectRef::new(File(9))).unwrap(), 3, "lowest free first");
        assert_eq!(t.insert(10, ObjectRef::new(File(9))).unwrap(), 10, "F_DUPFD's minimum");
        assert_eq!(t.remove(5).err(), Some(EBADF));
        assert!(t.replace(MAX_DESCRIPTORS as u64, ObjectRef::new(File(1))).is_err());
        for _ in 0..MAX_DESCRIPTORS - 6 {
            t.insert(0, ObjectRef::new(File(0))).unwrap();
        }
        assert_eq!(t.insert(0, ObjectRef::new(File(0))).err(), Some(EMFILE));
    }
}
