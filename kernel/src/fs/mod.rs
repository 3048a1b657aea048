//! The file system the program sees: one FAT16 volume mounted at `/`, read and written
//! through the [`fatfs`] crate over a [`BlockDevice`] partition ([`cache`]), its open
//! files and directories (by handle) and the working directory.
//!
//! Everything here is plain Rust over the [`BlockDevice`] trait, so the host tests run
//! it over a [`crate::drivers::block::RamDisk`]; the syscall handlers only translate
//! user memory and flags. See `docs/fs.md` for the design (why `fatfs`, crash safety,
//! what differs from Linux).
//!
//! The file system knows nothing of file descriptors: it hands out *handles* to open
//! files and directories; the syscall layer's descriptor table (`syscall::fd`) maps a
//! program's descriptors to objects that hold them. Errors are Linux errnos
//! ([`linux_abi::errno`]), flags Linux's `O_*` ([`linux_abi::fcntl`]).

pub mod cache;
pub mod checks;
pub mod mount;
pub mod path;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use cache::{IoStats, PartitionIo, SharedCache};
pub use mount::{MountError, mount_disk, mount_partition};

use linux_abi::errno::*;
use linux_abi::fcntl::{
    O_ACCMODE, O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_TRUNC, O_WRONLY, SEEK_CUR, SEEK_END, SEEK_SET,
};

/// The `fatfs` file system over a partition.
pub type FatFs = fatfs::FileSystem<PartitionIo>;
type FatFile = fatfs::File<'static, PartitionIo>;
type FatDir = fatfs::Dir<'static, PartitionIo>;
type FatEntry = fatfs::DirEntry<'static, PartitionIo>;

/// First handle the file system hands out: 3, the number of a process's first file
/// descriptor, so that in a fresh process handles and descriptors agree (easier traces;
/// nothing depends on it).
pub const FIRST_HANDLE: u64 = 3;
/// Most files open at once.
pub const MAX_OPEN: usize = 256;
/// Largest file FAT16 can hold (the size field is 32 bits).
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64;

/// Unix seconds "now", for the time stamps `fatfs` writes. The syscall layer sets it
/// from the platform clock before each call (a time provider must not make syscalls:
/// it runs inside one).
static NOW_UNIX_SECS: AtomicU64 = AtomicU64::new(0);

/// Sets the clock the file system stamps files with.
pub fn set_now(unix_secs: u64) {
    NOW_UNIX_SECS.store(unix_secs, Ordering::Relaxed);
}

#[derive(Debug)]
struct Clock;

impl fatfs::TimeProvider for Clock {
    fn get_current_date(&self) -> fatfs::Date {
        self.get_current_date_time().date
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        dos_date_time(NOW_UNIX_SECS.load(Ordering::Relaxed))
    }
}

static CLOCK: Clock = Clock;

/// Unix seconds → FAT date and time (UTC, clamped to FAT's 1980–2107).
pub fn dos_date_time(unix: u64) -> fatfs::DateTime {
    let unix = unix.clamp(315_532_800, 4_354_819_199); // 1980-01-01 .. 2107-12-31
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u16;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u16;
    let year = (yoe + era * 400 + (month <= 2) as i64) as u16;
    fatfs::DateTime {
        date: fatfs::Date { year, month, day },
        time: fatfs::Time {
            hour: (secs / 3600) as u16,
            min: (secs / 60 % 60) as u16,
            sec: (secs % 60) as u16,
            millis: 0,
        },
    }
}

/// FAT date and time → Unix seconds (UTC).
pub fn unix_seconds(t: &fatfs::DateTime) -> i64 {
    let (y, m, d) = (t.date.year as i64, t.date.month as i64, t.date.day as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + t.time.hour as i64 * 3600 + t.time.min as i64 * 60 + t.time.sec as i64
}

/// A mounted volume: the leaked `fatfs` file system (open files borrow it for
/// `'static`) and the cache it runs on.
pub struct Volume {
    fs: *mut FatFs,
    cache: SharedCache,
    /// The driver of the disk the volume is on.
    pub driver: &'static str,
    /// The partition's first sector on the disk.
    pub first_lba: u64,
    /// The partition's size in sectors.
    pub sectors: u64,
    /// Whether the volume's dirty flag was set at mount (not cleanly unmounted).
    pub was_dirty: bool,
}

impl Volume {
    fn fs(&self) -> &'static FatFs {
        // SAFETY: `fs` came from `Box::into_raw` at mount and is freed only by
        // `Files::unmount`, after every open node (the only holders of `'static`
        // borrows) was dropped; nothing else keeps a borrow across calls.
        unsafe { &*self.fs }
    }
}

