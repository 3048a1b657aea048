//! What every disk driver needs besides its registers: physically contiguous DMA
//! memory from the frame allocator, and deadlines so that no poll loop spins forever.

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

    /// A pointer `offset` bytes in, for volatile access to device-shared structures.
    pub fn ptr<T>(&self, offset: usize) -> *mut T {
        debug_assert!(offset + core::mem::size_of::<T>() <= self.len());
        (self.addr as usize + offset) as *mut T
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
