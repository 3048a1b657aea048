//! virtio-blk over PCI through the legacy (virtio 0.9.5) I/O-port interface, with one
//! polled split virtqueue.
//!
//! QEMU's `virtio-blk-pci` on `-machine pc` is a transitional device (ID 0x1AF4:0x1001)
//! with its legacy registers in I/O BAR 0. The legacy interface needs no capability
//! walk and no MMIO mapping, so it is the simplest correct choice here; a modern-only
//! device (ID 0x1042, no I/O BAR) is reported and left alone. One request is in flight
//! at a time: header, data and status descriptors in slots 0–2, then the driver polls
//! the used ring's index. Data goes through a 64 KiB DMA bounce buffer, so callers'
//! buffers may live anywhere. The legacy register header is a struct of typed ports;
//! the request page and the rings' index words are `#[repr(C)]` structs reached through
//! volatile pointers ([`DmaBuffer::at`]).

use core::mem::{offset_of, size_of};
use core::sync::atomic::{Ordering, fence};
use volatile::VolatileFieldAccess;
use zerocopy::{FromBytes, IntoBytes};

use super::dma::{Deadline, DmaBuffer};
use super::{BlockDevice, BlockError, check_request, for_each_piece};
use crate::drivers::ioport;
use crate::drivers::pci::{self, Bar, PciFunction};

/// virtio's PCI vendor ID.
pub const VENDOR: u16 = 0x1af4;
/// Transitional virtio-blk (legacy interface available).
pub const DEVICE_TRANSITIONAL: u16 = 0x1001;
/// Modern-only virtio-blk.
pub const DEVICE_MODERN: u16 = 0x1042;

const STATUS_ACKNOWLEDGE: u8 = 1;
const STATUS_DRIVER: u8 = 2;
const STATUS_DRIVER_OK: u8 = 4;
const STATUS_FAILED: u8 = 0x80;

/// Feature bit: the device is read-only.
pub const F_RO: u32 = 1 << 5;
/// Feature bit: the device has a write cache and takes VIRTIO_BLK_T_FLUSH.
pub const F_FLUSH: u32 = 1 << 9;

/// Request type: read.
pub const T_IN: u32 = 0;
/// Request type: write.
pub const T_OUT: u32 = 1;
/// Request type: flush the write cache.
pub const T_FLUSH: u32 = 4;

/// Descriptor flag: the chain continues in `next`.
pub const DESC_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer.
pub const DESC_WRITE: u16 = 2;
/// Available-ring flag: do not interrupt (we poll).
const AVAIL_NO_INTERRUPT: u16 = 1;

/// Legacy queues align the used ring to this.
pub const QUEUE_ALIGN: usize = 4096;
/// Size of the data bounce buffer: the largest transfer per request.
const BOUNCE_BYTES: usize = 64 * 1024;
/// How long one request may take (TCG on a busy machine is slow).
const REQUEST_TIMEOUT_MS: u64 = 10_000;

/// One split-virtqueue descriptor, as the device reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes)]
pub struct Descriptor {
    /// Physical address of the buffer.
    pub addr: u64,
    /// Its length in bytes.
    pub len: u32,
    /// [`DESC_NEXT`], [`DESC_WRITE`].
    pub flags: u16,
    /// Index of the next descriptor when `flags` has [`DESC_NEXT`].
    pub next: u16,
}

/// The request header the device reads first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes)]
pub struct RequestHeader {
    /// [`T_IN`], [`T_OUT`] or [`T_FLUSH`].
    pub kind: u32,
    /// Reserved (zero).
    pub reserved: u32,
    /// First sector (512 bytes each, whatever the device's block size).
    pub sector: u64,
}

/// The page a request's header and status byte live in: the device reads the header
/// and writes the status.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, VolatileFieldAccess)]
pub struct Request {
    /// The request header.
    header: RequestHeader,
    /// The status byte: 0 OK, 1 I/O error, 2 unsupported.
    status: u8,
    /// Padding to the header's alignment.
    padding: [u8; 7],
}

