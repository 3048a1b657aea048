//! The program's memory on bare metal: the brk heap, anonymous mappings and the main
//! stack, in the program region of the address space ([`paging::PROGRAM_BASE`]..
//! [`paging::PROGRAM_END`]), each 4 KiB page backed by its own frame from the buddy
//! allocator, with permissions in the kernel's page tables.
//!
//! Pages are mapped to whatever frames are free, so a mapping of any size needs only
//! that many free frames, not a contiguous run of them: a long-running program that
//! maps and unmaps a lot (the JIT) cannot fragment itself out of memory. The layout:
//!
//! | region | addresses | grows |
//! | --- | --- | --- |
//! | brk heap | 512 GiB .. 576 GiB | up, page by page with the break |
//! | main stack | below 640 GiB, a guard page under it | fixed at start |
//! | `mmap` | 640 GiB .. 1 TiB | first fit; freed ranges are reused |
//!
//! The kernel image stays in the identity-mapped first 4 GiB (glibc write-protects its
//! RELRO part with `mprotect`). The AOT apps' statics, linked into a window of their
//! own ([`boot_protocol::AOT_WINDOW`]), get frames only while an AOT app runs
//! ([`map_aot_statics`]). Every frame the program holds is counted, and the highest
//! count is its memory peak ([`peak_bytes`]).

use core::ops::Range;
use spin::Mutex;

use super::frames;
use super::rangeset::RangeSet;
use linux_abi::errno::{EINVAL, ENOMEM, Errno};

use super::paging::{self, Access, PAGE_SIZE, PROGRAM_BASE, PROGRAM_END};

/// How many separate mappings can exist at once.
const MAX_MAPPINGS: usize = 4096;
/// Where the brk heap starts.
const HEAP_BASE: u64 = PROGRAM_BASE;
/// How far the break may move.
const HEAP_LIMIT: u64 = PROGRAM_BASE + (64 << 30);
/// The main stack's top (it grows down from here).
const STACK_TOP: u64 = PROGRAM_BASE + (128 << 30);
/// Where anonymous mappings are placed.
const MAP_AREA: Range<u64> = STACK_TOP..PROGRAM_END;

struct AddressSpace {
    /// Anonymous mappings (inside `MAP_AREA`).
    maps: RangeSet<MAX_MAPPINGS>,
    /// The current break.
    brk: u64,
    /// End of the heap's mapped pages: `brk` rounded up to a page.
    heap_end: u64,
    /// The main stack (guard page excluded).
    stack: Range<u64>,
    /// The kernel image (glibc write-protects its RELRO part with mprotect).
    image: Range<u64>,
    /// Frames the program holds now, and the most it has held.
    held_pages: u64,
    peak_pages: u64,
}

impl AddressSpace {
    /// The lowest address in the mapping area with `len` free bytes after it.
    fn find_gap(&self, len: u64) -> Option<u64> {
        let mut cursor = MAP_AREA.start;
        for m in self.maps.as_slice() {
            if m.start.saturating_sub(cursor) >= len {
                return Some(cursor);
            }
            cursor = cursor.max(m.end);
        }
        (MAP_AREA.end.saturating_sub(cursor) >= len).then_some(cursor)
    }

    fn gained(&mut self, pages: u64) {
        self.held_pages += pages;
        self.peak_pages = self.peak_pages.max(self.held_pages);
    }
}

static SPACE: Mutex<AddressSpace> = Mutex::new(AddressSpace {
    maps: RangeSet::new(),
    brk: HEAP_BASE,
    heap_end: HEAP_BASE,
    stack: 0..0,
    image: 0..0,
    held_pages: 0,
    peak_pages: 0,
});

fn page_starts(r: Range<u64>) -> impl Iterator<Item = u64> {
    r.step_by(PAGE_SIZE as usize)
}

/// Which page tables a run of pages is mapped in.
#[derive(Clone, Copy)]
enum Place {
    /// The program region ([`paging::PROGRAM_BASE`]..).
    Program,
    /// The AOT apps' statics' window inside the identity map.
    AotWindow,
}

