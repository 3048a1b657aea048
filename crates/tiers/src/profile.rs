//! The profile: what the profiling hooks count per function, and the heat the policy
//! is asked with.
//!
//! One thread (and one core on bare metal) updates the counters, so they are atomics
//! only to be readable at any time and to sit at fixed addresses; each update is a
//! plain load and store, not a locked instruction (which would cost a fraction of
//! every call of every profiled function).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// What the profile knows about one function when the policy is asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heat {
    /// The tier it runs in now (an index into the tier table).
    pub tier: u32,
    /// Calls so far, this one included, in any tier.
    pub calls: u64,
    /// Cycles of its outermost activations so far, in any tier.
    pub cycles: u64,
    /// The value `cycles` had when it entered its current tier (0 for the tier it
    /// started in).
    pub cycles_at_tier_entry: u64,
}

impl Heat {
    /// Cycles of its outermost activations since it entered its current tier.
    #[inline(always)]
    pub fn cycles_in_tier(&self) -> u64 {
        self.cycles.saturating_sub(self.cycles_at_tier_entry)
    }
}

/// Profile counters of one function, updated by the profiling hooks. `repr(C)`: the
/// top tier's code increments `calls` in place, at a fixed address.
#[derive(Debug, Default)]
#[repr(C)]
pub struct Counters {
    /// Calls so far.
    pub calls: AtomicU64,
    /// Cycles spent in outermost activations (recursion counted once).
    pub cycles: AtomicU64,
    depth: AtomicU64,
    entered_at: AtomicU64,
    /// `cycles` when the function entered its current tier (0 for the tier it
    /// started in): the policy counts only cycles in the current tier.
    cycles_at_tier_entry: AtomicU64,
    /// The tier it runs in (an index into the tier table).
    pub tier: AtomicU32,
}

/// Adds `by` to a counter without a locked instruction (one thread updates the
/// counters) and returns the new value.
#[inline(always)]
fn bump(counter: &AtomicU64, by: u64) -> u64 {
    let v = counter.load(Ordering::Relaxed).wrapping_add(by);
    counter.store(v, Ordering::Relaxed);
    v
}

impl Counters {
    /// Counters of a function that starts in `tier`.
    pub fn starting_in(tier: u32) -> Counters {
        Counters { tier: AtomicU32::new(tier), ..Default::default() }
    }

    /// The function was entered: counts the call, starts the clock if this is its
    /// outermost activation (`now` is read only then) and returns its heat.
    #[inline(always)]
    pub fn enter(&self, now: impl FnOnce() -> u64) -> Heat {
        let calls = bump(&self.calls, 1);
        if bump(&self.depth, 1) == 1 {
            self.entered_at.store(now(), Ordering::Relaxed);
        }
        Heat {
            tier: self.tier.load(Ordering::Relaxed),
            calls,
            cycles: self.cycles.load(Ordering::Relaxed),
            cycles_at_tier_entry: self.cycles_at_tier_entry.load(Ordering::Relaxed),
        }
    }

    /// The function returns: when its outermost activation ends (`now` is read only
    /// then), the activation's cycles are added.
    #[inline(always)]
    pub fn exit(&self, now: impl FnOnce() -> u64) {
        if bump(&self.depth, u64::MAX) == 0 {
            let spent = now().wrapping_sub(self.entered_at.load(Ordering::Relaxed));
            bump(&self.cycles, spent);
        }
    }

    /// The function moves to `tier`: from now on only its cycles there count toward
    /// the next tier.
    pub fn enter_tier(&self, tier: u32) {
        self.tier.store(tier, Ordering::Relaxed);
        self.cycles_at_tier_entry.store(self.cycles.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Its activations were abandoned (the run they belonged to was left by a jump, not
    /// by returning): none is running any more, and their cycles are not counted.
    pub fn abandon(&self) {
        self.depth.store(0, Ordering::Relaxed);
    }

    /// Its heat now, as [`Counters::enter`] would report it (without counting a call).
    pub fn heat(&self) -> Heat {
        Heat {
            tier: self.tier.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            cycles: self.cycles.load(Ordering::Relaxed),
            cycles_at_tier_entry: self.cycles_at_tier_entry.load(Ordering::Relaxed),
        }
    }
}

/// Stops the clock of every running activation in `counters` for `spent` cycles: time
/// the engine spent (compiling a tier-up) is not the app's time, and counting it would
/// push a function straight over its next threshold (a slow compile under TCG).
pub fn pause(counters: &[Counters], spent: u64) {
    for c in counters.iter().filter(|c| c.depth.load(Ordering::Relaxed) > 0) {
        c.entered_at.store(c.entered_at.load(Ordering::Relaxed).wrapping_add(spent), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    /// A clock that advances 100 cycles per reading and counts its readings.
    struct Clock {
        now: Cell<u64>,
        reads: Cell<u32>,
    }

    impl Clock {
        fn new() -> Clock {
            Clock { now: Cell::new(1_000), reads: Cell::new(0) }
        }
        fn read(&self) -> u64 {
            self.reads.set(self.reads.get() + 1);
            self.now.set(self.now.get() + 100);
            self.now.get()
        }
    }

    #[test]
    fn calls_are_exact_and_recursion_is_timed_once() {
        let (c, clock) = (Counters::starting_in(0), Clock::new());
        let first = c.enter(|| clock.read());
        assert_eq!(first, Heat { tier: 0, calls: 1, cycles: 0, cycles_at_tier_entry: 0 });
        let inner = c.enter(|| clock.read()); // a recursive call
        assert_eq!(inner.calls, 2);
        c.exit(|| clock.read());
        assert_eq!(c.cycles.load(Ordering::Relaxed), 0, "an inner return adds nothing");
        c.exit(|| clock.read());
        assert_eq!(clock.reads.get(), 2, "the clock is read at the outermost entry and exit only");
        assert_eq!(c.cycles.load(Ordering::Relaxed), 100);
        assert_eq!(c.heat(), Heat { tier: 0, calls: 2, cycles: 100, cycles_at_tier_entry: 0 });
    }

    #[test]
    fn a_new_tier_counts_its_own_cycles() {
        let (c, clock) = (Counters::starting_in(0), Clock::new());
        c.enter(|| clock.read());
        c.exit(|| clock.read());
        c.enter_tier(1);
        let heat = c.enter(|| clock.read());
        assert_eq!((heat.tier, heat.cycles, heat.cycles_at_tier_entry, heat.cycles_in_tier()), (1, 100, 100, 0));
    }

    #[test]
    fn pausing_stops_only_running_clocks() {
        let both = [Counters::default(), Counters::default()];
        both[0].enter(|| 1_000);
        pause(&both, 5_000);
        both[0].exit(|| 7_000);
        assert_eq!(both[0].cycles.load(Ordering::Relaxed), 1_000, "6000 cycles minus the 5000 paused");
        assert_eq!(both[1].entered_at.load(Ordering::Relaxed), 0, "an idle function's clock is untouched");
    }

    #[test]
    fn counters_are_c_layout_with_calls_first() {
        let c = Counters::default();
        assert_eq!(&c.calls as *const AtomicU64 as usize, &c as *const Counters as usize);
        assert_eq!(core::mem::size_of::<Counters>(), 48);
    }
}
