//! A byte-addressed view of one partition of a [`BlockDevice`], with a small write-back
//! sector cache, as `fatfs` wants it (`Read + Write + Seek`).
//!
//! `fatfs` 0.3 does many tiny I/Os (2-byte FAT entries, 32-byte directory entries) and
//! has no buffering of its own, so metadata sectors go through a cache; whole-sector
//! runs (file data, which `fatfs` reads and writes a cluster at a time) bypass it:
//! contiguous data writes are combined into one request of up to 64 KiB, whole-sector
//! reads go through a 64 KiB read-ahead window. Combined data always reaches the device
//! before any metadata is written back, so never after the metadata that points to it.
//! Dirty sectors are written back, in LBA order and merged into runs, when
//! [`SectorCache::write_back`] runs: on `flush` (what `fatfs` calls when a file is
//! flushed — the file-system layer does after every write syscall — or closed) and when
//! the cache is full. [`SectorCache::sync`] also flushes the device's own cache.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;

use crate::drivers::block::{BlockDevice, BlockError, SECTOR_SIZE};

/// Sectors the cache holds before it writes everything back and starts over (256 KiB).
pub const CACHE_SECTORS: usize = 512;

/// Most sectors passed to the device in one call.
const MAX_RUN: usize = 128;

/// Sectors of contiguous file data collected before they go to the device in one
/// request (write combining), and sectors read ahead on a whole-sector read (64 KiB
/// each): `fatfs` moves file data one cluster at a time.
pub const COMBINE_SECTORS: usize = 128;

/// Counters of device traffic, for the benchmark and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Sectors read from the device.
    pub sectors_read: u64,
    /// Sectors written to the device.
    pub sectors_written: u64,
    /// Device flushes.
    pub flushes: u64,
}

/// One cached sector.
pub(super) struct Cached {
    /// The sector's bytes.
    pub(super) data: Box<[u8; SECTOR_SIZE]>,
    /// Changed since it was read or last written back.
    pub(super) dirty: bool,
}

/// The device, the partition window on it and the cached sectors.
pub struct SectorCache {
    device: Box<dyn BlockDevice>,
    first_lba: u64,
    sectors: u64,
    /// The cached sectors by partition-relative sector number.
    pub(super) cached: BTreeMap<u64, Cached>,
    /// Whole-sector data written but not yet sent: (first sector, bytes).
    pending: Option<(u64, Vec<u8>)>,
    /// The last read-ahead window: (first sector, bytes), as on the device.
    ahead: Option<(u64, Vec<u8>)>,
    /// Device traffic so far.
    pub stats: IoStats,
}

fn io_error(e: BlockError) -> io::Error {
    io::Error::other(format!("block device: {e}"))
}

impl SectorCache {
    /// A cache over `sectors` sectors of `device` from `first_lba` on.
    pub fn new(device: Box<dyn BlockDevice>, first_lba: u64, sectors: u64) -> Self {
        SectorCache {
            device,
            first_lba,
            sectors,
            cached: BTreeMap::new(),
            pending: None,
            ahead: None,
            stats: IoStats::default(),
        }
    }

