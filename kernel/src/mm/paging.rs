//! The kernel's own page tables: the first 4 GiB identity-mapped, 2 MiB pages split to
//! 4 KiB on demand, real permissions (NX via EFER.NXE, read-only enforced at CPL 0 via
//! CR0.WP), and the program's memory: 4 KiB pages at [`PROGRAM_BASE`]..[`PROGRAM_END`],
//! each backed by any free frame, so a mapping needs no contiguous physical memory.
//!
//! Stage2's tables map everything read-write-execute. These replace them: the null
//! page is unmapped, kernel text is read+execute, kernel read-only data is read-only,
//! everything else is read+write, no execute. `mmap`/`mprotect` change permissions
//! here (W^X for JIT code later), and the syscall layer checks user pointers with
//! [`accessible`] before touching them.

use spin::Mutex;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr3, Efer, EferFlags};

use linux_abi::mman::{PROT_EXEC, PROT_READ, PROT_WRITE};

use super::frames;

/// Bytes per small page.
pub const PAGE_SIZE: u64 = 4096;
/// Bytes per large (PD-level) page.
pub const LARGE_PAGE_SIZE: u64 = 2 << 20;
/// Everything identity-mapped: the first 4 GiB (stage2's identity map covers the same).
pub const MAPPED_LIMIT: u64 = 4 << 30;
/// Start of the program's memory (brk heap, stack, `mmap`): PML4 entry 1, 512 GiB.
pub const PROGRAM_BASE: u64 = 1 << 39;
/// End of the program's memory (exclusive): 1 TiB.
pub const PROGRAM_END: u64 = 2 << 39;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const ACCESSED: u64 = 1 << 5;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
const LEAF_FLAGS: u64 = PRESENT | WRITABLE | NO_EXECUTE;

/// What a page allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Not mapped: any access faults.
    None,
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
    /// Read and execute.
    ReadExecute,
    /// Read, write and execute (only if asked for explicitly).
    ReadWriteExecute,
}

impl Access {
    /// From `PROT_*` bits (`PROT_WRITE` or `PROT_EXEC` alone still imply read, as on
    /// x86 Linux).
    pub fn from_prot(prot: u64) -> Access {
        match (prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0, prot & PROT_WRITE != 0, prot & PROT_EXEC != 0) {
            (false, _, _) => Access::None,
            (true, false, false) => Access::Read,
            (true, true, false) => Access::ReadWrite,
            (true, false, true) => Access::ReadExecute,
            (true, true, true) => Access::ReadWriteExecute,
        }
    }

    fn bits(self) -> u64 {
        match self {
            Access::None => 0,
            Access::Read => PRESENT | NO_EXECUTE,
            Access::ReadWrite => PRESENT | WRITABLE | NO_EXECUTE,
            Access::ReadExecute => PRESENT,
            Access::ReadWriteExecute => PRESENT | WRITABLE,
        }
    }
}

/// Physical address of the PML4; `None` until [`init`].
static PML4: Mutex<Option<u64>> = Mutex::new(None);

fn table(addr: u64) -> &'static mut [u64; 512] {
    // SAFETY: page-table pages are identity-mapped frames owned by this module, and the
    // PML4 lock (held by every caller) serialises access.
    unsafe { &mut *(addr as *mut [u64; 512]) }
}

fn new_table() -> u64 {
    try_new_table().expect("memory for page tables")
}

fn try_new_table() -> Option<u64> {
    let page = frames::alloc_pages(1)?;
    table(page).fill(0);
    Some(page)
}

/// Index of `addr` in the table of the level that translates bits `shift..shift+9`.
fn index(addr: u64, shift: u32) -> usize {
    ((addr >> shift) & 511) as usize
}

