//! What every disk driver needs besides its registers: physically contiguous DMA
//! memory from the frame allocator, and deadlines so that no poll loop spins forever.

use core::ptr::NonNull;

use volatile::VolatilePtr;
use zerocopy::{FromBytes, IntoBytes};

use crate::arch::x86_64::tsc;
use crate::mm::frames;
use crate::mm::regions::PAGE_SIZE;

use super::BlockError;

/// Identity-mapped, zeroed, physically contiguous memory owned by one driver (the
/// virtqueue, a command list, a bounce buffer). Returned to the frame allocator on drop.
pub struct DmaBuffer {
    addr: u64,
    pages: usize,
}

impl DmaBuffer {
    /// `pages` zeroed pages aligned to their (power-of-two rounded) size, or `None` when
    /// memory is exhausted.
    pub fn new(pages: usize) -> Option<Self> {
        let addr = frames::alloc_pages(pages)?;
        // SAFETY: the allocator just handed out these identity-mapped, writable frames.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, pages * PAGE_SIZE as usize) };
        Some(DmaBuffer { addr, pages })
    }

    /// Physical (= virtual) address of the first byte.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.pages * PAGE_SIZE as usize
    }

    /// Whether the buffer has no bytes (never: it holds at least one page).
    pub fn is_empty(&self) -> bool {
        self.pages == 0
    }

    /// The bytes, for the CPU side of a transfer.
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: this buffer exclusively owns `len()` mapped bytes at `addr`; devices
        // only touch them while a request the driver waits for is in flight.
        unsafe { core::slice::from_raw_parts_mut(self.addr as *mut u8, self.len()) }
    }

    /// The `T` at byte `offset`, for volatile access to a structure the device shares
    /// (a virtqueue ring, a command header). `T` must be valid for any bytes the device
    /// writes (`FromBytes`) and have no padding (`IntoBytes`), so that reads and writes
    /// through the pointer are safe.
    ///
    /// Panics if the `T` would not lie inside the buffer or would be misaligned.
    pub fn at<T: FromBytes + IntoBytes>(&mut self, offset: usize) -> VolatilePtr<'_, T> {
        let inside = offset.checked_add(core::mem::size_of::<T>()).is_some_and(|end| end <= self.len());
        assert!(inside, "a DMA structure outside its buffer");
        let addr = self.addr as usize + offset;
        assert!(addr.is_multiple_of(core::mem::align_of::<T>()), "a misaligned DMA structure");
        let ptr = NonNull::new(addr as *mut T).expect("DMA memory is never at address 0");
        // SAFETY: the `T` lies inside (asserted) the identity-mapped frames this buffer
        // owns, aligned (asserted); `&mut self` keeps other CPU-side access away while
        // the pointer lives. Any bit pattern is a `T` (`FromBytes`), so whatever the
        // device wrote reads back as a valid value.
        unsafe { VolatilePtr::new(ptr) }
    }
}

impl Drop for DmaBuffer {
    fn drop(&mut self) {
        // SAFETY: `addr`/`pages` are those of our `alloc_pages` call; drivers stop their
        // device before dropping its buffers, so nothing uses the frames any more.
        unsafe { frames::free_pages(self.addr, self.pages) };
    }
}

/// A point in time (TSC) after which a poll loop gives up with [`BlockError::Timeout`].
#[derive(Clone, Copy, Debug)]
pub struct Deadline(u64);

impl Deadline {
    /// `ms` milliseconds from now (needs the calibrated TSC; 1 GHz assumed before).
    pub fn after_ms(ms: u64) -> Self {
        let hz = match tsc::tsc_hz() {
            0 => 1_000_000_000,
            hz => hz,
        };
        Deadline(tsc::rdtsc().saturating_add(hz / 1000 * ms))
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        tsc::rdtsc() > self.0
    }

    /// Polls `done` until it returns true or the deadline passes.
    pub fn wait(&self, mut done: impl FnMut() -> bool) -> Result<(), BlockError> {
        loop {
            if done() {
                return Ok(());
            }
            if self.passed() {
                return if done() { Ok(()) } else { Err(BlockError::Timeout) };
            }
            core::hint::spin_loop();
        }
    }
}