    /// The driver's name.
    pub fn driver_name(&self) -> &'static str {
        self.device.driver_name()
    }

    /// The partition's size in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.sectors * SECTOR_SIZE as u64
    }

    fn device_read(&mut self, sector: u64, buf: &mut [u8]) -> io::Result<()> {
        if sector + (buf.len() / SECTOR_SIZE) as u64 > self.sectors {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the partition's end"));
        }
        for (i, chunk) in buf.chunks_mut(MAX_RUN * SECTOR_SIZE).enumerate() {
            self.device.read_sectors(self.first_lba + sector + (i * MAX_RUN) as u64, chunk).map_err(io_error)?;
        }
        self.stats.sectors_read += (buf.len() / SECTOR_SIZE) as u64;
        Ok(())
    }

    fn device_write(&mut self, sector: u64, buf: &[u8]) -> io::Result<()> {
        if sector + (buf.len() / SECTOR_SIZE) as u64 > self.sectors {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write past the partition's end"));
        }
        let count = (buf.len() / SECTOR_SIZE) as u64;
        if let Some((start, data)) = &self.ahead
            && sector < start + (data.len() / SECTOR_SIZE) as u64
            && *start < sector + count
        {
            self.ahead = None;
        }
        for (i, chunk) in buf.chunks(MAX_RUN * SECTOR_SIZE).enumerate() {
            self.device.write_sectors(self.first_lba + sector + (i * MAX_RUN) as u64, chunk).map_err(io_error)?;
        }
        self.stats.sectors_written += count;
        Ok(())
    }

    /// Sends the combined data run, if any.
    fn flush_pending(&mut self) -> io::Result<()> {
        if let Some((start, data)) = self.pending.take() {
            self.device_write(start, &data)?;
        }
        Ok(())
    }

    /// Sends the combined data run if it overlaps `[sector, sector + count)`.
    fn flush_pending_over(&mut self, sector: u64, count: u64) -> io::Result<()> {
        match &self.pending {
            Some((start, data)) if sector < start + (data.len() / SECTOR_SIZE) as u64 && *start < sector + count => {
                self.flush_pending()
            }
            _ => Ok(()),
        }
    }

    /// Whole sectors from the device, through the read-ahead window: a short read
    /// that misses it reads [`COMBINE_SECTORS`] sectors from `sector` on.
    fn read_ahead(&mut self, sector: u64, out: &mut [u8]) -> io::Result<()> {
        let count = (out.len() / SECTOR_SIZE) as u64;
        if let Some((start, data)) = &self.ahead
            && sector >= *start
            && sector + count <= start + (data.len() / SECTOR_SIZE) as u64
        {
            let at = (sector - start) as usize * SECTOR_SIZE;
            out.copy_from_slice(&data[at..at + out.len()]);
            return Ok(());
        }
        if out.len() >= COMBINE_SECTORS * SECTOR_SIZE || sector + count > self.sectors {
            return self.device_read(sector, out);
        }
        let window = (COMBINE_SECTORS as u64).min(self.sectors - sector) as usize;
        let mut data = vec![0u8; window * SECTOR_SIZE];
        self.device_read(sector, &mut data)?;
        out.copy_from_slice(&data[..out.len()]);
        self.ahead = Some((sector, data));
        Ok(())
    }

    /// The cached copy of `sector`, read from the device on a miss.
    fn sector(&mut self, sector: u64) -> io::Result<&mut Cached> {
        if !self.cached.contains_key(&sector) {
            self.flush_pending_over(sector, 1)?;
            if self.cached.len() >= CACHE_SECTORS {
                self.write_back()?;
                self.cached.clear();
            }
            let mut data = Box::new([0u8; SECTOR_SIZE]);
            self.device_read(sector, &mut data[..])?;
            self.cached.insert(sector, Cached { data, dirty: false });
        }
        Ok(self.cached.get_mut(&sector).expect("just inserted"))
    }

    /// Sends the combined data run, then writes every dirty sector back (in LBA order,
    /// adjacent ones in one request).
    pub fn write_back(&mut self) -> io::Result<()> {
        // Data first: the metadata written below may point at it.
        self.flush_pending()?;
        let dirty: Vec<u64> = self.cached.iter().filter(|(_, c)| c.dirty).map(|(&s, _)| s).collect();
        let mut i = 0;
        while i < dirty.len() {
            let start = dirty[i];
            let mut run = Vec::with_capacity(SECTOR_SIZE);
            while i < dirty.len()
                && dirty[i] == start + (run.len() / SECTOR_SIZE) as u64
                && run.len() < MAX_RUN * SECTOR_SIZE
            {
                run.extend_from_slice(&self.cached[&dirty[i]].data[..]);
                i += 1;
            }
            self.device_write(start, &run)?;
            for s in start..start + (run.len() / SECTOR_SIZE) as u64 {
                self.cached.get_mut(&s).expect("dirty sector is cached").dirty = false;
            }
        }
        Ok(())
    }

    /// Writes every dirty sector back and flushes the device's cache: after this,
    /// everything written so far is durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.write_back()?;
        self.device.flush().map_err(io_error)?;
        self.stats.flushes += 1;
        Ok(())
    }

    /// Whether some written data or cached sector has not reached the device yet.
    pub fn has_dirty(&self) -> bool {
        self.pending.is_some() || self.cached.values().any(|c| c.dirty)
    }

    /// Repairs the directory `fatfs` 0.3 just created: it writes a long-name entry in
    /// front of `.` and of `..` (`[LFN][.][LFN][..]`), which `fsck.fat` rejects ("Expected
    /// a valid '.' entry in this slot"). The new directory's first sector was just
    /// written through the cache; this rewrites it as `[.][..]` followed by free slots
    /// and marks it dirty. Returns how many sectors it repaired (1 after a `create_dir`).
    pub fn repair_dot_entries(&mut self) -> usize {
        const LFN_ATTR: u8 = 0x0F;
        let mut repaired = 0;
        for c in self.cached.values_mut() {
            let d = &mut c.data;
            let is_lfn = |e: &[u8]| e[11] == LFN_ATTR && e[0] == 0x41;
            if is_lfn(&d[0..32]) && &d[32..43] == b".          " && is_lfn(&d[64..96]) && &d[96..107] == b"..         "
            {
                d.copy_within(32..64, 0);
                d.copy_within(96..128, 32);
                d[64..128].fill(0);
                c.dirty = true;
                repaired += 1;
            }
        }
        repaired
    }

    /// Reads `buf.len()` bytes at byte `offset` of the partition.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let span = Span::at(offset + done as u64, buf.len() - done);
            let out = &mut buf[done..done + span.len];
            if span.whole {
                // Whole sectors: straight from the device, then newer cached copies on top.
                self.flush_pending_over(span.sector, span.sectors())?;
                self.read_ahead(span.sector, out)?;
                for (&s, c) in self.cached.range(span.sector..span.sector + span.sectors()) {
                    let at = (s - span.sector) as usize * SECTOR_SIZE;
                    out[at..at + SECTOR_SIZE].copy_from_slice(&c.data[..]);
                }
            } else {
                let c = self.sector(span.sector)?;
                out.copy_from_slice(&c.data[span.within..span.within + span.len]);
            }
            done += span.len;
        }
        Ok(())
    }

    /// Queues whole sectors of data: appended to the pending run when they continue
    /// it, sent at once when the run is full or they start elsewhere.
    fn combine(&mut self, sector: u64, data: &[u8]) -> io::Result<()> {
        let count = (data.len() / SECTOR_SIZE) as u64;
        if sector + count > self.sectors {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write past the partition's end"));
        }
        let continues =
            matches!(&self.pending, Some((start, run)) if start + (run.len() / SECTOR_SIZE) as u64 == sector);
        if !continues {
            self.flush_pending_over(sector, count)?;
            self.flush_pending()?;
        }
        if let Some((start, data_ahead)) = &self.ahead
            && sector < start + (data_ahead.len() / SECTOR_SIZE) as u64
            && *start < sector + count
        {
            self.ahead = None;
        }
        match &mut self.pending {
            Some((_, run)) => run.extend_from_slice(data),
            None => self.pending = Some((sector, data.to_vec())),
        }
        if self.pending.as_ref().is_some_and(|(_, run)| run.len() >= COMBINE_SECTORS * SECTOR_SIZE) {
            self.flush_pending()?;
        }
        Ok(())
    }

    /// Writes `buf` at byte `offset` of the partition.
    pub fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let span = Span::at(offset + done as u64, buf.len() - done);
            let data = &buf[done..done + span.len];
            if span.whole {
                self.combine(span.sector, data)?;
                // Cached copies are now stale: the device holds the newest bytes.
                let stale: Vec<u64> =
                    self.cached.range(span.sector..span.sector + span.sectors()).map(|(&s, _)| s).collect();
                for s in stale {
                    self.cached.remove(&s);
                }
            } else {
                let c = self.sector(span.sector)?;
                c.data[span.within..span.within + span.len].copy_from_slice(data);
                c.dirty = true;
            }
            done += span.len;
        }
        Ok(())
    }
}

