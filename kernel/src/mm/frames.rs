//! The physical frame allocator: a buddy allocator (`buddy_system_allocator::Heap`)
//! over the free regions, handing out page-aligned blocks of 2^k pages.
//!
//! The buddy heap keeps its free lists inside the free memory itself, so it needs no
//! allocator of its own and works before glibc is up. Physical memory is
//! identity-mapped, so a frame's physical address is also a usable pointer.

use buddy_system_allocator::Heap;
use core::alloc::Layout;
use core::ptr::NonNull;
use spin::Mutex;

use super::regions::{PAGE_SIZE, RegionList};

/// Orders of the buddy heap: blocks up to 2^(ORDER-1) bytes.
const ORDER: usize = 40;

static FRAMES: Mutex<Heap<ORDER>> = Mutex::new(Heap::empty());

/// Hands the free regions to the allocator; returns the bytes it now manages.
///
/// # Safety
/// Every region must be RAM that nothing else uses, identity-mapped and writable, and
/// this must be called once.
pub unsafe fn init(regions: &RegionList) -> u64 {
    let mut heap = FRAMES.lock();
    for r in regions.as_slice() {
        // SAFETY: the caller guarantees the region is free, mapped RAM.
        unsafe { heap.add_to_heap(r.start as usize, r.end as usize) };
    }
    heap.stats_total_bytes() as u64
}

/// Allocates `pages` contiguous frames (rounded up to a power of two), aligned to their
/// size, or `None` when memory is exhausted.
pub fn alloc_pages(pages: usize) -> Option<u64> {
    let size = pages.checked_next_power_of_two()?.checked_mul(PAGE_SIZE as usize)?;
    let layout = Layout::from_size_align(size, size).ok()?;
    FRAMES.lock().alloc(layout).ok().map(|p| p.as_ptr() as u64)
}

/// Returns frames from [`alloc_pages`].
///
/// # Safety
/// `addr` and `pages` must be exactly those of one earlier `alloc_pages` call whose
/// frames are no longer used.
pub unsafe fn free_pages(addr: u64, pages: usize) {
    let size = pages.next_power_of_two() * PAGE_SIZE as usize;
    let layout = Layout::from_size_align(size, size).expect("valid layout");
    let ptr = NonNull::new(addr as *mut u8).expect("non-null frame");
    // SAFETY: forwarded from the caller's contract.
    unsafe { FRAMES.lock().dealloc(ptr, layout) };
}

/// Allocator statistics: (bytes managed, bytes handed out).
pub fn stats() -> (u64, u64) {
    let heap = FRAMES.lock();
    (heap.stats_total_bytes() as u64, heap.stats_alloc_actual() as u64)
}
