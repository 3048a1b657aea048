//! A fixed-capacity map from a block's address to its size, without allocation: what
//! `jit::llvm_memory` remembers of LLVM's `malloc` blocks from inside `malloc` itself.
//! Open addressing with linear probing and backward-shift deletion (no tombstones).

/// Room for this many live blocks (1 MiB of table).
pub const SLOTS: usize = 1 << 16;

/// Live blocks as (address, size); address 0 marks a free slot.
pub struct BlockTable {
    slots: [(usize, usize); SLOTS],
}

impl Default for BlockTable {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockTable {
    /// An empty table.
    pub const fn new() -> Self {
        BlockTable { slots: [(0, 0); SLOTS] }
    }

    fn home(address: usize) -> usize {
        (address >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - SLOTS.trailing_zeros())
    }

    /// Remembers the block at `address` (non-zero) of `size` bytes; false if the table
    /// is full.
    pub fn insert(&mut self, address: usize, size: usize) -> bool {
        let mut i = Self::home(address);
        for _ in 0..SLOTS {
            if self.slots[i].0 == 0 {
                self.slots[i] = (address, size);
                return true;
            }
            i = (i + 1) % SLOTS;
        }
        false
    }

    /// Forgets the block at `address`, returning its size if it was there.
    pub fn remove(&mut self, address: usize) -> Option<usize> {
        let mut i = Self::home(address);
        for _ in 0..SLOTS {
            match self.slots[i] {
                (0, _) => return None,
                (a, size) if a == address => {
                    self.close_hole(i);
                    return Some(size);
                }
                _ => i = (i + 1) % SLOTS,
            }
        }
        None
    }

    /// Empties slot `hole`, moving later entries of its probe run back so every entry
    /// stays reachable from its home slot.
    fn close_hole(&mut self, mut hole: usize) {
        let mut j = (hole + 1) % SLOTS;
        while self.slots[j].0 != 0 {
            let home = Self::home(self.slots[j].0);
            // Entry j may fill the hole unless its home lies cyclically in (hole, j].
            let home_after_hole = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !home_after_hole {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = (j + 1) % SLOTS;
        }
        self.slots[hole] = (0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Box<BlockTable> {
        // SAFETY: an all-zero BlockTable is the empty table (every slot free); the
        // table is allocated zeroed on the heap, not built on the test's stack.
        unsafe { Box::<BlockTable>::new_zeroed().assume_init() }
    }

    #[test]
    fn blocks_are_found_and_forgotten_across_collisions() {
        let mut t = empty();
        let blocks: Vec<usize> = (1..5000).map(|i| i * 16).collect();
        for &a in &blocks {
            assert!(t.insert(a, a / 16));
        }
        for &a in blocks.iter().step_by(3) {
            assert_eq!(t.remove(a), Some(a / 16));
        }
        for (i, &a) in blocks.iter().enumerate() {
            assert_eq!(t.remove(a), if i % 3 == 0 { None } else { Some(a / 16) }, "block {a:#x}");
        }
        assert!(t.slots.iter().all(|s| s.0 == 0));
    }

    #[test]
    fn a_full_table_refuses_and_a_search_in_it_ends() {
        let mut t = empty();
        for (i, slot) in t.slots.iter_mut().enumerate() {
            *slot = ((i + 1) * 16, i);
        }
        assert!(!t.insert(1 << 40, 7), "no free slot");
        assert_eq!(t.remove(1 << 40), None, "not there, and the probe stops after one lap");
    }
}