/// One step of a byte-range access to the partition: whole sectors when the position
/// is sector-aligned and at least a sector is left, otherwise the part of one sector
/// up to its end (or the range's).
struct Span {
    /// The first sector touched.
    sector: u64,
    /// Byte offset inside that sector (0 for whole sectors).
    within: usize,
    /// Bytes this step covers.
    len: usize,
    /// Whether the step is whole sectors.
    whole: bool,
}

impl Span {
    /// The next step at byte `pos` with `left` bytes still to go.
    fn at(pos: u64, left: usize) -> Span {
        let sector = pos / SECTOR_SIZE as u64;
        let within = (pos % SECTOR_SIZE as u64) as usize;
        if within == 0 && left >= SECTOR_SIZE {
            Span { sector, within, len: left / SECTOR_SIZE * SECTOR_SIZE, whole: true }
        } else {
            Span { sector, within, len: left.min(SECTOR_SIZE - within), whole: false }
        }
    }

    /// Sectors a whole-sector step covers.
    fn sectors(&self) -> u64 {
        (self.len / SECTOR_SIZE) as u64
    }
}

/// A shared handle on a [`SectorCache`]: `fatfs` owns one (through [`PartitionIo`]),
/// the file-system layer keeps another to write back and sync between calls.
pub type SharedCache = Rc<RefCell<SectorCache>>;

