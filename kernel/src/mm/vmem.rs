//! The program's memory on bare metal: the brk heap, anonymous mappings and the main
//! stack, all identity-mapped frames from the buddy allocator with permissions in the
//! kernel's page tables.
//!
//! Memory is identity-mapped, so a mapping's address is its frames' physical address.
//! A mapping of n pages takes a 2^k-page buddy block and returns the unused tail at
//! once; unmapping frees page runs as naturally aligned power-of-two chunks, so any
//! page-aligned part of a mapping can be unmapped. Free frames stay mapped read-write
//! (the buddy allocator keeps its free lists inside them).

use core::ops::Range;
use spin::Mutex;

use super::frames;
use super::rangeset::RangeSet;
use linux_abi::errno::{EINVAL, ENOMEM, Errno};

use super::paging::{self, Access, PAGE_SIZE};

/// How many separate mappings can exist at once.
const MAX_MAPPINGS: usize = 4096;

struct AddressSpace {
    /// Anonymous mappings.
    maps: RangeSet<MAX_MAPPINGS>,
    /// The region reserved for brk, and the current break within it.
    heap: Range<u64>,
    brk: u64,
    /// The main stack (guard page excluded).
    stack: Range<u64>,
    /// The kernel image (glibc write-protects its RELRO part with mprotect).
    image: Range<u64>,
}

static SPACE: Mutex<AddressSpace> =
    Mutex::new(AddressSpace { maps: RangeSet::new(), heap: 0..0, brk: 0, stack: 0..0, image: 0..0 });

fn pages(bytes: u64) -> usize {
    bytes.div_ceil(PAGE_SIZE) as usize
}

/// Frees the page-aligned run `r` as naturally aligned power-of-two chunks.
fn free_run(r: Range<u64>) {
    let mut at = r.start;
    while at < r.end {
        let mut chunk = PAGE_SIZE << at.trailing_zeros().saturating_sub(12).min(40);
        while at + chunk > r.end {
            chunk >>= 1;
        }
        // SAFETY: `[at, at+chunk)` is an aligned power-of-two run of frames that was
        // handed out by the buddy allocator (inside one block) and is no longer used.
        unsafe { frames::free_pages(at, (chunk / PAGE_SIZE) as usize) };
        at += chunk;
    }
}

/// Allocates `bytes` (page multiple) of contiguous frames, returning the unused tail of
/// the power-of-two block to the allocator.
fn alloc_run(bytes: u64) -> Option<u64> {
    let n = pages(bytes);
    let block = frames::alloc_pages(n)?;
    let block_bytes = n.next_power_of_two() as u64 * PAGE_SIZE;
    free_run(block + bytes..block + block_bytes);
    Some(block)
}

fn zero(r: Range<u64>) {
    // SAFETY: the range is frames this module owns, mapped read-write at this point.
    unsafe { core::ptr::write_bytes(r.start as *mut u8, 0, (r.end - r.start) as usize) };
}

/// Sets up the program's memory: a brk heap of `heap_bytes` and a stack of
/// `stack_bytes` (below it a guard page). Returns the stack range.
pub fn init(heap_bytes: u64, stack_bytes: u64, image: Range<u64>) -> Option<Range<u64>> {
    let mut s = SPACE.lock();
    let heap = frames::alloc_pages(pages(heap_bytes))?;
    let stack_block = alloc_run(stack_bytes + PAGE_SIZE)?;
    paging::set_range(stack_block, stack_block + PAGE_SIZE, Access::None);
    s.heap = heap..heap + heap_bytes;
    s.brk = heap;
    s.stack = stack_block + PAGE_SIZE..stack_block + PAGE_SIZE + stack_bytes;
    s.image = image;
    Some(s.stack.clone())
}

/// `brk`: moves the break inside the heap region, zeroing memory it hands out again.
pub fn brk(addr: u64) -> u64 {
    let mut s = SPACE.lock();
    if addr >= s.heap.start && addr <= s.heap.end {
        if addr > s.brk {
            zero(s.brk..addr);
        }
        s.brk = addr;
    }
    s.brk
}

/// An anonymous mapping of `len` bytes (page multiple), zeroed, with `prot`.
pub fn map(len: u64, prot: u64) -> Result<u64, Errno> {
    let mut s = SPACE.lock();
    let addr = alloc_run(len).ok_or(ENOMEM)?;
    let r = addr..addr + len;
    if s.maps.insert(r.clone()).is_err() {
        free_run(r);
        return Err(ENOMEM);
    }
    zero(r.clone());
    if Access::from_prot(prot) != Access::ReadWrite {
        paging::set_range(r.start, r.end, Access::from_prot(prot));
    }
    Ok(addr)
}

/// `MAP_FIXED` over pages this module already mapped: zeroed again, new protection.
pub fn map_fixed(addr: u64, len: u64, prot: u64) -> Result<u64, Errno> {
    let s = SPACE.lock();
    if !s.maps.covers(addr..addr + len) {
        return Err(ENOMEM);
    }
    paging::set_range(addr, addr + len, Access::ReadWrite);
    zero(addr..addr + len);
    paging::set_range(addr, addr + len, Access::from_prot(prot));
    Ok(addr)
}

/// Unmaps the mapped pages of `[addr, addr+len)`; pages not mapped are ignored.
pub fn unmap(addr: u64, len: u64) -> Result<(), Errno> {
    let mut s = SPACE.lock();
    s.maps
        .remove(addr..addr + len, |piece| {
            paging::set_range(piece.start, piece.end, Access::ReadWrite);
            free_run(piece);
        })
        .map_err(|_| ENOMEM)
}

/// Changes the protection of `[addr, addr+len)`: mappings, the brk heap, the stack or
/// the kernel image's data.
pub fn protect(addr: u64, len: u64, prot: u64) -> Result<(), Errno> {
    let s = SPACE.lock();
    let r = addr..addr + len;
    let inside = |x: &Range<u64>| x.start <= r.start && r.end <= x.end;
    if !(s.maps.covers(r.clone()) || inside(&s.heap) || inside(&s.stack) || inside(&s.image)) {
        return Err(ENOMEM);
    }
    if r.end > paging::MAPPED_LIMIT {
        return Err(EINVAL);
    }
    paging::set_range(r.start, r.end, Access::from_prot(prot));
    Ok(())
}

/// (bytes mapped, bytes of brk heap in use) for the exit report.
pub fn usage() -> (u64, u64) {
    let s = SPACE.lock();
    (s.maps.total(), s.brk - s.heap.start)
}
