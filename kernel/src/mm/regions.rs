//! Turning the E820 map into the list of free physical memory regions. Pure logic,
//! allocation-free (it runs before glibc), unit-tested on the host.

use boot_protocol::bootinfo::{E820_USABLE, E820Entry};
use core::ops::Range;

/// Page size the frame allocator hands out.
pub const PAGE_SIZE: u64 = 4096;
/// Most regions a [`RegionList`] holds; E820 maps have a few dozen entries at most.
pub const MAX_REGIONS: usize = 64;

/// A fixed-capacity list of disjoint, sorted, page-aligned physical ranges.
#[derive(Clone, Debug)]
pub struct RegionList {
    regions: [Range<u64>; MAX_REGIONS],
    len: usize,
    /// Ranges that did not fit (a map with more than [`MAX_REGIONS`] pieces).
    pub dropped: usize,
}

impl Default for RegionList {
    fn default() -> Self {
        Self { regions: [const { 0..0 }; MAX_REGIONS], len: 0, dropped: 0 }
    }
}

fn align_up(x: u64, a: u64) -> u64 {
    x.checked_add(a - 1).map_or(!(a - 1), |v| v & !(a - 1))
}

fn align_down(x: u64, a: u64) -> u64 {
    x & !(a - 1)
}

impl RegionList {
    /// The regions, sorted by address.
    pub fn as_slice(&self) -> &[Range<u64>] {
        &self.regions[..self.len]
    }

    /// Total bytes in all regions.
    pub fn total_bytes(&self) -> u64 {
        self.as_slice().iter().map(|r| r.end - r.start).sum()
    }

    /// Adds a range, keeping the list sorted and merging neighbours and overlaps.
    pub fn add(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        let mut merged = range;
        let mut i = 0;
        while i < self.len {
            let r = &self.regions[i];
            if r.end >= merged.start && r.start <= merged.end {
                merged = merged.start.min(r.start)..merged.end.max(r.end);
                self.remove(i);
            } else {
                i += 1;
            }
        }
        if self.len == MAX_REGIONS {
            self.dropped += 1;
            return;
        }
        let pos = self.as_slice().iter().position(|r| r.start > merged.start).unwrap_or(self.len);
        for j in (pos..self.len).rev() {
            self.regions[j + 1] = self.regions[j].clone();
        }
        self.regions[pos] = merged;
        self.len += 1;
    }

    fn remove(&mut self, i: usize) {
        for j in i..self.len - 1 {
            self.regions[j] = self.regions[j + 1].clone();
        }
        self.len -= 1;
    }

    /// Removes `hole` from every region, splitting where needed.
    pub fn subtract(&mut self, hole: Range<u64>) {
        if hole.start >= hole.end {
            return;
        }
        let mut i = 0;
        while i < self.len {
            let r = self.regions[i].clone();
            if hole.end <= r.start || hole.start >= r.end {
                i += 1;
                continue;
            }
            self.remove(i);
            if r.start < hole.start {
                self.add(r.start..hole.start);
                i += 1;
            }
            if hole.end < r.end {
                self.add(hole.end..r.end);
                i += 1;
            }
        }
    }

    /// Shrinks every region inward to page boundaries, dropping the ones left empty.
    pub fn page_align(&mut self) {
        let mut i = 0;
        while i < self.len {
            let r = self.regions[i].clone();
            let (start, end) = (align_up(r.start, PAGE_SIZE), align_down(r.end, PAGE_SIZE));
            if start >= end {
                self.remove(i);
            } else {
                self.regions[i] = start..end;
                i += 1;
            }
        }
    }
}

/// Free memory: the usable E820 ranges, minus every range the map also reports as not
/// usable (overlapping entries: reserved wins), minus `reserved`, limited to `limit`
/// (memory the kernel can address), page-aligned inward.
pub fn free_regions(map: &[E820Entry], reserved: &[Range<u64>], limit: u64) -> RegionList {
    let mut list = RegionList::default();
    for e in map.iter().filter(|e| e.kind == E820_USABLE && e.ext_attributes & 1 == 1) {
        list.add(e.base..e.base.saturating_add(e.length));
    }
    for e in map.iter().filter(|e| e.kind != E820_USABLE) {
        list.subtract(e.base..e.base.saturating_add(e.length));
    }
    for r in reserved {
        list.subtract(r.clone());
    }
    list.subtract(limit..u64::MAX);
    list.page_align();
    list
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init, reason = "the expected lists of one range are meant")]
mod tests {
    use super::*;

    fn e(base: u64, length: u64, kind: u32) -> E820Entry {
        E820Entry { base, length, kind, ext_attributes: 1 }
    }

    /// QEMU's map for `-m 512M`.
    fn qemu_512m() -> [E820Entry; 4] {
        [e(0, 0x9fc00, 1), e(0x9fc00, 0x400, 2), e(0xf0000, 0x10000, 2), e(0x100000, 0x1fee0000, 1)]
    }

    #[test]
    fn kernel_and_low_memory_are_excluded() {
        let regions = free_regions(&qemu_512m(), &[0..0x100000, 0x100000..0x2345678], u64::MAX);
        assert_eq!(regions.as_slice(), &[0x2346000..0x1ffe0000]);
    }

    #[test]
    fn overlapping_reserved_entry_wins_and_alignment_is_inward() {
        let map = [e(0x1000, 0x10000, 1), e(0x4800, 0x100, 2), e(0x20000, 0x800, 1)];
        let regions = free_regions(&map, &[], u64::MAX);
        // 0x4800..0x4900 cuts the first range; the 2 KiB range has no whole page.
        assert_eq!(regions.as_slice(), &[0x1000..0x4000, 0x5000..0x11000]);
        assert_eq!(regions.total_bytes(), 0x3000 + 0xc000);
    }

    #[test]
    fn adjacent_and_unsorted_entries_merge() {
        let map = [e(0x300000, 0x100000, 1), e(0x100000, 0x100000, 1), e(0x200000, 0x100000, 1)];
        assert_eq!(free_regions(&map, &[], u64::MAX).as_slice(), &[0x100000..0x400000]);
    }

    #[test]
    fn limit_and_disabled_entries() {
        let mut map = [e(0x100000, 0x2_0000_0000, 1), e(0x3_0000_0000, 0x1000_0000, 1)];
        map[1].ext_attributes = 0; // ACPI 3.0: "ignore this entry"
        let regions = free_regions(&map, &[], 0x1_0000_0000);
        assert_eq!(regions.as_slice(), &[0x100000..0x1_0000_0000]);
    }

    #[test]
    fn a_hole_in_the_middle_splits_a_region() {
        let mut list = RegionList::default();
        list.add(0x1000..0x9000);
        list.subtract(0x3000..0x4000);
        assert_eq!(list.as_slice(), &[0x1000..0x3000, 0x4000..0x9000]);
        list.subtract(0..0x10000);
        assert!(list.as_slice().is_empty());
    }

    #[test]
    fn overflowing_ranges_saturate() {
        let map = [e(0xffff_ffff_ffff_0000, 0x10_0000, 1)];
        let regions = free_regions(&map, &[], u64::MAX);
        assert_eq!(regions.as_slice(), &[0xffff_ffff_ffff_0000..0xffff_ffff_ffff_f000]);
    }
}