/// What `stat` reports about a file or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// A directory (else a regular file).
    pub is_dir: bool,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// A stable number for the path (FAT has no inodes).
    pub ino: u64,
    /// Modification time, Unix seconds.
    pub mtime: i64,
    /// Access time (FAT keeps the date only), Unix seconds.
    pub atime: i64,
    /// Creation time, Unix seconds.
    pub ctime: i64,
}

/// One entry `getdents64` hands out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEnt {
    /// The name (long name when there is one).
    pub name: String,
    /// A directory.
    pub is_dir: bool,
    /// Same numbering as [`Meta::ino`].
    pub ino: u64,
}

struct OpenFile {
    file: FatFile,
    path: Vec<String>,
    flags: u64,
    /// The position (may be past the end, as on Linux).
    pos: u64,
    written: bool,
}

struct OpenDir {
    path: Vec<String>,
    entries: Option<Vec<DirEnt>>,
    next: usize,
}

enum Open {
    File(OpenFile),
    Dir(OpenDir),
}

/// The program's file-system state: the volume (if any), open files and directories (by
/// handle) and the working directory.
pub struct Files {
    volume: Option<Volume>,
    nodes: Vec<Option<Open>>,
    cwd: Vec<String>,
}

/// Maps a `fatfs` error to a Linux errno (`fatfs` 0.3 reports several conditions as
/// `ErrorKind::Other` with a message only).
pub fn errno_of(e: &io::Error) -> Errno {
    match e.kind() {
        io::ErrorKind::NotFound => ENOENT,
        io::ErrorKind::AlreadyExists => EEXIST,
        io::ErrorKind::InvalidInput => EINVAL,
        io::ErrorKind::WriteZero => ENOSPC,
        _ => {
            let msg = e.to_string();
            if msg.contains("No space left") {
                ENOSPC
            } else if msg.contains("not empty") {
                ENOTEMPTY
            } else if msg.contains("too long") {
                ENAMETOOLONG
            } else if msg.contains("unsupported characters") || msg.contains("name is empty") {
                EINVAL
            } else if msg.contains("Is a directory") {
                EISDIR
            } else if msg.contains("Is a file") || msg.contains("Not a directory") {
                ENOTDIR
            } else {
                EIO
            }
        }
    }
}

/// Appends `count` zero bytes at `file`'s position: FAT has no holes, so a write past
/// the end or a growing truncate fills the gap.
fn write_zeros(file: &mut impl Write, count: u64) -> io::Result<()> {
    io::copy(&mut io::repeat(0).take(count), file).map(|_| ())
}