/// Builds the page tables, enables NXE and WP, and loads CR3.
///
/// `kernel` lists the kernel image's segments as (start, end, access); the null page
/// becomes unmapped. Needs the frame allocator.
pub fn init(kernel: &[(u64, u64, Access)]) {
    let mut pml4_slot = PML4.lock();
    let pml4 = new_table();
    let pdpt = new_table();
    table(pml4)[0] = pdpt | PRESENT | WRITABLE;
    for gib in 0..(MAPPED_LIMIT >> 30) {
        let pd = new_table();
        table(pdpt)[gib as usize] = pd | PRESENT | WRITABLE;
        for (i, e) in table(pd).iter_mut().enumerate() {
            *e = ((gib << 30) + i as u64 * LARGE_PAGE_SIZE) | LEAF_FLAGS | HUGE;
        }
    }
    set_range_locked(pml4, 0, PAGE_SIZE, Access::None);
    for &(start, end, access) in kernel {
        set_range_locked(pml4, start & !(PAGE_SIZE - 1), end.next_multiple_of(PAGE_SIZE), access);
    }
    // SAFETY: NXE is needed before any entry with bit 63 is used; WP makes CPL 0 respect
    // read-only pages. Both only tighten what the kernel may do.
    unsafe {
        Efer::update(|f| f.insert(EferFlags::NO_EXECUTE_ENABLE));
        Cr0::update(|f| f.insert(Cr0Flags::WRITE_PROTECT));
    }
    let (_, cr3_flags) = Cr3::read();
    let frame = x86_64::structures::paging::PhysFrame::containing_address(x86_64::PhysAddr::new(pml4));
    // SAFETY: the new tables identity-map the same first 4 GiB as stage2's, with the
    // kernel's text executable and its stack and data writable, so execution continues.
    unsafe { Cr3::write(frame, cr3_flags) };
    *pml4_slot = Some(pml4);
}

/// Sets the access of every page in `[start, end)` (page-aligned, below 4 GiB),
/// splitting large pages where the range covers only part of one.
pub fn set_range(start: u64, end: u64, access: Access) {
    let pml4 = PML4.lock().expect("paging::init ran");
    set_range_locked(pml4, start, end, access);
    flush_tlb();
}

/// Makes page-table changes visible: reloads CR3, which flushes the TLB's non-global
/// entries (the `*_page` functions leave this to their caller, once per run of pages).
pub fn flush_tlb() {
    let (frame, flags) = Cr3::read();
    // SAFETY: reloading the current CR3 only flushes non-global TLB entries.
    unsafe { Cr3::write(frame, flags) };
}

fn set_range_locked(pml4: u64, start: u64, end: u64, access: Access) {
    assert!(
        start.is_multiple_of(PAGE_SIZE) && end.is_multiple_of(PAGE_SIZE) && end <= MAPPED_LIMIT,
        "bad range {start:#x}-{end:#x}"
    );
    let mut addr = start;
    while addr < end {
        let pd = table(table(table(pml4)[0] & ADDRESS_MASK)[(addr >> 30) as usize] & ADDRESS_MASK);
        let pde = &mut pd[((addr >> 21) & 511) as usize];
        let large_start = addr & !(LARGE_PAGE_SIZE - 1);
        // A whole large page keeps one PDE; unmapping always goes through a page table
        // so that every PDE stays present and unambiguous.
        if *pde & HUGE != 0 && addr == large_start && end - addr >= LARGE_PAGE_SIZE && access != Access::None {
            *pde = large_start | access.bits() | HUGE;
            addr += LARGE_PAGE_SIZE;
            continue;
        }
        split_large_page(pde, large_start);
        let pt = table(*pde & ADDRESS_MASK);
        let pte = &mut pt[((addr >> 12) & 511) as usize];
        *pte = addr | access.bits();
        addr += PAGE_SIZE;
    }
}

/// Replaces a large-page PDE (mapping `large_start`) by a page table of 512 small pages
/// with the same access; does nothing to a PDE that already points to a table.
fn split_large_page(pde: &mut u64, large_start: u64) {
    if *pde & HUGE != 0 {
        let flags = *pde & (PRESENT | WRITABLE | NO_EXECUTE);
        let pt = new_table();
        for (i, e) in table(pt).iter_mut().enumerate() {
            *e = (large_start + i as u64 * PAGE_SIZE) | flags;
        }
        *pde = pt | PRESENT | WRITABLE;
    }
}