/// The `Read + Write + Seek` stream `fatfs` runs on: a position over a shared cache.
pub struct PartitionIo {
    cache: SharedCache,
    position: u64,
}

impl PartitionIo {
    /// A stream at byte 0 of the partition.
    pub fn new(cache: SharedCache) -> Self {
        PartitionIo { cache, position: 0 }
    }

    fn clamp(&self, len: usize) -> usize {
        let size = self.cache.borrow().len_bytes();
        len.min(usize::try_from(size.saturating_sub(self.position)).unwrap_or(usize::MAX))
    }
}

impl Read for PartitionIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.clamp(buf.len());
        self.cache.borrow_mut().read_at(self.position, &mut buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Write for PartitionIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.clamp(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write past the partition's end"));
        }
        self.cache.borrow_mut().write_at(self.position, &buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }

    /// `fatfs` calls this when a file is flushed or closed: dirty sectors go to the
    /// device. Durability (the device's own cache flush) is [`SectorCache::sync`], which
    /// the file-system layer calls on fsync, metadata changes and unmount.
    fn flush(&mut self) -> io::Result<()> {
        self.cache.borrow_mut().write_back()
    }
}

impl Seek for PartitionIo {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let size = self.cache.borrow().len_bytes();
        let target = match to {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
            SeekFrom::End(d) => size.checked_add_signed(d),
        };
        self.position = target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::block::{RamDisk, SharedRamDisk};

    fn cache() -> SectorCache {
        SectorCache::new(Box::new(RamDisk::new(64)), 8, 32)
    }