fn ino_of(path: &[String]) -> u64 {
    // FNV-1a over the upper-cased path: FAT names are case-insensitive.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in path {
        for b in c.to_uppercase().bytes().chain(std::iter::once(b'/')) {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    if path.is_empty() { 1 } else { h | 2 }
}

fn same_name(e: &FatEntry, name: &str) -> bool {
    e.file_name().eq_ignore_ascii_case(name) || e.short_file_name().eq_ignore_ascii_case(name)
}

fn same_path(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

fn is_prefix(prefix: &[String], path: &[String]) -> bool {
    prefix.len() <= path.len() && same_path(prefix, &path[..prefix.len()])
}

fn meta_of(e: &FatEntry, path: &[String]) -> Meta {
    let accessed = fatfs::DateTime { date: e.accessed(), time: fatfs::Time { hour: 0, min: 0, sec: 0, millis: 0 } };
    Meta {
        is_dir: e.is_dir(),
        size: if e.is_dir() { 0 } else { e.len() },
        ino: ino_of(path),
        mtime: unix_seconds(&e.modified()),
        atime: unix_seconds(&accessed),
        ctime: unix_seconds(&e.created()),
    }
}

impl Default for Files {
    fn default() -> Self {
        Self::new()
    }
}

impl Files {
    /// No volume, no open files, working directory `/`.
    pub const fn new() -> Self {
        Files { volume: None, nodes: Vec::new(), cwd: Vec::new() }
    }

    /// Makes `volume` the file system at `/` (unmounting any earlier one).
    pub fn attach(&mut self, volume: Volume) {
        self.unmount();
        self.volume = Some(volume);
    }

    /// The mounted volume.
    pub fn volume(&self) -> Option<&Volume> {
        self.volume.as_ref()
    }

    /// Device traffic of the mounted volume so far.
    pub fn io_stats(&self) -> Option<IoStats> {
        self.volume.as_ref().map(|v| v.cache.borrow().stats)
    }

    /// Closes every handle, marks the volume clean (clears its dirty flag), writes
    /// everything back and flushes the device. Returns whether that all succeeded.
    pub fn unmount(&mut self) -> bool {
        let nodes = std::mem::take(&mut self.nodes);
        let mut ok = true;
        for open in nodes.into_iter().flatten() {
            if let Open::File(mut f) = open {
                ok &= f.file.flush().is_ok();
            }
        }
        self.cwd.clear();
        let Some(v) = self.volume.take() else { return ok };
        // SAFETY: every open node (the only `'static` borrows of the file system) was
        // dropped above; `fs` came from `Box::into_raw` at mount and is freed once.
        let fs = unsafe { Box::from_raw(v.fs) };
        ok &= fs.unmount().is_ok();
        ok &= v.cache.borrow_mut().sync().is_ok();
        ok
    }

    fn vol(&self) -> Result<&Volume, Errno> {
        self.volume.as_ref().ok_or(ENOENT)
    }

    fn writable_vol(&self) -> Result<&Volume, Errno> {
        self.volume.as_ref().ok_or(EROFS)
    }

    /// Writes dirty metadata back and flushes the device (after a metadata change).
    fn sync(&self) -> Result<(), Errno> {
        match &self.volume {
            Some(v) => v.cache.borrow_mut().sync().map_err(|e| errno_of(&e)),
            None => Ok(()),
        }
    }

    fn open_ref(&self, handle: u64) -> Result<&Open, Errno> {
        let i = handle.checked_sub(FIRST_HANDLE).ok_or(EBADF)? as usize;
        self.nodes.get(i).and_then(|o| o.as_ref()).ok_or(EBADF)
    }

    fn open_mut(&mut self, handle: u64) -> Result<&mut Open, Errno> {
        let i = handle.checked_sub(FIRST_HANDLE).ok_or(EBADF)? as usize;
        self.nodes.get_mut(i).and_then(|o| o.as_mut()).ok_or(EBADF)
    }

    fn file_mut(&mut self, handle: u64) -> Result<&mut OpenFile, Errno> {
        match self.open_mut(handle)? {
            Open::File(f) => Ok(f),
            Open::Dir(_) => Err(EISDIR),
        }
    }

    /// Whether `handle` is open.
    pub fn is_open(&self, handle: u64) -> bool {
        self.open_ref(handle).is_ok()
    }

    /// Whether `handle` is an open directory (else a file, or not open).
    pub fn is_dir(&self, handle: u64) -> bool {
        matches!(self.open_ref(handle), Ok(Open::Dir(_)))
    }

    fn insert(&mut self, open: Open) -> Result<u64, Errno> {
        let slot = match self.nodes.iter().position(|o| o.is_none()) {
            Some(i) => i,
            None if self.nodes.len() < MAX_OPEN => {
                self.nodes.push(None);
                self.nodes.len() - 1
            }
            None => return Err(EMFILE),
        };
        self.nodes[slot] = Some(open);
        Ok(slot as u64 + FIRST_HANDLE)
    }

    /// Resolves `path` against `base`: [`path::AT_FDCWD`] (the working directory) or the
    /// handle of an open directory (ignored for absolute paths).
    fn resolve(&self, base: i64, path: &[u8]) -> Result<path::Resolved, Errno> {
        let base: &[String] = if path.first() == Some(&b'/') {
            &[]
        } else if base == path::AT_FDCWD {
            &self.cwd
        } else {
            match self.open_ref(base as u64)? {
                Open::Dir(d) => &d.path,
                Open::File(_) => return Err(ENOTDIR),
            }
        };
        path::resolve(base, path)
    }

    /// The directory at `comps` (every component must be a directory).
    fn dir_at(&self, comps: &[String]) -> Result<FatDir, Errno> {
        let mut dir = self.vol()?.fs().root_dir();
        for c in comps {
            let e = Self::find(&dir, c)?.ok_or(ENOENT)?;
            if !e.is_dir() {
                return Err(ENOTDIR);
            }
            dir = e.to_dir();
        }
        Ok(dir)
    }

    fn find(dir: &FatDir, name: &str) -> Result<Option<FatEntry>, Errno> {
        for e in dir.iter() {
            let e = e.map_err(|e| errno_of(&e))?;
            let n = e.file_name();
            if n == "." || n == ".." {
                continue;
            }
            if same_name(&e, name) {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// The parent directory of `comps` and the entry itself (if it exists).
    fn lookup(&self, comps: &[String]) -> Result<(FatDir, Option<FatEntry>), Errno> {
        let (last, parent) = comps.split_last().ok_or(EINVAL)?;
        let dir = self.dir_at(parent)?;
        let e = Self::find(&dir, last)?;
        Ok((dir, e))
    }

    fn is_empty_dir(dir: &FatDir) -> Result<bool, Errno> {
        for e in dir.iter() {
            let e = e.map_err(|e| errno_of(&e))?;
            let n = e.file_name();
            if n != "." && n != ".." {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn busy(&self, comps: &[String]) -> bool {
        self.nodes.iter().flatten().any(|o| match o {
            Open::File(f) => is_prefix(comps, &f.path),
            Open::Dir(_) => false,
        })
    }

    /// `openat`: opens `path` relative to `base` (see [`Files::stat`]) and returns the new
    /// handle ([`Files::is_dir`] tells a directory from a file).
    pub fn open(&mut self, base: i64, path: &[u8], flags: u64) -> Result<u64, Errno> {
        let r = self.resolve(base, path)?;
        let access = flags & O_ACCMODE;
        if access == 3 {
            return Err(EINVAL);
        }
        let writes = access != O_RDONLY;
        if self.volume.is_none() {
            return Err(if flags & O_CREAT != 0 { EROFS } else { ENOENT });
        }
        if r.comps.is_empty() {
            if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
                return Err(EEXIST);
            }
            if writes || flags & O_CREAT != 0 {
                return Err(EISDIR);
            }
            return self.insert(Open::Dir(OpenDir { path: Vec::new(), entries: None, next: 0 }));
        }
        let (dir, entry) = self.lookup(&r.comps)?;
        match entry {
            Some(e) => {
                if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
                    return Err(EEXIST);
                }
                if e.is_dir() {
                    if writes || flags & O_CREAT != 0 {
                        return Err(EISDIR);
                    }
                    return self.insert(Open::Dir(OpenDir { path: r.comps, entries: None, next: 0 }));
                }
                if flags & O_DIRECTORY != 0 || r.trailing_slash {
                    return Err(ENOTDIR);
                }
                let mut file = e.to_file();
                let mut written = false;
                if flags & O_TRUNC != 0 && writes && e.len() > 0 {
                    file.truncate().map_err(|e| errno_of(&e))?;
                    file.flush().map_err(|e| errno_of(&e))?;
                    written = true;
                }
                self.insert(Open::File(OpenFile { file, path: r.comps, flags, pos: 0, written }))
            }
            None => {
                if flags & O_CREAT == 0 {
                    return Err(ENOENT);
                }
                if r.trailing_slash {
                    return Err(EISDIR);
                }
                let name = r.comps.last().expect("not the root");
                let mut file = dir.create_file(name).map_err(|e| errno_of(&e))?;
                file.flush().map_err(|e| errno_of(&e))?;
                self.insert(Open::File(OpenFile { file, path: r.comps, flags, pos: 0, written: false }))
            }
        }
    }

    /// `close`.
    pub fn close(&mut self, handle: u64) -> Result<(), Errno> {
        self.open_ref(handle)?;
        let i = (handle - FIRST_HANDLE) as usize;
        let open = self.nodes[i].take();
        if let Some(Open::File(mut f)) = open {
            // Dropping flushes too, but an error must reach the caller.
            if f.written {
                f.file.flush().map_err(|e| errno_of(&e))?;
            }
        }
        Ok(())
    }

    /// `read` (`at`: `pread64`'s offset, leaving the position alone).
    pub fn read(&mut self, handle: u64, buf: &mut [u8], at: Option<u64>) -> Result<usize, Errno> {
        let f = self.file_mut(handle)?;
        if f.flags & O_ACCMODE == O_WRONLY {
            return Err(EBADF);
        }
        let pos = at.unwrap_or(f.pos);
        let size = f.file.seek(SeekFrom::End(0)).map_err(|e| errno_of(&e))?;
        if pos >= size || buf.is_empty() {
            return Ok(0);
        }
        f.file.seek(SeekFrom::Start(pos)).map_err(|e| errno_of(&e))?;
        let want = buf.len().min((size - pos) as usize);
        let mut done = 0;
        while done < want {
            match f.file.read(&mut buf[done..want]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if done == 0 => return Err(errno_of(&e)),
                Err(_) => break,
            }
        }
        if at.is_none() {
            f.pos = pos + done as u64;
        }
        Ok(done)
    }

    /// `write` (`at`: `pwrite64`'s offset). A partial write (the disk filled up) returns
    /// the bytes written; the next write then fails with `ENOSPC`, as on Linux.
    pub fn write(&mut self, handle: u64, buf: &[u8], at: Option<u64>) -> Result<usize, Errno> {
        let f = self.file_mut(handle)?;
        if f.flags & O_ACCMODE == O_RDONLY {
            return Err(EBADF);
        }
        let size = f.file.seek(SeekFrom::End(0)).map_err(|e| errno_of(&e))?;
        let pos = match at {
            Some(p) => p,
            None if f.flags & O_APPEND != 0 => size,
            None => f.pos,
        };
        if buf.is_empty() {
            return Ok(0);
        }
        if pos.checked_add(buf.len() as u64).is_none_or(|end| end > MAX_FILE_SIZE) {
            return Err(EFBIG);
        }
        f.written = true;
        let result = (|| {
            if pos > size {
                // A hole: FAT has none, so write zeros up to `pos`.
                f.file.seek(SeekFrom::End(0))?;
                write_zeros(&mut f.file, pos - size)?;
            } else {
                f.file.seek(SeekFrom::Start(pos))?;
            }
            let mut done = 0;
            while done < buf.len() {
                match f.file.write(&buf[done..]) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(done)
        })();
        let done = result.map_err(|e| errno_of(&e));
        if let Ok(n) = done
            && at.is_none()
        {
            f.pos = pos + n as u64;
        }
        // Data went to the disk first (whole sectors bypass the cache); now the FAT
        // sectors the write allocated and the directory entry (size, first cluster)
        // follow, so after every write syscall the disk holds a consistent file
        // (docs/fs.md, crash safety). Durability needs fsync.
        let flushed = f.file.flush().map_err(|e| errno_of(&e));
        let done = done?;
        flushed?;
        if done == 0 { Err(ENOSPC) } else { Ok(done) }
    }

    /// `lseek`: returns the new position.
    pub fn lseek(&mut self, handle: u64, offset: i64, whence: u64) -> Result<u64, Errno> {
        match self.open_mut(handle)? {
            Open::File(f) => {
                let base = match whence {
                    SEEK_SET => 0,
                    SEEK_CUR => f.pos,
                    SEEK_END => f.file.seek(SeekFrom::End(0)).map_err(|e| errno_of(&e))?,
                    _ => return Err(EINVAL),
                };
                let pos = base.checked_add_signed(offset).ok_or(EINVAL)?;
                f.pos = pos;
                Ok(pos)
            }
            Open::Dir(d) => {
                // rewinddir/seekdir: the position is an entry index.
                if whence != SEEK_SET || offset < 0 {
                    return Err(EINVAL);
                }
                d.next = offset as usize;
                if offset == 0 {
                    d.entries = None;
                }
                Ok(offset as u64)
            }
        }
    }

    /// `ftruncate`.
    pub fn truncate(&mut self, handle: u64, len: u64) -> Result<(), Errno> {
        let f = match self.open_mut(handle)? {
            Open::File(f) => f,
            Open::Dir(_) => return Err(EINVAL),
        };
        if f.flags & O_ACCMODE == O_RDONLY {
            return Err(EINVAL);
        }
        if len > MAX_FILE_SIZE {
            return Err(EFBIG);
        }
        f.written = true;
        let size = f.file.seek(SeekFrom::End(0)).map_err(|e| errno_of(&e))?;
        let r = (|| {
            if len < size {
                f.file.seek(SeekFrom::Start(len))?;
                f.file.truncate()?;
            } else {
                write_zeros(&mut f.file, len - size)?;
            }
            f.file.flush()
        })();
        r.map_err(|e| errno_of(&e))
    }

    /// `fsync`/`fdatasync`: the file's data, its directory entry and all metadata reach
    /// the disk, and the device's cache is flushed.
    pub fn fsync(&mut self, handle: u64) -> Result<(), Errno> {
        match self.open_mut(handle)? {
            Open::File(f) => f.file.flush().map_err(|e| errno_of(&e))?,
            Open::Dir(_) => {}
        }
        self.sync()
    }

    /// Metadata of an open handle.
    pub fn fstat(&mut self, handle: u64) -> Result<Meta, Errno> {
        let (path, size) = match self.open_mut(handle)? {
            Open::File(f) => (f.path.clone(), Some(f.file.seek(SeekFrom::End(0)).map_err(|e| errno_of(&e))?)),
            Open::Dir(d) => (d.path.clone(), None),
        };
        let mut meta = self.meta(&path).unwrap_or(Meta {
            is_dir: size.is_none(),
            size: 0,
            ino: ino_of(&path),
            mtime: 0,
            atime: 0,
            ctime: 0,
        });
        if let Some(s) = size {
            meta.size = s; // the open file's size is newer than its directory entry
        }
        Ok(meta)
    }

    fn meta(&self, comps: &[String]) -> Result<Meta, Errno> {
        if comps.is_empty() {
            self.vol()?;
            return Ok(Meta { is_dir: true, size: 0, ino: 1, mtime: 0, atime: 0, ctime: 0 });
        }
        let (_, e) = self.lookup(comps)?;
        let e = e.ok_or(ENOENT)?;
        Ok(meta_of(&e, comps))
    }

    /// `newfstatat`/`statx` on a path.
    pub fn stat(&mut self, base: i64, path: &[u8]) -> Result<Meta, Errno> {
        let r = self.resolve(base, path)?;
        let m = self.meta(&r.comps)?;
        if r.trailing_slash && !m.is_dir {
            return Err(ENOTDIR);
        }
        // An open, written file's size is newer than its directory entry.
        for o in self.nodes.iter_mut().flatten() {
            if let Open::File(f) = o
                && same_path(&f.path, &r.comps)
            {
                return Ok(Meta { size: f.file.seek(SeekFrom::End(0)).unwrap_or(m.size), ..m });
            }
        }
        Ok(m)
    }

    /// The next directory entries of `handle` (at most `fit` decides how many fit); the
    /// caller encodes them. `.` and `..` come first, as on Linux.
    pub fn read_dir(&mut self, handle: u64, mut fit: impl FnMut(&DirEnt) -> bool) -> Result<usize, Errno> {
        let (path, loaded) = match self.open_ref(handle)? {
            Open::Dir(d) => (d.path.clone(), d.entries.is_some()),
            Open::File(_) => return Err(ENOTDIR),
        };
        if !loaded {
            let dir = self.dir_at(&path)?;
            let parent = &path[..path.len().saturating_sub(1)];
            let mut entries = vec![
                DirEnt { name: ".".into(), is_dir: true, ino: ino_of(&path) },
                DirEnt { name: "..".into(), is_dir: true, ino: ino_of(parent) },
            ];
            for e in dir.iter() {
                let e = e.map_err(|e| errno_of(&e))?;
                let name = e.file_name();
                if name == "." || name == ".." {
                    continue;
                }
                let mut p = path.clone();
                p.push(name.clone());
                entries.push(DirEnt { name, is_dir: e.is_dir(), ino: ino_of(&p) });
            }
            if let Open::Dir(d) = self.open_mut(handle)? {
                d.entries = Some(entries);
            }
        }
        let Open::Dir(d) = self.open_mut(handle)? else { unreachable!() };
        let entries = d.entries.as_ref().expect("loaded above");
        let mut n = 0;
        while d.next < entries.len() && fit(&entries[d.next]) {
            d.next += 1;
            n += 1;
        }
        Ok(n)
    }

    /// The index the next `read_dir` starts at (`d_off` of the last entry handed out).
    pub fn dir_position(&self, handle: u64) -> usize {
        match self.open_ref(handle) {
            Ok(Open::Dir(d)) => d.next,
            _ => 0,
        }
    }

    /// `mkdirat`.
    pub fn mkdir(&mut self, base: i64, path: &[u8]) -> Result<(), Errno> {
        let r = self.resolve(base, path)?;
        self.writable_vol()?;
        if r.comps.is_empty() {
            return Err(EEXIST);
        }
        let (dir, e) = self.lookup(&r.comps)?;
        if e.is_some() {
            return Err(EEXIST);
        }
        dir.create_dir(r.comps.last().expect("not the root")).map_err(|e| errno_of(&e))?;
        self.vol()?.cache.borrow_mut().repair_dot_entries();
        self.sync()
    }

    /// `unlinkat` (`rmdir`: `AT_REMOVEDIR`).
    pub fn unlink(&mut self, base: i64, path: &[u8], rmdir: bool) -> Result<(), Errno> {
        let r = self.resolve(base, path)?;
        self.vol()?;
        if r.comps.is_empty() {
            return Err(if rmdir { EBUSY } else { EISDIR });
        }
        let (dir, e) = self.lookup(&r.comps)?;
        let e = e.ok_or(ENOENT)?;
        if rmdir {
            if !e.is_dir() {
                return Err(ENOTDIR);
            }
            if !Self::is_empty_dir(&e.to_dir())? {
                return Err(ENOTEMPTY);
            }
        } else if e.is_dir() {
            return Err(EISDIR);
        } else if r.trailing_slash {
            return Err(ENOTDIR);
        }
        if self.busy(&r.comps) {
            return Err(EBUSY);
        }
        dir.remove(&e.file_name()).map_err(|e| errno_of(&e))?;
        self.sync()
    }

    /// `renameat2` (`noreplace`: `RENAME_NOREPLACE`). Replacing an existing destination
    /// removes it first (FAT has no atomic replace; see docs/fs.md).
    pub fn rename(
        &mut self,
        old_base: i64,
        old: &[u8],
        new_base: i64,
        new: &[u8],
        noreplace: bool,
    ) -> Result<(), Errno> {
        let src = self.resolve(old_base, old)?;
        let dst = self.resolve(new_base, new)?;
        self.vol()?;
        if src.comps.is_empty() || dst.comps.is_empty() {
            return Err(EBUSY);
        }
        let (src_dir, se) = self.lookup(&src.comps)?;
        let se = se.ok_or(ENOENT)?;
        if (src.trailing_slash || dst.trailing_slash) && !se.is_dir() {
            return Err(ENOTDIR);
        }
        if same_path(&src.comps, &dst.comps) {
            return if noreplace { Err(EEXIST) } else { Ok(()) };
        }
        if se.is_dir() && is_prefix(&src.comps, &dst.comps) {
            return Err(EINVAL);
        }
        let (dst_dir, de) = self.lookup(&dst.comps)?;
        if self.busy(&src.comps) || self.busy(&dst.comps) {
            return Err(EBUSY);
        }
        if let Some(de) = de {
            if noreplace {
                return Err(EEXIST);
            }
            match (se.is_dir(), de.is_dir()) {
                (false, true) => return Err(EISDIR),
                (true, false) => return Err(ENOTDIR),
                (true, true) if !Self::is_empty_dir(&de.to_dir())? => return Err(ENOTEMPTY),
                _ => {}
            }
            dst_dir.remove(&de.file_name()).map_err(|e| errno_of(&e))?;
        }
        let dst_name = dst.comps.last().expect("not the root");
        if se.is_dir() && !same_path(&src.comps[..src.comps.len() - 1], &dst.comps[..dst.comps.len() - 1]) {
            // fatfs 0.3 would leave the moved directory's `..` pointing at the old parent.
            self.move_dir(&se.to_dir(), &dst_dir, dst_name)?;
            src_dir.remove(&se.file_name()).map_err(|e| errno_of(&e))?;
        } else {
            src_dir.rename(&se.file_name(), &dst_dir, dst_name).map_err(|e| errno_of(&e))?;
        }
        self.sync()
    }

    /// Moves the contents of `src` into a new directory `name` of `parent`, depth
    /// first (files are renamed, so no data is copied); leaves `src` empty.
    fn move_dir(&self, src: &FatDir, parent: &FatDir, name: &str) -> Result<(), Errno> {
        let dst = parent.create_dir(name).map_err(|e| errno_of(&e))?;
        self.vol()?.cache.borrow_mut().repair_dot_entries();
        let children: Vec<FatEntry> =
            src.iter().filter_map(|e| e.ok()).filter(|e| e.file_name() != "." && e.file_name() != "..").collect();
        for child in children {
            let n = child.file_name();
            if child.is_dir() {
                self.move_dir(&child.to_dir(), &dst, &n)?;
                src.remove(&n).map_err(|e| errno_of(&e))?;
            } else {
                src.rename(&n, &dst, &n).map_err(|e| errno_of(&e))?;
            }
        }
        Ok(())
    }

    /// `chdir`.
    pub fn chdir(&mut self, path: &[u8]) -> Result<(), Errno> {
        let r = self.resolve(path::AT_FDCWD, path)?;
        if !self.meta(&r.comps)?.is_dir {
            return Err(ENOTDIR);
        }
        self.cwd = r.comps;
        Ok(())
    }

    /// `fchdir`.
    pub fn fchdir(&mut self, handle: u64) -> Result<(), Errno> {
        match self.open_ref(handle)? {
            Open::Dir(d) => {
                self.cwd = d.path.clone();
                Ok(())
            }
            Open::File(_) => Err(ENOTDIR),
        }
    }

    /// The working directory, e.g. `/` or `/a/b`.
    pub fn cwd(&self) -> String {
        if self.cwd.is_empty() { "/".into() } else { self.cwd.iter().map(|c| format!("/{c}")).collect() }
    }

    /// The `open` flags of a handle (`fcntl(F_GETFL)`).
    pub fn status_flags(&self, handle: u64) -> Result<u64, Errno> {
        match self.open_ref(handle)? {
            Open::File(f) => Ok(f.flags & (O_ACCMODE | O_APPEND)),
            Open::Dir(_) => Ok(O_RDONLY | O_DIRECTORY),
        }
    }

    /// Sets `O_APPEND` of a handle (`fcntl(F_SETFL)`; other bits are ignored).
    pub fn set_status_flags(&mut self, handle: u64, value: u64) -> Result<(), Errno> {
        if let Open::File(f) = self.open_mut(handle)? {
            f.flags = (f.flags & !O_APPEND) | (value & O_APPEND);
        }
        Ok(())
    }

    /// (total, free) bytes of the volume.
    pub fn space(&self) -> Result<(u64, u64), Errno> {
        let s = self.vol()?.fs().stats().map_err(|e| errno_of(&e))?;
        let c = s.cluster_size() as u64;
        Ok((s.total_clusters() as u64 * c, s.free_clusters() as u64 * c))
    }
}

#[cfg(test)]
pub mod testing;