/// The small-page PTE of `addr`, splitting its large page first.
fn small_pte(pml4: u64, addr: u64) -> &'static mut u64 {
    let pd = table(table(table(pml4)[0] & ADDRESS_MASK)[(addr >> 30) as usize] & ADDRESS_MASK);
    let pde = &mut pd[((addr >> 21) & 511) as usize];
    split_large_page(pde, addr & !(LARGE_PAGE_SIZE - 1));
    &mut table(*pde & ADDRESS_MASK)[((addr >> 12) & 511) as usize]
}

/// Starts recording which 4 KiB pages of `[start, end)` (page-aligned, below 4 GiB)
/// the CPU touches from now on (the dead-code map, docs/shrink.md): maps them with
/// small pages, keeping their access, and clears their accessed bits.
pub fn track_accesses(start: u64, end: u64) {
    let pml4 = PML4.lock().expect("paging::init ran");
    assert!(start.is_multiple_of(PAGE_SIZE) && end <= MAPPED_LIMIT, "bad range {start:#x}-{end:#x}");
    for addr in (start..end).step_by(PAGE_SIZE as usize) {
        *small_pte(pml4, addr) &= !ACCESSED;
    }
    // The CPU sets an accessed bit when it loads the entry into the TLB.
    flush_tlb();
}

/// For each 4 KiB page of `[start, end)`, whether the CPU set its accessed bit since
/// [`track_accesses`] on the same range.
pub fn accessed_pages(start: u64, end: u64) -> Vec<bool> {
    let pml4 = PML4.lock().expect("paging::init ran");
    (start..end).step_by(PAGE_SIZE as usize).map(|addr| *small_pte(pml4, addr) & ACCESSED != 0).collect()
}

/// The leaf entry (a 2 MiB PDE or a 4 KiB PTE) that maps `addr`, if the tables down to
/// it exist: identity-mapped memory and the program's memory alike.
fn leaf_entry(pml4: u64, addr: u64) -> Option<u64> {
    if addr >= 1 << 47 {
        return None;
    }
    let mut t = pml4;
    for shift in [39, 30] {
        let e = table(t)[index(addr, shift)];
        if e & PRESENT == 0 {
            return None;
        }
        t = e & ADDRESS_MASK;
    }
    let pde = table(t)[index(addr, 21)];
    if pde & PRESENT == 0 || pde & HUGE != 0 {
        return Some(pde);
    }
    Some(table(pde & ADDRESS_MASK)[index(addr, 12)])
}

/// The access of the page holding `addr` (`Access::None` where nothing is mapped).
pub fn access_of(addr: u64) -> Access {
    let Some(pml4) = *PML4.lock() else { return Access::ReadWriteExecute };
    match leaf_entry(pml4, addr) {
        Some(leaf) if leaf & PRESENT != 0 => {
            let writable = if leaf & WRITABLE != 0 { PROT_WRITE } else { 0 };
            let executable = if leaf & NO_EXECUTE == 0 { PROT_EXEC } else { 0 };
            Access::from_prot(PROT_READ | writable | executable)
        }
        _ => Access::None,
    }
}

/// The PTE of the program-memory page at `addr`, creating the tables down to it when
/// `create` (`None` if they are missing and not created, or no frame is left for them).
fn program_pte(pml4: u64, addr: u64, create: bool) -> Option<&'static mut u64> {
    assert!((PROGRAM_BASE..PROGRAM_END).contains(&addr) && addr.is_multiple_of(PAGE_SIZE), "bad page {addr:#x}");
    let mut t = pml4;
    for shift in [39, 30, 21] {
        let e = &mut table(t)[index(addr, shift)];
        if *e & PRESENT == 0 {
            if !create {
                return None;
            }
            // Upper levels allow everything; the leaf decides.
            *e = try_new_table()? | PRESENT | WRITABLE;
        }
        t = *e & ADDRESS_MASK;
    }
    Some(&mut table(t)[index(addr, 12)])
}