impl Place {
    /// Maps `page` to `frame`; false if no frame was left for a page table.
    fn map(self, page: u64, frame: u64, access: Access) -> bool {
        match self {
            Place::Program => paging::map_program_page(page, frame, access),
            Place::AotWindow => {
                paging::remap_identity_page(page, frame, access);
                true
            }
        }
    }

    /// Unmaps `page`, returning the frame it mapped, if any.
    fn unmap(self, page: u64) -> Option<u64> {
        match self {
            Place::Program => paging::unmap_program_page(page),
            Place::AotWindow => paging::unmap_identity_page(page),
        }
    }
}

/// Backs every page of `r` (page-aligned, unmapped, in `place`) with a zeroed frame and
/// `access`; returns the page count, or `None` (and nothing mapped) when frames run out.
fn map_pages(place: Place, r: Range<u64>, access: Access) -> Option<u64> {
    let mut done = r.start;
    for page in page_starts(r.clone()) {
        let Some(frame) = frames::alloc_pages(1) else { break };
        // SAFETY: the allocator just handed out this identity-mapped, writable frame.
        unsafe { core::ptr::write_bytes(frame as *mut u8, 0, PAGE_SIZE as usize) };
        if !place.map(page, frame, access) {
            // SAFETY: the frame was allocated above and is not mapped anywhere.
            unsafe { frames::free_pages(frame, 1) };
            break;
        }
        done = page + PAGE_SIZE;
    }
    if done < r.end {
        unmap_pages(place, r.start..done);
        return None;
    }
    paging::flush_tlb();
    Some((r.end - r.start) / PAGE_SIZE)
}

/// Unmaps every page of `r` (in `place`) and frees its frame; returns how many frames
/// were freed.
fn unmap_pages(place: Place, r: Range<u64>) -> u64 {
    let mut freed = 0;
    for page in page_starts(r) {
        if let Some(frame) = place.unmap(page) {
            // SAFETY: the frame backed this page alone, and the page is unmapped now.
            unsafe { frames::free_pages(frame, 1) };
            freed += 1;
        }
    }
    paging::flush_tlb();
    freed
}

/// Sets the access of every page of `r` (program memory that has frames).
fn protect_pages(r: Range<u64>, access: Access) {
    for page in page_starts(r) {
        paging::protect_program_page(page, access);
    }
    paging::flush_tlb();
}

/// Sets up the program's memory: an empty brk heap and a main stack of `stack_bytes`
/// whose lowest page is the guard page. Returns the stack range, or `None` if there are
/// not enough frames for it.
pub fn init(stack_bytes: u64, image: Range<u64>) -> Option<Range<u64>> {
    let mut s = SPACE.lock();
    let stack = STACK_TOP - stack_bytes + PAGE_SIZE..STACK_TOP;
    let pages = map_pages(Place::Program, stack.clone(), Access::ReadWrite)?;
    s.gained(pages);
    s.stack = stack.clone();
    s.image = image;
    Some(stack)
}

unsafe extern "C" {
    /// Start of the AOT apps' statics (`linker.ld`'s `.aot_bss`).
    static __bf_aot_bss_start: u8;
    /// End of the AOT apps' statics, page-aligned.
    static __bf_aot_bss_end: u8;
}

/// All AOT apps' statics: where the linker put them, inside the on-demand window.
pub fn aot_statics() -> Range<u64> {
    (&raw const __bf_aot_bss_start as u64)..(&raw const __bf_aot_bss_end as u64)
}

/// Backs `range` (one app's statics: page-aligned, inside [`aot_statics`]) with zeroed
/// frames, read-write, for one AOT run; false (nothing mapped) if it is not such a
/// range or there are not enough free frames.
pub fn map_aot_statics(range: Range<u64>) -> bool {
    let window = aot_statics();
    if range.start < window.start || range.end > window.end || !range.start.is_multiple_of(PAGE_SIZE) {
        return false;
    }
    let mut s = SPACE.lock();
    let Some(pages) = map_pages(Place::AotWindow, range, Access::ReadWrite) else { return false };
    s.gained(pages);
    true
}