/// The first two words of the available and used rings: flags, then the index the
/// producer moves.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, VolatileFieldAccess)]
pub struct RingHeader {
    /// [`AVAIL_NO_INTERRUPT`] in the available ring.
    flags: u16,
    /// Free-running index of the next entry the producer will fill.
    idx: u16,
}

const _: () = {
    assert!(size_of::<Descriptor>() == 16);
    assert!(size_of::<RequestHeader>() == 16);
    assert!(offset_of!(Request, status) == 16);
    assert!(size_of::<RingHeader>() == 4);
};

/// The legacy (virtio 0.9.5 §2.2.2) register header in I/O BAR 0, one typed port per
/// register. Without MSI-X the device-specific configuration (virtio-blk: the
/// capacity) follows at 0x14.
#[derive(Debug)]
struct LegacyRegisters {
    /// Device features (0x00).
    device_features: ioport::ReadOnly<u32>,
    /// Guest (driver) features (0x04).
    guest_features: ioport::WriteOnly<u32>,
    /// Queue address as a 4 KiB page number (0x08).
    queue_pfn: ioport::WriteOnly<u32>,
    /// Queue size (0x0C).
    queue_size: ioport::ReadOnly<u16>,
    /// Queue select (0x0E).
    queue_select: ioport::WriteOnly<u16>,
    /// Queue notify (0x10).
    queue_notify: ioport::WriteOnly<u16>,
    /// Device status (0x12).
    device_status: ioport::WriteOnly<u8>,
    /// ISR status (0x13); reading it acknowledges an interrupt, so it is left alone.
    _isr_status: ioport::ReadOnly<u8>,
    /// virtio-blk capacity in 512-byte sectors, low dword (0x14).
    capacity_low: ioport::ReadOnly<u32>,
    /// virtio-blk capacity, high dword (0x18).
    capacity_high: ioport::ReadOnly<u32>,
}

impl LegacyRegisters {
    /// The registers of the device whose I/O BAR 0 starts at `io`.
    ///
    /// # Safety
    ///
    /// `io` must be the legacy I/O BAR of a virtio device this driver owns, and the
    /// driver must give the device only addresses of its own DMA buffers (as
    /// [`ioport::Register::new`] asks).
    unsafe fn new(io: u16) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe {
            LegacyRegisters {
                device_features: ioport::Register::new(io),
                guest_features: ioport::Register::new(io + 0x04),
                queue_pfn: ioport::Register::new(io + 0x08),
                queue_size: ioport::Register::new(io + 0x0c),
                queue_select: ioport::Register::new(io + 0x0e),
                queue_notify: ioport::Register::new(io + 0x10),
                device_status: ioport::Register::new(io + 0x12),
                _isr_status: ioport::Register::new(io + 0x13),
                capacity_low: ioport::Register::new(io + 0x14),
                capacity_high: ioport::Register::new(io + 0x18),
            }
        }
    }
}

/// Byte offsets of a legacy virtqueue's three parts in its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLayout {
    /// Descriptor table (16 bytes per entry).
    pub desc: usize,
    /// Available ring: flags, idx, ring[size], used_event.
    pub avail: usize,
    /// Used ring, aligned to [`QUEUE_ALIGN`]: flags, idx, ring[size] of (id, len), avail_event.
    pub used: usize,
    /// Total bytes, a whole number of pages.
    pub bytes: usize,
}

/// The legacy layout of a queue of `size` entries (virtio 0.9.5 §2.3).
pub fn queue_layout(size: u16) -> QueueLayout {
    let n = usize::from(size);
    let avail = n * size_of::<Descriptor>();
    let used = (avail + 6 + 2 * n).next_multiple_of(QUEUE_ALIGN);
    QueueLayout { desc: 0, avail, used, bytes: used + (6 + 8 * n).next_multiple_of(QUEUE_ALIGN) }
}

/// The descriptor chain of one request: header, optional data, status byte.
pub fn request_chain(header: u64, data: Option<(u64, u32, bool)>, status: u64) -> ([Descriptor; 3], usize) {
    let mut d = [Descriptor::default(); 3];
    d[0] = Descriptor { addr: header, len: size_of::<RequestHeader>() as u32, flags: DESC_NEXT, next: 1 };
    let mut n = 1;
    if let Some((addr, len, device_writes)) = data {
        d[1] = Descriptor { addr, len, flags: DESC_NEXT | if device_writes { DESC_WRITE } else { 0 }, next: 2 };
        n = 2;
    }
    d[n] = Descriptor { addr: status, len: 1, flags: DESC_WRITE, next: 0 };
    (d, n + 1)
}

