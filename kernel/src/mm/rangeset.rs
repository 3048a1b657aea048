//! A fixed-capacity set of disjoint, sorted address ranges, without allocation (the
//! syscall layer runs inside glibc's `malloc`, so it must not call it).

use core::ops::Range;

/// Disjoint half-open ranges kept sorted, adjacent ones merged.
pub struct RangeSet<const N: usize> {
    ranges: [Range<u64>; N],
    len: usize,
}

/// The set is full: the range was not added.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl<const N: usize> RangeSet<N> {
    /// An empty set.
    pub const fn new() -> Self {
        RangeSet { ranges: [const { 0..0 }; N], len: 0 }
    }

    /// The ranges, sorted.
    pub fn as_slice(&self) -> &[Range<u64>] {
        &self.ranges[..self.len]
    }

    /// Total bytes covered.
    pub fn total(&self) -> u64 {
        self.as_slice().iter().map(|r| r.end - r.start).sum()
    }

    /// Whether `r` (non-empty) lies entirely inside the set.
    pub fn covers(&self, r: Range<u64>) -> bool {
        let mut at = r.start;
        for x in self.as_slice() {
            if x.start <= at && at < x.end {
                at = x.end;
                if at >= r.end {
                    return true;
                }
            }
        }
        r.is_empty()
    }

    /// Whether any byte of `r` is in the set.
    pub fn overlaps(&self, r: Range<u64>) -> bool {
        self.as_slice().iter().any(|x| x.start < r.end && r.start < x.end)
    }

    /// Adds `r`, which must not overlap the set; merges with neighbours.
    pub fn insert(&mut self, r: Range<u64>) -> Result<(), Full> {
        if r.is_empty() {
            return Ok(());
        }
        debug_assert!(!self.overlaps(r.clone()));
        let i = self.as_slice().partition_point(|x| x.start < r.start);
        let merge_left = i > 0 && self.ranges[i - 1].end == r.start;
        let merge_right = i < self.len && self.ranges[i].start == r.end;
        match (merge_left, merge_right) {
            (true, true) => {
                self.ranges[i - 1].end = self.ranges[i].end;
                self.remove_at(i);
            }
            (true, false) => self.ranges[i - 1].end = r.end,
            (false, true) => self.ranges[i].start = r.start,
            (false, false) => {
                if self.len == N {
                    return Err(Full);
                }
                self.ranges[i..=self.len].rotate_right(1);
                self.ranges[i] = r;
                self.len += 1;
            }
        }
        Ok(())
    }

    fn remove_at(&mut self, i: usize) {
        self.ranges[i..self.len].rotate_left(1);
        self.len -= 1;
    }

    /// Removes `r` from the set, calling `removed` with each piece that was in it.
    /// Fails (changing nothing) only if cutting a range in two needs a slot the set
    /// does not have.
    pub fn remove(&mut self, r: Range<u64>, mut removed: impl FnMut(Range<u64>)) -> Result<(), Full> {
        let splits = self.as_slice().iter().any(|x| x.start < r.start && r.end < x.end);
        if splits && self.len == N {
            return Err(Full);
        }
        let mut i = 0;
        while i < self.len {
            let x = self.ranges[i].clone();
            if x.end <= r.start || r.end <= x.start {
                i += 1;
                continue;
            }
            removed(x.start.max(r.start)..x.end.min(r.end));
            match (x.start < r.start, r.end < x.end) {
                (true, true) => {
                    self.ranges[i].end = r.start;
                    self.ranges[i + 1..=self.len].rotate_right(1);
                    self.ranges[i + 1] = r.end..x.end;
                    self.len += 1;
                    return Ok(());
                }
                (true, false) => {
                    self.ranges[i].end = r.start;
                    i += 1;
                }
                (false, true) => {
                    self.ranges[i].start = r.end;
                    i += 1;
                }
                (false, false) => self.remove_at(i),
            }
        }
        Ok(())
    }
}

impl<const N: usize> Default for RangeSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init, reason = "the expected lists of one range are meant")]
mod tests {
    use super::*;

    #[test]
    fn insert_merges_and_keeps_order() {
        let mut s = RangeSet::<8>::new();
        s.insert(10..20).unwrap();
        s.insert(30..40).unwrap();
        s.insert(20..30).unwrap();
        assert_eq!(s.as_slice(), &[10..40]);
        s.insert(0..5).unwrap();
        s.insert(50..60).unwrap();
        assert_eq!(s.as_slice(), &[0..5, 10..40, 50..60]);
        assert_eq!(s.total(), 5 + 30 + 10);
        assert!(s.covers(12..40) && !s.covers(5..12) && !s.covers(35..55));
        assert!(s.overlaps(39..45) && !s.overlaps(40..50));
    }

    #[test]
    fn remove_cuts_and_reports_pieces() {
        let mut s = RangeSet::<8>::new();
        s.insert(0..100).unwrap();
        s.insert(200..300).unwrap();
        let mut pieces = Vec::new();
        s.remove(40..60, |r| pieces.push(r)).unwrap();
        assert_eq!(s.as_slice(), &[0..40, 60..100, 200..300]);
        s.remove(90..250, |r| pieces.push(r)).unwrap();
        assert_eq!(s.as_slice(), &[0..40, 60..90, 250..300]);
        assert_eq!(pieces, vec![40..60, 90..100, 200..250]);
        s.remove(0..1000, |_| {}).unwrap();
        assert!(s.as_slice().is_empty());
    }

    #[test]
    fn full_set_refuses_without_changing() {
        let mut s = RangeSet::<2>::new();
        s.insert(0..10).unwrap();
        s.insert(20..30).unwrap();
        assert_eq!(s.insert(40..50), Err(Full));
        assert_eq!(s.remove(2..4, |_| panic!("nothing removed")), Err(Full));
        assert_eq!(s.as_slice(), &[0..10, 20..30]);
        s.remove(0..10, |_| {}).unwrap();
        assert_eq!(s.as_slice(), &[20..30]);
    }
}