/// Frees the frames of `range` (mapped by [`map_aot_statics`]) after a run: its pages
/// are unmapped again.
pub fn unmap_aot_statics(range: Range<u64>) {
    let mut s = SPACE.lock();
    s.held_pages -= unmap_pages(Place::AotWindow, range);
}

/// `brk`: moves the break inside the heap region, mapping or freeing the pages between
/// the old and the new break, and zeroing memory it hands out again. Returns the new
/// break, or the old one if there are no frames for the pages it needs.
pub fn brk(addr: u64) -> u64 {
    let mut s = SPACE.lock();
    if !(HEAP_BASE..=HEAP_LIMIT).contains(&addr) {
        return s.brk;
    }
    let end = addr.next_multiple_of(PAGE_SIZE);
    let old_end = s.heap_end;
    if end > old_end {
        let Some(pages) = map_pages(Place::Program, old_end..end, Access::ReadWrite) else { return s.brk };
        s.gained(pages);
    } else if end < old_end {
        s.held_pages -= unmap_pages(Place::Program, end..old_end);
    }
    s.heap_end = end;
    if addr > s.brk {
        // Pages kept across a shrink and a grow may hold old bytes; new ones are zero.
        let dirty_end = addr.min(old_end);
        if dirty_end > s.brk {
            // SAFETY: `[brk, dirty_end)` is mapped read-write heap that the program
            // does not own at this point (it is above the old break).
            unsafe { core::ptr::write_bytes(s.brk as *mut u8, 0, (dirty_end - s.brk) as usize) };
        }
    }
    s.brk = addr;
    s.brk
}

/// An anonymous mapping of `len` bytes (page multiple), zeroed, with `prot`.
pub fn map(len: u64, prot: u64) -> Result<u64, Errno> {
    let mut s = SPACE.lock();
    let addr = s.find_gap(len).ok_or(ENOMEM)?;
    let r = addr..addr + len;
    let pages = map_pages(Place::Program, r.clone(), Access::from_prot(prot)).ok_or(ENOMEM)?;
    if s.maps.insert(r.clone()).is_err() {
        unmap_pages(Place::Program, r);
        return Err(ENOMEM);
    }
    s.gained(pages);
    Ok(addr)
}

/// `MAP_FIXED` over pages this module already mapped: zeroed again, new protection.
pub fn map_fixed(addr: u64, len: u64, prot: u64) -> Result<u64, Errno> {
    let s = SPACE.lock();
    if !s.maps.covers(addr..addr + len) {
        return Err(ENOMEM);
    }
    for page in page_starts(addr..addr + len) {
        let frame = paging::program_frame(page).expect("a mapped page has a frame");
        // SAFETY: the frame backs this mapping alone and is identity-mapped writable.
        unsafe { core::ptr::write_bytes(frame as *mut u8, 0, PAGE_SIZE as usize) };
    }
    protect_pages(addr..addr + len, Access::from_prot(prot));
    Ok(addr)
}

/// Unmaps the mapped pages of `[addr, addr+len)`; pages not mapped are ignored.
pub fn unmap(addr: u64, len: u64) -> Result<(), Errno> {
    let mut s = SPACE.lock();
    let mut freed = 0;
    s.maps.remove(addr..addr + len, |piece| freed += unmap_pages(Place::Program, piece)).map_err(|_| ENOMEM)?;
    s.held_pages -= freed;
    Ok(())
}

/// Changes the protection of `[addr, addr+len)`: mappings, the brk heap, the stack or
/// the kernel image's data.
pub fn protect(addr: u64, len: u64, prot: u64) -> Result<(), Errno> {
    let s = SPACE.lock();
    let r = addr..addr + len;
    let inside = |x: &Range<u64>| x.start <= r.start && r.end <= x.end;
    if s.maps.covers(r.clone()) || inside(&(HEAP_BASE..s.heap_end)) || inside(&s.stack) {
        protect_pages(r, Access::from_prot(prot));
        return Ok(());
    }
    if !inside(&s.image) {
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
    (s.maps.total(), s.brk - HEAP_BASE)
}

/// The most memory the program has held at once: its heap, stack and mappings, in
/// bytes of frames (page tables not included).
pub fn peak_bytes() -> u64 {
    SPACE.lock().peak_pages * PAGE_SIZE
}