/// A virtio-blk disk.
pub struct VirtioBlk {
    function: PciFunction,
    regs: LegacyRegisters,
    queue_size: u16,
    layout: QueueLayout,
    queue: DmaBuffer,
    /// A [`Request`] at offset 0.
    request: DmaBuffer,
    bounce: DmaBuffer,
    avail_idx: u16,
    used_idx: u16,
    sectors: u64,
    flush: bool,
    read_only: bool,
}

impl VirtioBlk {
    /// Whether a PCI function is a virtio-blk device.
    pub fn matches(f: &PciFunction) -> bool {
        f.vendor == VENDOR && (f.device == DEVICE_TRANSITIONAL || f.device == DEVICE_MODERN)
    }

    /// Resets and initialises the device: features, queue 0, DRIVER_OK.
    pub fn new(function: PciFunction) -> Result<Self, &'static str> {
        let Bar::Io(io) = function.bar(0) else {
            return Err("no legacy I/O BAR 0 (modern-only virtio is not supported)");
        };
        function.enable(pci::Command::IO | pci::Command::BUS_MASTER);
        // SAFETY: BAR 0 of a transitional virtio device is its legacy register header,
        // and only this driver uses the device. The only addresses it hands the device
        // (the queue's page, the descriptors' buffers) are of its own DMA buffers, which
        // a reset in `Drop` (or on failure below) stops the device using before they
        // are freed.
        let mut regs = unsafe { LegacyRegisters::new(io) };
        regs.device_status.write(0);
        regs.device_status.write(STATUS_ACKNOWLEDGE);
        regs.device_status.write(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        let offered = regs.device_features.read();
        let accepted = offered & (F_FLUSH | F_RO);
        regs.guest_features.write(accepted);
        regs.queue_select.write(0);
        let queue_size = regs.queue_size.read();
        if queue_size < 3 || !queue_size.is_power_of_two() {
            regs.device_status.write(STATUS_FAILED);
            return Err("queue 0 missing or of a bad size");
        }
        let layout = queue_layout(queue_size);
        let (Some(mut queue), Some(request), Some(bounce)) =
            (DmaBuffer::new(layout.bytes / 4096), DmaBuffer::new(1), DmaBuffer::new(BOUNCE_BYTES / 4096))
        else {
            regs.device_status.write(STATUS_FAILED);
            return Err("out of memory for the virtqueue");
        };
        // The device does not use the queue before its page number is written.
        queue.at::<RingHeader>(layout.avail).flags().write(AVAIL_NO_INTERRUPT);
        regs.queue_pfn.write((queue.addr() / 4096) as u32);
        regs.device_status.write(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK);
        let sectors = u64::from(regs.capacity_low.read()) | (u64::from(regs.capacity_high.read()) << 32);
        Ok(VirtioBlk {
            function,
            regs,
            queue_size,
            layout,
            queue,
            request,
            bounce,
            avail_idx: 0,
            used_idx: 0,
            sectors,
            flush: accepted & F_FLUSH != 0,
            read_only: accepted & F_RO != 0,
        })
    }

    /// Where the device sits on PCI.
    pub fn pci_address(&self) -> pci::PciAddress {
        self.function.address
    }

    /// Whether the device has a write cache that [`BlockDevice::flush`] flushes.
    pub fn has_flush(&self) -> bool {
        self.flush
    }