    #[test]
    fn partial_and_whole_sector_io_round_trip() {
        let mut c = cache();
        c.write_at(3, b"hello").unwrap();
        let big: Vec<u8> = (0..2048u32).map(|i| i as u8).collect();
        c.write_at(1024, &big).unwrap();
        c.write_at(1030, b"XY").unwrap(); // cached on top of a direct write
        let mut back = vec![0u8; 2048];
        c.read_at(1024, &mut back).unwrap();
        assert_eq!(&back[6..8], b"XY");
        assert_eq!(&back[..6], &big[..6]);
        let mut h = [0u8; 5];
        c.read_at(3, &mut h).unwrap();
        assert_eq!(&h, b"hello");
        assert!(c.has_dirty());
        c.sync().unwrap();
        assert!(!c.has_dirty());
        assert_eq!(c.stats.flushes, 1);
        // After a direct overwrite the cached copy is gone, not stale.
        c.write_at(1024, &[0u8; 512]).unwrap();
        let mut z = [1u8; 2];
        c.read_at(1030, &mut z).unwrap();
        assert_eq!(z, [0, 0]);
    }

    /// Random partial and whole-sector reads and writes, write-backs and syncs against
    /// a plain byte array: the cache (combining, read-ahead, eviction) never returns
    /// stale bytes, and after a write-back the device holds exactly the model.
    #[test]
    fn random_io_matches_a_plain_model() {
        let shared = SharedRamDisk::new(1100);
        let disk = shared.0.clone();
        let sectors = 1000u64;
        let mut c = SectorCache::new(Box::new(shared), 100, sectors);
        let size = sectors as usize * SECTOR_SIZE;
        let mut model = vec![0u8; size];
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for round in 0..4000 {
            let whole = next(2) == 0;
            let (offset, len) = if whole {
                let s = next(sectors - 1);
                let n = 1 + next((sectors - s).min(300));
                (s as usize * SECTOR_SIZE, n as usize * SECTOR_SIZE)
            } else {
                let o = next(size as u64 - 1) as usize;
                (o, 1 + next(((size - o) as u64).min(3000)) as usize)
            };
            match next(10) {
                0..=4 => {
                    let data: Vec<u8> = (0..len).map(|i| (i as u64 ^ round) as u8).collect();
                    c.write_at(offset as u64, &data).unwrap();
                    model[offset..offset + len].copy_from_slice(&data);
                }
                5..=8 => {
                    let mut out = vec![0u8; len];
                    c.read_at(offset as u64, &mut out).unwrap();
                    assert!(out == model[offset..offset + len], "round {round}: read {offset}+{len}");
                }
                _ => {
                    c.write_back().unwrap();
                    assert!(!c.has_dirty());
                    let d = disk.lock().unwrap();
                    assert!(d.bytes[100 * SECTOR_SIZE..1100 * SECTOR_SIZE] == model[..], "round {round}");
                }
            }
        }
    }

    #[test]
    fn contiguous_data_goes_out_in_large_requests() {
        let mut c = cache_of(4096);
        for i in 0..64u64 {
            c.write_at(i * 2048, &[i as u8; 2048]).unwrap(); // 64 clusters of 4 sectors
        }
        c.write_back().unwrap();
        assert_eq!(c.stats.sectors_written, 256);
        let mut back = vec![0u8; 2048];
        for i in 0..64u64 {
            c.read_at(i * 2048, &mut back).unwrap();
            assert!(back.iter().all(|&b| b == i as u8));
        }
        // 256 sectors read in 64 KiB windows, not 64 requests of 4 sectors.
        assert_eq!(c.stats.sectors_read, 256);
    }

    fn cache_of(sectors: u64) -> SectorCache {
        SectorCache::new(Box::new(RamDisk::new(sectors)), 0, sectors)
    }

    #[test]
    fn stays_inside_the_partition() {
        let mut c = cache();
        assert!(c.write_at(32 * 512, &[0u8; 512]).is_err());
        let mut io = PartitionIo::new(Rc::new(RefCell::new(cache())));
        io.seek(SeekFrom::End(-2)).unwrap();
        assert_eq!(io.write(b"abcd").unwrap(), 2);
        assert!(io.write(b"x").is_err());
        assert!(io.seek(SeekFrom::Current(-100_000)).is_err());
    }
}