/// Maps the program-memory page at `addr` to `frame` with `access`; false if no frame
/// was left for a page table. The caller flushes the TLB ([`flush_tlb`]) when done.
pub fn map_program_page(addr: u64, frame: u64, access: Access) -> bool {
    let pml4 = PML4.lock().expect("paging::init ran");
    match program_pte(pml4, addr, true) {
        Some(pte) => {
            *pte = frame | access.bits();
            true
        }
        None => false,
    }
}

/// Unmaps the program-memory page at `addr`; returns the frame it mapped, if any
/// (`Access::None` pages keep their frame until then). The caller flushes the TLB.
pub fn unmap_program_page(addr: u64) -> Option<u64> {
    let pml4 = PML4.lock().expect("paging::init ran");
    let pte = program_pte(pml4, addr, false)?;
    let frame = *pte & ADDRESS_MASK;
    *pte = 0;
    (frame != 0).then_some(frame)
}

/// The frame behind the program-memory page at `addr`, if one is mapped.
pub fn program_frame(addr: u64) -> Option<u64> {
    let pml4 = PML4.lock().expect("paging::init ran");
    let frame = *program_pte(pml4, addr, false)? & ADDRESS_MASK;
    (frame != 0).then_some(frame)
}

/// Gives the program-memory page at `addr`, which has a frame, the access `access`
/// (an `Access::None` page keeps its frame). The caller flushes the TLB.
pub fn protect_program_page(addr: u64, access: Access) {
    let pml4 = PML4.lock().expect("paging::init ran");
    if let Some(pte) = program_pte(pml4, addr, false) {
        *pte = (*pte & ADDRESS_MASK) | access.bits();
    }
}

/// Maps the identity-mapped page at `addr` (below 4 GiB) to `frame` instead, with
/// `access`: the on-demand AOT window ([`boot_protocol::AOT_WINDOW`]). The caller
/// flushes the TLB.
pub fn remap_identity_page(addr: u64, frame: u64, access: Access) {
    assert!(addr < MAPPED_LIMIT && addr.is_multiple_of(PAGE_SIZE), "bad page {addr:#x}");
    let pml4 = PML4.lock().expect("paging::init ran");
    *small_pte(pml4, addr) = frame | access.bits();
}

/// Undoes [`remap_identity_page`]: the page at `addr` is unmapped again (its identity
/// entry, not present); returns the frame it mapped, if it was mapped. The caller
/// flushes the TLB.
pub fn unmap_identity_page(addr: u64) -> Option<u64> {
    let pml4 = PML4.lock().expect("paging::init ran");
    let pte = small_pte(pml4, addr);
    let frame = (*pte & PRESENT != 0).then_some(*pte & ADDRESS_MASK);
    *pte = addr;
    frame
}

/// Whether every byte of `[addr, addr+len)` is mapped, and writable if `write`.
pub fn accessible(addr: u64, len: u64, write: bool) -> bool {
    let Some(end) = addr.checked_add(len) else { return false };
    if len == 0 {
        return false;
    }
    let mut page = addr & !(PAGE_SIZE - 1);
    while page < end {
        match access_of(page) {
            Access::None => return false,
            Access::Read | Access::ReadExecute if write => return false,
            _ => {}
        }
        page += PAGE_SIZE;
    }
    true
}

/// How many bytes from `addr` (at most `max`) are readable without a gap.
pub fn readable_prefix(addr: u64, max: u64) -> u64 {
    let mut n = 0;
    while n < max {
        let at = addr.saturating_add(n);
        if access_of(at) == Access::None {
            break;
        }
        n += PAGE_SIZE - at % PAGE_SIZE;
    }
    n.min(max)
}