    /// Submits one request and polls until the device has used it.
    fn submit(&mut self, kind: u32, sector: u64, data: Option<(usize, bool)>) -> Result<(), BlockError> {
        // No request is in flight: the request page, the descriptors and the ring entry
        // are ours until the available index below moves.
        let header = RequestHeader { kind, reserved: 0, sector };
        self.request.at::<Request>(0).write(Request { header, status: 0xff, padding: [0; 7] });
        let status_addr = self.request.addr() + offset_of!(Request, status) as u64;
        let data = data.map(|(len, device_writes)| (self.bounce.addr(), len as u32, device_writes));
        let (chain, n) = request_chain(self.request.addr(), data, status_addr);
        for (i, d) in chain[..n].iter().enumerate() {
            self.queue.at::<Descriptor>(self.layout.desc + size_of::<Descriptor>() * i).write(*d);
        }
        let slot = usize::from(self.avail_idx % self.queue_size);
        let avail_ring = self.layout.avail + size_of::<RingHeader>();
        self.queue.at::<u16>(avail_ring + size_of::<u16>() * slot).write(0);
        fence(Ordering::SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.queue.at::<RingHeader>(self.layout.avail).idx().write(self.avail_idx);
        fence(Ordering::SeqCst);
        self.regs.queue_notify.write(0);
        let expected = self.used_idx.wrapping_add(1);
        let used = self.layout.used;
        Deadline::after_ms(REQUEST_TIMEOUT_MS).wait(|| self.queue.at::<RingHeader>(used).idx().read() == expected)?;
        self.used_idx = expected;
        fence(Ordering::SeqCst);
        // The device has completed the request, so the status byte is final.
        match self.request.at::<Request>(0).status().read() {
            0 => Ok(()),
            status => Err(BlockError::Device(u32::from(status))),
        }
    }
}

impl BlockDevice for VirtioBlk {
    fn driver_name(&self) -> &'static str {
        "virtio-blk"
    }

    fn sector_count(&self) -> u64 {
        self.sectors
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.sectors, lba, buf.len())?;
        for_each_piece(lba, buf.len(), BOUNCE_BYTES, |sector, range| {
            self.submit(T_IN, sector, Some((range.len(), true)))?;
            buf[range.clone()].copy_from_slice(&self.bounce.bytes()[..range.len()]);
            Ok(())
        })
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(self.sectors, lba, buf.len())?;
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        for_each_piece(lba, buf.len(), BOUNCE_BYTES, |sector, range| {
            self.bounce.bytes()[..range.len()].copy_from_slice(&buf[range.clone()]);
            self.submit(T_OUT, sector, Some((range.len(), false)))
        })
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        if self.flush { self.submit(T_FLUSH, 0, None) } else { Ok(()) }
    }
}

impl Drop for VirtioBlk {
    fn drop(&mut self) {
        // A reset stops the device from using the queue before its memory is freed.
        self.regs.device_status.write(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_queue_layout_of_qemus_256_entries() {
        let l = queue_layout(256);
        assert_eq!(l.desc, 0);
        assert_eq!(l.avail, 4096);
        assert_eq!(l.used, 8192);
        assert_eq!(l.bytes, 12288);
        let small = queue_layout(8);
        assert_eq!((small.avail, small.used, small.bytes), (128, 4096, 8192));
        assert_eq!(core::mem::size_of::<Descriptor>(), 16);
        assert_eq!(core::mem::size_of::<RequestHeader>(), 16);
    }

    #[test]
    fn request_chains_mark_device_written_buffers() {
        let (d, n) = request_chain(0x1000, Some((0x2000, 4096, true)), 0x1010);
        assert_eq!(n, 3);
        assert_eq!(d[0], Descriptor { addr: 0x1000, len: 16, flags: DESC_NEXT, next: 1 });
        assert_eq!(d[1], Descriptor { addr: 0x2000, len: 4096, flags: DESC_NEXT | DESC_WRITE, next: 2 });
        assert_eq!(d[2], Descriptor { addr: 0x1010, len: 1, flags: DESC_WRITE, next: 0 });
        let (w, _) = request_chain(0x1000, Some((0x2000, 512, false)), 0x1010);
        assert_eq!(w[1].flags, DESC_NEXT);
        let (f, n) = request_chain(0x1000, None, 0x1010);
        assert_eq!(n, 2);
        assert_eq!(f[0].next, 1);
        assert_eq!(f[1], Descriptor { addr: 0x1010, len: 1, flags: DESC_WRITE, next: 0 });
    }
}
